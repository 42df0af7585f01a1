#include "audit/rules.hpp"

#include "audit/event_rules.hpp"
#include "common/strings.hpp"
#include "common/time_format.hpp"
#include "crypto/digest.hpp"

namespace kw::audit {
namespace {

std::int64_t DaysBetween(TimePoint from, TimePoint to) {
  return std::chrono::duration_cast<Days>(to - from).count();
}

bool ExemptByTag(const std::map<std::string, std::string>& tags, const AuditPolicy& policy,
                 std::string_view type) {
  for (const auto& [k, v] : tags) {
    if (!EqualsIgnoreCase(k, policy.exempt_tag)) continue;
    const std::string value = ToLowerAscii(v);
    if (value == "true" || value == "all" || value == "*") return true;
    std::string_view rest = v;
    while (!rest.empty()) {
      const std::size_t comma = rest.find(',');
      std::string_view item = rest.substr(0, comma);
      while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
      while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
      if (EqualsIgnoreCase(item, type)) return true;
      rest.remove_prefix(comma == std::string_view::npos ? rest.size() : comma + 1);
    }
  }
  return false;
}

bool ExemptById(const AuditPolicy& policy, std::string_view id) {
  // The empty list is the common case: skip lowercasing every ID of every observation.
  return !id.empty() && !policy.exempt.empty() && policy.exempt.count(ToLowerAscii(id)) > 0;
}

// Emits unless the subject (tags, IDs) is exempt from `o.type`.
void Emit(std::vector<Observation>& out, const AuditPolicy& policy,
          const std::map<std::string, std::string>& tags,
          std::initializer_list<std::string_view> ids, Observation o) {
  if (ExemptByTag(tags, policy, o.type)) return;
  for (std::string_view id : ids) {
    if (ExemptById(policy, id)) return;
  }
  out.push_back(std::move(o));
}

}  // namespace

void EmitUnlessExempt(std::vector<Observation>& out, const AuditPolicy& policy,
                      const std::map<std::string, std::string>& tags,
                      std::initializer_list<std::string_view> ids, Observation o) {
  Emit(out, policy, tags, ids, std::move(o));
}

namespace {

std::string Iso(TimePoint t) { return FormatIso8601(t); }

Evidence KeyEvidence(const UserView& u, const KeyView& k) {
  Evidence e{{"UserName", u.name},
             {"UserArn", u.arn},
             {"AccessKeyId", k.access_key_id},
             {"CreateDate", Iso(k.created)},
             {"LastUsedDate", k.last_used ? Iso(*k.last_used) : "never"}};
  return e;
}

class KeyAgeRule final : public Rule {
 public:
  std::string_view Name() const override { return "AccessKeyTooOld"; }
  void Evaluate(const AuditData& d, const AuditPolicy& p,
                std::vector<Observation>& out) const override {
    for (const UserView& u : d.users) {
      for (const KeyView& k : u.keys) {
        if (!k.active || d.now - k.created <= p.key_max_age) continue;
        Evidence e = KeyEvidence(u, k);
        const auto age = DaysBetween(k.created, d.now);
        e["AgeDays"] = std::to_string(age);
        e["MaxAgeDays"] = std::to_string(p.key_max_age.count());
        Emit(out, p, u.tags, {u.name, k.access_key_id},
             {"AccessKeyTooOld", Severity::kHigh, k.access_key_id,
              "Access key " + k.access_key_id + " of " + u.name + " is " + std::to_string(age) +
                  " days old (policy: " + std::to_string(p.key_max_age.count()) + ")",
              std::move(e)});
      }
    }
  }
};

class KeyUnusedRule final : public Rule {
 public:
  std::string_view Name() const override { return "AccessKeyUnused"; }
  void Evaluate(const AuditData& d, const AuditPolicy& p,
                std::vector<Observation>& out) const override {
    for (const UserView& u : d.users) {
      for (const KeyView& k : u.keys) {
        if (!k.active) continue;
        if (!k.last_used) {
          if (d.now - k.created <= p.never_used_grace) continue;
          Evidence e = KeyEvidence(u, k);
          e["AgeDays"] = std::to_string(DaysBetween(k.created, d.now));
          Emit(out, p, u.tags, {u.name, k.access_key_id},
               {"AccessKeyNeverUsed", Severity::kMedium, k.access_key_id,
                "Access key " + k.access_key_id + " of " + u.name + " has never been used",
                std::move(e)});
          continue;
        }
        const auto idle = d.now - *k.last_used;
        if (idle <= p.unused_warn) continue;
        const bool critical = idle > p.unused_critical;
        Evidence e = KeyEvidence(u, k);
        const auto days = DaysBetween(*k.last_used, d.now);
        e["UnusedDays"] = std::to_string(days);
        const std::string type = critical ? "AccessKeyUnused90Days" : "AccessKeyUnused45Days";
        Emit(out, p, u.tags, {u.name, k.access_key_id},
             {type, critical ? Severity::kHigh : Severity::kMedium, k.access_key_id,
              "Access key " + k.access_key_id + " of " + u.name + " has not been used for " +
                  std::to_string(days) + " days",
              std::move(e)});
      }
    }
  }
};

class TwoActiveKeysRule final : public Rule {
 public:
  std::string_view Name() const override { return "UserHasTwoActiveKeys"; }
  void Evaluate(const AuditData& d, const AuditPolicy& p,
                std::vector<Observation>& out) const override {
    for (const UserView& u : d.users) {
      std::string ids;
      int active = 0;
      for (const KeyView& k : u.keys) {
        if (!k.active) continue;
        ++active;
        ids += (ids.empty() ? "" : ",") + k.access_key_id;
      }
      if (active < 2) continue;
      Emit(out, p, u.tags, {u.name},
           {"UserHasTwoActiveKeys",
            Severity::kMedium,
            u.arn,
            "User " + u.name + " has " + std::to_string(active) + " active access keys",
            {{"UserName", u.name}, {"AccessKeyIds", ids}}});
    }
  }
};

class OwnerRule final : public Rule {
 public:
  std::string_view Name() const override { return "Owner"; }
  void Evaluate(const AuditData& d, const AuditPolicy& p,
                std::vector<Observation>& out) const override {
    const bool have_directory = d.directory && !d.directory->empty();
    for (const UserView& u : d.users) {
      const std::string owner = OwnerOf(u.tags, p.owner_tag);
      if (owner.empty()) {
        Emit(out, p, u.tags, {u.name},
             {"OwnerMissing",
              Severity::kHigh,
              u.arn,
              "User " + u.name + " has no '" + p.owner_tag + "' tag",
              {{"UserName", u.name}, {"OwnerTag", p.owner_tag}}});
        continue;
      }
      if (!have_directory) continue;
      const directory::PersonRecord* person = d.directory->Find(owner);
      if (person == nullptr) {
        Emit(out, p, u.tags, {u.name},
             {"OwnerUnknown",
              Severity::kMedium,
              u.arn,
              "Owner '" + owner + "' of user " + u.name + " is not in the directory",
              {{"UserName", u.name}, {"Owner", owner}}});
        continue;
      }
      bool active_keys = false;
      for (const KeyView& k : u.keys) active_keys = active_keys || k.active;
      const bool departed =
          person->absent || person->person.status == directory::PersonStatus::kDeparted;
      if (departed) {
        Evidence e{
            {"UserName", u.name}, {"Owner", owner}, {"ActiveKeys", active_keys ? "true" : "false"}};
        if (person->departed_at) e["DepartedDate"] = Iso(*person->departed_at);
        Emit(out, p, u.tags, {u.name},
             {"OwnerDeparted", active_keys ? Severity::kCritical : Severity::kHigh, u.arn,
              "Owner '" + owner + "' of user " + u.name + " has departed" +
                  (active_keys ? " and the user still has active keys" : ""),
              std::move(e)});
        continue;
      }
      if (person->person.status == directory::PersonStatus::kTransferred ||
          person->transferred_at) {
        Evidence e{{"UserName", u.name},
                   {"Owner", owner},
                   {"Department", person->person.department},
                   {"PreviousDepartment", person->previous_department}};
        if (person->transferred_at) e["TransferredDate"] = Iso(*person->transferred_at);
        Emit(out, p, u.tags, {u.name},
             {"OwnerTransferred", Severity::kMedium, u.arn,
              "Owner '" + owner + "' of user " + u.name + " has transferred; review ownership",
              std::move(e)});
      }
    }
  }
};

class ActivationRule final : public Rule {
 public:
  std::string_view Name() const override { return "ActivationUnusedAndValid"; }
  void Evaluate(const AuditData& d, const AuditPolicy& p,
                std::vector<Observation>& out) const override {
    for (const ActivationView& a : d.activations) {
      if (a.registrations > 0 || d.now >= a.expiration || d.now - a.created < p.activation_grace) {
        continue;
      }
      Emit(out, p, a.tags, {a.activation_id},
           {"ActivationUnusedAndValid",
            Severity::kMedium,
            a.activation_id,
            "Activation " + a.activation_id + " has no registration and is valid until " +
                Iso(a.expiration),
            {{"ActivationId", a.activation_id},
             {"IamRole", a.iam_role},
             {"CreatedDate", Iso(a.created)},
             {"ExpirationDate", Iso(a.expiration)},
             {"RegistrationLimit", std::to_string(a.limit)}}});
    }
  }
};

}  // namespace

std::string OwnerOf(const std::map<std::string, std::string>& tags, std::string_view owner_tag) {
  for (const auto& [k, v] : tags) {
    if (EqualsIgnoreCase(k, owner_tag)) return v;
  }
  return "";
}

std::vector<std::unique_ptr<Rule>> DefaultRules() {
  std::vector<std::unique_ptr<Rule>> rules;
  rules.push_back(std::make_unique<KeyAgeRule>());
  rules.push_back(std::make_unique<KeyUnusedRule>());
  rules.push_back(std::make_unique<TwoActiveKeysRule>());
  rules.push_back(std::make_unique<OwnerRule>());
  rules.push_back(std::make_unique<ActivationRule>());
  AppendEventRules(rules);
  return rules;
}

std::vector<Observation> Evaluate(const std::vector<std::unique_ptr<Rule>>& rules,
                                  const AuditData& data, const AuditPolicy& policy) {
  std::vector<Observation> out;
  for (const auto& r : rules) r->Evaluate(data, policy, out);
  return out;
}

std::string_view SeverityName(Severity s) {
  switch (s) {
    case Severity::kInfo:
      return "INFO";
    case Severity::kLow:
      return "LOW";
    case Severity::kMedium:
      return "MEDIUM";
    case Severity::kHigh:
      return "HIGH";
    case Severity::kCritical:
      return "CRITICAL";
  }
  return "INFO";
}

std::optional<Severity> ParseSeverity(std::string_view s) {
  for (Severity v :
       {Severity::kInfo, Severity::kLow, Severity::kMedium, Severity::kHigh, Severity::kCritical}) {
    if (EqualsIgnoreCase(SeverityName(v), s)) return v;
  }
  return std::nullopt;
}

std::string_view FindingStateName(FindingState s) {
  switch (s) {
    case FindingState::kActive:
      return "ACTIVE";
    case FindingState::kSuppressed:
      return "SUPPRESSED";
    case FindingState::kResolved:
      return "RESOLVED";
  }
  return "ACTIVE";
}

std::optional<FindingState> ParseFindingState(std::string_view s) {
  for (FindingState v :
       {FindingState::kActive, FindingState::kSuppressed, FindingState::kResolved}) {
    if (EqualsIgnoreCase(FindingStateName(v), s)) return v;
  }
  return std::nullopt;
}

std::string FindingId(std::string_view type, std::string_view resource) {
  std::string data(type);
  data += '\n';
  data += resource;
  return "f-" + crypto::Sha256Hex(data).substr(0, 16);
}

}  // namespace kw::audit
