#include "rotation/rotation_engine.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "common/time_format.hpp"
#include "rotation/secret_json.hpp"
#include "schedule/schedule.hpp"
#include "schedule/time_zone.hpp"

namespace kw::rotation {
namespace {

using json = nlohmann::json;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

constexpr const char* kPolicies = "rot_policies";
constexpr const char* kBySecret = "rot_by_secret";
constexpr const char* kDue = "rot_due";
constexpr const char* kRotations = "rot_rotations";
constexpr const char* kActive = "rot_active";
constexpr const char* kDeactivated = "rot_deactivated";

constexpr Seconds kDefaultQuietExact{15 * 60};
constexpr Seconds kDefaultQuietReported{4 * 3600};
constexpr Seconds kMaxPeriod{1000LL * 86400};

constexpr const char* kStepNames[] = {"queued",  "preflight",  "create", "store",      "test",
                                      "promote", "distribute", "verify", "deactivate", "grace",
                                      "delete",  "done",       "failed"};

std::int64_t Ms(TimePoint t) { return duration_cast<milliseconds>(t.time_since_epoch()).count(); }
TimePoint FromMs(std::int64_t ms) {
  return TimePoint(duration_cast<TimePoint::duration>(milliseconds(ms)));
}

json OptTime(const std::optional<TimePoint>& t) { return t ? json(Ms(*t)) : json(); }
std::optional<TimePoint> ReadOptTime(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  return FromMs(it->get<std::int64_t>());
}

std::string Iso(TimePoint t) { return FormatIso8601(t); }
std::string Secs(Seconds s) { return std::to_string(s.count()) + "s"; }

Error Validation(std::string message) {
  return InvalidArgument(std::move(message), "ValidationException");
}
Error InProgress(std::string message) {
  return FailedPrecondition(std::move(message), "InvalidRequestException");
}

std::string DueKey(TimePoint t, std::string_view policy_id) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020lld",
                static_cast<long long>(std::max<std::int64_t>(0, Ms(t))));
  return std::string(buf) + "/" + std::string(policy_id);
}

std::string HexId(Random& random, std::size_t bytes) {
  constexpr char kHex[] = "0123456789abcdef";
  const std::string raw = random.Bytes(bytes);
  std::string out;
  for (unsigned char c : raw) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

// A version-4 UUID: the form Secrets Manager generates for ClientRequestToken.
std::string NewToken(Random& random) {
  std::string h = HexId(random, 16);
  h[12] = '4';
  h[16] = "89ab"[h[16] % 4];
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20);
}

bool IsCrash(const Error& e) { return e.reason == kFailpointCrashReason; }

std::string_view StateName(HostDeliveryState s) {
  switch (s) {
    case HostDeliveryState::kPending:
      return "pending";
    case HostDeliveryState::kAcked:
      return "acked";
    case HostDeliveryState::kFailed:
      return "failed";
  }
  return "pending";
}
HostDeliveryState ParseState(std::string_view s) {
  if (s == "acked") return HostDeliveryState::kAcked;
  if (s == "failed") return HostDeliveryState::kFailed;
  return HostDeliveryState::kPending;
}

Step ParseStep(std::string_view name) {
  for (int i = 0; i <= static_cast<int>(Step::kFailed); ++i) {
    if (name == kStepNames[i]) return static_cast<Step>(i);
  }
  return Step::kFailed;
}

// ---- policy codec ------------------------------------------------------------------

json EncodePolicy(const RotationPolicy& p) {
  json targets = json::array();
  for (const auto& t : p.targets) targets.push_back({{"key", t.key}, {"values", t.values}});
  json j = {{"id", p.policy_id},
            {"user", p.user_name},
            {"secret", p.secret_id},
            {"issuer", p.issuer},
            {"secret_target", p.secret_target},
            {"delivery", {{"kind", p.delivery.kind}, {"parameters", p.delivery.parameters}}},
            {"targets", targets},
            {"ack_timeout_s", p.ack_timeout.count()},
            {"grace_s", p.grace_period.count()},
            {"reactivate", p.reactivate_on_use},
            {"created", Ms(p.created)},
            {"next", OptTime(p.next_rotation)},
            {"last_rotated", OptTime(p.last_rotated)},
            {"active", p.active_rotation_id},
            {"last", p.last_rotation_id},
            {"count", p.rotation_count},
            {"skipped", p.skipped_slots}};
  if (p.schedule_expression) j["schedule"] = *p.schedule_expression;
  if (p.automatically_after_days) j["after_days"] = *p.automatically_after_days;
  if (p.quiet_period) j["quiet_s"] = p.quiet_period->count();
  return j;
}

Result<RotationPolicy> DecodePolicy(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Internal("corrupt rotation policy record");
  try {
    RotationPolicy p;
    p.policy_id = j.at("id").get<std::string>();
    p.user_name = j.at("user").get<std::string>();
    p.secret_id = j.at("secret").get<std::string>();
    p.issuer = j.at("issuer").get<std::string>();
    p.secret_target = j.at("secret_target").get<std::string>();
    p.delivery.kind = j.at("delivery").at("kind").get<std::string>();
    p.delivery.parameters =
        j.at("delivery").at("parameters").get<std::map<std::string, std::string>>();
    for (const auto& t : j.at("targets")) {
      p.targets.push_back(
          {t.at("key").get<std::string>(), t.at("values").get<std::vector<std::string>>()});
    }
    if (j.contains("schedule")) p.schedule_expression = j["schedule"].get<std::string>();
    if (j.contains("after_days")) p.automatically_after_days = j["after_days"].get<int>();
    if (j.contains("quiet_s")) p.quiet_period = Seconds(j["quiet_s"].get<std::int64_t>());
    p.ack_timeout = Seconds(j.at("ack_timeout_s").get<std::int64_t>());
    p.grace_period = Seconds(j.at("grace_s").get<std::int64_t>());
    p.reactivate_on_use = j.at("reactivate").get<bool>();
    p.created = FromMs(j.at("created").get<std::int64_t>());
    p.next_rotation = ReadOptTime(j, "next");
    p.last_rotated = ReadOptTime(j, "last_rotated");
    p.active_rotation_id = j.at("active").get<std::string>();
    p.last_rotation_id = j.at("last").get<std::string>();
    p.rotation_count = j.at("count").get<std::uint64_t>();
    p.skipped_slots = j.at("skipped").get<std::uint64_t>();
    return p;
  } catch (const json::exception&) {
    return Internal("corrupt rotation policy record");
  }
}

}  // namespace

std::string_view StepName(Step step) { return kStepNames[static_cast<int>(step)]; }

Seconds EffectiveQuietPeriod(const RotationPolicy& policy, bool exact_usage) {
  if (policy.quiet_period) return *policy.quiet_period;
  return exact_usage ? kDefaultQuietExact : kDefaultQuietReported;
}

TimePoint NextDueForMaxAge(TimePoint key_created, int days, Seconds ack_timeout, Seconds quiet,
                           Seconds margin) {
  return key_created + Seconds(static_cast<std::int64_t>(days) * 86400) - ack_timeout - quiet -
         margin;
}

// ---- rotation state ---------------------------------------------------------------

// The persisted rotation: the public view plus what resumption needs. Never holds a
// secret access key.
struct RotationEngine::State {
  Rotation r;
  std::int64_t revision = 0;
  RotationPolicy policy;  // a copy taken when the rotation was created
  // "calling": the intent of the current step's external call is persisted and the
  // call may or may not have happened.
  std::string phase;
  int attempt = 0;                       // create attempts (each has its own token)
  std::optional<TimePoint> intent_at;    // create: when the intent was persisted
  std::vector<std::string> keys_before;  // the user's keys at preflight
  std::string delivery_id;
  std::optional<TimePoint> round_started;
  int round = 0;
  int failures = 0;  // consecutive, for back-off
  std::optional<TimePoint> new_key_created;

