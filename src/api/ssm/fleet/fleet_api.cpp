#include "api/ssm/fleet/fleet_api.hpp"

#include <cmath>

#include "api/http/json_input.hpp"
#include "common/time_format.hpp"

namespace kw::api {
namespace {

using fleet::FleetService;
using nlohmann::json;

// A timestamp member: epoch seconds (botocore's JSON encoding, possibly fractional) or
// an ISO 8601 string.
Result<std::optional<TimePoint>> OptTimestamp(const json& in, const char* name) {
  auto it = in.find(name);
  if (it == in.end() || it->is_null()) return std::optional<TimePoint>();
  if (it->is_number()) {
    const double secs = it->get<double>();
    if (!std::isfinite(secs) || std::fabs(secs) > 1e11) return JsonTypeError(name);
    return std::optional<TimePoint>(TimePoint(
        std::chrono::duration_cast<TimePoint::duration>(std::chrono::duration<double>(secs))));
  }
  if (it->is_string()) {
    auto t = ParseIso8601(it->get<std::string>());
    if (!t) return JsonTypeError(name);
    return std::optional<TimePoint>(*t);
  }
  return JsonTypeError(name);
}

Result<std::optional<int>> OptSmallInt(const json& in, const char* name) {
  KW_ASSIGN_OR_RETURN(auto n, OptInt(in, name));
  if (!n) return std::optional<int>();
  // Out-of-range values are checked by the service; clamp so they stay out of range.
  const std::int64_t clamped = std::max<std::int64_t>(-1, std::min<std::int64_t>(*n, 1 << 20));
  return std::optional<int>(static_cast<int>(clamped));
}

Result<fleet::Tags> DecodeTags(const json& in, const char* name) {
  fleet::Tags tags;
  auto it = in.find(name);
  if (it == in.end() || it->is_null()) return tags;
  if (!it->is_array()) return JsonTypeError(name);
  for (const json& t : *it) {
    if (!t.is_object()) return JsonTypeError(name);
    KW_ASSIGN_OR_RETURN(std::string key, ReqString(t, "Key"));
    KW_ASSIGN_OR_RETURN(std::string value, ReqString(t, "Value"));
    tags[key] = value;
  }
  return tags;
}

json EncodeTags(const fleet::Tags& tags) {
  json a = json::array();
  for (const auto& [k, v] : tags) a.push_back({{"Key", k}, {"Value", v}});
  return a;
}

double Epoch(TimePoint t) { return ToEpochSeconds(t); }

json EncodeActivation(const fleet::Activation& a) {
  json j{{"ActivationId", a.activation_id},
         {"IamRole", a.iam_role},
         {"RegistrationLimit", a.registration_limit},
         {"RegistrationsCount", a.registrations_count},
         {"ExpirationDate", Epoch(a.expiration_date)},
         {"Expired", a.expired},
         {"CreatedDate", Epoch(a.created_date)},
         {"Tags", EncodeTags(a.tags)}};
  if (!a.description.empty()) j["Description"] = a.description;
  if (!a.default_instance_name.empty()) j["DefaultInstanceName"] = a.default_instance_name;
  if (!a.source_cidrs.empty()) j["SourceCidrs"] = a.source_cidrs;
  return j;
}

json EncodeInstance(const fleet::InstanceInfo& i) {
  json j{{"InstanceId", i.instance_id},
         {"PingStatus", i.ping_status},
         {"PlatformType", i.platform_type},
         {"ActivationId", i.activation_id},
         {"IamRole", i.iam_role},
         {"RegistrationDate", Epoch(i.registration_date)},
         {"ResourceType", "ManagedInstance"},
         {"SourceId", i.instance_id},
         {"SourceType", "AWS::SSM::ManagedInstance"}};
  if (i.last_ping) j["LastPingDateTime"] = Epoch(*i.last_ping);
  if (!i.agent_version.empty()) j["AgentVersion"] = i.agent_version;
  if (i.is_latest_version) j["IsLatestVersion"] = *i.is_latest_version;
  if (!i.platform_name.empty()) j["PlatformName"] = i.platform_name;
  if (!i.platform_version.empty()) j["PlatformVersion"] = i.platform_version;
  if (!i.name.empty()) j["Name"] = i.name;
  if (!i.ip_address.empty()) j["IPAddress"] = i.ip_address;
  if (!i.computer_name.empty()) j["ComputerName"] = i.computer_name;
  return j;
}

// Both filter lists of DescribeInstanceInformation. The older
// InstanceInformationFilterList spells its members "key" and "valueSet" and knows no
// tag filters.
Result<std::vector<fleet::InstanceFilter>> DecodeInstanceFilters(const json& in) {
  std::vector<fleet::InstanceFilter> out;
  auto list = in.find("InstanceInformationFilterList");
  if (list != in.end() && !list->is_null()) {
    if (!list->is_array()) return JsonTypeError("InstanceInformationFilterList");
    for (const json& f : *list) {
      if (!f.is_object()) return JsonTypeError("InstanceInformationFilterList");
      fleet::InstanceFilter filter;
      KW_ASSIGN_OR_RETURN(filter.key, ReqString(f, "key"));
      KW_ASSIGN_OR_RETURN(filter.values, StringList(f, "valueSet"));
      if (filter.key.rfind("tag", 0) == 0) {
        return InvalidArgument("The filter key " + filter.key + " is not valid.",
                               "InvalidFilterKey");
      }
      out.push_back(std::move(filter));
    }
  }
  auto filters = in.find("Filters");
  if (filters != in.end() && !filters->is_null()) {
    if (!filters->is_array()) return JsonTypeError("Filters");
    for (const json& f : *filters) {
      if (!f.is_object()) return JsonTypeError("Filters");
      fleet::InstanceFilter filter;
      KW_ASSIGN_OR_RETURN(filter.key, ReqString(f, "Key"));
      KW_ASSIGN_OR_RETURN(filter.values, StringList(f, "Values"));
      out.push_back(std::move(filter));
    }
  }
  return out;
}

}  // namespace

std::vector<JsonOperation> FleetOperations(FleetService& fleet, const iam::Account& account) {
  FleetService* svc = &fleet;
  const iam::Account acct = account;
  auto star = [](const json&, const iam::Principal&) { return std::string("*"); };
  auto instance_arn = [acct](const json& in, const iam::Principal&) {
    return fleet::ManagedInstanceArn(acct, StringMember(in, "InstanceId"));
  };

  std::vector<JsonOperation> ops;

  ops.push_back(MakeJsonOperation(
      "CreateActivation", false, star, [svc](const JsonCall& call) -> Result<json> {
        const json& in = call.input;
        fleet::CreateActivationRequest req;
        KW_ASSIGN_OR_RETURN(req.iam_role, ReqString(in, "IamRole"));
        KW_ASSIGN_OR_RETURN(req.description, OptString(in, "Description"));
        KW_ASSIGN_OR_RETURN(req.default_instance_name, OptString(in, "DefaultInstanceName"));
        KW_ASSIGN_OR_RETURN(req.registration_limit, OptInt(in, "RegistrationLimit"));
        KW_ASSIGN_OR_RETURN(req.expiration_date, OptTimestamp(in, "ExpirationDate"));
        KW_ASSIGN_OR_RETURN(req.tags, DecodeTags(in, "Tags"));
        KW_ASSIGN_OR_RETURN(req.source_cidrs, StringList(in, "SourceCidrs"));
        KW_ASSIGN_OR_RETURN(fleet::CreatedActivation created, svc->CreateActivation(req));
        return json{{"ActivationId", created.activation_id},
                    {"ActivationCode", created.activation_code}};
      }));

  ops.push_back(MakeJsonOperation(
      "DescribeActivations", true, star, [svc](const JsonCall& call) -> Result<json> {
        const json& in = call.input;
        fleet::DescribeActivationsRequest req;
        auto filters = in.find("Filters");
        if (filters != in.end() && !filters->is_null()) {
          if (!filters->is_array()) return JsonTypeError("Filters");
          for (const json& f : *filters) {
            if (!f.is_object()) return JsonTypeError("Filters");
            fleet::ActivationFilter filter;
            KW_ASSIGN_OR_RETURN(auto key, OptString(f, "FilterKey"));
            filter.key = key.value_or("");
            KW_ASSIGN_OR_RETURN(filter.values, StringList(f, "FilterValues"));
            req.filters.push_back(std::move(filter));
          }
        }
        KW_ASSIGN_OR_RETURN(req.max_results, OptSmallInt(in, "MaxResults"));
        KW_ASSIGN_OR_RETURN(req.next_token, OptString(in, "NextToken"));
        KW_ASSIGN_OR_RETURN(fleet::ActivationPage page, svc->DescribeActivations(req));
        json list = json::array();
        for (const auto& a : page.activations) list.push_back(EncodeActivation(a));
        json out{{"ActivationList", std::move(list)}};
        if (!page.next_token.empty()) out["NextToken"] = page.next_token;
        return out;
      }));

  ops.push_back(MakeJsonOperation(
      "DeleteActivation", false, star, [svc](const JsonCall& call) -> Result<json> {
        KW_ASSIGN_OR_RETURN(std::string id, ReqString(call.input, "ActivationId"));
        KW_RETURN_IF_ERROR(svc->DeleteActivation(id));
        return json::object();
      }));

  ops.push_back(MakeJsonOperation(
      "DescribeInstanceInformation", true, star, [svc](const JsonCall& call) -> Result<json> {
        const json& in = call.input;
        fleet::DescribeInstancesRequest req;
        KW_ASSIGN_OR_RETURN(req.filters, DecodeInstanceFilters(in));
        KW_ASSIGN_OR_RETURN(req.max_results, OptSmallInt(in, "MaxResults"));
        KW_ASSIGN_OR_RETURN(req.next_token, OptString(in, "NextToken"));
        KW_ASSIGN_OR_RETURN(fleet::InstancePage page, svc->DescribeInstanceInformation(req));
        json list = json::array();
        for (const auto& i : page.instances) list.push_back(EncodeInstance(i));
        json out{{"InstanceInformationList", std::move(list)}};
        if (!page.next_token.empty()) out["NextToken"] = page.next_token;
        return out;
      }));

  ops.push_back(MakeJsonOperation("DeregisterManagedInstance", false, instance_arn,
                                  [svc](const JsonCall& call) -> Result<json> {
                                    KW_ASSIGN_OR_RETURN(std::string id,
                                                        ReqString(call.input, "InstanceId"));
                                    KW_RETURN_IF_ERROR(svc->DeregisterManagedInstance(id));
                                    return json::object();
                                  }));

  ops.push_back(
      MakeJsonOperation("UpdateManagedInstanceRole", false, instance_arn,
                        [svc](const JsonCall& call) -> Result<json> {
                          KW_ASSIGN_OR_RETURN(std::string id, ReqString(call.input, "InstanceId"));
                          KW_ASSIGN_OR_RETURN(std::string role, ReqString(call.input, "IamRole"));
                          KW_RETURN_IF_ERROR(svc->UpdateManagedInstanceRole(id, role));
                          return json::object();
                        }));

  return ops;
}

std::vector<JsonOperation> KeywardFleetOperations(FleetService& fleet,
                                                  const iam::Account& account) {
  FleetService* svc = &fleet;
  const iam::Account acct = account;
  auto instance_arn = [acct](const json& in, const iam::Principal&) {
    return fleet::ManagedInstanceArn(acct, StringMember(in, "InstanceId"));
  };
  std::vector<JsonOperation> ops;
  ops.push_back(MakeJsonOperation(
      "ApproveInstanceRebind", false, instance_arn, [svc](const JsonCall& call) -> Result<json> {
        KW_ASSIGN_OR_RETURN(std::string id, ReqString(call.input, "InstanceId"));
        KW_RETURN_IF_ERROR(svc->ApproveRebind(id));
        return json::object();
      }));
  ops.push_back(MakeJsonOperation(
      "DescribeInstanceIdentity", true, instance_arn, [svc](const JsonCall& call) -> Result<json> {
        KW_ASSIGN_OR_RETURN(std::string id, ReqString(call.input, "InstanceId"));
        KW_ASSIGN_OR_RETURN(fleet::InstanceInfo info, svc->GetInstance(id));
        json history = json::array();
        for (const auto& h : info.fingerprint_history) {
          history.push_back(
              {{"Date", Epoch(h.at)}, {"Reason", h.reason}, {"ChangedComponents", h.changed}});
        }
        return json{{"InstanceId", info.instance_id},
                    {"RebindApproved", info.rebind_approved},
                    {"FingerprintHistory", std::move(history)}};
      }));
  return ops;
}

}  // namespace kw::api
