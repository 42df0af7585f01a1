// Audit commands: findings, the directory and offboarding, over keyward's own JSON
// service (Keyward.RunAudit, ListFindings, ...; api/keyward/audit_api.hpp).
#include <algorithm>

#include "cli/command.hpp"
#include "cli/json_commands.hpp"

namespace kw::cli {
namespace {

using Json = nlohmann::ordered_json;
using nlohmann::json;

// Severity names in increasing order, as the server spells them.
const std::vector<std::string> kSeverities = {"INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"};

int SeverityRank(std::string_view name) {
  for (std::size_t i = 0; i < kSeverities.size(); ++i) {
    if (kSeverities[i].size() == name.size() &&
        std::equal(name.begin(), name.end(), kSeverities[i].begin(), [](char a, char b) {
          return std::toupper(static_cast<unsigned char>(a)) == b;
        })) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

Json Str(const json& obj, const char* name) {
  auto it = obj.find(name);
  return it != obj.end() && it->is_string() ? Json(it->get<std::string>()) : Json(nullptr);
}

Json Iso(const json& obj, const char* name) {
  auto it = obj.find(name);
  return it == obj.end() ? Json(nullptr) : IsoDate(*it);
}

Json Num(const json& obj, const char* name) {
  auto it = obj.find(name);
  return it != obj.end() && it->is_number() ? Json(it->get<long long>()) : Json(nullptr);
}

const std::vector<std::string> kFindingColumns = {"Severity", "Type",      "Resource",
                                                  "Summary",  "FirstSeen", "LastSeen",
                                                  "Count",    "State",     "FindingId"};

std::vector<Json> FindingRow(const json& f) {
  return {Str(f, "Severity"), Str(f, "Type"),      Str(f, "Resource"),
          Str(f, "Summary"),  Iso(f, "FirstSeen"), Iso(f, "LastSeen"),
          Num(f, "Count"),    Str(f, "State"),     Str(f, "FindingId")};
}

// Most severe first, then by type and resource, so the table reads as a to-do list.
void SortFindings(std::vector<json>& findings) {
  std::stable_sort(findings.begin(), findings.end(), [](const json& a, const json& b) {
    const int ra = SeverityRank(a.value("Severity", "")),
              rb = SeverityRank(b.value("Severity", ""));
    if (ra != rb) return ra > rb;
    if (a.value("Type", "") != b.value("Type", ""))
      return a.value("Type", "") < b.value("Type", "");
    return a.value("Resource", "") < b.value("Resource", "");
  });
}

CommandOutput FindingsOutput(std::vector<json> findings) {
  SortFindings(findings);
  CommandOutput out;
  out.records.columns = kFindingColumns;
  Json list = Json::array();
  for (const auto& f : findings) {
    out.records.rows.push_back(FindingRow(f));
    list.push_back(Json::parse(f.dump()));
  }
  out.json = Json{{"Findings", std::move(list)}};
  return out;
}

Result<CommandOutput> RunAudit(CommandContext& ctx) {
  std::optional<OutputFormat> format;
  if (auto f = ctx.Arg("--format")) {
    KW_ASSIGN_OR_RETURN(OutputFormat parsed, ParseOutputFormat(*f));
    format = parsed;
  }
  int fail_rank = -1;
  if (auto f = ctx.Arg("--fail-on")) {
    fail_rank = SeverityRank(*f);
    if (fail_rank < 0) {
      return InvalidArgument("--fail-on must be one of info, low, medium, high, critical");
    }
  }
  KW_ASSIGN_OR_RETURN(const QueryClient* client, ctx.Client());
  KW_ASSIGN_OR_RETURN(json run, client->CallJson(kKeyward, "RunAudit", json::object()));
  // The server's largest page: a 100,000-user account has ~190,000 findings, and round
  // trips, not the server, dominate the listing.
  json filter = {{"MaxResults", 1000}};
  if (!ctx.Arg("--all")) filter["State"] = "ACTIVE";
  KW_ASSIGN_OR_RETURN(auto findings,
                      ListAllJson(*client, kKeyward, "ListFindings", filter, "Findings"));
  std::size_t failing = 0;
  for (const auto& f : findings) {
    if (fail_rank >= 0 && f.value("State", "") == "ACTIVE" &&
        SeverityRank(f.value("Severity", "")) >= fail_rank) {
      ++failing;
    }
  }
  CommandOutput out = FindingsOutput(std::move(findings));
  out.format = format;
  out.json["Audit"] = Json::parse(run.dump());
  out.notices.push_back(std::to_string(out.records.rows.size()) + " finding(s); " +
                        std::to_string(run.value("Created", 0)) + " new, " +
                        std::to_string(run.value("Resolved", 0)) + " resolved by this audit");
  if (failing > 0) {
    out.error = FailedPrecondition(std::to_string(failing) + " active finding(s) at or above " +
                                   kSeverities[fail_rank]);
  }
  return out;
}

Result<CommandOutput> RunFindingList(CommandContext& ctx) {
  json filter = {{"MaxResults", 1000}};
  if (auto s = ctx.Arg("--state")) filter["State"] = *s;
  if (auto s = ctx.Arg("--min-severity")) filter["MinSeverity"] = *s;
  if (auto s = ctx.Arg("--type")) filter["Type"] = *s;
  KW_ASSIGN_OR_RETURN(const QueryClient* client, ctx.Client());
  KW_ASSIGN_OR_RETURN(auto findings,
                      ListAllJson(*client, kKeyward, "ListFindings", filter, "Findings"));
  return FindingsOutput(std::move(findings));
}

Result<CommandOutput> SetFindingState(CommandContext& ctx, const char* state) {
  json input{{"FindingId", ctx.Arg("ID").value_or("")}, {"State", state}};
  if (auto r = ctx.Arg("--reason")) input["Reason"] = *r;
  KW_ASSIGN_OR_RETURN(const QueryClient* client, ctx.Client());
  KW_ASSIGN_OR_RETURN(json result, client->CallJson(kKeyward, "UpdateFindingState", input));
  return FindingsOutput({result.value("Finding", json::object())});
}

const std::vector<std::string> kChangeColumns = {"PersonId", "Change", "From", "To", "Date"};

std::vector<Json> ChangeRow(const json& c) {
  return {Str(c, "PersonId"), Str(c, "Change"), Str(c, "From"), Str(c, "To"), Iso(c, "Date")};
}

const std::vector<std::string> kKeyColumns = {"Person",    "UserName",     "AccessKeyId",
                                              "WasActive", "LastUsedDate", "LastUsedService",
                                              "Action",    "Error"};

void AddOffboardingRows(const json& o, CommandOutput& out) {
  for (const auto& k : o.value("AccessKeys", json::array())) {
    out.records.rows.push_back({Str(o, "Person"), Str(k, "UserName"), Str(k, "AccessKeyId"),
                                Json(k.value("WasActive", false)), Iso(k, "LastUsedDate"),
                                Str(k, "LastUsedService"), Str(k, "Action"), Str(k, "Error")});
  }
  for (const auto& u : o.value("Users", json::array())) {
    std::string line = "user " + u.value("UserName", "") + ": ";
    if (o.value("DryRun", false)) {
      line += "temporary credentials would be revoked";
    } else if (u.contains("Error")) {
      line += "revoking temporary credentials FAILED: " + u.value("Error", "");
    } else {
      line += std::to_string(u.value("SessionsRevoked", 0)) + " temporary credential(s) revoked";
    }
    out.notices.push_back(std::move(line));
  }
}

Result<CommandOutput> RunDirectorySync(CommandContext& ctx) {
  KW_ASSIGN_OR_RETURN(const QueryClient* client, ctx.Client());
  KW_ASSIGN_OR_RETURN(json result, client->CallJson(kKeyward, "SyncDirectory", json::object()));
  CommandOutput out;
  out.records.columns = kChangeColumns;
  for (const auto& c : result.value("Changes", json::array())) {
    out.records.rows.push_back(ChangeRow(c));
  }
  out.json = Json::parse(result.dump());
  out.notices.push_back("synced " + std::to_string(result.value("People", 0)) + " people from " +
                        result.value("Source", std::string()) + "; " +
                        std::to_string(out.records.rows.size()) + " change(s)");
  std::size_t failed = 0;
  for (const auto& o : result.value("Offboardings", json::array())) {
    out.notices.push_back("offboarded " + o.value("Person", "") + ": " + o.value("Status", "") +
                          " (" + std::to_string(o.value("AccessKeys", json::array()).size()) +
                          " key(s))");
    if (o.value("Status", "") == "failed") ++failed;
  }
  if (failed > 0) {
    out.error = Unavailable(std::to_string(failed) +
                            " automatic offboarding(s) failed; run "
                            "`keyward offboard PERSON` again");
  }
  return out;
}

Result<CommandOutput> RunDirectoryChanges(CommandContext& ctx) {
  KW_ASSIGN_OR_RETURN(const QueryClient* client, ctx.Client());
  KW_ASSIGN_OR_RETURN(auto changes, ListAllJson(*client, kKeyward, "ListDirectoryChanges",
                                                json::object(), "Changes"));
  CommandOutput out;
  out.records.columns = kChangeColumns;
  Json list = Json::array();
  for (const auto& c : changes) {
    out.records.rows.push_back(ChangeRow(c));
    list.push_back(Json::parse(c.dump()));
  }
  out.json = Json{{"Changes", std::move(list)}};
  return out;
}

Result<CommandOutput> RunOffboard(CommandContext& ctx) {
  const std::string person = ctx.Arg("PERSON").value_or("");
  json input{{"Person", person}, {"DryRun", ctx.Arg("--dry-run").has_value()}};
  if (auto r = ctx.Arg("--reason")) input["Reason"] = *r;
  KW_ASSIGN_OR_RETURN(const QueryClient* client, ctx.Client());
  KW_ASSIGN_OR_RETURN(json result, client->CallJson(kKeyward, "Offboard", input));
  const json o = result.value("Offboarding", json::object());
  CommandOutput out;
  out.records.columns = kKeyColumns;
  AddOffboardingRows(o, out);
  out.json = Json{{"Offboarding", Json::parse(o.dump())}};
  if (o.value("Users", json::array()).empty()) {
    out.notices.push_back(person + " owns no IAM user (owner tag)");
  }
  if (o.value("DryRun", false)) out.notices.push_back("dry run: nothing was changed");
  if (o.value("Status", "") == "failed") {
    out.error = Unavailable("offboarding " + person +
                            " did not complete; see the errors above and run it again");
  }
  return out;
}

}  // namespace

std::vector<CommandDef> AuditCommands() {
  const ArgSpec finding_id = {"ID", "The finding ID (f-...)", true};
  const ArgSpec reason = {"--reason", "Why (stored with the finding)"};
  return {
      {{"audit"},
       "Audit IAM users, keys, owners and activations; exit 1 on findings at --fail-on",
       {{"--format", "Output format: table, json or csv (overrides --output)"},
        {"--fail-on",
         "Exit 1 if an active finding is at or above: info, low, medium, high, "
         "critical"},
        {"--all", "Also show suppressed and resolved findings", false, false, true}},
       RunAudit},
      {{"finding", "list"},
       "List findings",
       {{"--state", "ACTIVE, SUPPRESSED or RESOLVED"},
        {"--min-severity", "INFO, LOW, MEDIUM, HIGH or CRITICAL"},
        {"--type", "A finding type, such as OwnerDeparted"}},
       RunFindingList},
      {{"finding", "suppress"},
       "Accept a finding: later audits keep counting it but leave it suppressed",
       {finding_id, reason},
       [](CommandContext& ctx) { return SetFindingState(ctx, "SUPPRESSED"); }},
      {{"finding", "resolve"},
       "Mark a finding resolved (a later audit that still sees it makes it active again)",
       {finding_id, reason},
       [](CommandContext& ctx) { return SetFindingState(ctx, "RESOLVED"); }},
      {{"finding", "activate"},
       "Make a suppressed or resolved finding active again",
       {finding_id, reason},
       [](CommandContext& ctx) { return SetFindingState(ctx, "ACTIVE"); }},
      {{"directory", "sync"},
       "Read the server's directory source now and record who departed or transferred",
       {},
       RunDirectorySync},
      {{"directory", "changes"}, "List recorded directory changes", {}, RunDirectoryChanges},
      {{"offboard"},
       "Deactivate every access key of the IAM users PERSON owns and revoke their sessions",
       {{"PERSON", "The owner as in owner tags: directory ID, email or team", true},
        {"--dry-run", "Only report what would be done", false, false, true},
        {"--reason", "Why (stored in the offboarding record)"}},
       RunOffboard},
  };
}

}  // namespace kw::cli
