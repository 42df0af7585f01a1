#include "api/cloudtrail/event_observer.hpp"

#include <memory>

#include "events/redaction.hpp"

namespace kw::api {
namespace {

constexpr std::string_view kAmazonAws = ".amazonaws.com";

// events::EventSourceFor, assigned into `out`.
void AssignEventSource(std::string& out, std::string_view service) {
  if (service.empty() || service == "unknown") {
    out.assign("unknown");
    return;
  }
  out.assign(service);
  out.append(kAmazonAws);
}

}  // namespace

events::Event EventFromRequest(const ObservedRequest& r, std::string_view default_region) {
  events::Event e;
  FillEventFromRequest(r, default_region, e);
  return e;
}

void FillEventFromRequest(const ObservedRequest& r, std::string_view default_region,
                          events::Event& e) {
  e.time = r.time;
  e.request_id.assign(r.request_id);
  AssignEventSource(e.event_source, r.service);
  e.event_name.assign(r.operation);
  e.region.assign(r.region.empty() ? default_region : std::string_view(r.region));
  e.source_ip.assign(r.source_ip);
  e.user_agent.assign(r.user_agent);
  e.read_only = events::IsReadOnlyOperation(r.operation);
  e.event_type.assign("AwsApiCall");
  e.event_id.clear();
  e.recipient_account_id.clear();
  events::UserIdentity& id = e.identity;
  id.type.assign("Unknown");
  id.access_key_id.assign(r.access_key_id);
  id.principal_id.clear();
  id.arn.clear();
  id.account_id.clear();
  id.user_name.clear();
  id.session_issuer_arn.clear();
  id.session_issuer_name.clear();
  id.session_issuer_principal_id.clear();
  id.instance_id.clear();
  id.invoked_by.clear();
  if (r.principal) {
    const iam::Principal& p = *r.principal;
    id.principal_id.assign(p.user_id);
    id.arn.assign(p.arn);
    id.account_id.assign(p.account_id);
    if (!p.access_key_id.empty()) id.access_key_id.assign(p.access_key_id);
    if (p.type == iam::PrincipalType::kUser) {
      id.type.assign("IAMUser");
      id.user_name.assign(p.name);
    } else {
      id.type.assign("AssumedRole");
      id.session_issuer_arn.assign(p.role_arn);
      id.session_issuer_name.assign(p.name);
      const auto colon = p.user_id.find(':');
      id.session_issuer_principal_id.assign(std::string_view(p.user_id).substr(0, colon));
      id.instance_id.assign(p.instance_id);
    }
  }
  e.request_parameters = nullptr;
  e.response_elements = nullptr;
  e.request_parameters_text.clear();
  e.response_elements_text.clear();
  if (r.json_input) {
    events::AppendRedactedJsonInput(e.request_parameters_text, *r.json_input);
    // Resources from the input as sent, exactly as from its redacted form.
    events::ResourcesInto(e.event_source, *r.json_input, false, e.resources);
  } else {
    if (r.query_params) e.request_parameters = events::RedactQueryInput(r.query_params->all());
    events::ResourcesInto(e.event_source, e.request_parameters, true, e.resources);
  }
  // CloudTrail logs no response for reads (RedactJsonOutput): that is where the secrets are.
  if (r.error_code.empty() && r.json_output && !e.read_only && !r.json_output->is_null()) {
    events::AppendRedactedJsonInput(e.response_elements_text, *r.json_output);
  }
  // Query writes (CreateAccessKey, AssumeRole): the result as the handler wrote it, in
  // CloudTrail's lowerCamelCase; an empty result (DeleteUser) stays null, as CloudTrail
  // writes it.
  if (r.error_code.empty() && r.query_output && !e.read_only && !r.query_output->is_null()) {
    events::AppendRedactedQueryOutput(e.response_elements_text, *r.query_output);
  }
  e.error_code.assign(r.error_code);
  e.error_message.assign(r.error_message);
  // The audit's DeactivatedKeyTried: the signature was valid, the key is Inactive.
  if (r.key_inactive) {
    e.additional_event_data = {{"keyInactive", true}};
  } else {
    e.additional_event_data = nullptr;
  }
}

void EventObserver::OnRequest(const ObservedRequest& request) {
  // One Event per request thread, refilled for every request and exchanged by
  // RecordReusing for one the writer is done with: no allocation on this thread for the
  // event, and nothing allocated here is freed on the writer's thread.
  thread_local std::unique_ptr<events::Event> scratch;
  if (!scratch) scratch = std::make_unique<events::Event>();
  FillEventFromRequest(request, default_region_, *scratch);
  if (!recorder_.RecordReusing(scratch) && metrics_ != nullptr) {
    metrics_->RecordEventsDropped();
  }
}

}  // namespace kw::api