  json Encode() const {
    json hosts = json::array();
    for (const auto& h : r.hosts) {
      hosts.push_back({{"host", h.host},
                       {"state", StateName(h.state)},
                       {"acked", OptTime(h.acked_at)},
                       {"reason", h.reason}});
    }
    json findings = json::array();
    for (const auto& f : r.findings) {
      findings.push_back({{"when", Ms(f.when)},
                          {"key", f.access_key_id},
                          {"source", f.source},
                          {"reactivated", f.reactivated}});
    }
    json history = json::array();
    for (const auto& h : r.history) history.push_back({StepName(h.step), Ms(h.entered)});
    return {{"id", r.rotation_id},
            {"policy_id", r.policy_id},
            {"trigger", r.trigger},
            {"step", StepName(r.step)},
            {"created", Ms(r.created)},
            {"updated", Ms(r.updated)},
            {"finished", OptTime(r.finished)},
            {"old_key", r.old_key_id},
            {"new_key", r.new_key_id},
            {"version", r.new_version_id},
            {"hosts", hosts},
            {"promoted", OptTime(r.promoted_at)},
            {"last_ack", OptTime(r.last_ack)},
            {"deactivated", OptTime(r.deactivated_at)},
            {"waiting", r.waiting_reason},
            {"failure", r.failure_reason},
            {"next_attempt", OptTime(r.next_attempt_at)},
            {"findings", findings},
            {"history", history},
            {"policy", EncodePolicy(policy)},
            {"phase", phase},
            {"attempt", attempt},
            {"intent", OptTime(intent_at)},
            {"keys_before", keys_before},
            {"delivery_id", delivery_id},
            {"round_started", OptTime(round_started)},
            {"round", round},
            {"failures", failures},
            {"new_key_created", OptTime(new_key_created)}};
  }

  static Result<State> Decode(const store::Item& item) {
    json j = json::parse(item.value, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return Internal("corrupt rotation record");
    try {
      State s;
      s.revision = item.revision;
      KW_ASSIGN_OR_RETURN(s.policy, DecodePolicy(j.at("policy").dump()));
      Rotation& r = s.r;
      r.rotation_id = j.at("id").get<std::string>();
      r.policy_id = j.at("policy_id").get<std::string>();
      r.user_name = s.policy.user_name;
      r.secret_id = s.policy.secret_id;
      r.issuer = s.policy.issuer;
      r.trigger = j.at("trigger").get<std::string>();
      r.step = ParseStep(j.at("step").get<std::string>());
      r.created = FromMs(j.at("created").get<std::int64_t>());
      r.updated = FromMs(j.at("updated").get<std::int64_t>());
      r.finished = ReadOptTime(j, "finished");
      r.old_key_id = j.at("old_key").get<std::string>();
      r.new_key_id = j.at("new_key").get<std::string>();
      r.new_version_id = j.at("version").get<std::string>();
      for (const auto& h : j.at("hosts")) {
        r.hosts.push_back({h.at("host").get<std::string>(),
                           ParseState(h.at("state").get<std::string>()), ReadOptTime(h, "acked"),
                           h.at("reason").get<std::string>()});
      }
      r.promoted_at = ReadOptTime(j, "promoted");
      r.last_ack = ReadOptTime(j, "last_ack");
      r.deactivated_at = ReadOptTime(j, "deactivated");
      r.waiting_reason = j.at("waiting").get<std::string>();
      r.failure_reason = j.at("failure").get<std::string>();
      r.next_attempt_at = ReadOptTime(j, "next_attempt");
      for (const auto& f : j.at("findings")) {
        r.findings.push_back({FromMs(f.at("when").get<std::int64_t>()),
                              f.at("key").get<std::string>(), f.at("source").get<std::string>(),
                              f.at("reactivated").get<bool>()});
      }
      for (const auto& h : j.at("history")) {
        r.history.push_back(
            {ParseStep(h.at(0).get<std::string>()), FromMs(h.at(1).get<std::int64_t>())});
      }
      s.phase = j.at("phase").get<std::string>();
      s.attempt = j.at("attempt").get<int>();
      s.intent_at = ReadOptTime(j, "intent");
      s.keys_before = j.at("keys_before").get<std::vector<std::string>>();
      s.delivery_id = j.at("delivery_id").get<std::string>();
      s.round_started = ReadOptTime(j, "round_started");
      s.round = j.at("round").get<int>();
      s.failures = j.at("failures").get<int>();
      s.new_key_created = ReadOptTime(j, "new_key_created");
      return s;
    } catch (const json::exception&) {
      return Internal("corrupt rotation record");
    }
  }
};

// ---- construction and registry ----------------------------------------------------

RotationEngine::RotationEngine(store::KvStore& store, const Clock& clock, Random& random,
                               EngineOptions options, Failpoints& failpoints)
    : store_(store), clock_(clock), random_(random), options_(options), failpoints_(failpoints) {}

void RotationEngine::RegisterIssuer(std::string name, Issuer& issuer) {
  issuers_[std::move(name)] = &issuer;
}
void RotationEngine::RegisterSecretTarget(std::string name, SecretTarget& target) {
  targets_[std::move(name)] = &target;
}
void RotationEngine::RegisterDelivery(std::string kind, Delivery& delivery,
                                      fleet::InstanceDirectory* directory) {
  if (directory != nullptr) delivery_directories_[kind] = directory;
  deliveries_[std::move(kind)] = &delivery;
}
fleet::InstanceDirectory* RotationEngine::DirectoryFor(std::string_view delivery_kind) const {
  auto it = delivery_directories_.find(delivery_kind);
  return it != delivery_directories_.end() ? it->second : directory_;
}
void RotationEngine::SetInstanceDirectory(fleet::InstanceDirectory* directory) {
  directory_ = directory;
}

Result<Issuer*> RotationEngine::IssuerFor(std::string_view name) const {
  auto it = issuers_.find(name);
  if (it == issuers_.end()) return Validation("no issuer named '" + std::string(name) + "'");
  return it->second;
}
Result<SecretTarget*> RotationEngine::TargetFor(std::string_view name) const {
  auto it = targets_.find(name);
  if (it == targets_.end()) {
    return Validation("no secret target named '" + std::string(name) + "'");
  }
  return it->second;
}
Result<Delivery*> RotationEngine::DeliveryFor(std::string_view kind) const {
  auto it = deliveries_.find(kind);
  if (it == deliveries_.end()) {
    return Validation("no delivery of kind '" + std::string(kind) + "'");
  }
  return it->second;
}

// ---- policies ----------------------------------------------------------------------

Status RotationEngine::ValidatePolicy(const RotationPolicy& p) const {
  if (p.user_name.empty() || p.user_name.size() > 64) {
    return Validation("UserName must be 1 to 64 characters");
  }
  if (p.secret_id.empty() || p.secret_id.size() > 2048) {
    return Validation("SecretId must be 1 to 2048 characters");
  }
  KW_ASSIGN_OR_RETURN(Issuer * issuer, IssuerFor(p.issuer));
  KW_RETURN_IF_ERROR(TargetFor(p.secret_target));
  if (p.schedule_expression.has_value() == p.automatically_after_days.has_value()) {
    return Validation("give exactly one of ScheduleExpression and AutomaticallyAfterDays");
  }
  if (p.schedule_expression) {
    auto parsed = schedule::Schedule::Parse(*p.schedule_expression);
    if (!parsed) return Validation("ScheduleExpression: " + parsed.error().message);
    if (parsed->kind() == schedule::Kind::kAt) {
      return Validation("ScheduleExpression must be rate(...) or cron(...), not at(...)");
    }
  }
  auto positive = [](Seconds s) { return s.count() > 0 && s <= kMaxPeriod; };
  if (p.quiet_period && !positive(*p.quiet_period)) {
    return Validation("QuietPeriod must be between 1 second and 1000 days");
  }
  if (!positive(p.ack_timeout))
    return Validation("AckTimeout must be between 1 second and 1000 days");
  if (p.grace_period.count() < 0 || p.grace_period > kMaxPeriod) {
    return Validation("GracePeriod must be between 0 and 1000 days");
  }
  if (p.automatically_after_days) {
    const int days = *p.automatically_after_days;
    if (days < 1 || days > 1000) return Validation("AutomaticallyAfterDays must be 1 to 1000");
    // The next rotation may start only after this one deleted the old key, and the new
    // key must be deactivated before it is `days` old: see ADR 0009.
    const Seconds lead =
        p.ack_timeout + EffectiveQuietPeriod(p, issuer->exact_usage()) + options_.schedule_margin;
    const Seconds needed = 2 * lead + p.grace_period;
    if (Seconds(static_cast<std::int64_t>(days) * 86400) <= needed) {
      return Validation("AutomaticallyAfterDays " + std::to_string(days) +
                        " is too short: two rotations need more than 2 x (AckTimeout + "
                        "QuietPeriod + margin) + GracePeriod = " +
                        Secs(needed));
    }
  }
  if (p.delivery.kind == "none") {
    if (!p.targets.empty()) return Validation("delivery 'none' takes no targets");
  } else {
    KW_ASSIGN_OR_RETURN(Delivery * delivery, DeliveryFor(p.delivery.kind));
    Status ok = delivery->Validate(p.delivery);
    if (!ok) return Validation("Delivery: " + ok.error().message);
    if (p.targets.empty()) return Validation("Targets must name at least one host or tag");
    for (const auto& t : p.targets) {
      if (t.values.empty()) return Validation("target '" + t.key + "' has no values");
      if (t.key == "InstanceIds") continue;
      if (t.key.rfind("tag:", 0) == 0 && t.key.size() > 4) continue;
      return Validation("target key '" + t.key + "' must be InstanceIds or tag:NAME");
    }
  }
  return OkStatus();
}

Result<std::optional<TimePoint>> RotationEngine::FirstDue(const RotationPolicy& p, TimePoint now) {
  if (p.schedule_expression) {
    KW_ASSIGN_OR_RETURN(schedule::Schedule s, schedule::Schedule::Parse(*p.schedule_expression));
    return s.NextAfter(now, *schedule::TimeZone::Utc(), p.created);
  }
  KW_ASSIGN_OR_RETURN(Issuer * issuer, IssuerFor(p.issuer));
  KW_ASSIGN_OR_RETURN(SecretTarget * target, TargetFor(p.secret_target));
  const Seconds quiet = EffectiveQuietPeriod(p, issuer->exact_usage());
  // Count from the age of the key the secret holds now; if that cannot be read, the
  // first rotation is due at once (it will report why it cannot proceed).
  TimePoint due = now;
  if (auto cur = target->GetCurrent(p.secret_id); cur) {
    if (auto pair = ReadKeyPair(cur->secret_string); pair) {
      if (auto keys = issuer->ListKeys(p.user_name); keys) {
        for (const auto& k : *keys) {
          if (k.access_key_id == pair->access_key_id) {
            due = NextDueForMaxAge(k.create_date, *p.automatically_after_days, p.ack_timeout, quiet,
                                   options_.schedule_margin);
          }
        }
      }
    }
  }
  return std::optional<TimePoint>(std::max(due, now));
}

Result<RotationPolicy> RotationEngine::CreatePolicy(RotationPolicy p) {
  KW_RETURN_IF_ERROR(ValidatePolicy(p));
  const TimePoint now = clock_.Now();
  p.policy_id = "rp-" + HexId(random_, 8);
  p.created = now;
  p.active_rotation_id.clear();
  p.last_rotation_id.clear();
  p.last_rotated.reset();
  p.rotation_count = 0;
  p.skipped_slots = 0;
  KW_ASSIGN_OR_RETURN(p.next_rotation, FirstDue(p, now));
  Status s = store_.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(auto existing, txn.Get(kBySecret, p.secret_id));
    if (existing) {
      return AlreadyExists(
          "secret '" + p.secret_id + "' already has rotation policy " + existing->value,
          "ResourceExistsException");
    }
    KW_RETURN_IF_ERROR(txn.Insert(kBySecret, p.secret_id, p.policy_id));
    KW_RETURN_IF_ERROR(txn.Insert(kPolicies, p.policy_id, EncodePolicy(p).dump()));
    if (p.next_rotation) {
      KW_RETURN_IF_ERROR(txn.Put(kDue, DueKey(*p.next_rotation, p.policy_id), ""));
    }
    return OkStatus();
  });
  KW_RETURN_IF_ERROR(s);
  return p;
}

