#include "audit/audit_service.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <unordered_map>

namespace kw::audit {
namespace {

using nlohmann::json;

constexpr std::string_view kFindings = "audit_findings";

std::int64_t Secs(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
TimePoint FromSecs(std::int64_t s) { return TimePoint(std::chrono::seconds(s)); }

std::string Encode(const Finding& f) {
  json ev = json::object();
  for (const auto& [k, v] : f.evidence) ev[k] = v;
  json j{{"id", f.finding_id},
         {"type", f.type},
         {"severity", SeverityName(f.severity)},
         {"resource", f.resource},
         {"summary", f.summary},
         {"evidence", std::move(ev)},
         {"first_seen", Secs(f.first_seen)},
         {"last_seen", Secs(f.last_seen)},
         {"count", f.count},
         {"state", FindingStateName(f.state)},
         {"state_reason", f.state_reason},
         {"updated", Secs(f.updated)}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<Finding> Decode(const store::Item& item) {
  try {
    const json j = json::parse(item.value);
    Finding f;
    f.finding_id = j.at("id").get<std::string>();
    f.type = j.at("type").get<std::string>();
    f.severity = ParseSeverity(j.at("severity").get<std::string>()).value_or(Severity::kMedium);
    f.resource = j.at("resource").get<std::string>();
    f.summary = j.at("summary").get<std::string>();
    for (auto it = j.at("evidence").begin(); it != j.at("evidence").end(); ++it) {
      f.evidence[it.key()] = it.value().get<std::string>();
    }
    f.first_seen = FromSecs(j.at("first_seen").get<std::int64_t>());
    f.last_seen = FromSecs(j.at("last_seen").get<std::int64_t>());
    f.count = j.at("count").get<std::int64_t>();
    f.state = ParseFindingState(j.at("state").get<std::string>()).value_or(FindingState::kActive);
    f.state_reason = j.at("state_reason").get<std::string>();
    f.updated = FromSecs(j.at("updated").get<std::int64_t>());
    return f;
  } catch (const json::exception&) {
    return Internal("audit: stored finding " + item.key + " is unreadable");
  }
}

bool Matches(const Finding& f, const FindingFilter& filter) {
  if (filter.state && f.state != *filter.state) return false;
  if (filter.min_severity && f.severity < *filter.min_severity) return false;
  if (filter.type && f.type != *filter.type) return false;
  return true;
}

Error NoSuchFinding(std::string_view id) {
  return NotFound("Finding " + std::string(id) + " not found", "ResourceNotFoundException");
}

}  // namespace

Result<AuditData> LiveAuditData::Collect(TimePoint now) {
  AuditData data;
  data.now = now;
  iam::ListUsersRequest req;
  req.max_items = 1000;
  while (true) {
    KW_ASSIGN_OR_RETURN(iam::UserPage page, users_.ListUsers(req));
    for (const iam::User& u : page.users) {
      UserView view{u.name, u.arn, u.create_date, {}, {}};
      for (const auto& t : u.tags) view.tags[t.key] = t.value;
      std::optional<std::string> marker;
      do {
        KW_ASSIGN_OR_RETURN(iam::AccessKeyPage keys,
                            users_.ListAccessKeys(u.name, marker, 1000, nullptr));
        for (const auto& k : keys.keys) {
          KeyView kv{k.access_key_id, k.status == iam::KeyStatus::kActive, k.create_date, {}};
          KW_ASSIGN_OR_RETURN(iam::AccessKeyLastUsed used,
                              users_.GetAccessKeyLastUsed(k.access_key_id));
          kv.last_used = used.last_used_date;
          view.keys.push_back(std::move(kv));
        }
        marker = keys.is_truncated ? std::optional<std::string>(keys.marker) : std::nullopt;
      } while (marker);
      data.users.push_back(std::move(view));
    }
    if (!page.is_truncated) break;
    req.marker = page.marker;
  }
  if (fleet_ != nullptr) {
    fleet::DescribeActivationsRequest areq;
    while (true) {
      KW_ASSIGN_OR_RETURN(fleet::ActivationPage page, fleet_->DescribeActivations(areq));
      for (const auto& a : page.activations) {
        data.activations.push_back({a.activation_id, a.iam_role, a.created_date, a.expiration_date,
                                    a.registrations_count, a.registration_limit, a.tags});
      }
      if (page.next_token.empty()) break;
      areq.next_token = page.next_token;
    }
  }
  KW_ASSIGN_OR_RETURN(auto people, directory_.Load());
  data.directory = std::make_shared<directory::OwnerIndex>(std::move(people));
  return data;
}

AuditService::AuditService(store::KvStore& store, const Clock& clock, AuditDataSource& source,
                           AuditPolicy policy, std::vector<std::unique_ptr<Rule>> rules)
    : store_(store),
      clock_(clock),
      source_(source),
      policy_(std::move(policy)),
      rules_(std::move(rules)) {}

Result<AuditRun> AuditService::Run() {
  std::lock_guard lock(run_mu_);
  KW_ASSIGN_OR_RETURN(AuditData data, source_.Collect(clock_.Now()));
  return RunOn(data);
}

Result<AuditRun> AuditService::RunOn(const AuditData& data) {
  std::vector<Observation> observed = Evaluate(rules_, data, policy_);
  const TimePoint now = data.now;
  // Two rules never share a type, but one rule may see a resource twice (a key listed
  // under two pages during a concurrent change): keep the first.
  std::unordered_map<std::string, const Observation*> by_id;
  by_id.reserve(observed.size());
  for (const Observation& o : observed) by_id.emplace(FindingId(o.type, o.resource), &o);

  AuditRun run;
  run.time = now;
  run.observed = by_id.size();
  Status s = store_.Transact([&](store::Txn& txn) -> Status {
    run.created = run.resolved = 0;
    run.findings.clear();
    KW_ASSIGN_OR_RETURN(auto items, txn.List(kFindings, {}));
    std::unordered_map<std::string, Finding> existing;
    existing.reserve(items.size());
    for (const auto& item : items) {
      KW_ASSIGN_OR_RETURN(Finding f, Decode(item));
      existing.emplace(item.key, std::move(f));
    }
    for (const auto& [id, o] : by_id) {
      Finding f;
      auto it = existing.find(id);
      if (it == existing.end()) {
        f.finding_id = id;
        f.type = o->type;
        f.resource = o->resource;
        f.first_seen = now;
        f.state = FindingState::kActive;
        f.updated = now;
        ++run.created;
      } else {
        f = it->second;
        if (f.state == FindingState::kResolved) {
          f.state = FindingState::kActive;
          f.state_reason = "observed again";
          f.updated = now;
        }
      }
      f.severity = o->severity;
      f.summary = o->summary;
      f.evidence = o->evidence;
      f.last_seen = now;
      ++f.count;
      KW_RETURN_IF_ERROR(txn.Put(kFindings, id, Encode(f)));
      run.findings.push_back(std::move(f));
    }
    for (auto& [id, f] : existing) {
      if (by_id.count(id) || f.state != FindingState::kActive) continue;
      f.state = FindingState::kResolved;
      f.state_reason = "no longer observed";
      f.updated = now;
      KW_RETURN_IF_ERROR(txn.Put(kFindings, id, Encode(f)));
      ++run.resolved;
    }
    return OkStatus();
  });
  KW_RETURN_IF_ERROR(s);
  std::sort(run.findings.begin(), run.findings.end(),
            [](const Finding& a, const Finding& b) { return a.finding_id < b.finding_id; });
  return run;
}

Result<FindingPage> AuditService::List(const FindingFilter& filter,
                                       std::optional<std::string> next_token, int max_results) {
  FindingPage page;
  store::ListOptions opts;
  if (next_token) {
    if (next_token->size() != 18 || next_token->rfind("f-", 0) != 0) {
      return InvalidArgument("The NextToken is not valid.", "InvalidNextTokenException");
    }
    opts.start_after = *next_token;
  }
  opts.limit = 500;
  const std::size_t max = static_cast<std::size_t>(std::max(1, max_results));
  while (true) {
    KW_ASSIGN_OR_RETURN(auto items, store_.List(kFindings, opts));
    for (const auto& item : items) {
      KW_ASSIGN_OR_RETURN(Finding f, Decode(item));
      if (!Matches(f, filter)) continue;
      if (page.findings.size() == max) {
        // One more match exists: the page ends at the last one returned.
        page.next_token = page.findings.back().finding_id;
        return page;
      }
      page.findings.push_back(std::move(f));
    }
    if (items.size() < opts.limit) break;
    opts.start_after = items.back().key;
  }
  return page;
}

Result<Finding> AuditService::Get(std::string_view finding_id) {
  KW_ASSIGN_OR_RETURN(auto item, store_.Get(kFindings, finding_id));
  if (!item) return NoSuchFinding(finding_id);
  return Decode(*item);
}

Result<Finding> AuditService::UpdateState(std::string_view finding_id, FindingState state,
                                          std::string reason) {
  Finding out;
  KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(auto item, txn.Get(kFindings, finding_id));
    if (!item) return NoSuchFinding(finding_id);
    KW_ASSIGN_OR_RETURN(out, Decode(*item));
    out.state = state;
    out.state_reason = reason;
    out.updated = clock_.Now();
    KW_RETURN_IF_ERROR(txn.Put(kFindings, finding_id, Encode(out)));
    return OkStatus();
  }));
  return out;
}

}  // namespace kw::audit
