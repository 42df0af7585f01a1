#pragma once

// Audit rules over a snapshot of IAM users, their keys, their owners and the fleet's
// activations, and over the event log's window since the last audit (event_rules.hpp
// lists those rules and how their data is collected). Each Rule is a pure function of
// (AuditData, AuditPolicy). Thread-safe (no state).
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
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
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
  // Event rules (event_rules.hpp).
  int burst_threshold = 10;                // failed signatures for one key ID...
  std::chrono::seconds burst_window{300};  // ...within this long
  // A first use this long after creation is late; the known consumers are the users of
  // this long after creation. Seconds, so that a server can shorten them for tests.
  std::chrono::seconds first_use_gap{Days(30)};
  std::chrono::seconds consumer_learning{Days(7)};
  std::chrono::hours first_event_window{24};  // window of the first audit (no last audit)
  Days event_lookback{90};
  // Each window starts this long before the previous audit: events are stamped when
  // their request arrives but reach the log later (the recorder batches them), so an
  // event may land behind an audit that has already passed its time. Findings are
  // merged by (type, resource), so seeing an event twice adds nothing.
  std::chrono::seconds event_overlap{120};  // history scanned before the window, at most
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

// One event of the log, as EventSource::Scan hands it out (events::EventSummary,
// reduced). The views are valid during the callback only.
struct AuditEvent {
  TimePoint time;
  std::string_view event_name;
  std::string_view access_key_id;  // as presented, also for refused signatures
  std::string_view user_arn;
  std::string_view instance_id;  // managed instance credentials ("mi-..."), else empty
  std::string_view source_ip;
  std::string_view error_code;  // empty on success
  bool key_inactive = false;    // refused: validly signed by an Inactive key
};

struct FinishedRotation {
  std::string rotation_id;
  std::string old_key_id;
  TimePoint finished;
};

// What the log says about a key before the audit's window (event_rules.cpp collects it).
struct KeyHistory {
  bool used_before = false;         // a successful use before the window
  std::set<std::string> consumers;  // source IPs / instance IDs of its learning period
};

// What the window's events say, aggregated while they are scanned (CollectEventData):
// per event rule, only what that rule reports, for the keys and instances it concerns,
// so that an audit holds no event however many the window has. "Newest first" below is
// the scan's order. Computed under the AuditPolicy given to CollectEventData (its
// consumer_learning and event_lookback): evaluate the rules with the same policy.
struct EventFacts {
  struct Tries {  // DeactivatedKeyTried, by the key ID presented
    int count = 0;
    TimePoint last;  // the first one scanned
    std::set<std::string> ips;
  };
  struct Failure {  // FailedSignatureBurst
    TimePoint time;
    std::string source_ip;
  };
  struct OffInstance {  // InstanceCredentialsOffInstance, by instance ID
    int count = 0;
    TimePoint last;  // the first one scanned
    std::set<std::string> ips;
    std::set<std::string> key_ids;
  };
  struct AfterRotation {  // OldKeyUsedAfterRotation, by old key ID
    int count = 0;
    int refused = 0;
    TimePoint last;  // the first one scanned
    std::set<std::string> sources;
  };
  struct FirstUse {  // AccessKeyFirstUseLate: the last successful use scanned (the oldest)
    TimePoint time;
    std::string source_ip;
  };
  struct LaterUse {  // AccessKeyUnknownConsumer: a distinct (consumer, address) pair
    std::string consumer;
    std::string ip;
    std::uint64_t order = 0;  // scan position of its first event scanned (its newest)
    TimePoint time;           // that event's time
  };
  struct Consumers {
    std::set<std::string> known;  // the window's uses in the key's learning period
    std::vector<LaterUse> later;  // uses after it, in the order first scanned
  };
  std::uint64_t events = 0;  // in the window
  std::map<std::string, Tries> inactive_tries;
  std::map<std::string, std::vector<Failure>> failures;  // refused signatures, newest first
  std::map<std::string, OffInstance> off_instance;
  std::map<std::string, AfterRotation> after_rotation;
  // Keys of the report created at or after events_since - event_lookback and used
  // successfully in the window.
  std::map<std::string, FirstUse> first_use;
  // Keys of the report that can be judged (learning period reaching into the window, or
  // created within the lookback: known consumers may come from history) with uses after
  // their learning period.
  std::map<std::string, Consumers> consumers;
};

struct AuditData {
  TimePoint now;
  std::vector<UserView> users;
  std::vector<ActivationView> activations;
  // Owners by ID or email. An empty directory (never synced) disables OwnerUnknown,
  // OwnerDeparted and OwnerTransferred: without a directory nobody can be judged.
  std::shared_ptr<const directory::OwnerIndex> directory;
  // Event rules: only when `events_enabled` (an event log is configured).
  bool events_enabled = false;
  TimePoint events_since;                           // the window's start
  EventFacts event_facts;                           // of the window's events
  std::map<std::string, KeyHistory> key_history;    // by access key ID
  std::map<std::string, std::string> instance_ips;  // instance ID -> registered IP
  std::vector<FinishedRotation> finished_rotations;
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

// Appends `o` unless the subject (its tags, or any of `ids` by AuditPolicy::exempt) is
// exempt from o.type.
void EmitUnlessExempt(std::vector<Observation>& out, const AuditPolicy& policy,
                      const std::map<std::string, std::string>& tags,
                      std::initializer_list<std::string_view> ids, Observation o);

// The owner tag's value (tag key compared case-insensitively); empty if none.
std::string OwnerOf(const std::map<std::string, std::string>& tags, std::string_view owner_tag);

}  // namespace kw::audit
