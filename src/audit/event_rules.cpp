#include "audit/event_rules.hpp"

#include <algorithm>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "common/time_format.hpp"

namespace kw::audit {
namespace {

// An audit's window holds millions of events, so they are never kept: CollectEventData
// streams them once through WindowScan, which aggregates what each rule reports
// (EventFacts), and the rules below only format those facts. Findings come out ordered
// by resource (the facts' std::maps) as before.

struct KeyRef {
  const UserView* user = nullptr;
  const KeyView* key = nullptr;
};

using KeyMap = std::unordered_map<std::string_view, KeyRef>;

KeyMap KeysById(const AuditData& data) {
  KeyMap out;
  out.reserve(data.users.size() * 2);
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
void EmitForKey(std::vector<Observation>& out, const AuditPolicy& policy, const KeyMap& keys,
                std::string_view key_id, Observation o) {
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

template <typename Set>
std::string Join(const Set& items) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += ",";
    out += s;
  }
  return out;
}

// A set of a few strings (a key's consumers: usually one to three), a vector while small.
class SmallSet {
 public:
  bool Contains(std::string_view v) const {
    if (big_) return big_->count(std::string(v)) > 0;
    return std::find(small_.begin(), small_.end(), v) != small_.end();
  }
  bool Insert(std::string_view v) {
    if (Contains(v)) return false;
    if (big_) return big_->emplace(v).second;
    small_.emplace_back(v);
    if (small_.size() > 16) big_.emplace(small_.begin(), small_.end()), small_.clear();
    return true;
  }
  std::set<std::string> Sorted() const {
    if (big_) return {big_->begin(), big_->end()};
    return {small_.begin(), small_.end()};
  }

 private:
  std::vector<std::string> small_;
  std::optional<std::unordered_set<std::string>> big_;
};

constexpr std::uint32_t kNoSlot = std::numeric_limits<std::uint32_t>::max();

// Lets an unordered_map of std::string be searched by string_view without a copy.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// Access key IDs to dense slots 0..n-1. Open addressing over a power-of-two table of
// (hash tag, slot + 1) words with the IDs in one vector: one probe is one cache line,
// and a full string comparison happens only on a tag match. Filled before the scan,
// read during it.
class KeySlots {
 public:
  KeySlots() : table_(16, 0), mask_(15) {}

  std::uint32_t Find(std::string_view id) const { return Find(id, Hash(id)); }
  std::uint32_t Find(std::string_view id, std::uint64_t h) const {
    const std::uint64_t tag = h >> 32;
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
      const std::uint64_t entry = table_[i];
      if (entry == 0) return kNoSlot;
      const auto slot = static_cast<std::uint32_t>(entry) - 1;
      if ((entry >> 32) == tag && ids_[slot] == id) return slot;
    }
  }

  // Lookups of many IDs at once: Hash each and Prefetch its bucket first, then Find, so
  // that the cache misses overlap instead of following one another.
  static std::uint64_t Hash(std::string_view s) { return std::hash<std::string_view>{}(s); }
  void Prefetch(std::uint64_t h) const { __builtin_prefetch(&table_[h & mask_]); }
  // After Prefetch: the ID of the bucket's slot, which Find compares.
  void PrefetchId(std::uint64_t h) const {
    const std::uint64_t entry = table_[h & mask_];
    if (entry != 0) __builtin_prefetch(&ids_[static_cast<std::uint32_t>(entry) - 1]);
  }

  // The slot of `id`, new if it had none.
  std::uint32_t Add(std::string_view id) {
    const std::uint64_t h = Hash(id);
    if (const std::uint32_t slot = Find(id, h); slot != kNoSlot) return slot;
    if ((ids_.size() + 1) * 2 > table_.size()) Grow(table_.size() * 2);
    ids_.emplace_back(id);
    Place(h, static_cast<std::uint32_t>(ids_.size() - 1));
    return static_cast<std::uint32_t>(ids_.size() - 1);
  }
  // Room for n IDs without growing.
  void Reserve(std::size_t n) {
    ids_.reserve(n);
    std::size_t size = table_.size();
    while (n * 2 > size) size *= 2;
    if (size > table_.size()) Grow(size);
  }

  std::size_t size() const { return ids_.size(); }
  const std::string& id(std::uint32_t slot) const { return ids_[slot]; }