Result<RotationPolicy> RotationEngine::GetPolicy(std::string_view policy_id) {
  KW_ASSIGN_OR_RETURN(auto item, store_.Get(kPolicies, policy_id));
  if (!item) {
    return NotFound("no rotation policy " + std::string(policy_id), "ResourceNotFoundException");
  }
  return DecodePolicy(item->value);
}

Result<std::optional<RotationPolicy>> RotationEngine::FindPolicyForSecret(
    std::string_view secret_id) {
  KW_ASSIGN_OR_RETURN(auto item, store_.Get(kBySecret, secret_id));
  if (!item) return std::optional<RotationPolicy>();
  KW_ASSIGN_OR_RETURN(RotationPolicy p, GetPolicy(item->value));
  return std::optional<RotationPolicy>(std::move(p));
}

Result<PolicyPage> RotationEngine::ListPolicies(const std::optional<std::string>& next_token,
                                                int max_results) {
  if (max_results < 1 || max_results > 1000) return Validation("MaxResults must be 1 to 1000");
  store::ListOptions opts;
  opts.start_after = next_token.value_or("");
  opts.limit = static_cast<std::size_t>(max_results) + 1;
  KW_ASSIGN_OR_RETURN(auto items, store_.List(kPolicies, opts));
  PolicyPage page;
  for (std::size_t i = 0; i < items.size() && i < static_cast<std::size_t>(max_results); ++i) {
    KW_ASSIGN_OR_RETURN(RotationPolicy p, DecodePolicy(items[i].value));
    page.policies.push_back(std::move(p));
  }
  if (items.size() > static_cast<std::size_t>(max_results)) {
    page.next_token = page.policies.back().policy_id;
  }
  return page;
}

Status RotationEngine::DeletePolicy(std::string_view policy_id) {
  return store_.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(auto item, txn.Get(kPolicies, policy_id));
    if (!item) {
      return NotFound("no rotation policy " + std::string(policy_id), "ResourceNotFoundException");
    }
    KW_ASSIGN_OR_RETURN(RotationPolicy p, DecodePolicy(item->value));
    if (!p.active_rotation_id.empty()) {
      return InProgress("rotation " + p.active_rotation_id +
                        " is in progress; delete the policy after it finishes");
    }
    if (p.next_rotation) {
      Status d = txn.Delete(kDue, DueKey(*p.next_rotation, p.policy_id));
      if (!d && d.error().code != ErrorCode::kNotFound) return d;
    }
    KW_RETURN_IF_ERROR(txn.Delete(kBySecret, p.secret_id));
    return txn.Delete(kPolicies, p.policy_id);
  });
}

// ---- starting rotations -------------------------------------------------------------

// Creates the rotation record for `p` (queued) inside `txn` and marks `p` busy; the
// caller writes `p` back.
Result<RotationEngine::State> RotationEngine::StartRotation(store::Txn& txn, RotationPolicy& p,
                                                            std::string trigger, TimePoint now) {
  char seq[24];
  std::snprintf(seq, sizeof seq, "%08llu", static_cast<unsigned long long>(p.rotation_count) + 1);
  State st;
  st.r.rotation_id = p.policy_id + "." + seq;
  st.r.policy_id = p.policy_id;
  st.r.user_name = p.user_name;
  st.r.secret_id = p.secret_id;
  st.r.issuer = p.issuer;
  st.r.trigger = std::move(trigger);
  st.r.step = Step::kQueued;
  st.r.created = st.r.updated = now;
  st.r.history.push_back({Step::kQueued, now});
  st.policy = p;
  p.rotation_count++;
  p.active_rotation_id = st.r.rotation_id;
  p.last_rotation_id = st.r.rotation_id;
  KW_RETURN_IF_ERROR(txn.Insert(kRotations, st.r.rotation_id, st.Encode().dump()));
  KW_RETURN_IF_ERROR(txn.Insert(kActive, st.r.rotation_id, ""));
  return st;
}

