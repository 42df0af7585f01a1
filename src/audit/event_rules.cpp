#include "audit/event_rules.hpp"

#include <algorithm>
#include <set>

#include "common/time_format.hpp"

namespace kw::audit {
namespace {

struct KeyRef {
  const UserView* user = nullptr;
  const KeyView* key = nullptr;
};

std::map<std::string_view, KeyRef> KeysById(const AuditData& data) {
  std::map<std::string_view, KeyRef> out;
  for (const UserView& u : data.users) {
    for (const KeyView& k : u.keys) out[k.access_key_id] = {&u, &k};
  }
  return out;
}

const std::map<std::string, std::string>& NoTags() {
  static const std::map<std::string, std::string> empty;
  return empty;
}

// Emits with the exemptions of the key's user when the key is known.
void EmitForKey(std::vector<Observation>& out, const AuditPolicy& policy,
                const std::map<std::string_view, KeyRef>& keys, const std::string& key_id,
                Observation o) {
  auto it = keys.find(key_id);
  if (it == keys.end()) {
    EmitUnlessExempt(out, policy, NoTags(), {key_id}, std::move(o));
    return;
  }
  o.evidence["UserName"] = it->second.user->name;
  EmitUnlessExempt(out, policy, it->second.user->tags, {key_id, it->second.user->name},
                   std::move(o));
}

std::string Iso(TimePoint t) { return FormatIso8601(t); }

std::string Join(const std::set<std::string>& items) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += ",";
    out += s;
  }
  return out;
}

std::string ConsumerOf(const AuditEvent& e) {
  return e.instance_id.empty() ? e.source_ip : e.instance_id;
}

class DeactivatedKeyTriedRule final : public Rule {
 public:
  std::string_view Name() const override { return "DeactivatedKeyTried"; }
  void Evaluate(const AuditData& data, const AuditPolicy& policy,
                std::vector<Observation>& out) const override {
    if (!data.events_enabled) return;
    struct Seen {
      int count = 0;
      TimePoint last;
      std::set<std::string> ips;
    };
    std::map<std::string, Seen> seen;
    for (const AuditEvent& e : data.events) {
      if (!e.key_inactive || e.access_key_id.empty()) continue;
      Seen& s = seen[e.access_key_id];
      if (s.count++ == 0) s.last = e.time;  // newest first
      s.ips.insert(e.source_ip);
    }
    const auto keys = KeysById(data);
    for (auto& [key, s] : seen) {
      Observation o{std::string(Name()),
                    Severity::kHigh,
                    key,
                    "Deactivated access key " + key + " was presented in a validly signed request",
                    {{"AccessKeyId", key},
                     {"Attempts", std::to_string(s.count)},
                     {"LastAttempt", Iso(s.last)},
                     {"SourceIPs", Join(s.ips)}}};
      EmitForKey(out, policy, keys, key, std::move(o));
    }
  }
};

class FailedSignatureBurstRule final : public Rule {
 public:
  std::string_view Name() const override { return "FailedSignatureBurst"; }
  void Evaluate(const AuditData& data, const AuditPolicy& policy,
                std::vector<Observation>& out) const override {
    if (!data.events_enabled || policy.burst_threshold <= 0) return;
    std::map<std::string, std::vector<const AuditEvent*>> failures;  // newest first
    for (const AuditEvent& e : data.events) {
      if (!e.access_key_id.empty() && IsSignatureFailure(e.error_code)) {
        failures[e.access_key_id].push_back(&e);
      }
    }
    const auto keys = KeysById(data);
    const auto n = static_cast<std::size_t>(policy.burst_threshold);
    for (auto& [key, list] : failures) {
      if (list.size() < n) continue;
      std::sort(list.begin(), list.end(),
                [](const AuditEvent* a, const AuditEvent* b) { return a->time < b->time; });
      // The densest window: the most failures within burst_window of its first.
      std::size_t best = 0, best_start = 0, j = 0;
      for (std::size_t i = 0; i < list.size(); ++i) {
        if (j < i) j = i;
        while (j + 1 < list.size() && list[j + 1]->time - list[i]->time <= policy.burst_window) {
          ++j;
        }
        if (j - i + 1 > best) best = j - i + 1, best_start = i;
      }
      if (best < n) continue;
      std::set<std::string> ips;
      for (std::size_t i = best_start; i < best_start + best; ++i) ips.insert(list[i]->source_ip);
      Observation o{std::string(Name()),
                    Severity::kHigh,
                    key,
                    std::to_string(best) + " failed signatures for access key ID " + key +
                        " within " + std::to_string(policy.burst_window.count()) + " seconds",
                    {{"AccessKeyId", key},
                     {"Failures", std::to_string(best)},
                     {"FirstFailure", Iso(list[best_start]->time)},
                     {"LastFailure", Iso(list[best_start + best - 1]->time)},
                     {"SourceIPs", Join(ips)},
                     {"Threshold", std::to_string(policy.burst_threshold)}}};
      EmitForKey(out, policy, keys, key, std::move(o));
    }
  }
};