 private:
  void Place(std::uint64_t h, std::uint32_t slot) {
    std::size_t i = h & mask_;
    while (table_[i] != 0) i = (i + 1) & mask_;
    table_[i] = (h >> 32) << 32 | (static_cast<std::uint64_t>(slot) + 1);
  }
  void Grow(std::size_t size) {
    table_.assign(size, 0);
    mask_ = table_.size() - 1;
    for (std::uint32_t s = 0; s < ids_.size(); ++s) Place(Hash(ids_[s]), s);
  }

  std::vector<std::string> ids_;
  std::vector<std::uint64_t> table_;  // 0: empty
  std::size_t mask_;
};

// The window's single pass: every event rule's accumulator at once. Slots are given
// before the scan to the keys of the credential report and to the old keys of finished
// rotations; per block, each distinct key ID string is looked up once; per event, the
// work is a flag test on the slot and, for the few keys a rule follows, slot-indexed
// state. Rare events (refused, inactive, off-instance, after rotation) go to string maps.
class WindowScan {
 public:
  WindowScan(const AuditData& data, const AuditPolicy& policy, TimePoint since) : since_(since) {
    const TimePoint floor = since - policy.event_lookback;
    std::size_t keys = data.finished_rotations.size();
    for (const UserView& u : data.users) keys += u.keys.size();
    slots_.Reserve(keys);
    keys_.reserve(keys);
    for (const UserView& u : data.users) {
      for (const KeyView& k : u.keys) {
        // A key listed twice counts as its last listing, as KeysById has it.
        const std::uint32_t slot = slots_.Add(k.access_key_id);
        KeyState& st = State(slot);
        created_[slot] = k.created;
        st.learning_end = k.created + policy.consumer_learning;
        std::uint8_t& f = flags_[slot];
        f = 0;
        // AccessKeyFirstUseLate and the history scans: keys created within the lookback.
        if (k.created >= floor) f |= kFirstUse;
        // AccessKeyUnknownConsumer: known consumers from the window's learning-period
        // uses, or (for a key created within the lookback) from its history.
        if (st.learning_end >= since || (k.created >= floor && k.created < since)) f |= kJudge;
      }
    }
    std::unordered_map<std::uint32_t, TimePoint> finished;  // the earliest, by slot
    for (const FinishedRotation& r : data.finished_rotations) {
      if (r.old_key_id.empty()) continue;
      const std::uint32_t slot = slots_.Add(r.old_key_id);
      State(slot);
      auto [it, added] = finished.emplace(slot, r.finished);
      if (!added && r.finished < it->second) it->second = r.finished;
      flags_[slot] |= kRotated;
    }
    for (const auto& [slot, t] : finished) {
      // Event times are whole seconds (CloudTrail's eventTime) and the finish is not: a
      // use in the second the rotation finished counts, rather than being missed.
      keys_[slot].rotation_floor = std::chrono::floor<std::chrono::seconds>(t);
    }
    for (const auto& [id, ip] : data.instance_ips) {
      if (!ip.empty()) registered_.emplace(id, ip);
    }
  }

  void Add(const events::IndexBlock& b) {
    const std::vector<std::string_view>& s = b.strings;
    key_cache_.assign(s.size(), kUnresolved);
    instance_cache_.assign(s.size(), kUnresolved);
    ResolveKeys(b);
    for (const events::BlockEvent& e : b.events) {
      const std::uint64_t order = facts_.events++;
      const std::string_view key = s[e.access_key_id];
      const std::string_view error = s[e.error_code];
      const std::string_view ip = s[e.source_ip];
      if (e.key_inactive && !key.empty()) {  // DeactivatedKeyTried
        EventFacts::Tries& t = At(inactive_tries_, key);
        if (t.count++ == 0) t.last = e.time;
        t.ips.emplace(ip);
      }
      if (!error.empty() && !key.empty() && IsSignatureFailure(error)) {
        At(failures_, key).push_back({e.time, std::string(ip)});
      }
      if (!registered_.empty() && !ip.empty()) OffInstance(e, s, key, ip);
      const std::uint32_t slot = key_cache_[e.access_key_id];
      if (slot == kNoSlot) continue;
      const std::uint8_t flags = flags_[slot];
      if (flags == 0) continue;
      KeyState& st = keys_[slot];
      const std::string_view instance = s[e.instance_id];
      const std::string_view consumer = instance.empty() ? ip : instance;
      if ((flags & kRotated) && e.time >= st.rotation_floor) {  // OldKeyUsedAfterRotation
        EventFacts::AfterRotation& a = At(after_rotation_, key);
        if (a.count++ == 0) a.last = e.time;
        if (!error.empty()) ++a.refused;
        a.sources.emplace(consumer);
      }
      if (!error.empty()) continue;
      if (flags & kFirstUse) {  // newest first: the last one seen is the oldest
        st.used = true;
        st.first_use = e.time;
        st.first_ip.assign(ip);
      }
      if (flags & kJudge) {
        if (st.consumers == kNoSlot) {
          st.consumers = static_cast<std::uint32_t>(consumers_.size());
          consumers_.emplace_back();
        }
        Consumers& c = consumers_[st.consumers];
        if (e.time <= st.learning_end) {
          c.known.Insert(consumer);
        } else if (std::none_of(c.later.begin(), c.later.end(), [&](const EventFacts::LaterUse& x) {
                     return x.consumer == consumer && x.ip == ip;
                   })) {
          c.later.push_back({std::string(consumer), std::string(ip), order, e.time});
        }
      }
    }
  }