Result<Rotation> RotationEngine::RotateNow(std::string_view policy_id) {
  const TimePoint now = clock_.Now();
  Rotation out;
  Status s = store_.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(auto item, txn.Get(kPolicies, policy_id));
    if (!item) {
      return NotFound("no rotation policy " + std::string(policy_id), "ResourceNotFoundException");
    }
    KW_ASSIGN_OR_RETURN(RotationPolicy p, DecodePolicy(item->value));
    if (!p.active_rotation_id.empty()) {
      return InProgress("A previous rotation isn't complete: rotation " + p.active_rotation_id +
                        " is in progress");
    }
    KW_ASSIGN_OR_RETURN(State st, StartRotation(txn, p, "manual", now));
    KW_RETURN_IF_ERROR(
        txn.CompareAndPut(kPolicies, p.policy_id, EncodePolicy(p).dump(), item->revision));
    out = st.r;
    return OkStatus();
  });
  KW_RETURN_IF_ERROR(s);
  return out;
}

Result<Rotation> RotationEngine::GetRotation(std::string_view rotation_id) {
  KW_ASSIGN_OR_RETURN(auto item, store_.Get(kRotations, rotation_id));
  if (!item) {
    return NotFound("no rotation " + std::string(rotation_id), "ResourceNotFoundException");
  }
  KW_ASSIGN_OR_RETURN(State st, State::Decode(*item));
  return st.r;
}

Result<std::vector<Rotation>> RotationEngine::ListRotations(std::string_view policy_id) {
  store::ListOptions opts;
  opts.prefix = std::string(policy_id) + ".";
  KW_ASSIGN_OR_RETURN(auto items, store_.List(kRotations, opts));
  std::vector<Rotation> out;
  for (auto it = items.rbegin(); it != items.rend(); ++it) {
    KW_ASSIGN_OR_RETURN(State st, State::Decode(*it));
    out.push_back(std::move(st.r));
  }
  return out;
}

// Claims one due slot: in ONE transaction, check the policy still has this due time,
// advance it, and create the rotation. Whoever's CompareAndPut wins runs the slot; a
// retried Tick or another server finds the slot gone (as windows/ does).
Status RotationEngine::ClaimDue(const std::string& due_key, const std::string& policy_id,
                                TimePoint now, TickReport& report) {
  bool started = false;
  Status s = store_.Transact([&](store::Txn& txn) -> Status {
    started = false;
    KW_ASSIGN_OR_RETURN(auto item, txn.Get(kPolicies, policy_id));
    Status del = txn.Delete(kDue, due_key);
    if (!del && del.error().code != ErrorCode::kNotFound) return del;
    if (!item) return OkStatus();  // the policy was deleted: drop the stale index entry
    KW_ASSIGN_OR_RETURN(RotationPolicy p, DecodePolicy(item->value));
    if (!p.next_rotation || DueKey(*p.next_rotation, p.policy_id) != due_key) {
      return OkStatus();  // stale index entry: the policy's due time moved
    }
    std::optional<TimePoint> next;
    if (p.schedule_expression) {
      KW_ASSIGN_OR_RETURN(schedule::Schedule sch,
                          schedule::Schedule::Parse(*p.schedule_expression));
      next = sch.NextAfter(now, *schedule::TimeZone::Utc(), p.created);
    }
    // AutomaticallyAfterDays: the next due time depends on the new key's create date
    // and is set when this rotation finishes.
    if (!p.active_rotation_id.empty()) {
      p.skipped_slots++;
    } else {
      KW_RETURN_IF_ERROR(StartRotation(txn, p, "schedule", now));
      started = true;
    }
    p.next_rotation = next;
    if (p.next_rotation)
      KW_RETURN_IF_ERROR(txn.Put(kDue, DueKey(*p.next_rotation, p.policy_id), ""));
    KW_RETURN_IF_ERROR(
        txn.CompareAndPut(kPolicies, p.policy_id, EncodePolicy(p).dump(), item->revision));
    return OkStatus();
  });
  if (!s && s.error().code == ErrorCode::kAborted) return OkStatus();  // someone else won
  KW_RETURN_IF_ERROR(s);
  if (started) report.started++;
  return failpoints_.Hit("rotation.after_claim");
}

// ---- the tick -----------------------------------------------------------------------

Result<TickReport> RotationEngine::Tick(TimePoint now) {
  std::lock_guard lock(tick_mu_);
  TickReport report;
  // 1. Claim due schedules, oldest first, up to `now`.
  const std::string limit_key = DueKey(now, "~");
  std::string after;
  for (;;) {
    store::ListOptions opts;
    opts.start_after = after;
    opts.limit = 100;
    KW_ASSIGN_OR_RETURN(auto items, store_.List(kDue, opts));
    bool more = items.size() == opts.limit;
    for (const auto& item : items) {
      if (item.key > limit_key) {
        more = false;
        break;
      }
      const std::size_t slash = item.key.find('/');
      if (slash == std::string::npos) continue;
      KW_RETURN_IF_ERROR(ClaimDue(item.key, item.key.substr(slash + 1), now, report));
      after = item.key;
    }
    if (!more) break;
  }

  // 2. Advance the active rotations that are due. Rotations past kQueued count against
  // their issuer's bound; queued ones start as slots free up, in rotation-id order. What
  // is remembered of each (known_) spares reading the records of those still waiting.
  KW_ASSIGN_OR_RETURN(auto active, store_.List(kActive, {}));
  std::map<std::string, std::size_t> running;
  struct Work {
    std::string id;
    std::string group;  // issuer + user: one rotation of a user at a time
    bool admitted = false;
  };
  std::vector<Work> due;
  std::vector<Work> queued;  // in rotation-id order (the List order)
  {
    std::set<std::string> listed;
    for (const auto& item : active) listed.insert(item.key);
    std::lock_guard known_lock(known_mu_);
    for (auto it = known_.begin(); it != known_.end();) {
      it = listed.count(it->first) > 0 ? std::next(it) : known_.erase(it);
    }
  }
  for (const auto& item : active) {
    const std::string& id = item.key;
    std::optional<Known> known;
    {
      std::lock_guard known_lock(known_mu_);
      if (auto it = known_.find(id); it != known_.end()) known = it->second;
    }
    if (!known) {
      KW_ASSIGN_OR_RETURN(auto rec, store_.Get(kRotations, id));
      if (!rec) {
        due.push_back({id, "", false});  // Advance drops the stale index entry
        continue;
      }
      KW_ASSIGN_OR_RETURN(State st, State::Decode(*rec));
      known = Known{
          now, st.r.step != Step::kQueued && st.r.step != Step::kDone && st.r.step != Step::kFailed,
          st.r.issuer, st.r.user_name};
      if (st.r.step == Step::kQueued) {
        queued.push_back({id, known->issuer + "\n" + known->user, false});
        continue;
      }
      if (st.r.step == Step::kDone || st.r.step == Step::kFailed) known->running = false;
    } else if (!known->running) {
      queued.push_back({id, known->issuer + "\n" + known->user, false});
      continue;
    }
    if (known->running) running[known->issuer]++;
    if (known->wake <= now) due.push_back({id, known->issuer + "\n" + known->user, false});
  }
  bool held = false;  // a queued rotation waits for a slot
  for (Work& w : queued) {
    const std::string issuer = w.group.substr(0, w.group.find('\n'));
    std::size_t& n = running[issuer];
    if (n < options_.max_active_per_issuer) {
      n++;
      w.admitted = true;
      due.push_back(std::move(w));
      continue;
    }
    held = true;
    bool noted = false;
    {
      std::lock_guard known_lock(known_mu_);
      noted = known_.count(w.id) > 0;
    }
    if (!noted) KW_RETURN_IF_ERROR(Advance(w.id, now, false, report));  // says why it waits
  }

  // Rotations of one user run one after another; different users in parallel.
  std::map<std::string, std::vector<Work>> groups;
  for (Work& w : due) groups[w.group].push_back(std::move(w));
  std::vector<std::vector<Work>*> batches;
  for (auto& [group, works] : groups) batches.push_back(&works);
  std::atomic<std::size_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex result_mu;
  std::optional<Error> first_error;
  auto worker = [&]() {
    TickReport mine;
    for (;;) {
      const std::size_t i = next.fetch_add(1);
      if (i >= batches.size() || stop.load()) break;
      for (const Work& w : *batches[i]) {
        Status st = Advance(w.id, now, w.admitted, mine);
        if (!st) {
          stop = true;
          std::lock_guard result_lock(result_mu);
          // A failpoint crash wins over other errors: it stands for the process dying.
          if (!first_error || (IsCrash(st.error()) && !IsCrash(*first_error))) {
            first_error = st.error();
          }
          break;
        }
      }
    }
    std::lock_guard result_lock(result_mu);
    report.advanced += mine.advanced;
    report.completed += mine.completed;
    report.failed += mine.failed;
  };
  const std::size_t threads =
      std::min<std::size_t>(std::max<std::size_t>(options_.advance_threads, 1), batches.size());
  if (threads <= 1) {
    worker();
  } else {
    std::vector<std::thread> pool;
    pool.reserve(threads);
    for (std::size_t t = 0; t < threads; ++t) pool.emplace_back(worker);
    for (auto& t : pool) t.join();
  }
  if (first_error) return *first_error;

  // When to look again: a finished rotation freed a slot for a queued one at once,
  // else the earliest wake of those that wait.
  if (held && report.completed + report.failed > 0) {
    report.next_wake = now;
  } else {
    std::lock_guard known_lock(known_mu_);
    for (const auto& [id, k] : known_) {
      if (!k.running) continue;  // queued: moves when a slot frees
      if (!report.next_wake || k.wake < *report.next_wake) report.next_wake = k.wake;
    }
  }
  return report;
}