class InstanceCredentialsOffInstanceRule final : public Rule {
 public:
  std::string_view Name() const override { return "InstanceCredentialsOffInstance"; }
  void Evaluate(const AuditData& data, const AuditPolicy& policy,
                std::vector<Observation>& out) const override {
    if (!data.events_enabled) return;
    struct Seen {
      int count = 0;
      TimePoint last;
      std::set<std::string> ips;
      std::set<std::string> key_ids;
    };
    std::map<std::string, Seen> seen;
    for (const AuditEvent& e : data.events) {
      if (e.instance_id.empty() || e.source_ip.empty()) continue;
      auto ip = data.instance_ips.find(e.instance_id);
      if (ip == data.instance_ips.end() || ip->second.empty() || ip->second == e.source_ip) {
        continue;
      }
      Seen& s = seen[e.instance_id];
      if (s.count++ == 0) s.last = e.time;
      s.ips.insert(e.source_ip);
      s.key_ids.insert(e.access_key_id);
    }
    for (auto& [instance, s] : seen) {
      Observation o{std::string(Name()),
                    Severity::kCritical,
                    instance,
                    "Credentials of managed instance " + instance +
                        " were used from an address other than the instance's",
                    {{"InstanceId", instance},
                     {"RegisteredIP", data.instance_ips.at(instance)},
                     {"SourceIPs", Join(s.ips)},
                     {"AccessKeyIds", Join(s.key_ids)},
                     {"Uses", std::to_string(s.count)},
                     {"LastUse", Iso(s.last)}}};
      EmitUnlessExempt(out, policy, NoTags(), {instance}, std::move(o));
    }
  }
};

class OldKeyUsedAfterRotationRule final : public Rule {
 public:
  std::string_view Name() const override { return "OldKeyUsedAfterRotation"; }
  void Evaluate(const AuditData& data, const AuditPolicy& policy,
                std::vector<Observation>& out) const override {
    if (!data.events_enabled || data.finished_rotations.empty()) return;
    std::map<std::string_view, const FinishedRotation*> by_key;
    for (const FinishedRotation& r : data.finished_rotations) {
      if (r.old_key_id.empty()) continue;
      auto& slot = by_key[r.old_key_id];
      if (slot == nullptr || r.finished < slot->finished) slot = &r;
    }
    struct Seen {
      int count = 0;
      int refused = 0;
      TimePoint last;
      std::set<std::string> ips;
    };
    std::map<std::string, Seen> seen;
    for (const AuditEvent& e : data.events) {
      auto it = by_key.find(e.access_key_id);
      if (it == by_key.end() || e.time <= it->second->finished) continue;
      Seen& s = seen[e.access_key_id];
      if (s.count++ == 0) s.last = e.time;
      if (!e.error_code.empty()) ++s.refused;
      s.ips.insert(ConsumerOf(e));
    }
    const auto keys = KeysById(data);
    for (auto& [key, s] : seen) {
      const FinishedRotation& r = *by_key.at(key);
      Observation o{
          std::string(Name()),
          Severity::kHigh,
          key,
          "Access key " + key + " was used after rotation " + r.rotation_id + " replaced it",
          {{"AccessKeyId", key},
           {"RotationId", r.rotation_id},
           {"RotationFinished", Iso(r.finished)},
           {"Uses", std::to_string(s.count)},
           {"Refused", std::to_string(s.refused)},
           {"LastUse", Iso(s.last)},
           {"Sources", Join(s.ips)}}};
      EmitForKey(out, policy, keys, key, std::move(o));
    }
  }
};