  // The keys whose history the rules need: of the report, created within the lookback
  // before the window, and used successfully in it (key -> creation).
  std::map<std::string, TimePoint> KeysForHistory() const {
    std::map<std::string, TimePoint> out;
    for (std::uint32_t slot = 0; slot < keys_.size(); ++slot) {
      const KeyState& st = keys_[slot];
      if ((flags_[slot] & kFirstUse) && st.used && created_[slot] < since_) {
        out.emplace(slots_.id(slot), created_[slot]);
      }
    }
    return out;
  }

  EventFacts Finish() {
    SortInto(inactive_tries_, facts_.inactive_tries);
    SortInto(failures_, facts_.failures);
    SortInto(after_rotation_, facts_.after_rotation);
    SortInto(off_instance_, facts_.off_instance);
    for (std::uint32_t slot = 0; slot < keys_.size(); ++slot) {
      KeyState& st = keys_[slot];
      if ((flags_[slot] & kFirstUse) && st.used) {
        facts_.first_use.emplace(slots_.id(slot),
                                 EventFacts::FirstUse{st.first_use, std::move(st.first_ip)});
      }
      if (st.consumers != kNoSlot && !consumers_[st.consumers].later.empty()) {
        Consumers& c = consumers_[st.consumers];
        facts_.consumers.emplace(slots_.id(slot),
                                 EventFacts::Consumers{c.known.Sorted(), std::move(c.later)});
      }
    }
    return std::move(facts_);
  }

 private:
  static constexpr std::uint32_t kUnresolved = kNoSlot - 1;
  enum : std::uint8_t { kFirstUse = 1, kJudge = 2, kRotated = 4 };
  // What the scan reads and writes of a followed key, in one cache line.
  struct alignas(64) KeyState {
    TimePoint learning_end;
    TimePoint rotation_floor;
    TimePoint first_use;
    std::uint32_t consumers = kNoSlot;  // into consumers_ (kJudge keys, once used)
    bool used = false;                  // a successful use in the window (kFirstUse keys)
    std::string first_ip;
  };
  struct Consumers {
    SmallSet known;
    std::vector<EventFacts::LaterUse> later;
  };

  // By key ID or instance ID during the scan (hashed: a refused signature a percent of
  // the time is a hundred thousand lookups), ordered for the facts at the end.
  template <typename T>
  using ByString = std::unordered_map<std::string, T, StringHash, std::equal_to<>>;
  template <typename T>
  static T& At(ByString<T>& m, std::string_view key) {
    auto it = m.find(key);
    if (it == m.end()) it = m.emplace(std::string(key), T{}).first;
    return it->second;
  }
  template <typename T>
  static void SortInto(ByString<T>& from, std::map<std::string, T>& to) {
    while (!from.empty()) {
      auto node = from.extract(from.begin());
      to.emplace(std::move(node.key()), std::move(node.mapped()));
    }
  }