void RotationEngine::Remember(const State& s, TimePoint now) {
  std::lock_guard known_lock(known_mu_);
  if (s.r.step == Step::kDone || s.r.step == Step::kFailed) {
    known_.erase(s.r.rotation_id);
    return;
  }
  TimePoint wake = now + options_.poll_interval;
  if (s.r.next_attempt_at) wake = *s.r.next_attempt_at;
  known_[s.r.rotation_id] = Known{wake, s.r.step != Step::kQueued, s.r.issuer, s.r.user_name};
}

Status RotationEngine::Save(State& s, TimePoint now) {
  s.r.updated = now;
  std::int64_t rev = 0;
  // CompareAndPut: a second runner that raced this one fails here instead of
  // overwriting the record (kAborted; the Tick reports it).
  KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(
        rev, txn.CompareAndPut(kRotations, s.r.rotation_id, s.Encode().dump(), s.revision));
    return OkStatus();
  }));
  s.revision = rev;
  return OkStatus();
}

Status RotationEngine::Enter(State& s, Step step, TimePoint now) {
  s.r.step = step;
  s.r.history.push_back({step, now});
  s.phase.clear();
  s.r.waiting_reason.clear();
  s.r.next_attempt_at.reset();
  s.failures = 0;
  return Save(s, now);
}

Status RotationEngine::Advance(const std::string& rotation_id, TimePoint now, bool admitted,
                               TickReport& report) {
  KW_ASSIGN_OR_RETURN(auto item, store_.Get(kRotations, rotation_id));
  if (!item) {
    {
      std::lock_guard known_lock(known_mu_);
      known_.erase(rotation_id);
    }
    Status d = store_.Transact([&](store::Txn& txn) { return txn.Delete(kActive, rotation_id); });
    return d || d.error().code == ErrorCode::kNotFound ? OkStatus() : d;
  }
  KW_ASSIGN_OR_RETURN(State s, State::Decode(*item));
  Status st = [&]() -> Status {
    if (s.r.next_attempt_at && now < *s.r.next_attempt_at) return OkStatus();
    for (int i = 0; i < options_.max_steps_per_advance; ++i) {
      const Step before = s.r.step;
      if (before == Step::kDone || before == Step::kFailed) {
        // Finished but still indexed (a crash inside Finish's caller): finish again.
        return Finish(s, now, before == Step::kFailed, s.r.failure_reason);
      }
      auto out = RunStep(s, now, admitted);
      if (!out) {
        if (IsCrash(out.error())) return out.error();
        // The step failed; it is idempotent, so retry it later and say why meanwhile.
        s.failures = std::min(s.failures + 1, 30);
        const Seconds backoff = std::min<Seconds>(
            options_.max_backoff, options_.min_backoff * (1LL << std::min(s.failures - 1, 20)));
        s.r.next_attempt_at = now + backoff;
        s.r.waiting_reason = std::string(StepName(s.r.step)) + " failed (" +
                             std::string(ErrorCodeName(out.error().code)) +
                             "): " + out.error().message + "; retrying after " + Secs(backoff);
        return Save(s, now);
      }
      if (s.r.step != before) report.advanced++;
      if (s.r.step == Step::kDone || s.r.step == Step::kFailed) {
        (s.r.step == Step::kDone ? report.completed : report.failed)++;
        return OkStatus();
      }
      if (*out == Outcome::kWait) return OkStatus();
    }
    return OkStatus();
  }();
  if (st) {
    Remember(s, now);
  } else {
    std::lock_guard known_lock(known_mu_);
    known_.erase(rotation_id);  // read it again next time
  }
  return st;
}

Result<RotationEngine::Outcome> RotationEngine::RunStep(State& s, TimePoint now, bool admitted) {
  switch (s.r.step) {
    case Step::kQueued: {
      if (!admitted) {
        // Said once, not with a count that changes every Tick: a queued rotation's record
        // is not rewritten while it waits.
        const std::string reason = "queued: issuer '" + s.r.issuer +
                                   "' already runs as many rotations as it may (limit " +
                                   std::to_string(options_.max_active_per_issuer) + ")";
        if (s.r.waiting_reason != reason) {
          s.r.waiting_reason = reason;
          KW_RETURN_IF_ERROR(Save(s, now));
        }
        return Outcome::kWait;
      }
      KW_RETURN_IF_ERROR(Enter(s, Step::kPreflight, now));
      return Outcome::kContinue;
    }
    case Step::kPreflight:
      return Preflight(s, now);
    case Step::kCreate:
      return Create(s, now);
    case Step::kStore:
      return Store(s, now);
    case Step::kTest:
      return Test(s, now);
    case Step::kPromote:
      return Promote(s, now);
    case Step::kDistribute:
      return Distribute(s, now);
    case Step::kVerify:
      return Verify(s, now);
    case Step::kDeactivate:
      return Deactivate(s, now);
    case Step::kGrace:
      return Grace(s, now);
    case Step::kDelete:
      return Delete(s, now);
    case Step::kDone:
    case Step::kFailed:
      return Outcome::kWait;
  }
  return Outcome::kWait;
}

namespace {

bool IsGone(const Status& s) { return !s && s.error().code == ErrorCode::kNotFound; }

}  // namespace

// Waits with `reason` until `until`, saving only when something changed (a Tick every
// second must not rewrite the record every second).
#define KW_WAIT(s, now, reason, until)                                              \
  do {                                                                              \
    std::string kw_reason_ = (reason);                                              \
    std::optional<TimePoint> kw_until_ = (until);                                   \
    if ((s).r.waiting_reason != kw_reason_ || (s).r.next_attempt_at != kw_until_) { \
      (s).r.waiting_reason = std::move(kw_reason_);                                 \
      (s).r.next_attempt_at = kw_until_;                                            \
      KW_RETURN_IF_ERROR(Save((s), (now)));                                         \
    }                                                                               \
    return Outcome::kWait;                                                          \
  } while (0)

