#include "api/cloudtrail/event_observer.hpp"

#include "events/redaction.hpp"

namespace kw::api {

events::Event EventFromRequest(const ObservedRequest& r, std::string_view default_region) {
  events::Event e;
  e.time = r.time;
  e.request_id = r.request_id;
  e.event_source = events::EventSourceFor(r.service);
  e.event_name = r.operation;
  e.region = r.region.empty() ? std::string(default_region) : r.region;
  e.source_ip = r.source_ip;
  e.user_agent = r.user_agent;
  e.read_only = events::IsReadOnlyOperation(r.operation);
  events::UserIdentity& id = e.identity;
  id.access_key_id = r.access_key_id;
  if (r.principal) {
    const iam::Principal& p = *r.principal;
    id.principal_id = p.user_id;
    id.arn = p.arn;
    id.account_id = p.account_id;
    if (!p.access_key_id.empty()) id.access_key_id = p.access_key_id;
    if (p.type == iam::PrincipalType::kUser) {
      id.type = "IAMUser";
      id.user_name = p.name;
    } else {
      id.type = "AssumedRole";
      id.session_issuer_arn = p.role_arn;
      id.session_issuer_name = p.name;
      const auto colon = p.user_id.find(':');
      id.session_issuer_principal_id = p.user_id.substr(0, colon);
      id.instance_id = p.instance_id;
    }
  }
  if (r.json_input) {
    e.request_parameters = events::RedactJsonInput(*r.json_input);
  } else if (r.query_params) {
    e.request_parameters = events::RedactQueryInput(r.query_params->all());
  }
  if (r.error_code.empty() && r.json_output) {
    e.response_elements = events::RedactJsonOutput(e.read_only, *r.json_output);
  }
  e.error_code = r.error_code;
  e.error_message = r.error_message;
  // The audit's DeactivatedKeyTried: the signature was valid, the key is Inactive.
  if (r.key_inactive) e.additional_event_data = {{"keyInactive", true}};
  e.resources = events::ResourcesOf(e.event_source, e.request_parameters);
  return e;
}

void EventObserver::OnRequest(const ObservedRequest& request) {
  if (!recorder_.Record(EventFromRequest(request, default_region_)) && metrics_ != nullptr) {
    metrics_->RecordEventsDropped();
  }
}

}  // namespace kw::api