  // key_cache_ for every key ID string the block's events present. A block of keys
  // drawn at random has hundreds of distinct ones: their lookups go in one batch.
  void ResolveKeys(const events::IndexBlock& b) {
    pending_.clear();
    for (const events::BlockEvent& e : b.events) {
      std::uint32_t& cached = key_cache_[e.access_key_id];
      if (cached != kUnresolved) continue;
      cached = kNoSlot;
      if (!b.strings[e.access_key_id].empty()) pending_.push_back({e.access_key_id, 0});
    }
    for (auto& [id, h] : pending_) {
      h = KeySlots::Hash(b.strings[id]);
      slots_.Prefetch(h);
    }
    for (const auto& [id, h] : pending_) slots_.PrefetchId(h);
    for (const auto& [id, h] : pending_) {
      const std::uint32_t slot = slots_.Find(b.strings[id], h);
      key_cache_[id] = slot;
      if (slot != kNoSlot) __builtin_prefetch(&flags_[slot]), __builtin_prefetch(&keys_[slot]);
    }
    // The consumer state of the keys AccessKeyUnknownConsumer follows, a level further.
    followed_.clear();
    for (const auto& [id, h] : pending_) {
      const std::uint32_t slot = key_cache_[id];
      if (slot == kNoSlot || !(flags_[slot] & kJudge) || keys_[slot].consumers == kNoSlot) continue;
      followed_.push_back(keys_[slot].consumers);
      __builtin_prefetch(&consumers_[followed_.back()]);
    }
    for (std::uint32_t c : followed_) __builtin_prefetch(consumers_[c].later.data());
  }

  KeyState& State(std::uint32_t slot) {
    if (slot >= keys_.size()) {
      keys_.resize(slot + 1);
      flags_.resize(slot + 1, 0);
      created_.resize(slot + 1);
    }
    return keys_[slot];
  }

  // InstanceCredentialsOffInstance: a session of a registered instance used from another
  // address than the instance's.
  void OffInstance(const events::BlockEvent& e, const std::vector<std::string_view>& s,
                   std::string_view key, std::string_view ip) {
    const std::string_view instance = s[e.instance_id];
    if (instance.empty()) return;
    std::uint32_t& cached = instance_cache_[e.instance_id];
    if (cached == kUnresolved) {
      auto it = registered_.find(instance);
      if (it == registered_.end()) {
        cached = kNoSlot;
      } else {
        cached = static_cast<std::uint32_t>(instance_ips_.size());
        instance_ips_.push_back(it->second);
      }
    }
    if (cached == kNoSlot || instance_ips_[cached] == ip) return;
    EventFacts::OffInstance& o = At(off_instance_, instance);
    if (o.count++ == 0) o.last = e.time;
    o.ips.emplace(ip);
    o.key_ids.emplace(key);
  }

