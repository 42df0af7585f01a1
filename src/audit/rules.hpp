#pragma once

// Audit rules over a snapshot of IAM users, their keys, their owners and the fleet's
// activations. Each Rule is a pure function of (AuditData, AuditPolicy): rules over
// the event log (a key used from an unknown source, a deactivated key tried, a burst
// of failed signatures, ...) are added as further Rules once AuditData carries the
// events they need. Thread-safe (no state).
//
// Finding types and default severities:
//   AccessKeyTooOld          HIGH     active key older than key_max_age (90 days)
//   AccessKeyUnused45Days    MEDIUM   active key last used 45 to 90 days ago
//   AccessKeyUnused90Days    HIGH     active key last used over 90 days ago
//   AccessKeyNeverUsed       MEDIUM   active key never used, older than never_used_grace
//   UserHasTwoActiveKeys     MEDIUM   (normal only during a rotation)
//   OwnerMissing             HIGH     user without an owner tag
//   OwnerUnknown             MEDIUM   owner tag names nobody in the directory
//   OwnerDeparted            CRITICAL owner departed and the user still has active keys
//                            (HIGH with no active key)
//   OwnerTransferred         MEDIUM   owner moved; ownership needs review
//   ActivationUnusedAndValid MEDIUM   activation with no registration, not expired,
//                            older than activation_grace
//
// Exemptions: a user or activation tagged exempt_tag ("keyward:audit-exempt") with
// value "true"/"all" is exempt from every rule, or with a comma-separated list of
// types from those; AuditPolicy::exempt lists user names, key IDs or activation IDs
// exempt from every rule.

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "audit/finding.hpp"
#include "common/clock.hpp"
#include "directory/directory_service.hpp"

namespace kw::audit {

using Days = std::chrono::duration<std::int64_t, std::ratio<86400>>;

struct AuditPolicy {
  std::string owner_tag = "owner";
  std::string exempt_tag = "keyward:audit-exempt";
  std::set<std::string> exempt;  // lowercased user names, key IDs, activation IDs
  Days key_max_age{90};
  Days unused_warn{45};
  Days unused_critical{90};
  Days never_used_grace{7};
  std::chrono::hours activation_grace{24};
};

struct KeyView {
  std::string access_key_id;
  bool active = false;
  TimePoint created;
  std::optional<TimePoint> last_used;
};

struct UserView {
  std::string name;
  std::string arn;
  TimePoint created;
  std::map<std::string, std::string> tags;
  std::vector<KeyView> keys;
};

struct ActivationView {
  std::string activation_id;
  std::string iam_role;
  TimePoint created;
  TimePoint expiration;
  int registrations = 0;
  int limit = 1;
  std::map<std::string, std::string> tags;
};

struct AuditData {
  TimePoint now;
  std::vector<UserView> users;
  std::vector<ActivationView> activations;
  // Owners by ID or email. An empty directory (never synced) disables OwnerUnknown,
  // OwnerDeparted and OwnerTransferred: without a directory nobody can be judged.
  std::shared_ptr<const directory::OwnerIndex> directory;
};

class Rule {
 public:
  virtual ~Rule() = default;
  virtual std::string_view Name() const = 0;
  virtual void Evaluate(const AuditData& data, const AuditPolicy& policy,
                        std::vector<Observation>& out) const = 0;
};

// Every rule above, in the order of the table.
std::vector<std::unique_ptr<Rule>> DefaultRules();

// Runs `rules` and drops exempt observations.
std::vector<Observation> Evaluate(const std::vector<std::unique_ptr<Rule>>& rules,
                                  const AuditData& data, const AuditPolicy& policy);

// The owner tag's value (tag key compared case-insensitively); empty if none.
std::string OwnerOf(const std::map<std::string, std::string>& tags, std::string_view owner_tag);

}  // namespace kw::audit