Status RotationEngine::Finish(State& s, TimePoint now, bool failed, std::string reason) {
  s.r.step = failed ? Step::kFailed : Step::kDone;
  if (s.r.history.empty() || s.r.history.back().step != s.r.step) {
    s.r.history.push_back({s.r.step, now});
  }
  if (!s.r.finished) s.r.finished = now;
  s.r.failure_reason = failed ? std::move(reason) : std::string();
  s.r.waiting_reason.clear();
  s.r.next_attempt_at.reset();
  s.phase.clear();
  s.r.updated = now;
  Issuer* issuer = nullptr;
  if (auto i = IssuerFor(s.policy.issuer); i) issuer = *i;
  std::int64_t rev = 0;
  Status st = store_.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(
        rev, txn.CompareAndPut(kRotations, s.r.rotation_id, s.Encode().dump(), s.revision));
    Status d = txn.Delete(kActive, s.r.rotation_id);
    if (!d && d.error().code != ErrorCode::kNotFound) return d;
    if (failed && options_.on_failed) KW_RETURN_IF_ERROR(options_.on_failed(txn, s.r));
    if (!failed && !s.r.old_key_id.empty()) {
      Status dd = txn.Delete(kDeactivated, s.r.old_key_id);
      if (!dd && dd.error().code != ErrorCode::kNotFound) return dd;
    }
    KW_ASSIGN_OR_RETURN(auto item, txn.Get(kPolicies, s.r.policy_id));
    if (!item) return OkStatus();
    KW_ASSIGN_OR_RETURN(RotationPolicy p, DecodePolicy(item->value));
    if (p.active_rotation_id != s.r.rotation_id) return OkStatus();  // already finished
    p.active_rotation_id.clear();
    if (!failed && s.r.promoted_at) p.last_rotated = s.r.promoted_at;
    if (p.automatically_after_days) {
      if (p.next_rotation) {
        Status dd = txn.Delete(kDue, DueKey(*p.next_rotation, p.policy_id));
        if (!dd && dd.error().code != ErrorCode::kNotFound) return dd;
      }
      TimePoint next = now + options_.failed_retry;
      if (!failed && s.new_key_created && issuer != nullptr) {
        next = std::max(
            now, NextDueForMaxAge(*s.new_key_created, *p.automatically_after_days, p.ack_timeout,
                                  EffectiveQuietPeriod(p, issuer->exact_usage()),
                                  options_.schedule_margin));
      }
      p.next_rotation = next;
      KW_RETURN_IF_ERROR(txn.Put(kDue, DueKey(next, p.policy_id), ""));
    }
    KW_RETURN_IF_ERROR(
        txn.CompareAndPut(kPolicies, p.policy_id, EncodePolicy(p).dump(), item->revision));
    return OkStatus();
  });
  KW_RETURN_IF_ERROR(st);
  s.revision = rev;
  return OkStatus();
}

// ---- steps --------------------------------------------------------------------------

Result<RotationEngine::Outcome> RotationEngine::Preflight(State& s, TimePoint now) {
  KW_ASSIGN_OR_RETURN(Issuer * issuer, IssuerFor(s.policy.issuer));
  KW_ASSIGN_OR_RETURN(SecretTarget * target, TargetFor(s.policy.secret_target));
  const std::string& user = s.policy.user_name;
  auto fail = [&](std::string reason) -> Result<Outcome> {
    KW_RETURN_IF_ERROR(Finish(s, now, true, std::move(reason)));
    return Outcome::kWait;
  };

  KW_ASSIGN_OR_RETURN(SecretVersion cur, target->GetCurrent(s.policy.secret_id));
  auto pair = ReadKeyPair(cur.secret_string);
  if (!pair) return fail(pair.error().message);
  KW_ASSIGN_OR_RETURN(std::vector<IssuedKey> keys, issuer->ListKeys(user));
  auto old = std::find_if(keys.begin(), keys.end(), [&](const IssuedKey& k) {
    return k.access_key_id == pair->access_key_id;
  });
  if (old == keys.end()) {
    return fail("the secret's aws_access_key_id " + pair->access_key_id +
                " is not an access key of user " + user);
  }
  if (old->status != KeyStatus::kActive) {
    return fail("the secret's access key " + pair->access_key_id + " of user " + user +
                " is Inactive; activate it or store the user's active key in the secret");
  }
  s.r.old_key_id = old->access_key_id;

  // Make room for the new key: only an Inactive key proven unused since it was
  // deactivated may go (DESIGN.md step 1).
  std::vector<std::string> kept;
  std::size_t count = keys.size();
  for (const IssuedKey& k : keys) {
    if (k.access_key_id == s.r.old_key_id || count < issuer->max_keys_per_user()) {
      kept.push_back(k.access_key_id);
      continue;
    }
    if (k.status == KeyStatus::kActive) {
      return fail("user " + user + " has no free access-key slot: key " + k.access_key_id +
                  " is Active besides the key in the secret; delete or deactivate it first");
    }
    KW_ASSIGN_OR_RETURN(KeyUsage usage, issuer->Usage(k.access_key_id));
    KW_ASSIGN_OR_RETURN(auto deact_item, store_.Get(kDeactivated, k.access_key_id));
    std::optional<TimePoint> deactivated;
    if (deact_item) deactivated = FromMs(std::strtoll(deact_item->value.c_str(), nullptr, 10));
    std::string why;
    if (issuer->observes_rejected()) {
      if (usage.last_rejected && (!deactivated || usage.last_rejected->when >= *deactivated)) {
        why = "was used at " + Iso(usage.last_rejected->when) + " from " +
              usage.last_rejected->source + " while Inactive";
      }
    } else if (!deactivated) {
      why = "was not deactivated by keyward, and issuer '" + s.policy.issuer +
            "' cannot show whether it was used since";
    } else if (usage.last_accepted && usage.last_accepted->when > *deactivated) {
      why = "was used at " + Iso(usage.last_accepted->when) + " after its deactivation";
    }
    if (!why.empty()) {
      std::string reason = "user " + user + " has no free access-key slot: Inactive key ";
      reason += k.access_key_id;
      reason += ' ';
      reason += why;
      reason += "; delete it by hand once nothing uses it";
      return fail(std::move(reason));
    }
    s.phase = "calling";
    KW_RETURN_IF_ERROR(Save(s, now));
    KW_RETURN_IF_ERROR(failpoints_.Hit("rotation.before_preflight_delete"));
    Status del = issuer->DeleteKey(user, k.access_key_id);
    if (!del && !IsGone(del)) return del.error();
    KW_RETURN_IF_ERROR(failpoints_.Hit("rotation.after_preflight_delete"));
    count--;
  }
  s.keys_before = kept;
  KW_RETURN_IF_ERROR(Enter(s, Step::kCreate, now));
  return Outcome::kContinue;
}

Result<RotationEngine::Outcome> RotationEngine::Create(State& s, TimePoint now) {
  KW_ASSIGN_OR_RETURN(Issuer * issuer, IssuerFor(s.policy.issuer));
  const std::string& user = s.policy.user_name;
  if (s.phase == "calling" && s.intent_at) {
    // A previous attempt may have created a key and died before recording it: any key
    // of the user that the rotation did not know and that is newer than the intent is
    // that orphan. Its secret is lost, so it can only be deleted.
    KW_ASSIGN_OR_RETURN(std::vector<IssuedKey> keys, issuer->ListKeys(user));
    for (const IssuedKey& k : keys) {
      const bool known = std::find(s.keys_before.begin(), s.keys_before.end(), k.access_key_id) !=
                         s.keys_before.end();
      if (known || k.create_date < *s.intent_at - options_.clock_skew) continue;
      Status del = issuer->DeleteKey(user, k.access_key_id);
      if (!del && !IsGone(del)) return del.error();
      KW_RETURN_IF_ERROR(failpoints_.Hit("rotation.after_orphan_delete"));
    }
  }
  s.attempt++;
  s.r.new_version_id = NewToken(random_);
  s.intent_at = now;
  s.phase = "calling";
  KW_RETURN_IF_ERROR(Save(s, now));
  KW_RETURN_IF_ERROR(failpoints_.Hit("rotation.before_create"));
  KW_ASSIGN_OR_RETURN(CreatedKey created, issuer->CreateKey(user));
  KW_RETURN_IF_ERROR(failpoints_.Hit("rotation.after_create"));
  {
    std::lock_guard fresh_lock(fresh_mu_);
    fresh_secrets_[s.r.rotation_id] = std::move(created.secret_access_key);
  }
  s.r.new_key_id = created.access_key_id;
  s.new_key_created = created.create_date;
  KW_RETURN_IF_ERROR(Enter(s, Step::kStore, now));
  return Outcome::kContinue;
}

