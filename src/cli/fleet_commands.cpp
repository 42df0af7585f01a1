// Fleet commands: activations that register hosts running keyward-agent, and the
// registered hosts (SSM managed instances), over the SSM JSON API and keyward's own.
#include <charconv>
#include <cmath>

#include "cli/command.hpp"
#include "cli/json_commands.hpp"
#include "common/time_format.hpp"

namespace kw::cli {
namespace {

using Json = nlohmann::ordered_json;
using nlohmann::json;

constexpr std::chrono::seconds kDefaultExpiry = std::chrono::hours(1);

Json Scalar(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number_integer()) return v.get<long long>();
  if (v.is_number()) return v.get<double>();
  return nullptr;
}

struct Column {
  std::string name;
  bool date = false;
};

CommandOutput ListOutput(const std::vector<json>& items, std::string_view key,
                         const std::vector<Column>& columns) {
  CommandOutput out;
  for (const auto& c : columns) out.records.columns.push_back(c.name);
  Json list = Json::array();
  for (const auto& item : items) {
    std::vector<Json> row;
    Json obj = Json::object();
    for (const auto& c : columns) {
      auto it = item.find(c.name);
      Json v = it == item.end() ? Json(nullptr) : (c.date ? IsoDate(*it) : Scalar(*it));
      row.push_back(v);
      if (!v.is_null()) obj[c.name] = v;
    }
    out.records.rows.push_back(std::move(row));
    list.push_back(std::move(obj));
  }
  out.json = Json{{std::string(key), std::move(list)}};
  return out;
}

CommandOutput DoneOutput(std::string message) {
  CommandOutput out;
  out.notices.push_back(std::move(message));
  return out;
}

// ---- activations ----

Result<CommandOutput> RunActivationCreate(CommandContext& ctx) {
  KW_ASSIGN_OR_RETURN(const QueryClient* client, ctx.Client());
  json input = json::object();
  input["IamRole"] = ctx.Arg("--role").value_or("");
  long long limit = 1;
  if (auto text = ctx.Arg("--limit")) {
    const auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), limit);
    if (ec != std::errc() || ptr != text->data() + text->size() || limit < 1 || limit > 1000) {
      return InvalidArgument("--limit must be a number from 1 to 1000");
    }
  }
  input["RegistrationLimit"] = limit;
  std::chrono::seconds expiry = kDefaultExpiry;
  if (auto text = ctx.Arg("--expires")) {
    auto d = ParseDuration(*text);
    if (!d || d->count() == 0) {
      return InvalidArgument("--expires must be a duration such as 30m, 1h, 7d (at most 30d)");
    }
    expiry = *d;
  }
  const TimePoint expires_at = ctx.clock().Now() + expiry;
  input["ExpirationDate"] =
      std::chrono::duration_cast<std::chrono::seconds>(expires_at.time_since_epoch()).count();
  if (auto name = ctx.Arg("--name")) input["DefaultInstanceName"] = *name;
  if (auto description = ctx.Arg("--description")) input["Description"] = *description;
  if (auto cidrs = ctx.Arg("--cidr")) {
    input["SourceCidrs"] = SplitList(*cidrs);
  }
  KW_ASSIGN_OR_RETURN(json result, client->CallJson(kSsm, "CreateActivation", input));
  const std::string id = result.value("ActivationId", "");
  const std::string code = result.value("ActivationCode", "");
  if (id.empty() || code.empty())
    return Internal("CreateActivation: the response has no ID or code");

  CommandOutput out;
  out.records.columns = {"ActivationId", "ActivationCode", "ExpirationDate"};
  out.records.rows.push_back({id, code, FormatIso8601(expires_at)});
  out.json = Json{{"ActivationId", id}, {"ActivationCode", code}};
  // Printing the code is the point of this command: the server keeps only its hash.
  out.notices.push_back(
      "The activation code is shown only this once. On each host to register (at most " +
      std::to_string(limit) + ", until " + FormatIso8601(expires_at) + "), run as root:");
  out.notices.push_back("  keyward-agent register --endpoint " + ctx.endpoint() + " --code " +
                        code + " --id " + id + " --region " + client->region());
  return out;
}

const std::vector<Column> kActivationColumns = {{"ActivationId"},
                                                {"IamRole"},
                                                {"DefaultInstanceName"},
                                                {"RegistrationsCount"},
                                                {"RegistrationLimit"},
                                                {"ExpirationDate", true},
                                                {"Expired"},
                                                {"CreatedDate", true},
                                                {"Description"}};

