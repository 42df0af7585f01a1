#include "api/ssm/commands/commands_api.hpp"

#include "api/http/json_input.hpp"
#include "common/time_format.hpp"

namespace kw::api {
namespace {

using commands::CommandService;
using nlohmann::json;

// ---- decoding -------------------------------------------------------------------

Result<std::optional<int>> MaxResults(const json& in) {
  KW_ASSIGN_OR_RETURN(auto n, OptInt(in, "MaxResults"));
  if (!n) return std::optional<int>();
  if (*n < 1 || *n > commands::kMaxListResults) {
    return InvalidArgument("1 validation error detected: Value '" + std::to_string(*n) +
                               "' at 'maxResults' failed to satisfy constraint: Member must have "
                               "value between 1 and 50",
                           "ValidationError");
  }
  return std::optional<int>(static_cast<int>(*n));
}

Result<std::vector<commands::Target>> DecodeTargets(const json& in) {
  std::vector<commands::Target> targets;
  auto it = in.find("Targets");
  if (it == in.end() || it->is_null()) return targets;
  if (!it->is_array()) return JsonTypeError("Targets");
  for (const json& t : *it) {
    if (!t.is_object()) return JsonTypeError("Targets");
    commands::Target target;
    KW_ASSIGN_OR_RETURN(auto key, OptString(t, "Key"));
    target.key = key.value_or("");
    KW_ASSIGN_OR_RETURN(target.values, StringList(t, "Values"));
    targets.push_back(std::move(target));
  }
  return targets;
}

Result<std::map<std::string, std::vector<std::string>>> DecodeParameters(const json& in) {
  std::map<std::string, std::vector<std::string>> params;
  auto it = in.find("Parameters");
  if (it == in.end() || it->is_null()) return params;
  if (!it->is_object()) return JsonTypeError("Parameters");
  for (const auto& [name, values] : it->items()) {
    if (!values.is_array()) return JsonTypeError("Parameters");
    std::vector<std::string> v;
    for (const json& x : values) {
      if (!x.is_string()) return JsonTypeError("Parameters");
      v.push_back(x.get<std::string>());
    }
    params.emplace(name, std::move(v));
  }
  return params;
}

// CommandFilterList: members are lower-case "key" and "value" in the model.
Result<std::vector<commands::CommandFilter>> DecodeFilters(const json& in) {
  std::vector<commands::CommandFilter> filters;
  auto it = in.find("Filters");
  if (it == in.end() || it->is_null()) return filters;
  if (!it->is_array()) return JsonTypeError("Filters");
  if (it->empty()) {
    return InvalidArgument(
        "1 validation error detected: Value '[]' at 'filters' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1",
        "ValidationError");
  }
  for (const json& f : *it) {
    if (!f.is_object()) return JsonTypeError("Filters");
    KW_ASSIGN_OR_RETURN(std::string key, ReqString(f, "key", "filters.member.key"));
    KW_ASSIGN_OR_RETURN(std::string value, ReqString(f, "value", "filters.member.value"));
    filters.push_back({std::move(key), std::move(value)});
  }
  return filters;
}

// ---- encoding -------------------------------------------------------------------

// What keyward does not support is reported empty, as AWS reports unset options.
json EmptyNotification() {
  return {{"NotificationArn", ""}, {"NotificationEvents", json::array()}, {"NotificationType", ""}};
}
json EmptyCloudWatch() {
  return {{"CloudWatchLogGroupName", ""}, {"CloudWatchOutputEnabled", false}};
}

json EncodeCommand(const commands::CommandInfo& c) {
  json targets = json::array();
  for (const auto& t : c.targets) targets.push_back({{"Key", t.key}, {"Values", t.values}});
  json params = json::object();
  for (const auto& [k, v] : c.parameters) params[k] = v;
  return {{"CommandId", c.command_id},
          {"DocumentName", c.document_name},
          {"DocumentVersion", c.document_version},
          {"Comment", c.comment},
          {"ExpiresAfter", ToEpochSeconds(c.expires_after)},
          {"Parameters", params},
          {"InstanceIds", c.instance_ids},
          {"Targets", targets},
          {"RequestedDateTime", ToEpochSeconds(c.requested)},
          {"Status", c.status},
          {"StatusDetails", c.status_details},
          {"OutputS3Region", ""},
          {"OutputS3BucketName", ""},
          {"OutputS3KeyPrefix", ""},
          {"MaxConcurrency", c.max_concurrency},
          {"MaxErrors", c.max_errors},
          {"TargetCount", c.target_count},
          {"CompletedCount", c.completed_count},
          {"ErrorCount", c.error_count},
          {"DeliveryTimedOutCount", c.delivery_timed_out_count},
          {"ServiceRole", ""},
          {"NotificationConfig", EmptyNotification()},
          {"CloudWatchOutputConfig", EmptyCloudWatch()},
          {"TimeoutSeconds", c.timeout_seconds}};
}

json EncodePlugin(const commands::PluginInfo& p) {
  json j = {{"Name", p.name},
            {"Status", p.status},
            {"StatusDetails", p.status_details},
            {"ResponseCode", p.response_code},
            {"Output", p.standard_output},  // already cut to 2,500 characters
            {"StandardOutputUrl", ""},
            {"StandardErrorUrl", ""},
            {"OutputS3Region", ""},
            {"OutputS3BucketName", ""},
            {"OutputS3KeyPrefix", ""}};
  if (p.started) j["ResponseStartDateTime"] = ToEpochSeconds(*p.started);
  if (p.finished) j["ResponseFinishDateTime"] = ToEpochSeconds(*p.finished);
  return j;
}

json EncodeInvocation(const commands::InvocationInfo& i, bool details) {
  json j = {{"CommandId", i.command_id},
            {"InstanceId", i.instance_id},
            {"InstanceName", i.instance_name},
            {"Comment", i.comment},
            {"DocumentName", i.document_name},
            {"DocumentVersion", i.document_version},
            {"RequestedDateTime", ToEpochSeconds(i.requested)},
            {"Status", i.status},
            {"StatusDetails", i.status_details},
            {"TraceOutput", ""},
            {"StandardOutputUrl", ""},
            {"StandardErrorUrl", ""},
            {"CommandPlugins", json::array()},
            {"ServiceRole", ""},
            {"NotificationConfig", EmptyNotification()},
            {"CloudWatchOutputConfig", EmptyCloudWatch()}};
  if (details) {
    for (const auto& p : i.plugins) j["CommandPlugins"].push_back(EncodePlugin(p));
  }
  return j;
}

json EncodeDetail(const commands::InvocationDetail& d) {
  json j = {{"CommandId", d.command_id},
            {"InstanceId", d.instance_id},
            {"Comment", d.comment},
            {"DocumentName", d.document_name},
            {"DocumentVersion", d.document_version},
            {"ResponseCode", d.response_code},
            {"ExecutionStartDateTime", d.execution_start},
            {"ExecutionElapsedTime", d.execution_elapsed},
            {"ExecutionEndDateTime", d.execution_end},
            {"Status", d.status},
            {"StatusDetails", d.status_details},
            {"StandardOutputContent", d.standard_output},
            {"StandardOutputUrl", ""},
            {"StandardErrorContent", d.standard_error},
            {"StandardErrorUrl", ""},
            {"CloudWatchOutputConfig", EmptyCloudWatch()}};
  if (!d.plugin_name.empty()) j["PluginName"] = d.plugin_name;
  return j;
}

}  // namespace

std::vector<JsonOperation> CommandOperations(CommandService& commands,
                                             const iam::Account& account) {
  CommandService* svc = &commands;
  const std::string ssm_prefix = "arn:" + account.partition + ":ssm:" + account.region + ":";
  const std::string instance_prefix = ssm_prefix + account.id + ":managed-instance/";

  // The document SendCommand names: an ARN as given, AWS's own documents without an
  // account, the caller's with it.
  auto document_arn = [ssm_prefix, account](const json& in, const iam::Principal&) {
    auto it = in.find("DocumentName");
    const std::string name = it != in.end() && it->is_string() ? it->get<std::string>() : "";
    if (name.rfind("arn:", 0) == 0) return name;
    if (name.rfind("AWS-", 0) == 0) return ssm_prefix + ":document/" + name;
    return ssm_prefix + account.id + ":document/" + name;
  };
  auto star = [](const json&, const iam::Principal&) { return std::string("*"); };

  std::vector<JsonOperation> ops;

  ops.push_back(MakeJsonOperation(
      "SendCommand", false, document_arn,
      [svc, instance_prefix](const JsonCall& call) -> Result<json> {
        const json& in = call.input;
        commands::SendCommandRequest req;
        KW_ASSIGN_OR_RETURN(req.instance_ids, StringList(in, "InstanceIds"));
        KW_ASSIGN_OR_RETURN(req.targets, DecodeTargets(in));
        KW_ASSIGN_OR_RETURN(req.document_name, ReqString(in, "DocumentName", "documentName"));
        KW_ASSIGN_OR_RETURN(req.document_version, OptString(in, "DocumentVersion"));
        KW_ASSIGN_OR_RETURN(req.parameters, DecodeParameters(in));
        KW_ASSIGN_OR_RETURN(req.timeout_seconds, OptInt(in, "TimeoutSeconds"));
        KW_ASSIGN_OR_RETURN(auto comment, OptString(in, "Comment"));
        req.comment = comment.value_or("");
        KW_ASSIGN_OR_RETURN(auto concurrency, OptString(in, "MaxConcurrency"));
        if (concurrency) req.max_concurrency = *concurrency;
        KW_ASSIGN_OR_RETURN(auto errors, OptString(in, "MaxErrors"));
        if (errors) req.max_errors = *errors;
        req.requested_by = call.principal.arn;
        // Every target instance must be allowed, as AWS checks ssm:SendCommand on each
        // instance's ARN; the dispatcher always sets authorize, and without it nothing
        // is sent.
        auto authorize = [&call, &instance_prefix](std::string_view instance_id) -> Status {
          if (!call.authorize) {
            return PermissionDenied("Access to the instance is not authorized.", "AccessDenied");
          }
          return call.authorize("ssm:SendCommand", instance_prefix + std::string(instance_id),
                                nullptr);
        };
        KW_ASSIGN_OR_RETURN(std::string id, svc->SendCommand(req, call.now, authorize));
        KW_ASSIGN_OR_RETURN(commands::CommandInfo info, svc->GetCommand(id));
        return json{{"Command", EncodeCommand(info)}};
      }));

  ops.push_back(
      MakeJsonOperation("ListCommands", true, star, [svc](const JsonCall& call) -> Result<json> {
        const json& in = call.input;
        commands::ListCommandsRequest req;
        KW_ASSIGN_OR_RETURN(req.command_id, OptString(in, "CommandId"));
        KW_ASSIGN_OR_RETURN(req.instance_id, OptString(in, "InstanceId"));
        KW_ASSIGN_OR_RETURN(req.max_results, MaxResults(in));
        KW_ASSIGN_OR_RETURN(req.next_token, OptString(in, "NextToken"));
        KW_ASSIGN_OR_RETURN(req.filters, DecodeFilters(in));
        KW_ASSIGN_OR_RETURN(commands::CommandPage page, svc->ListCommands(req));
        json out = {{"Commands", json::array()}};
        for (const auto& c : page.commands) out["Commands"].push_back(EncodeCommand(c));
        if (!page.next_token.empty()) out["NextToken"] = page.next_token;
        return out;
      }));

  ops.push_back(MakeJsonOperation(
      "ListCommandInvocations", true, star, [svc](const JsonCall& call) -> Result<json> {
        const json& in = call.input;
        commands::ListInvocationsRequest req;
        KW_ASSIGN_OR_RETURN(req.command_id, OptString(in, "CommandId"));
        KW_ASSIGN_OR_RETURN(req.instance_id, OptString(in, "InstanceId"));
        KW_ASSIGN_OR_RETURN(req.max_results, MaxResults(in));
        KW_ASSIGN_OR_RETURN(req.next_token, OptString(in, "NextToken"));
        KW_ASSIGN_OR_RETURN(req.filters, DecodeFilters(in));
        KW_ASSIGN_OR_RETURN(auto details, OptBool(in, "Details"));
        req.details = details.value_or(false);
        KW_ASSIGN_OR_RETURN(commands::InvocationPage page, svc->ListCommandInvocations(req));
        json out = {{"CommandInvocations", json::array()}};
        for (const auto& i : page.invocations) {
          out["CommandInvocations"].push_back(EncodeInvocation(i, req.details));
        }
        if (!page.next_token.empty()) out["NextToken"] = page.next_token;
        return out;
      }));

  ops.push_back(MakeJsonOperation(
      "GetCommandInvocation", true, star, [svc](const JsonCall& call) -> Result<json> {
        const json& in = call.input;
        KW_ASSIGN_OR_RETURN(std::string command_id, ReqString(in, "CommandId", "commandId"));
        KW_ASSIGN_OR_RETURN(std::string instance_id, ReqString(in, "InstanceId", "instanceId"));
        KW_ASSIGN_OR_RETURN(auto plugin, OptString(in, "PluginName"));
        KW_ASSIGN_OR_RETURN(commands::InvocationDetail d,
                            svc->GetCommandInvocation(command_id, instance_id, plugin));
        return EncodeDetail(d);
      }));

  ops.push_back(
      MakeJsonOperation("CancelCommand", false, star, [svc](const JsonCall& call) -> Result<json> {
        const json& in = call.input;
        KW_ASSIGN_OR_RETURN(std::string command_id, ReqString(in, "CommandId", "commandId"));
        KW_ASSIGN_OR_RETURN(auto instance_ids, StringList(in, "InstanceIds"));
        KW_RETURN_IF_ERROR(svc->CancelCommand(command_id, instance_ids, call.now));
        return json::object();
      }));

  return ops;
}

}  // namespace kw::api