Result<RotationEngine::Outcome> RotationEngine::Store(State& s, TimePoint now) {
  KW_ASSIGN_OR_RETURN(Issuer * issuer, IssuerFor(s.policy.issuer));
  KW_ASSIGN_OR_RETURN(SecretTarget * target, TargetFor(s.policy.secret_target));
  const std::string& secret_id = s.policy.secret_id;
  // A copy: other rotations' threads change the map meanwhile.
  std::optional<SecretBytes> fresh;
  {
    std::lock_guard fresh_lock(fresh_mu_);
    if (auto it = fresh_secrets_.find(s.r.rotation_id); it != fresh_secrets_.end()) {
      fresh.emplace(std::string(it->second.Reveal()));
    }
  }
  if (!fresh) {
    // Resumed after a crash: the new secret was in memory only. If it reached the
    // secret store, go on; otherwise the key is useless: delete it and create again.
    KW_ASSIGN_OR_RETURN(auto stored, target->GetVersion(secret_id, s.r.new_version_id));
    if (stored) {
      auto pair = ReadKeyPair(stored->secret_string);
      if (pair && pair->access_key_id == s.r.new_key_id) {
        KW_RETURN_IF_ERROR(Enter(s, Step::kTest, now));
        return Outcome::kContinue;
      }
    }
    s.phase = "discarding";
    KW_RETURN_IF_ERROR(Save(s, now));
    Status del = issuer->DeleteKey(s.policy.user_name, s.r.new_key_id);
    if (!del && !IsGone(del)) return del.error();
    KW_RETURN_IF_ERROR(failpoints_.Hit("rotation.after_discard"));
    s.r.new_key_id.clear();
    s.new_key_created.reset();
    KW_RETURN_IF_ERROR(Enter(s, Step::kCreate, now));
    return Outcome::kContinue;
  }
  KW_ASSIGN_OR_RETURN(SecretVersion cur, target->GetCurrent(secret_id));
  KW_ASSIGN_OR_RETURN(SecretBytes value, ReplaceKeyPair(cur.secret_string, s.r.new_key_id, *fresh));
  s.phase = "calling";
  KW_RETURN_IF_ERROR(Save(s, now));
  KW_RETURN_IF_ERROR(failpoints_.Hit("rotation.before_store"));
  KW_RETURN_IF_ERROR(target->PutPending(secret_id, s.r.new_version_id, value));
  KW_RETURN_IF_ERROR(failpoints_.Hit("rotation.after_store"));
  {
    std::lock_guard fresh_lock(fresh_mu_);
    fresh_secrets_.erase(s.r.rotation_id);
  }
  KW_RETURN_IF_ERROR(Enter(s, Step::kTest, now));
  return Outcome::kContinue;
}

Result<RotationEngine::Outcome> RotationEngine::Test(State& s, TimePoint now) {
  KW_ASSIGN_OR_RETURN(Issuer * issuer, IssuerFor(s.policy.issuer));
  KW_ASSIGN_OR_RETURN(SecretTarget * target, TargetFor(s.policy.secret_target));
  KW_ASSIGN_OR_RETURN(auto stored, target->GetVersion(s.policy.secret_id, s.r.new_version_id));
  if (!stored) {
    return Internal("the pending version " + s.r.new_version_id + " of secret " +
                    s.policy.secret_id + " is gone");
  }
  KW_ASSIGN_OR_RETURN(KeyPair pair, ReadKeyPair(stored->secret_string));
  KW_ASSIGN_OR_RETURN(bool accepted, issuer->TestKey(pair.access_key_id, pair.secret_access_key));
  if (!accepted) {
    // Eventually consistent issuers take a while to accept a new key.
    s.failures = std::min(s.failures + 1, 30);
    const Seconds backoff = std::min<Seconds>(
        options_.max_backoff, options_.min_backoff * (1LL << std::min(s.failures - 1, 20)));
    KW_WAIT(s, now,
            "issuer '" + s.policy.issuer + "' does not accept the new key " + s.r.new_key_id +
                " yet (test " + std::to_string(s.failures) + "); retrying after " + Secs(backoff),
            std::optional<TimePoint>(now + backoff));
  }
  KW_RETURN_IF_ERROR(Enter(s, Step::kPromote, now));
  return Outcome::kContinue;
}

Result<RotationEngine::Outcome> RotationEngine::Promote(State& s, TimePoint now) {
  KW_ASSIGN_OR_RETURN(SecretTarget * target, TargetFor(s.policy.secret_target));
  s.phase = "calling";
  KW_RETURN_IF_ERROR(Save(s, now));
  KW_RETURN_IF_ERROR(failpoints_.Hit("rotation.before_promote"));
  KW_RETURN_IF_ERROR(target->Promote(s.policy.secret_id, s.r.new_version_id));
  KW_RETURN_IF_ERROR(failpoints_.Hit("rotation.after_promote"));
  if (!s.r.promoted_at) s.r.promoted_at = now;
  KW_RETURN_IF_ERROR(Enter(s, Step::kDistribute, now));
  return Outcome::kContinue;
}

Result<std::vector<std::string>> RotationEngine::ResolveHosts(const RotationPolicy& policy) {
  std::set<std::string> hosts;
  fleet::InstanceDirectory* directory = DirectoryFor(policy.delivery.kind);
  for (const TargetSelector& t : policy.targets) {
    if (t.key == "InstanceIds") {
      hosts.insert(t.values.begin(), t.values.end());
      continue;
    }
    if (directory == nullptr) {
      return FailedPrecondition("tag targets need an instance directory, and none is configured");
    }
    KW_ASSIGN_OR_RETURN(std::vector<fleet::InstanceSummary> tagged,
                        directory->ListInstancesWithTag(t.key.substr(4), t.values));
    for (const auto& inst : tagged) hosts.insert(inst.instance_id);
  }
  return std::vector<std::string>(hosts.begin(), hosts.end());
}

Result<RotationEngine::Outcome> RotationEngine::Distribute(State& s, TimePoint now) {
  if (s.policy.delivery.kind == "none") {
    s.r.last_ack = s.r.promoted_at.value_or(now);
    KW_RETURN_IF_ERROR(Enter(s, Step::kVerify, now));
    return Outcome::kContinue;
  }
  KW_ASSIGN_OR_RETURN(Delivery * delivery, DeliveryFor(s.policy.delivery.kind));
  if (s.r.hosts.empty()) {
    KW_ASSIGN_OR_RETURN(std::vector<std::string> hosts, ResolveHosts(s.policy));
    if (hosts.empty()) {
      // Zero hosts is never "delivered to all": the hold names what was looked for.
      std::string looked_for;
      for (const TargetSelector& t : s.policy.targets) {
        for (const std::string& v : t.values) {
          looked_for += (looked_for.empty() ? "" : ", ") + t.key + "=" + v;
        }
      }
      KW_WAIT(s, now,
              "the policy's targets (" + looked_for + ") match no instance known to delivery '" +
                  s.policy.delivery.kind + "'; the old key stays active",
              std::optional<TimePoint>(now + options_.max_backoff));
    }
    for (auto& h : hosts) s.r.hosts.push_back({std::move(h), HostDeliveryState::kPending, {}, {}});
    KW_RETURN_IF_ERROR(Save(s, now));
  }
  if (s.delivery_id.empty()) {
    DeliveryRequest req;
    req.secret_id = s.policy.secret_id;
    req.version_id = s.r.new_version_id;
    req.spec = s.policy.delivery;
    req.comment = "keyward rotation " + s.r.rotation_id;
    for (const auto& h : s.r.hosts) {
      if (h.state != HostDeliveryState::kAcked) req.hosts.push_back(h.host);
    }
    s.phase = "calling";
    s.round++;
    KW_RETURN_IF_ERROR(Save(s, now));
    KW_RETURN_IF_ERROR(failpoints_.Hit("rotation.before_distribute"));
    KW_ASSIGN_OR_RETURN(std::string id, delivery->Start(req, now));
    KW_RETURN_IF_ERROR(failpoints_.Hit("rotation.after_distribute"));
    s.delivery_id = std::move(id);
    s.round_started = now;
    s.phase.clear();
    KW_RETURN_IF_ERROR(Save(s, now));
  }
  KW_ASSIGN_OR_RETURN(auto states, delivery->Poll(s.delivery_id, now));
  bool changed = false;
  for (auto& h : s.r.hosts) {
    if (h.state == HostDeliveryState::kAcked) continue;
    auto it = states.find(h.host);
    if (it == states.end() || it->second.state == HostDeliveryState::kPending) continue;
    if (it->second.state == HostDeliveryState::kAcked) {
      h.state = HostDeliveryState::kAcked;
      h.acked_at = it->second.acked_at;
      h.reason.clear();
      changed = true;
    } else if (h.state != HostDeliveryState::kFailed || h.reason != it->second.reason) {
      h.state = HostDeliveryState::kFailed;
      h.reason = it->second.reason;
      changed = true;
    }
  }
  std::vector<const HostProgress*> missing;
  TimePoint last_ack{};
  for (const auto& h : s.r.hosts) {
    if (h.state == HostDeliveryState::kAcked) {
      last_ack = std::max(last_ack, *h.acked_at);
    } else {
      missing.push_back(&h);
    }
  }
  if (missing.empty()) {
    s.r.last_ack = last_ack;
    KW_RETURN_IF_ERROR(Enter(s, Step::kVerify, now));
    return Outcome::kContinue;
  }
  // Held: never go on (and never deactivate the old key) while a host lacks the new
  // version. After the ack timeout, the next Tick redelivers to the hosts still missing.
  const bool timed_out = now >= s.round_started.value_or(now) + s.policy.ack_timeout;
  std::string reason = "waiting for " + std::to_string(missing.size()) + " of " +
                       std::to_string(s.r.hosts.size()) + " hosts to acknowledge version " +
                       s.r.new_version_id + " (the old key stays active):";
  for (std::size_t i = 0; i < missing.size() && i < 10; ++i) {
    const HostProgress& h = *missing[i];
    reason += ' ';
    reason += h.host;
    if (h.state == HostDeliveryState::kFailed) {
      reason += " (failed: " + h.reason + ")";
    } else if (timed_out) {
      reason += " (no acknowledgement within " + Secs(s.policy.ack_timeout) + ")";
    }
  }
  if (missing.size() > 10) reason += " and " + std::to_string(missing.size() - 10) + " more";
  if (timed_out) {
    reason += "; redelivering (round " + std::to_string(s.round + 1) + ")";
    s.delivery_id.clear();
    changed = true;
  }
  if (changed) {
    s.r.waiting_reason = reason;
    KW_RETURN_IF_ERROR(Save(s, now));
    return Outcome::kWait;
  }
  KW_WAIT(s, now, reason, std::nullopt);
}