class FirstUseLateRule final : public Rule {
 public:
  std::string_view Name() const override { return "AccessKeyFirstUseLate"; }
  void Evaluate(const AuditData& data, const AuditPolicy& policy,
                std::vector<Observation>& out) const override {
    if (!data.events_enabled) return;
    std::map<std::string_view, const AuditEvent*> first;  // oldest successful use
    for (const AuditEvent& e : data.events) {
      if (e.error_code.empty() && !e.access_key_id.empty()) first[e.access_key_id] = &e;
    }
    const auto keys = KeysById(data);
    for (const auto& [key, e] : first) {
      auto k = keys.find(key);
      if (k == keys.end()) continue;
      auto h = data.key_history.find(std::string(key));
      if (h != data.key_history.end() && h->second.used_before) continue;
      // Created before the lookback: its earlier uses may have been pruned or not scanned.
      if (k->second.key->created < data.events_since - policy.event_lookback) continue;
      const auto gap = e->time - k->second.key->created;
      if (gap <= policy.first_use_gap) continue;
      const std::string id(key);
      Observation o{std::string(Name()),
                    Severity::kMedium,
                    id,
                    "Access key " + id + " was used for the first time " +
                        std::to_string(std::chrono::duration_cast<Days>(gap).count()) +
                        " days after its creation",
                    {{"AccessKeyId", id},
                     {"CreateDate", Iso(k->second.key->created)},
                     {"FirstUse", Iso(e->time)},
                     {"SourceIP", e->source_ip}}};
      EmitForKey(out, policy, keys, id, std::move(o));
    }
  }
};

class UnknownConsumerRule final : public Rule {
 public:
  std::string_view Name() const override { return "AccessKeyUnknownConsumer"; }
  void Evaluate(const AuditData& data, const AuditPolicy& policy,
                std::vector<Observation>& out) const override {
    if (!data.events_enabled) return;
    const auto keys = KeysById(data);
    // Known consumers: history before the window plus the window's own learning-period uses.
    std::map<std::string, std::set<std::string>> known;
    for (const auto& [key, h] : data.key_history) known[key] = h.consumers;
    for (const AuditEvent& e : data.events) {
      if (!e.error_code.empty()) continue;
      auto k = keys.find(e.access_key_id);
      if (k == keys.end()) continue;
      if (e.time <= k->second.key->created + policy.consumer_learning) {
        known[e.access_key_id].insert(ConsumerOf(e));
      }
    }
    std::map<std::string, std::pair<std::set<std::string>, TimePoint>> unknown;
    for (const AuditEvent& e : data.events) {
      if (!e.error_code.empty()) continue;
      auto k = keys.find(e.access_key_id);
      if (k == keys.end() || e.time <= k->second.key->created + policy.consumer_learning) {
        continue;
      }
      auto kn = known.find(e.access_key_id);
      if (kn == known.end() || kn->second.empty()) continue;  // nobody known: not judged
      const std::string c = ConsumerOf(e);
      if (kn->second.count(c) > 0 || kn->second.count(e.source_ip) > 0) continue;
      auto& u = unknown[e.access_key_id];
      if (u.first.empty()) u.second = e.time;
      u.first.insert(c);
    }
    for (auto& [key, u] : unknown) {
      Observation o{std::string(Name()),
                    Severity::kMedium,
                    key,
                    "Access key " + key + " was used from a source that is not a known consumer",
                    {{"AccessKeyId", key},
                     {"UnknownSources", Join(u.first)},
                     {"KnownConsumers", Join(known[key])},
                     {"LastUse", Iso(u.second)}}};
      EmitForKey(out, policy, keys, key, std::move(o));
    }
  }
};

}  // namespace

