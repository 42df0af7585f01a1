#include "rotation/external/aws_ssm_delivery.hpp"

#include <algorithm>
#include <set>

#include "common/time_format.hpp"
#include "rotation/external/aws_json_errors.hpp"

namespace kw::rotation::external {
namespace {

using awsclient::Idempotency;
using awsclient::kSsm;
using nlohmann::json;

constexpr std::size_t kMaxInstancesPerCommand = 50;  // SendCommand's limit
constexpr std::size_t kMaxComment = 100;
constexpr std::string_view kParamPrefix = "parameter.";

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string Param(const DeliverySpec& spec, const std::string& key, std::string fallback) {
  auto it = spec.parameters.find(key);
  return it == spec.parameters.end() ? std::move(fallback) : it->second;
}

std::string CommentFor(const DeliveryRequest& r) {
  std::string c = r.comment + " v " + r.version_id;
  if (c.size() > kMaxComment) c.resize(kMaxComment);
  return c;
}

}  // namespace

Result<std::unique_ptr<AwsSsmDelivery>> AwsSsmDelivery::Create(awsclient::AwsConnection& connection,
                                                               std::string endpoint) {
  if (endpoint.empty()) endpoint = "https://ssm." + connection.region() + ".amazonaws.com";
  KW_ASSIGN_OR_RETURN(awsclient::QueryClient client, connection.Client(std::move(endpoint)));
  return std::make_unique<AwsSsmDelivery>(std::move(client));
}

Status AwsSsmDelivery::Validate(const DeliverySpec& spec) {
  static const std::set<std::string, std::less<>> kKnown = {
      "document", "document_version", "max_concurrency", "max_errors", "timeout_seconds"};
  for (const auto& [key, value] : spec.parameters) {
    if (key.starts_with(kParamPrefix)) {
      if (key.size() == kParamPrefix.size()) {
        return InvalidArgument("delivery parameter 'parameter.' names no document parameter",
                               "ValidationException");
      }
      continue;
    }
    if (!kKnown.contains(key)) {
      return InvalidArgument("unknown aws-ssm delivery parameter '" + key +
                                 "' (document, document_version, max_concurrency, max_errors, "
                                 "timeout_seconds, parameter.NAME)",
                             "ValidationException");
    }
    if (value.empty()) {
      return InvalidArgument("delivery parameter '" + key + "' is empty", "ValidationException");
    }
    if (key == "timeout_seconds" &&
        !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return InvalidArgument("delivery parameter timeout_seconds must be a number of seconds",
                             "ValidationException");
    }
  }
  return OkStatus();
}

Result<std::string> AwsSsmDelivery::FindRunning(const std::string& document,
                                                const std::string& comment,
                                                const std::vector<std::string>& hosts) {
  const std::set<std::string> want(hosts.begin(), hosts.end());
  json input{{"Filters", json::array({json{{"key", "DocumentName"}, {"value", document}}})},
             {"MaxResults", 50}};
  // A crash between Start and the engine recording its ID is followed by a new Start
  // within a Tick or two, so the command is among the newest; a few pages suffice.
  for (int page = 0; page < 4; ++page) {
    KW_ASSIGN_OR_RETURN(json out, Mapped(client_.CallJson(kSsm, "ListCommands", input)));
    for (const json& c : out.value("Commands", json::array())) {
      const std::string status = Str(c, "Status");
      if (Str(c, "Comment") != comment || Str(c, "DocumentName") != document ||
          (status != "Pending" && status != "InProgress")) {
        continue;
      }
      std::set<std::string> got;
      for (const json& i : c.value("InstanceIds", json::array())) {
        if (i.is_string()) got.insert(i.get<std::string>());
      }
      if (got == want) return Str(c, "CommandId");
    }
    const std::string next = Str(out, "NextToken");
    if (next.empty()) break;
    input["NextToken"] = next;
  }
  return std::string();
}

Result<std::string> AwsSsmDelivery::Start(const DeliveryRequest& request, TimePoint /*now*/) {
  KW_RETURN_IF_ERROR(Validate(request.spec));
  if (request.hosts.empty()) {
    return InvalidArgument("an aws-ssm delivery needs at least one instance",
                           "ValidationException");
  }
  const std::string document = Param(request.spec, "document", kDefaultSsmDocument);
  const std::string comment = CommentFor(request);
  json parameters = json::object();
  for (const auto& [key, value] : request.spec.parameters) {
    if (key.starts_with(kParamPrefix)) {
      parameters[key.substr(kParamPrefix.size())] = json::array({value});
    }
  }
  if (document == kDefaultSsmDocument && !parameters.contains("SecretId")) {
    parameters["SecretId"] = json::array({request.secret_id});
  }

  json id{{"c", json::array()}};
  for (std::size_t at = 0; at < request.hosts.size(); at += kMaxInstancesPerCommand) {
    std::vector<std::string> batch(
        request.hosts.begin() + at,
        request.hosts.begin() + std::min(request.hosts.size(), at + kMaxInstancesPerCommand));
    KW_ASSIGN_OR_RETURN(std::string command_id, FindRunning(document, comment, batch));
    if (command_id.empty()) {
      json input{{"DocumentName", document},
                 {"InstanceIds", batch},
                 {"Comment", comment},
                 {"MaxConcurrency", Param(request.spec, "max_concurrency", "50")},
                 {"MaxErrors", Param(request.spec, "max_errors", "0")}};
      if (!parameters.empty()) input["Parameters"] = parameters;
      if (auto v = request.spec.parameters.find("document_version");
          v != request.spec.parameters.end()) {
        input["DocumentVersion"] = v->second;
      }
      if (auto t = request.spec.parameters.find("timeout_seconds");
          t != request.spec.parameters.end()) {
        input["TimeoutSeconds"] = std::stoll(t->second);
      }
      // Not retried after a timeout: the command may have been sent. The engine calls
      // Start again, and FindRunning picks the command up then.
      KW_ASSIGN_OR_RETURN(json out, Mapped(client_.CallJson(kSsm, "SendCommand", input,
                                                            Idempotency::kNotIdempotent)));
      command_id = out.contains("Command") ? Str(out["Command"], "CommandId") : std::string();
      if (command_id.empty()) return Internal("SendCommand returned no CommandId");
    }
    id["c"].push_back(json{{"id", command_id}, {"h", batch}});
  }
  return id.dump();
}

Result<std::map<std::string, HostDelivery>> AwsSsmDelivery::Poll(std::string_view delivery_id,
                                                                 TimePoint now) {
  json id = json::parse(delivery_id, nullptr, false);
  if (!id.is_object() || !id.contains("c") || !id["c"].is_array()) {
    return InvalidArgument("not an aws-ssm delivery ID", "ValidationException");
  }
  std::map<std::string, HostDelivery> out;
  for (const json& c : id["c"]) {
    const std::string command_id = Str(c, "id");
    for (const json& h : c.value("h", json::array())) {
      if (!h.is_string()) continue;
      const std::string host = h.get<std::string>();
      const std::string cache_key = command_id + "/" + host;
      {
        std::lock_guard lock(mu_);
        if (auto it = final_.find(cache_key); it != final_.end()) {
          out[host] = it->second;
          continue;
        }
      }
      auto inv = Mapped(client_.CallJson(kSsm, "GetCommandInvocation",
                                         json{{"CommandId", command_id}, {"InstanceId", host}}));
      if (!inv) {
        // Right after SendCommand the invocation may not exist yet.
        if (inv.error().reason == "InvocationDoesNotExist") continue;
        return std::move(inv).error();
      }
      const std::string status = Str(*inv, "Status");
      HostDelivery d;
      if (status == "Success") {
        d.state = HostDeliveryState::kAcked;
        d.acked_at = ParseIso8601(Str(*inv, "ExecutionEndDateTime")).value_or(now);
      } else if (status == "Failed" || status == "TimedOut" || status == "Cancelled") {
        d.state = HostDeliveryState::kFailed;
        std::string details = Str(*inv, "StatusDetails");
        d.reason = "SSM command " + command_id + " " + status;
        if (!details.empty() && details != status) d.reason += " (" + details + ")";
        if (auto rc = inv->find("ResponseCode");
            rc != inv->end() && rc->is_number_integer() && rc->get<long long>() >= 0) {
          d.reason += ", exit code " + std::to_string(rc->get<long long>());
        }
      } else {
        continue;  // Pending, InProgress, Delayed, Cancelling
      }
      std::lock_guard lock(mu_);
      final_[cache_key] = d;
      out[host] = std::move(d);
    }
  }
  return out;
}

}  // namespace kw::rotation::external