  const TimePoint since_;
  KeySlots slots_;
  std::vector<std::uint8_t> flags_;  // by slot: which rules follow the key (0: none)
  std::vector<KeyState> keys_;       // by slot
  std::vector<TimePoint> created_;   // by slot
  std::vector<Consumers> consumers_;
  std::unordered_map<std::string_view, std::string_view> registered_;  // instance -> IP
  // Per block, by string number: the key's slot, or the instance's registered address
  // (an index into instance_ips_), kNoSlot for none, kUnresolved until first needed.
  std::vector<std::uint32_t> key_cache_;
  std::vector<std::pair<std::uint32_t, std::uint64_t>> pending_;  // string number, hash
  std::vector<std::uint32_t> followed_;  // into consumers_, for ResolveKeys
  std::vector<std::uint32_t> instance_cache_;
  std::vector<std::string_view> instance_ips_;
  ByString<EventFacts::Tries> inactive_tries_;
  ByString<std::vector<EventFacts::Failure>> failures_;
  ByString<EventFacts::AfterRotation> after_rotation_;
  ByString<EventFacts::OffInstance> off_instance_;
  EventFacts facts_;
};

class DeactivatedKeyTriedRule final : public Rule {
 public:
  std::string_view Name() const override { return "DeactivatedKeyTried"; }
  void Evaluate(const AuditData& data, const AuditPolicy& policy,
                std::vector<Observation>& out) const override {
    const auto& tries = data.event_facts.inactive_tries;
    if (!data.events_enabled || tries.empty()) return;
    const auto keys = KeysById(data);
    for (const auto& [key, s] : tries) {
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
    const auto n = static_cast<std::size_t>(policy.burst_threshold);
    std::optional<KeyMap> keys;
    for (const auto& [key, failures] : data.event_facts.failures) {
      if (failures.size() < n) continue;
      std::vector<const EventFacts::Failure*> list;
      list.reserve(failures.size());
      for (const auto& f : failures) list.push_back(&f);
      std::sort(list.begin(), list.end(),
                [](const auto* a, const auto* b) { return a->time < b->time; });
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
      std::set<std::string_view> ips;
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
      if (!keys) keys = KeysById(data);
      EmitForKey(out, policy, *keys, key, std::move(o));
    }
  }
};

class InstanceCredentialsOffInstanceRule final : public Rule {
 public:
  std::string_view Name() const override { return "InstanceCredentialsOffInstance"; }
  void Evaluate(const AuditData& data, const AuditPolicy& policy,
                std::vector<Observation>& out) const override {
    if (!data.events_enabled || data.instance_ips.empty()) return;
    for (const auto& [instance, s] : data.event_facts.off_instance) {
      auto registered = data.instance_ips.find(instance);
      if (registered == data.instance_ips.end()) continue;
      Observation o{std::string(Name()),
                    Severity::kCritical,
                    instance,
                    "Credentials of managed instance " + instance +
                        " were used from an address other than the instance's",
                    {{"InstanceId", instance},
                     {"RegisteredIP", registered->second},
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
    const auto& seen = data.event_facts.after_rotation;
    if (!data.events_enabled || data.finished_rotations.empty() || seen.empty()) return;
    // The earliest finished rotation of each old key, as the scan judged by.
    std::unordered_map<std::string_view, const FinishedRotation*> by_key;
    for (const FinishedRotation& r : data.finished_rotations) {
      if (r.old_key_id.empty()) continue;
      auto& slot = by_key[r.old_key_id];
      if (slot == nullptr || r.finished < slot->finished) slot = &r;
    }
    const auto keys = KeysById(data);
    for (const auto& [key, s] : seen) {
      auto rotation = by_key.find(key);
      if (rotation == by_key.end()) continue;
      const FinishedRotation& r = *rotation->second;
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
           {"Sources", Join(s.sources)}}};
      EmitForKey(out, policy, keys, key, std::move(o));
    }
  }
};

class FirstUseLateRule final : public Rule {
 public:
  std::string_view Name() const override { return "AccessKeyFirstUseLate"; }
  void Evaluate(const AuditData& data, const AuditPolicy& policy,
                std::vector<Observation>& out) const override {
    const auto& first = data.event_facts.first_use;
    if (!data.events_enabled || first.empty()) return;
    // Only keys of the report that were not used before and were created within the
    // lookback can be late.
    const TimePoint floor = data.events_since - policy.event_lookback;
    const auto keys = KeysById(data);
    for (const auto& [id, use] : first) {
      auto k = keys.find(id);
      if (k == keys.end() || k->second.key->created < floor) continue;
      auto h = data.key_history.find(id);
      if (h != data.key_history.end() && h->second.used_before) continue;
      const auto gap = use.time - k->second.key->created;
      if (gap <= policy.first_use_gap) continue;
      Observation o{std::string(Name()),
                    Severity::kMedium,
                    id,
                    "Access key " + id + " was used for the first time " +
                        std::to_string(std::chrono::duration_cast<Days>(gap).count()) +
                        " days after its creation",
                    {{"AccessKeyId", id},
                     {"CreateDate", Iso(k->second.key->created)},
                     {"FirstUse", Iso(use.time)},
                     {"SourceIP", use.source_ip}}};
      EmitForKey(out, policy, keys, id, std::move(o));
    }
  }
};

class UnknownConsumerRule final : public Rule {
 public:
  std::string_view Name() const override { return "AccessKeyUnknownConsumer"; }
  void Evaluate(const AuditData& data, const AuditPolicy& policy,
                std::vector<Observation>& out) const override {
    const auto& followed = data.event_facts.consumers;
    if (!data.events_enabled || followed.empty()) return;
    const auto keys = KeysById(data);
    for (const auto& [key, c] : followed) {
      auto k = keys.find(key);
      if (k == keys.end()) continue;
      // Known consumers: the history before the window plus the window's own
      // learning-period uses. A key with neither history nor a learning period reaching
      // into the window has no known consumer whatever its events say.
      auto h = data.key_history.find(key);
      const bool has_history = h != data.key_history.end() && !h->second.consumers.empty();
      if (!has_history && k->second.key->created + policy.consumer_learning < data.events_since) {
        continue;
      }
      std::set<std::string> known = c.known;
      if (has_history) known.insert(h->second.consumers.begin(), h->second.consumers.end());
      if (known.empty()) continue;
      std::set<std::string> sources;
      std::uint64_t newest = std::numeric_limits<std::uint64_t>::max();
      TimePoint last;
      for (const EventFacts::LaterUse& x : c.later) {
        if (known.count(x.consumer) > 0 || known.count(x.ip) > 0) continue;
        sources.insert(x.consumer);
        if (x.order < newest) newest = x.order, last = x.time;
      }
      if (sources.empty()) continue;
      Observation o{std::string(Name()),
                    Severity::kMedium,
                    key,
                    "Access key " + key + " was used from a source that is not a known consumer",
                    {{"AccessKeyId", key},
                     {"UnknownSources", Join(sources)},
                     {"KnownConsumers", Join(known)},
                     {"LastUse", Iso(last)}}};
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

Status EventSource::ScanBlocks(std::optional<TimePoint> start, std::optional<TimePoint> end,
                               const std::function<bool(const events::IndexBlock&)>& fn) const {
  // Batches of Scan's events, their strings copied (node-based keys do not move).
  constexpr std::size_t kBatch = 512;
  events::IndexBlock block;
  std::unordered_map<std::string, std::uint32_t> ids;
  bool stopped = false;
  auto intern = [&](std::string_view s) {
    auto [it, added] =
        ids.try_emplace(std::string(s), static_cast<std::uint32_t>(block.strings.size()));
    if (added) block.strings.push_back(it->first);
    return it->second;
  };
  auto deliver = [&]() {
    if (!block.events.empty() && !fn(block)) stopped = true;
    block.events.clear();
    block.strings.clear();
    ids.clear();
    return !stopped;
  };
  KW_RETURN_IF_ERROR(Scan(start, end, [&](const AuditEvent& e) {
    block.events.push_back({e.time, intern(e.event_name), intern(e.access_key_id),
                            intern(e.user_arn), intern(e.instance_id), intern(e.source_ip),
                            intern(e.error_code), e.key_inactive});
    return block.events.size() < kBatch || deliver();
  }));
  if (!stopped) deliver();
  return OkStatus();
}

Status CollectEventData(const EventSource& source, const AuditPolicy& policy, TimePoint since,
                        AuditData& data) {
  data.events_enabled = true;
  data.events_since = since;
  data.event_facts = EventFacts{};
  data.key_history.clear();
  // Before the scan: the old keys of finished rotations get slots in it.
  KW_ASSIGN_OR_RETURN(data.finished_rotations, source.FinishedRotations());
  WindowScan scan(data, policy, since);
  KW_RETURN_IF_ERROR(source.ScanBlocks(since, data.now, [&](const events::IndexBlock& b) {
    scan.Add(b);
    return true;
  }));
  // History, only for the keys of the credential report used in the window, created
  // within event_lookback (older ones are not judged by the history rules), and only the
  // parts of it the rules need.
  const std::map<std::string, TimePoint> wanted = scan.KeysForHistory();  // key -> created
  data.event_facts = scan.Finish();
  if (wanted.empty()) return OkStatus();
  const TimePoint before = since - std::chrono::seconds(1);
  // 1. Was each key used before the window? Newest first, so a key in regular use is
  // settled by the first events scanned; only a key really first used in the window
  // makes the scan go back to its creation.
  std::unordered_set<std::string_view> unsettled;
  TimePoint start = since;
  for (const auto& [key, t] : wanted) unsettled.insert(key), start = std::min(start, t);
  KW_RETURN_IF_ERROR(source.Scan(start, before, [&](const AuditEvent& e) {
    if (!e.error_code.empty()) return true;
    auto u = unsettled.find(e.access_key_id);
    if (u == unsettled.end()) return true;
    data.key_history[std::string(*u)].used_before = true;
    unsettled.erase(u);
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
  std::unordered_map<std::string_view, std::pair<TimePoint, KeyHistory*>> learning;
  for (const auto& [key, t] : wanted) {
    auto h = data.key_history.find(key);
    if (h != data.key_history.end()) learning.emplace(h->first, std::make_pair(t, &h->second));
  }
  for (const auto& [from, to] : merged) {
    KW_RETURN_IF_ERROR(source.Scan(from, to, [&](const AuditEvent& e) {
      if (!e.error_code.empty()) return true;
      auto w = learning.find(e.access_key_id);
      if (w == learning.end() || e.time > w->second.first + policy.consumer_learning) return true;
      const std::string_view consumer = e.instance_id.empty() ? e.source_ip : e.instance_id;
      w->second.second->consumers.emplace(consumer);
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