bool IsSignatureFailure(std::string_view code) {
  return code == "SignatureDoesNotMatch" || code == "InvalidSignatureException" ||
         code == "InvalidClientTokenId" || code == "UnrecognizedClientException" ||
         code == "IncompleteSignature";
}

Status CollectEventData(const EventSource& source, const AuditPolicy& policy, TimePoint since,
                        AuditData& data) {
  data.events_enabled = true;
  data.events_since = since;
  data.events.clear();
  data.key_history.clear();
  KW_RETURN_IF_ERROR(source.Scan(since, data.now, [&](const AuditEvent& e) {
    data.events.push_back(e);
    return true;
  }));
  KW_ASSIGN_OR_RETURN(data.finished_rotations, source.FinishedRotations());
  // History, only for the keys of the credential report used in the window, created
  // within event_lookback (older ones are not judged by the history rules), and only the
  // parts of it the rules need.
  const TimePoint floor = since - policy.event_lookback;
  std::map<std::string_view, TimePoint> created;
  for (const UserView& u : data.users) {
    for (const KeyView& k : u.keys) {
      if (k.created >= floor && k.created < since) created[k.access_key_id] = k.created;
    }
  }
  std::map<std::string, TimePoint> wanted;  // key -> created
  for (const AuditEvent& e : data.events) {
    if (!e.error_code.empty()) continue;
    auto c = created.find(e.access_key_id);
    if (c != created.end()) wanted.emplace(e.access_key_id, c->second);
  }
  if (wanted.empty()) return OkStatus();
  const TimePoint before = since - std::chrono::seconds(1);
  // 1. Was each key used before the window? Newest first, so a key in regular use is
  // settled by the first events scanned; only a key really first used in the window
  // makes the scan go back to its creation.
  std::set<std::string> unsettled;
  TimePoint start = since;
  for (const auto& [key, t] : wanted) unsettled.insert(key), start = std::min(start, t);
  KW_RETURN_IF_ERROR(source.Scan(start, before, [&](const AuditEvent& e) {
    if (!e.error_code.empty() || unsettled.erase(e.access_key_id) == 0) return true;
    data.key_history[e.access_key_id].used_before = true;
    return !unsettled.empty();
  }));
  // 2. Known consumers: the uses in each key's learning period, over the merged periods.
  std::vector<std::pair<TimePoint, TimePoint>> periods;
  for (const auto& [key, t] : wanted) {
    auto h = data.key_history.find(key);
    if (h == data.key_history.end()) continue;  // not used before the window
    periods.emplace_back(t, std::min(before, t + policy.consumer_learning));
  }
  std::sort(periods.begin(), periods.end());
  std::vector<std::pair<TimePoint, TimePoint>> merged;
  for (const auto& p : periods) {
    if (!merged.empty() && p.first <= merged.back().second) {
      merged.back().second = std::max(merged.back().second, p.second);
    } else {
      merged.push_back(p);
    }
  }
  for (const auto& [from, to] : merged) {
    KW_RETURN_IF_ERROR(source.Scan(from, to, [&](const AuditEvent& e) {
      if (!e.error_code.empty()) return true;
      auto w = wanted.find(e.access_key_id);
      if (w == wanted.end() || e.time > w->second + policy.consumer_learning) return true;
      data.key_history[e.access_key_id].consumers.insert(ConsumerOf(e));
      return true;
    }));
  }
  return OkStatus();
}

void AppendEventRules(std::vector<std::unique_ptr<Rule>>& rules) {
  rules.push_back(std::make_unique<DeactivatedKeyTriedRule>());
  rules.push_back(std::make_unique<FailedSignatureBurstRule>());
  rules.push_back(std::make_unique<InstanceCredentialsOffInstanceRule>());
  rules.push_back(std::make_unique<OldKeyUsedAfterRotationRule>());
  rules.push_back(std::make_unique<FirstUseLateRule>());
  rules.push_back(std::make_unique<UnknownConsumerRule>());
}

}  // namespace kw::audit
