#include "api/keyward/audit_api.hpp"

#include "api/http/json_input.hpp"
#include "common/time_format.hpp"

namespace kw::api {
namespace {

using nlohmann::json;

Error Validation(std::string message) {
  return InvalidArgument(std::move(message), "ValidationException");
}

Result<int> MaxResults(const json& in, int fallback) {
  KW_ASSIGN_OR_RETURN(auto n, OptInt(in, "MaxResults"));
  if (!n) return fallback;
  if (*n < 1 || *n > 1000) return Validation("MaxResults must be from 1 to 1000");
  return static_cast<int>(*n);
}

Result<std::string> ReqNonEmpty(const json& in, const char* name) {
  KW_ASSIGN_OR_RETURN(auto s, OptString(in, name));
  if (!s || s->empty()) return NullMemberError(name, "ValidationException");
  return *s;
}

double Epoch(TimePoint t) { return ToEpochSeconds(t); }

json EncodeFinding(const audit::Finding& f) {
  json ev = json::object();
  for (const auto& [k, v] : f.evidence) ev[k] = v;
  json j{{"FindingId", f.finding_id},
         {"Type", f.type},
         {"Severity", audit::SeverityName(f.severity)},
         {"Resource", f.resource},
         {"Summary", f.summary},
         {"Evidence", std::move(ev)},
         {"FirstSeen", Epoch(f.first_seen)},
         {"LastSeen", Epoch(f.last_seen)},
         {"Count", f.count},
         {"State", audit::FindingStateName(f.state)},
         {"UpdatedDate", Epoch(f.updated)}};
  if (!f.state_reason.empty()) j["StateReason"] = f.state_reason;
  return j;
}

json EncodeChange(const directory::Change& c) {
  return {{"PersonId", c.person_id},
          {"Change", directory::ChangeKindName(c.kind)},
          {"From", c.from},
          {"To", c.to},
          {"Date", Epoch(c.at)}};
}

json EncodeOffboarding(const audit::OffboardRecord& r) {
  json users = json::array();
  for (const auto& u : r.users) {
    json ju{{"UserName", u.user_name}, {"SessionsRevoked", u.sessions_revoked}};
    if (!u.error.empty()) ju["Error"] = u.error;
    users.push_back(std::move(ju));
  }
  json keys = json::array();
  for (const auto& k : r.keys) {
    json jk{{"UserName", k.user_name},
            {"AccessKeyId", k.access_key_id},
            {"WasActive", k.was_active},
            {"Action", k.action}};
    if (k.last_used) jk["LastUsedDate"] = Epoch(*k.last_used);
    if (!k.last_used_service.empty()) jk["LastUsedService"] = k.last_used_service;
    if (!k.error.empty()) jk["Error"] = k.error;
    keys.push_back(std::move(jk));
  }
  json j{{"Person", r.person},        {"Reason", r.reason},
         {"Actor", r.actor},          {"DryRun", r.dry_run},
         {"Status", r.status},        {"StartedDate", Epoch(r.started)},
         {"Users", std::move(users)}, {"AccessKeys", std::move(keys)}};
  if (!r.offboarding_id.empty()) j["OffboardingId"] = r.offboarding_id;
  if (r.finished) j["FinishedDate"] = Epoch(*r.finished);
  return j;
}

}  // namespace

std::vector<JsonOperation> AuditOperations(AuditApiDeps deps, const iam::Account& account) {
  const iam::Account acct = account;
  auto star = [](const json&, const iam::Principal&) { return std::string("*"); };
  auto finding_arn = [acct](const json& in, const iam::Principal&) {
    return "arn:" + acct.partition + ":keyward:" + acct.region + ":" + acct.id + ":finding/" +
           StringMember(in, "FindingId");
  };

  std::vector<JsonOperation> ops;
  ops.push_back(MakeJsonOperation("RunAudit", false, star, [deps](const JsonCall&) -> Result<json> {
    KW_ASSIGN_OR_RETURN(audit::AuditRun run, deps.audit.Run());
    return json{{"Observed", run.observed},
                {"Created", run.created},
                {"Resolved", run.resolved},
                {"AuditDate", Epoch(run.time)}};
  }));
  ops.push_back(
      MakeJsonOperation("ListFindings", true, star, [deps](const JsonCall& call) -> Result<json> {
        audit::FindingFilter filter;
        KW_ASSIGN_OR_RETURN(auto state, OptString(call.input, "State"));
        if (state) {
          filter.state = audit::ParseFindingState(*state);
          if (!filter.state) return Validation("State must be ACTIVE, SUPPRESSED or RESOLVED");
        }
        KW_ASSIGN_OR_RETURN(auto sev, OptString(call.input, "MinSeverity"));
        if (sev) {
          filter.min_severity = audit::ParseSeverity(*sev);
          if (!filter.min_severity) {
            return Validation("MinSeverity must be INFO, LOW, MEDIUM, HIGH or CRITICAL");
          }
        }
        KW_ASSIGN_OR_RETURN(filter.type, OptString(call.input, "Type"));
        KW_ASSIGN_OR_RETURN(int max, MaxResults(call.input, 100));
        KW_ASSIGN_OR_RETURN(auto token, OptString(call.input, "NextToken"));
        KW_ASSIGN_OR_RETURN(audit::FindingPage page, deps.audit.List(filter, token, max));
        json list = json::array();
        for (const auto& f : page.findings) list.push_back(EncodeFinding(f));
        json out{{"Findings", std::move(list)}};
        if (!page.next_token.empty()) out["NextToken"] = page.next_token;
        return out;
      }));
  ops.push_back(MakeJsonOperation(
      "GetFinding", true, finding_arn, [deps](const JsonCall& call) -> Result<json> {
        KW_ASSIGN_OR_RETURN(std::string id, ReqNonEmpty(call.input, "FindingId"));
        KW_ASSIGN_OR_RETURN(audit::Finding f, deps.audit.Get(id));
        return json{{"Finding", EncodeFinding(f)}};
      }));
  ops.push_back(MakeJsonOperation(
      "UpdateFindingState", false, finding_arn, [deps](const JsonCall& call) -> Result<json> {
        KW_ASSIGN_OR_RETURN(std::string id, ReqNonEmpty(call.input, "FindingId"));
        KW_ASSIGN_OR_RETURN(std::string state_name, ReqNonEmpty(call.input, "State"));
        auto state = audit::ParseFindingState(state_name);
        if (!state) return Validation("State must be ACTIVE, SUPPRESSED or RESOLVED");
        KW_ASSIGN_OR_RETURN(auto reason, OptString(call.input, "Reason"));
        std::string why = reason.value_or("");
        why += (why.empty() ? "" : " ") + std::string("(by ") + call.principal.arn + ")";
        KW_ASSIGN_OR_RETURN(audit::Finding f, deps.audit.UpdateState(id, *state, why));
        return json{{"Finding", EncodeFinding(f)}};
      }));
  ops.push_back(
      MakeJsonOperation("SyncDirectory", false, star, [deps](const JsonCall&) -> Result<json> {
        KW_ASSIGN_OR_RETURN(audit::DirectorySyncReport report, deps.sync.Sync());
        json changes = json::array();
        for (const auto& c : report.result.changes) changes.push_back(EncodeChange(c));
        json offboardings = json::array();
        for (const auto& r : report.offboarded) offboardings.push_back(EncodeOffboarding(r));
        return json{{"Source", report.source},
                    {"People", report.result.people},
                    {"AutoOffboard", deps.sync.auto_offboard()},
                    {"Changes", std::move(changes)},
                    {"Offboardings", std::move(offboardings)}};
      }));
  ops.push_back(MakeJsonOperation(
      "ListDirectoryChanges", true, star, [deps](const JsonCall& call) -> Result<json> {
        KW_ASSIGN_OR_RETURN(int max, MaxResults(call.input, 100));
        KW_ASSIGN_OR_RETURN(auto token, OptString(call.input, "NextToken"));
        KW_ASSIGN_OR_RETURN(directory::ChangePage page, deps.directory.ListChanges(token, max));
        json list = json::array();
        for (const auto& c : page.changes) list.push_back(EncodeChange(c));
        json out{{"Changes", std::move(list)}};
        if (!page.next_token.empty()) out["NextToken"] = page.next_token;
        return out;
      }));
  ops.push_back(
      MakeJsonOperation("Offboard", false, star, [deps](const JsonCall& call) -> Result<json> {
        audit::OffboardRequest req;
        KW_ASSIGN_OR_RETURN(req.person, ReqNonEmpty(call.input, "Person"));
        KW_ASSIGN_OR_RETURN(auto dry, OptBool(call.input, "DryRun"));
        req.dry_run = dry.value_or(false);
        KW_ASSIGN_OR_RETURN(auto reason, OptString(call.input, "Reason"));
        req.reason = reason.value_or("");
        req.actor = call.principal.arn;
        KW_ASSIGN_OR_RETURN(audit::OffboardRecord rec, deps.offboarder.Offboard(req));
        return json{{"Offboarding", EncodeOffboarding(rec)}};
      }));
  ops.push_back(MakeJsonOperation(
      "ListOffboardings", true, star, [deps](const JsonCall& call) -> Result<json> {
        KW_ASSIGN_OR_RETURN(int max, MaxResults(call.input, 100));
        KW_ASSIGN_OR_RETURN(auto records, deps.offboarder.List(static_cast<std::size_t>(max)));
        json list = json::array();
        for (const auto& r : records) list.push_back(EncodeOffboarding(r));
        return json{{"Offboardings", std::move(list)}};
      }));
  return ops;
}

}  // namespace kw::api
