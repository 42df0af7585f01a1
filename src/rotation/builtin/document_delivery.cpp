#include "rotation/builtin/document_delivery.hpp"

#include <cstdlib>
#include <nlohmann/json.hpp>

namespace kw::rotation::builtin {
namespace {

using json = nlohmann::json;

std::string Substitute(std::string value, const DeliveryRequest& req) {
  for (const auto& [from, to] :
       {std::pair<std::string, const std::string*>{"{{SecretId}}", &req.secret_id},
        {"{{VersionId}}", &req.version_id}}) {
    for (std::size_t at = value.find(from); at != std::string::npos;
         at = value.find(from, at + to->size())) {
      value.replace(at, from.size(), *to);
    }
  }
  return value;
}

}  // namespace

Status DocumentDelivery::Validate(const DeliverySpec& spec) {
  auto doc = spec.parameters.find("document");
  if (doc == spec.parameters.end() || doc->second.empty()) {
    return InvalidArgument("delivery 'document' needs the parameter 'document'");
  }
  for (const auto& [key, value] : spec.parameters) {
    if (key == "document") continue;
    if (key == "timeout_seconds") {
      char* end = nullptr;
      const long long t = std::strtoll(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || t < 30 || t > 2592000) {
        return InvalidArgument("timeout_seconds must be a number from 30 to 2592000");
      }
      continue;
    }
    if (key.rfind("param:", 0) == 0 && key.size() > 6) continue;
    return InvalidArgument("unknown document delivery parameter '" + key +
                           "' (document, timeout_seconds, param:NAME)");
  }
  return OkStatus();
}

Result<std::string> DocumentDelivery::Start(const DeliveryRequest& request, TimePoint now) {
  KW_RETURN_IF_ERROR(Validate(request.spec));
  json ids = json::object();
  for (const std::string& host : request.hosts) {
    commands::SendCommandRequest cmd;
    cmd.instance_ids = {host};
    cmd.document_name = request.spec.parameters.at("document");
    for (const auto& [key, value] : request.spec.parameters) {
      if (key.rfind("param:", 0) == 0) cmd.parameters[key.substr(6)] = {Substitute(value, request)};
      if (key == "timeout_seconds") cmd.timeout_seconds = std::strtoll(value.c_str(), nullptr, 10);
    }
    cmd.comment = request.comment.substr(0, 100);
    cmd.requested_by = "keyward-rotation";
    KW_ASSIGN_OR_RETURN(std::string command_id, sender_.SendCommand(cmd, now));
    ids[host] = command_id;
  }
  return ids.dump();
}

Result<std::map<std::string, HostDelivery>> DocumentDelivery::Poll(std::string_view delivery_id,
                                                                   TimePoint now) {
  json ids = json::parse(delivery_id, nullptr, false);
  if (ids.is_discarded() || !ids.is_object()) {
    return Internal("corrupt document delivery id");
  }
  std::map<std::string, HostDelivery> out;
  for (const auto& [host, command] : ids.items()) {
    if (!command.is_string()) return Internal("corrupt document delivery id");
    KW_ASSIGN_OR_RETURN(commands::CommandStatusSummary st,
                        sender_.CommandStatus(command.get<std::string>()));
    HostDelivery d;
    if (st.status == "Success") {
      d.state = HostDeliveryState::kAcked;
      d.acked_at = now;
    } else if (st.status == "Failed" || st.status == "TimedOut" || st.status == "Cancelled" ||
               st.status == "Cancelling") {
      d.state = HostDeliveryState::kFailed;
      d.reason = "command " + command.get<std::string>() + " " + st.status;
    }
    out.emplace(host, std::move(d));
  }
  return out;
}

}  // namespace kw::rotation::builtin