Result<CommandOutput> RunActivationList(CommandContext& ctx) {
  KW_ASSIGN_OR_RETURN(const QueryClient* client, ctx.Client());
  KW_ASSIGN_OR_RETURN(auto items, ListAllJson(*client, kSsm, "DescribeActivations", json::object(),
                                              "ActivationList"));
  return ListOutput(items, "ActivationList", kActivationColumns);
}

Result<CommandOutput> RunActivationDelete(CommandContext& ctx) {
  KW_ASSIGN_OR_RETURN(const QueryClient* client, ctx.Client());
  const std::string id = ctx.Arg("ID").value_or("");
  KW_RETURN_IF_ERROR(client->CallJson(kSsm, "DeleteActivation", {{"ActivationId", id}}));
  return DoneOutput("Deleted activation " + id + ". Hosts it registered stay registered.");
}

// ---- managed instances ----

const std::vector<Column> kInstanceColumns = {
    {"InstanceId"},   {"Name"},      {"PingStatus"},   {"LastPingDateTime", true},
    {"ComputerName"}, {"IPAddress"}, {"PlatformName"}, {"PlatformVersion"},
    {"AgentVersion"}, {"IamRole"},   {"ActivationId"}, {"RegistrationDate", true}};

Result<CommandOutput> RunInstanceList(CommandContext& ctx) {
  KW_ASSIGN_OR_RETURN(const QueryClient* client, ctx.Client());
  json input = json::object();
  if (auto status = ctx.Arg("--ping-status")) {
    input["Filters"] = json::array({{{"Key", "PingStatus"}, {"Values", {*status}}}});
  }
  KW_ASSIGN_OR_RETURN(auto items, ListAllJson(*client, kSsm, "DescribeInstanceInformation", input,
                                              "InstanceInformationList"));
  return ListOutput(items, "InstanceInformationList", kInstanceColumns);
}

Result<CommandOutput> RunInstanceRebind(CommandContext& ctx) {
  KW_ASSIGN_OR_RETURN(const QueryClient* client, ctx.Client());
  const std::string id = ctx.Arg("ID").value_or("");
  KW_RETURN_IF_ERROR(client->CallJson(kKeyward, "ApproveInstanceRebind", {{"InstanceId", id}}));
  return DoneOutput("Approved a new host fingerprint for " + id +
                    ": its agent's next credentials request records it (the instance keeps its "
                    "ID, tags and history).");
}

Result<CommandOutput> RunInstanceDeregister(CommandContext& ctx) {
  KW_ASSIGN_OR_RETURN(const QueryClient* client, ctx.Client());
  const std::string id = ctx.Arg("ID").value_or("");
  KW_RETURN_IF_ERROR(client->CallJson(kSsm, "DeregisterManagedInstance", {{"InstanceId", id}}));
  return DoneOutput("Deregistered " + id + "; its credentials no longer work.");
}

}  // namespace

std::vector<CommandDef> FleetCommands() {
  const ArgSpec instance_id = {"ID", "The managed instance ID (mi-...)", true};
  return {
      {{"activation", "create"},
       "Create an activation and print the command that registers a host with it",
       {{"--role", "The IAM role the registered hosts' credentials are for", true},
        {"--limit", "How many hosts may register with it (default 1, at most 1000)"},
        {"--expires", "How long it can be used: 30m, 1h, 7d... (default 1h, at most 30d)"},
        {"--cidr", "Only hosts registering from this network (CIDR; may repeat)", false, true},
        {"--name", "The name the registered hosts get"},
        {"--description", "A description"}},
       RunActivationCreate},
      {{"activation", "list"}, "List activations", {}, RunActivationList},
      {{"activation", "delete"},
       "Delete an activation (registered hosts stay)",
       {{"ID", "The activation ID", true}},
       RunActivationDelete},
      {{"instance", "list"},
       "List registered hosts (managed instances)",
       {{"--ping-status", "Only Online or ConnectionLost hosts"}},
       RunInstanceList},
      {{"instance", "rebind"},
       "Approve a host's new fingerprint after a legitimate hardware or OS change",
       {instance_id},
       RunInstanceRebind},
      {{"instance", "deregister"},
       "Deregister a host; its credentials stop working at once",
       {instance_id},
       RunInstanceDeregister},
  };
}

}  // namespace kw::cli
