// Rotation commands: access-key rotation policies and their rotations, over keyward's
// own JSON service (Keyward.CreateRotationPolicy, ...; api/keyward/rotation_api.hpp).
#include <algorithm>
#include <charconv>
#include <cmath>
#include <iterator>
#include <ostream>

#include "cli/command.hpp"
#include "cli/json_commands.hpp"
#include "common/time_format.hpp"

namespace kw::cli {
namespace {

using Json = nlohmann::ordered_json;
using nlohmann::json;

// "mi-1,mi-2" and "tag:Role=web" -> [{Key: InstanceIds, Values}, {Key: tag:Role, Values}],
// values of one key grouped in the order given.
Result<json> ParseTargets(std::string_view text) {
  std::vector<std::pair<std::string, std::vector<std::string>>> groups;
  auto add = [&groups](std::string key, std::string value) {
    for (auto& [k, values] : groups) {
      if (k == key) {
        values.push_back(std::move(value));
        return;
      }
    }
    groups.push_back({std::move(key), {std::move(value)}});
  };
  for (std::string& item : SplitList(text)) {
    if (item.rfind("tag:", 0) == 0) {
      const std::size_t eq = item.find('=');
      if (eq == std::string::npos || eq == 4 || eq + 1 == item.size()) {
        return InvalidArgument("--targets: '" + item + "' must be tag:KEY=VALUE");
      }
      add(item.substr(0, eq), item.substr(eq + 1));
    } else {
      add("InstanceIds", std::move(item));
    }
  }
  if (groups.empty()) return InvalidArgument("--targets: name at least one instance or tag");
  json out = json::array();
  for (auto& [k, values] : groups) out.push_back({{"Key", k}, {"Values", values}});
  return out;
}

Result<std::optional<long long>> DurationArg(CommandContext& ctx, std::string_view name) {
  auto text = ctx.Arg(name);
  if (!text) return std::optional<long long>();
  auto d = ParseDuration(*text);
  if (!d) {
    return InvalidArgument(std::string(name) +
                           " must be a duration such as 90s, 15m, 4h, 1d12h (at most 10 years)");
  }
  return std::optional<long long>(d->count());
}

Json IsoMember(const json& obj, const char* name) {
  auto it = obj.find(name);
  return it == obj.end() ? Json(nullptr) : IsoDate(*it);
}

Json StrMember(const json& obj, const char* name) {
  auto it = obj.find(name);
  return it != obj.end() && it->is_string() ? Json(it->get<std::string>()) : Json(nullptr);
}

std::string ScheduleText(const json& p) {
  if (auto it = p.find("ScheduleExpression"); it != p.end() && it->is_string()) {
    return it->get<std::string>();
  }
  if (auto it = p.find("AutomaticallyAfterDays"); it != p.end() && it->is_number_integer()) {
    return "max age " + std::to_string(it->get<long long>()) + " days";
  }
  return "";
}

std::string TargetsText(const json& p) {
  std::string out;
  auto it = p.find("Targets");
  if (it == p.end() || !it->is_array()) return out;
  for (const auto& t : *it) {
    const std::string key = t.value("Key", "");
    for (const auto& v : t.value("Values", json::array())) {
      if (!v.is_string()) continue;
      if (!out.empty()) out += ",";
      out += key == "InstanceIds" ? v.get<std::string>() : key + "=" + v.get<std::string>();
    }
  }
  return out;
}

const std::vector<std::string> kPolicyColumns = {
    "PolicyId", "UserName",         "SecretId",        "Schedule",
    "Targets",  "NextRotationDate", "LastRotatedDate", "ActiveRotationId"};

std::vector<Json> PolicyRow(const json& p) {
  return {StrMember(p, "PolicyId"),
          StrMember(p, "UserName"),
          StrMember(p, "SecretId"),
          ScheduleText(p),
          TargetsText(p),
          IsoMember(p, "NextRotationDate"),
          IsoMember(p, "LastRotatedDate"),
          StrMember(p, "ActiveRotationId")};
}

CommandOutput DoneOutput(std::string message) {
  CommandOutput out;
  out.notices.push_back(std::move(message));
  return out;
}

// ---- policies ----

Result<CommandOutput> RunRotationCreate(CommandContext& ctx) {
  json input = json::object();
  input["UserName"] = ctx.Arg("--user").value_or("");
  input["SecretId"] = ctx.Arg("--secret").value_or("");
  if (auto issuer = ctx.Arg("--issuer")) input["Issuer"] = *issuer;
  if (auto target = ctx.Arg("--secret-target")) input["SecretTarget"] = *target;
  // The server validates the kind and its parameters (it knows the registered ones,
  // external deliveries of the integrations file included); the client only shapes them.
  const std::string delivery = ctx.Arg("--delivery").value_or("document");
  const bool document = delivery == "document";
  json params = json::object();
  if (auto name = ctx.Arg("--document"); name && !name->empty()) {
    params["document"] = *name;
  } else if (document) {
    return InvalidArgument("--document is required with --delivery document");
  }
  if (auto ps = ctx.Arg("--parameter")) {
    std::string_view rest = *ps;
    // One NAME=VALUE per option; a value may contain commas, so split on newlines only.
    while (!rest.empty()) {
      const std::size_t cut = rest.find('\n');
      std::string_view item = rest.substr(0, cut);
      rest.remove_prefix(cut == std::string_view::npos ? rest.size() : cut + 1);
      const std::size_t eq = item.find('=');
      if (eq == std::string_view::npos || eq == 0) {
        return InvalidArgument("--parameter: '" + std::string(item) + "' must be NAME=VALUE");
      }
      // A document's own parameters are "param:NAME"; other kinds take NAME as it is.
      params[(document ? "param:" : "") + std::string(item.substr(0, eq))] =
          std::string(item.substr(eq + 1));
    }
  }
  input["Delivery"] = {{"Type", delivery}, {"Parameters", std::move(params)}};
  if (delivery != "none" || ctx.Arg("--targets")) {
    KW_ASSIGN_OR_RETURN(input["Targets"], ParseTargets(ctx.Arg("--targets").value_or("")));
  }

  auto schedule = ctx.Arg("--schedule");
  auto days = ctx.Arg("--after-days");
  if (schedule.has_value() == days.has_value()) {
    return InvalidArgument("give exactly one of --schedule and --after-days");
  }
  if (schedule) input["ScheduleExpression"] = *schedule;
  if (days) {
    int n = 0;
    const auto [ptr, ec] = std::from_chars(days->data(), days->data() + days->size(), n);
    if (ec != std::errc() || ptr != days->data() + days->size() || n < 1 || n > 1000) {
      return InvalidArgument("--after-days must be a number from 1 to 1000");
    }
    input["AutomaticallyAfterDays"] = n;
  }
  KW_ASSIGN_OR_RETURN(auto quiet, DurationArg(ctx, "--quiet-period"));
  if (quiet) input["QuietPeriodSeconds"] = *quiet;
  KW_ASSIGN_OR_RETURN(auto ack, DurationArg(ctx, "--ack-timeout"));
  if (ack) input["AckTimeoutSeconds"] = *ack;
  KW_ASSIGN_OR_RETURN(auto grace, DurationArg(ctx, "--grace-period"));
  if (grace) input["GracePeriodSeconds"] = *grace;

  KW_ASSIGN_OR_RETURN(const QueryClient* client, ctx.Client());
  KW_ASSIGN_OR_RETURN(json result, client->CallJson(kKeyward, "CreateRotationPolicy", input));
  const json policy = result.value("RotationPolicy", json::object());
  CommandOutput out;
  out.records.columns = kPolicyColumns;
  out.records.rows.push_back(PolicyRow(policy));
  out.json = Json{{"RotationPolicy", Json::parse(policy.dump())}};
  return out;
}

Result<CommandOutput> RunRotationList(CommandContext& ctx) {
  KW_ASSIGN_OR_RETURN(const QueryClient* client, ctx.Client());
  KW_ASSIGN_OR_RETURN(auto items, ListAllJson(*client, kKeyward, "ListRotationPolicies",
                                              json::object(), "RotationPolicies"));
  CommandOutput out;
  out.records.columns = kPolicyColumns;
  Json list = Json::array();
  for (const auto& p : items) {
    out.records.rows.push_back(PolicyRow(p));
    list.push_back(Json::parse(p.dump()));
  }
  out.json = Json{{"RotationPolicies", std::move(list)}};
  return out;
}

Result<CommandOutput> RunRotationShow(CommandContext& ctx) {
  KW_ASSIGN_OR_RETURN(const QueryClient* client, ctx.Client());
  const std::string id = ctx.Arg("ID").value_or("");
  KW_ASSIGN_OR_RETURN(json result,
                      client->CallJson(kKeyward, "GetRotationPolicy", {{"PolicyId", id}}));
  const json p = result.value("RotationPolicy", json::object());
  CommandOutput out;
  out.records.columns = {"Field", "Value"};
  auto row = [&out](std::string name, Json value) {
    if (!value.is_null()) out.records.rows.push_back({std::move(name), std::move(value)});
  };
  row("PolicyId", StrMember(p, "PolicyId"));
  row("Arn", StrMember(p, "Arn"));
  row("UserName", StrMember(p, "UserName"));
  row("SecretId", StrMember(p, "SecretId"));
  row("Issuer", StrMember(p, "Issuer"));
  const json delivery = p.value("Delivery", json::object());
  row("Delivery", StrMember(delivery, "Type"));
  const json parameters = delivery.value("Parameters", json::object());
  for (const auto& [k, v] : parameters.items()) {
    if (v.is_string()) row("  " + k, v.get<std::string>());
  }
  row("Targets", TargetsText(p));
  row("Schedule", ScheduleText(p));
  for (const char* secs : {"QuietPeriodSeconds", "AckTimeoutSeconds", "GracePeriodSeconds"}) {
    if (auto it = p.find(secs); it != p.end() && it->is_number_integer()) {
      row(secs, it->get<long long>());
    }
  }
  if (auto it = p.find("ReactivateOnUse"); it != p.end() && it->is_boolean()) {
    row("ReactivateOnUse", it->get<bool>());
  }
  row("CreatedDate", IsoMember(p, "CreatedDate"));
  row("NextRotationDate", IsoMember(p, "NextRotationDate"));
  row("LastRotatedDate", IsoMember(p, "LastRotatedDate"));
  row("ActiveRotationId", StrMember(p, "ActiveRotationId"));
  row("LastRotationId", StrMember(p, "LastRotationId"));
  if (auto it = p.find("RotationCount"); it != p.end() && it->is_number()) {
    row("RotationCount", it->get<long long>());
  }
  out.json = Json{{"RotationPolicy", Json::parse(p.dump())}};
  return out;
}

Result<CommandOutput> RunRotationDelete(CommandContext& ctx) {
  KW_ASSIGN_OR_RETURN(const QueryClient* client, ctx.Client());
  const std::string id = ctx.Arg("ID").value_or("");
  KW_RETURN_IF_ERROR(client->CallJson(kKeyward, "DeleteRotationPolicy", {{"PolicyId", id}}));
  return DoneOutput("Deleted rotation policy " + id +
                    ". The secret and the user's current key are left as they are.");
}

Result<CommandOutput> RunRotationRotate(CommandContext& ctx) {
  KW_ASSIGN_OR_RETURN(const QueryClient* client, ctx.Client());
  const std::string id = ctx.Arg("ID").value_or("");
  KW_ASSIGN_OR_RETURN(json result, client->CallJson(kKeyward, "RotateNow", {{"PolicyId", id}}));
  const json r = result.value("Rotation", json::object());
  const std::string rid = r.value("RotationId", "");
  CommandOutput out = DoneOutput("Started rotation " + rid +
                                 "; follow it with `keyward rotation status " + rid + "`.");
  out.json = Json{{"Rotation", Json::parse(r.dump())}};
  return out;
}

// ---- status ----

// "2/3" hosts acknowledged.
std::string AckedText(const json& r) {
  auto hosts = r.find("Hosts");
  if (hosts == r.end() || !hosts->is_array() || hosts->empty()) return "";
  std::size_t acked = 0;
  for (const auto& h : *hosts) acked += h.value("Status", "") == "acked" ? 1 : 0;
  return std::to_string(acked) + "/" + std::to_string(hosts->size());
}

// When the rotation entered its current step (the last history entry).
Json StepSince(const json& r) {
  auto history = r.find("History");
  if (history == r.end() || !history->is_array() || history->empty()) return nullptr;
  return IsoMember(history->back(), "EnteredDate");
}

CommandOutput StatusOutput(const std::vector<json>& rotations) {
  CommandOutput out;
  out.records.columns = {"RotationId", "UserName", "SecretId",     "Step",
                         "Since",      "Acked",    "WaitingReason"};
  Json list = Json::array();
  for (const auto& r : rotations) {
    const std::string rid = r.value("RotationId", "");
    Json reason = StrMember(r, "WaitingReason");
    if (reason.is_null()) reason = StrMember(r, "FailureReason");
    out.records.rows.push_back({rid, StrMember(r, "UserName"), StrMember(r, "SecretId"),
                                StrMember(r, "Step"), StepSince(r), AckedText(r), reason});
    // The details under the table: every step with its time, then every host.
    std::string steps;
    for (const auto& s : r.value("History", json::array())) {
      const Json when = IsoMember(s, "EnteredDate");
      if (!steps.empty()) steps += ", ";
      steps += s.value("Step", "?") + " " + (when.is_string() ? when.get<std::string>() : "");
    }
    if (!steps.empty()) out.notices.push_back(rid + " steps: " + steps);
    for (const auto& h : r.value("Hosts", json::array())) {
      std::string line =
          rid + " host " + h.value("InstanceId", "?") + ": " + h.value("Status", "pending");
      const Json acked = IsoMember(h, "AckedDate");
      if (acked.is_string()) line += " at " + acked.get<std::string>();
      if (const std::string why = h.value("Reason", ""); !why.empty()) line += " (" + why + ")";
      out.notices.push_back(std::move(line));
    }
    for (const auto& f : r.value("Findings", json::array())) {
      const Json when = IsoMember(f, "Date");
      out.notices.push_back(rid + " old key " + f.value("AccessKeyId", "?") + " used from " +
                            f.value("Source", "?") + " at " +
                            (when.is_string() ? when.get<std::string>() : "?") +
                            (f.value("Reactivated", false) ? " (reactivated)" : ""));
    }
    list.push_back(Json::parse(r.dump()));
  }
  out.json = Json{{"Rotations", std::move(list)}};
  return out;
}

// The rotations `status` shows: one rotation, a policy's rotations, or every policy's
// rotation in progress (else its last one).
Result<std::vector<json>> FetchRotations(const QueryClient& client,
                                         const std::optional<std::string>& id) {
  std::vector<json> rotations;
  if (id) {
    if (id->find('.') != std::string::npos) {  // a rotation ID: POLICY.SEQUENCE
      KW_ASSIGN_OR_RETURN(json r, client.CallJson(kKeyward, "GetRotation", {{"RotationId", *id}}));
      rotations.push_back(r.value("Rotation", json::object()));
      return rotations;
    }
    return ListAllJson(client, kKeyward, "ListRotations", {{"PolicyId", *id}}, "Rotations");
  }
  KW_ASSIGN_OR_RETURN(auto policies, ListAllJson(client, kKeyward, "ListRotationPolicies",
                                                 json::object(), "RotationPolicies"));
  for (const auto& p : policies) {
    std::string rid = p.value("ActiveRotationId", "");
    if (rid.empty()) rid = p.value("LastRotationId", "");
    if (rid.empty()) continue;
    KW_ASSIGN_OR_RETURN(json r, client.CallJson(kKeyward, "GetRotation", {{"RotationId", rid}}));
    rotations.push_back(r.value("Rotation", json::object()));
  }
  return rotations;
}

bool Finished(const json& r) {
  const std::string step = r.value("Step", "");
  return step == "done" || step == "failed";
}

// The steps in order, for the progress display ("failed" ends anywhere).
constexpr std::string_view kStepOrder[] = {"queued",     "preflight", "create",     "store",
                                           "test",       "promote",   "distribute", "verify",
                                           "deactivate", "grace",     "delete",     "done"};

// "[#######.....] 7/12 distribute, 1/2 hosts": one line per rotation on a terminal.
std::string ProgressLine(const json& r) {
  const std::string step = r.value("Step", "");
  constexpr std::size_t kTotal = std::size(kStepOrder);
  std::size_t reached = 0;
  for (std::size_t i = 0; i < kTotal; ++i) {
    if (kStepOrder[i] == step) reached = i + 1;
  }
  if (step == "failed") {
    // As far as it got: the last step of its history before failing.
    for (const auto& h : r.value("History", json::array())) {
      for (std::size_t i = 0; i < kTotal; ++i) {
        if (kStepOrder[i] == h.value("Step", "")) reached = std::max(reached, i + 1);
      }
    }
  }
  constexpr std::size_t kWidth = 24;
  const std::size_t filled = reached * kWidth / kTotal;
  std::string bar = "[" + std::string(filled, '#') + std::string(kWidth - filled, '.') + "] ";
  std::string line = r.value("RotationId", "?") + " " + bar + std::to_string(reached) + "/" +
                     std::to_string(kTotal) + " " + step;
  if (const std::string acked = AckedText(r); !acked.empty()) line += ", hosts " + acked;
  return line;
}

constexpr std::string_view kClearScreen = "\x1b[H\x1b[2J";

Result<CommandOutput> RunRotationStatus(CommandContext& ctx) {
  KW_ASSIGN_OR_RETURN(const QueryClient* client, ctx.Client());
  const std::optional<std::string> id = ctx.Arg("ID");
  KW_ASSIGN_OR_RETURN(std::vector<json> rotations, FetchRotations(*client, id));
  if (!ctx.Arg("--watch")) return StatusOutput(rotations);

  // --watch: one frame a second until every rotation shown is done or failed (or the
  // operator presses Ctrl-C, which ends the process). The last frame is the command's
  // result; the earlier ones go to the live output as they come. On a terminal each
  // frame replaces the previous one and leads with a progress bar per rotation; piped,
  // the frames follow each other, so scripts and tests read them without a tty.
  std::ostream* live = ctx.live_output();
  const bool terminal = live != nullptr && ctx.live_output_is_terminal();
  auto frame = [&](const std::vector<json>& rs) {
    CommandOutput out = StatusOutput(rs);
    if (terminal) {
      std::vector<std::string> progress;
      for (const auto& r : rs) progress.push_back(ProgressLine(r));
      out.notices.insert(out.notices.begin(), progress.begin(), progress.end());
      if (!std::all_of(rs.begin(), rs.end(), Finished)) {
        out.notices.push_back("watching (every second; Ctrl-C to stop)");
      }
    }
    return out;
  };
  const OutputFormat format = ctx.options().output;
  while (!std::all_of(rotations.begin(), rotations.end(), Finished)) {
    if (live != nullptr) {
      if (terminal) *live << kClearScreen;
      PrintOutput(frame(rotations), format, *live);
      if (!terminal) *live << "\n";
      live->flush();
    }
    ctx.Sleep(std::chrono::seconds(1));
    KW_ASSIGN_OR_RETURN(rotations, FetchRotations(*client, id));
  }
  if (terminal) *live << kClearScreen;
  return frame(rotations);
}

// ---- plan ----

Json DateRange(const json& step) {
  const Json from = IsoMember(step, "EarliestDate");
  const Json to = IsoMember(step, "LatestDate");
  if (!from.is_string()) return nullptr;
  if (!to.is_string() || to == from) return from;
  return from.get<std::string>() + " .. " + to.get<std::string>();
}

// What a rotation of the policy would do now: rows of (item, value, detail).
Result<CommandOutput> RunRotationPlan(CommandContext& ctx, const std::string& id) {
  KW_ASSIGN_OR_RETURN(const QueryClient* client, ctx.Client());
  KW_ASSIGN_OR_RETURN(json result, client->CallJson(kKeyward, "PlanRotation", {{"PolicyId", id}}));
  const json plan = result.value("Plan", json::object());
  CommandOutput out;
  out.records.columns = {"Item", "Value", "Detail"};
  auto row = [&out](std::string item, Json value, Json detail = nullptr) {
    out.records.rows.push_back({std::move(item), std::move(value), std::move(detail)});
  };
  row("Policy", StrMember(plan, "PolicyId"),
      plan.value("UserName", "") + " / " + plan.value("SecretId", ""));
  {
    std::string detail = plan.value("OldKeyStatus", "not a key of the user");
    const Json created = IsoMember(plan, "OldKeyCreateDate");
    if (created.is_string()) detail += ", created " + created.get<std::string>();
    const Json used = IsoMember(plan, "OldKeyLastUsedDate");
    detail += used.is_string() ? ", last used " + used.get<std::string>() + " (" +
                                     plan.value("OldKeyLastUsedSource", "?") + ")"
                               : ", no recorded use";
    row("Replaces key", StrMember(plan, "OldAccessKeyId"), detail);
  }
  row("Secret version", StrMember(plan, "CurrentVersionId"), "AWSCURRENT now");
  row("Preflight", StrMember(plan, "Preflight"));
  for (const auto& b : plan.value("Blockers", json::array())) {
    if (b.is_string()) row("BLOCKED", b.get<std::string>());
  }
  std::size_t unseen = 0;
  const json hosts = plan.value("Hosts", json::array());
  for (const auto& h : hosts) {
    std::string where = h.value("Registered", false) ? h.value("PingStatus", "registered")
                                                     : std::string("not registered");
    if (const std::string ip = h.value("IPAddress", ""); !ip.empty()) where += " " + ip;
    std::string seen;
    if (h.value("SeenWithCurrentKey", false)) {
      const Json at = IsoMember(h, "AckedDate");
      seen = "seen: acknowledged the current version" +
             (at.is_string() ? " at " + at.get<std::string>() : std::string());
    } else {
      ++unseen;
      seen = "NOT SEEN with the current key";
    }
    row("Host", StrMember(h, "InstanceId"), where + "; " + seen);
  }
  row("Hosts", static_cast<long long>(hosts.size()),
      std::to_string(unseen) + " not seen; " + plan.value("HostsNote", ""));
  for (const auto& s : plan.value("Steps", json::array())) {
    row("Step " + s.value("Step", "?"), DateRange(s), StrMember(s, "Note"));
  }
  row("Next rotation", IsoMember(plan, "NextRotationDate"), "after this one");
  const Json start = IsoMember(plan, "StartDate");
  out.notices.push_back("Nothing was changed. Dates assume the rotation starts now (" +
                        (start.is_string() ? start.get<std::string>() : std::string("?")) +
                        "); a range runs from every host acknowledging at once to the whole "
                        "acknowledgement timeout. \"Seen\" = the host acknowledged installing "
                        "the secret version that holds the current key.");
  out.json = Json{{"Plan", Json::parse(plan.dump())}};
  return out;
}

Result<CommandOutput> RunRotationPlanCommand(CommandContext& ctx) {
  return RunRotationPlan(ctx, ctx.Arg("ID").value_or(""));
}

// `keyward rotate POLICY` starts a rotation; with --plan it only shows what one would do.
// (`keyward rotate --once` is another command: the engine run locally, see main.cpp.)
Result<CommandOutput> RunRotate(CommandContext& ctx) {
  if (ctx.Arg("--plan")) return RunRotationPlanCommand(ctx);
  return RunRotationRotate(ctx);
}

}  // namespace

std::vector<CommandDef> RotationCommands() {
  const ArgSpec policy_id = {"ID", "The rotation policy ID (rp-...)", true};
  return {
      {{"rotation", "create"},
       "Rotate an IAM user's access key on a schedule, delivering it to hosts",
       {{"--user", "The IAM user whose access key is rotated", true},
        {"--secret", "The secret holding the key (aws_access_key_id, aws_secret_access_key)", true},
        {"--issuer",
         "Who issues the keys: builtin (the default) or an issuer of the "
         "server's integrations file"},
        {"--secret-target",
         "Where the key is stored: builtin (the default) or a store of the "
         "integrations file"},
        {"--delivery",
         "How hosts receive the new key: document (Run Command; the default), agent-sync (the "
         "agent installs it: docs/agent.md), none, or a delivery of the integrations file"},
        {"--document", "The document each target host runs (required with document delivery)"},
        {"--parameter",
         "A delivery parameter NAME=VALUE (for documents: a document parameter, where "
         "{{SecretId}} and {{VersionId}} are replaced) (may repeat)",
         false, true},
        {"--targets",
         "Instance IDs (mi-...) and tag:KEY=VALUE, comma-separated (may repeat; not with "
         "--delivery none)",
         false, true},
        {"--schedule", "rate(...) or cron(...) (UTC)"},
        {"--after-days", "Instead of --schedule: no active key older than N days (1-1000)"},
        {"--quiet-period", "How long the old key must go unused before it is deactivated"},
        {"--ack-timeout", "How long hosts have to acknowledge the new version"},
        {"--grace-period", "How long the deactivated key is kept before it is deleted"}},
       RunRotationCreate},
      {{"rotation", "list"}, "List rotation policies", {}, RunRotationList},
      {{"rotation", "show"}, "Show a rotation policy", {policy_id}, RunRotationShow},
      {{"rotation", "delete"},
       "Delete a rotation policy (not while a rotation is in progress)",
       {policy_id},
       RunRotationDelete},
      {{"rotation", "rotate"}, "Start a rotation of a policy now", {policy_id}, RunRotationRotate},
      {{"rotation", "status"},
       "Show rotations: step, times, waiting reason and per-host acknowledgements",
       {{"ID", "A policy ID (all its rotations) or a rotation ID; default: every policy's latest"},
        {"--watch", "Refresh every second until the rotations are done or failed (Ctrl-C stops)",
         false, false, true}},
       RunRotationStatus},
      {{"rotation", "plan"},
       "Show what a rotation of a policy would do now, without doing it",
       {policy_id},
       RunRotationPlanCommand},
      {{"rotate"},
       "Start a rotation of a policy now (--plan: only show what it would do). "
       "`keyward rotate --once --data-dir DIR` instead runs the engine locally until idle",
       {policy_id,
        {"--plan", "Show which key, which hosts and which dates, without rotating", false, false,
         true}},
       RunRotate},
  };
}

}  // namespace kw::cli