Result<RotationEngine::Outcome> RotationEngine::Verify(State& s, TimePoint now) {
  KW_ASSIGN_OR_RETURN(Issuer * issuer, IssuerFor(s.policy.issuer));
  KW_ASSIGN_OR_RETURN(KeyUsage usage, issuer->Usage(s.r.old_key_id));
  const TimePoint last_ack = s.r.last_ack.value_or(now);
  const Seconds quiet = EffectiveQuietPeriod(s.policy, issuer->exact_usage());
  std::optional<KeyUse> last_use;
  for (const auto& u : {usage.last_accepted, usage.last_rejected}) {
    if (u && u->when > last_ack && (!last_use || u->when > last_use->when)) last_use = u;
  }
  const TimePoint quiet_from = last_use ? last_use->when : last_ack;
  const TimePoint until = quiet_from + quiet;
  if (now >= until) {
    KW_RETURN_IF_ERROR(Enter(s, Step::kDeactivate, now));
    return Outcome::kContinue;
  }
  std::string reason;
  if (last_use) {
    reason = "the old key " + s.r.old_key_id + " was used at " + Iso(last_use->when) + " from " +
             last_use->source +
             " after every target host acknowledged the new version; it is deactivated only "
             "after " +
             Secs(quiet) + " without use (not before " + Iso(until) + ")";
  } else {
    reason =
        "quiet period: the old key " + s.r.old_key_id + " must stay unused until " + Iso(until);
  }
  // Check again at the end of the quiet period, or sooner for an issuer that reports
  // late uses (a later report can only push `until` further out).
  KW_WAIT(s, now, reason, std::optional<TimePoint>(until));
}

Result<RotationEngine::Outcome> RotationEngine::Deactivate(State& s, TimePoint now) {
  KW_ASSIGN_OR_RETURN(Issuer * issuer, IssuerFor(s.policy.issuer));
  // The intent carries the deactivation time, so that a use between here and the call
  // counts as a use after deactivation (the conservative side).
  if (s.phase != "calling" || !s.r.deactivated_at) {
    s.phase = "calling";
    s.r.deactivated_at = now;
    KW_RETURN_IF_ERROR(Save(s, now));
  }
  KW_RETURN_IF_ERROR(failpoints_.Hit("rotation.before_deactivate"));
  KW_RETURN_IF_ERROR(issuer->SetStatus(s.policy.user_name, s.r.old_key_id, KeyStatus::kInactive));
  KW_RETURN_IF_ERROR(failpoints_.Hit("rotation.after_deactivate"));
  KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
    KW_RETURN_IF_ERROR(
        txn.Put(kDeactivated, s.r.old_key_id, std::to_string(Ms(*s.r.deactivated_at))));
    return OkStatus();
  }));
  KW_RETURN_IF_ERROR(Enter(s, Step::kGrace, now));
  return Outcome::kContinue;
}

Result<RotationEngine::Outcome> RotationEngine::Grace(State& s, TimePoint now) {
  KW_ASSIGN_OR_RETURN(Issuer * issuer, IssuerFor(s.policy.issuer));
  const std::string& key = s.r.old_key_id;
  auto reactivate = [&]() -> Result<Outcome> {
    KW_RETURN_IF_ERROR(failpoints_.Hit("rotation.before_reactivate"));
    KW_RETURN_IF_ERROR(issuer->SetStatus(s.policy.user_name, key, KeyStatus::kActive));
    KW_RETURN_IF_ERROR(failpoints_.Hit("rotation.after_reactivate"));
    KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
      Status d = txn.Delete(kDeactivated, key);
      return d || IsGone(d) ? OkStatus() : d;
    }));
    s.r.deactivated_at.reset();
    // Back to verify: the key is deactivated again only after it has been quiet.
    KW_RETURN_IF_ERROR(Enter(s, Step::kVerify, now));
    return Outcome::kContinue;
  };
  if (s.phase == "calling") return reactivate();  // resumed between finding and call

  const TimePoint deactivated = s.r.deactivated_at.value_or(now);
  KW_ASSIGN_OR_RETURN(KeyUsage usage, issuer->Usage(key));
  std::optional<KeyUse> use;
  if (usage.last_rejected && usage.last_rejected->when >= deactivated) use = usage.last_rejected;
  if (usage.last_accepted && usage.last_accepted->when > deactivated &&
      (!use || usage.last_accepted->when > use->when)) {
    use = usage.last_accepted;
  }
  const bool recorded =
      use && std::any_of(s.r.findings.begin(), s.r.findings.end(), [&](const Finding& f) {
        return f.access_key_id == key && f.when == use->when;
      });
  if (use && !recorded) {
    s.r.findings.push_back({use->when, key, use->source, s.policy.reactivate_on_use});
    if (s.policy.reactivate_on_use) {
      s.phase = "calling";
      KW_RETURN_IF_ERROR(Save(s, now));
      return reactivate();
    }
    KW_RETURN_IF_ERROR(Save(s, now));
  }
  const TimePoint until = deactivated + s.policy.grace_period;
  if (now >= until) {
    KW_RETURN_IF_ERROR(Enter(s, Step::kDelete, now));
    return Outcome::kContinue;
  }
  // No next_attempt_at: uses during grace are looked for on every Tick.
  KW_WAIT(s, now,
          "grace period: the old key " + key + " is Inactive and will be deleted at " + Iso(until),
          std::nullopt);
}

Result<RotationEngine::Outcome> RotationEngine::Delete(State& s, TimePoint now) {
  KW_ASSIGN_OR_RETURN(Issuer * issuer, IssuerFor(s.policy.issuer));
  s.phase = "calling";
  KW_RETURN_IF_ERROR(Save(s, now));
  KW_RETURN_IF_ERROR(failpoints_.Hit("rotation.before_delete"));
  Status del = issuer->DeleteKey(s.policy.user_name, s.r.old_key_id);
  if (!del && !IsGone(del)) return del.error();
  KW_RETURN_IF_ERROR(failpoints_.Hit("rotation.after_delete"));
  KW_RETURN_IF_ERROR(Finish(s, now, false, ""));
  return Outcome::kContinue;
}

#undef KW_WAIT

}  // namespace kw::rotation
