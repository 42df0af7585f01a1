#pragma once

// Audit rules over the event log (docs/audit.md, "Event findings"). An audit reads only
// the events since the previous audit (the first audit: AuditPolicy::first_event_window),
// plus, for the keys seen in that window, what the rules need of their history: whether
// they were used before and who used them in their first days (at most event_lookback
// back). Rules are pure functions of AuditData, like the others; they do nothing unless
// AuditData::events_enabled.
//
// Finding types and default severities:
//   DeactivatedKeyTried             HIGH     a request validly signed by an Inactive key
//   FailedSignatureBurst            HIGH     >= burst_threshold refused signatures for one
//                                            access key ID within burst_window
//   InstanceCredentialsOffInstance  CRITICAL a managed instance's session used from an
//                                            address other than the instance's registered one
//   OldKeyUsedAfterRotation         HIGH     a rotation's old key presented (refused or not)
//                                            after the rotation finished
//   AccessKeyFirstUseLate           MEDIUM   a key's first-ever successful use more than
//                                            first_use_gap after its creation
//   AccessKeyUnknownConsumer        MEDIUM   a key used, after its learning period, from a
//                                            source address not among its known consumers
//
// Known consumers of a key: the source addresses (and instance IDs) of its successful
// uses during its first consumer_learning days after creation. A key with no use in that
// period has no known consumers and is not judged (AccessKeyFirstUseLate covers a key
// first used late). Keys not in the credential report (temporary credentials) are not
// judged by the key rules.

#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "audit/rules.hpp"
#include "common/result.hpp"
#include "events/event_index_scan.hpp"

namespace kw::audit {

// The event log as the audit reads it. Thread-safe.
class EventSource {
 public:
  virtual ~EventSource() = default;
  // Calls `fn` for every event with start <= time <= end (either open), newest first,
  // until it returns false. The event's views are valid during the call only.
  virtual Status Scan(std::optional<TimePoint> start, std::optional<TimePoint> end,
                      const std::function<bool(const AuditEvent&)>& fn) const = 0;
  // The same events in the same order, a batch at a time with each batch's strings
  // numbered once (events/event_index_scan.hpp), until `fn` returns false: the audit's
  // window scan, which resolves each distinct string of a batch once instead of once per
  // event. By default, batches of Scan's events with their strings copied;
  // EventLogSource hands out the index's own blocks.
  virtual Status ScanBlocks(std::optional<TimePoint> start, std::optional<TimePoint> end,
                            const std::function<bool(const events::IndexBlock&)>& fn) const;
  // Finished rotations (with their old key); none by default.
  virtual Result<std::vector<FinishedRotation>> FinishedRotations() const {
    return std::vector<FinishedRotation>{};
  }
};

// Scans the window since `since` once (ScanBlocks), aggregating what each event rule
// needs into data.event_facts as it goes (no event is kept: per block, each distinct key
// ID is resolved once to a dense slot, and per event only slot-indexed state is touched);
// then fills data.key_history for the window's keys (Scan, over their history),
// data.finished_rotations, and sets events_enabled. data.users and data.instance_ips
// must be filled.
Status CollectEventData(const EventSource& source, const AuditPolicy& policy, TimePoint since,
                        AuditData& data);

// True for the error codes of a refused signature or unknown/inactive key.
bool IsSignatureFailure(std::string_view error_code);

// The event rules above, in the order of the table.
void AppendEventRules(std::vector<std::unique_ptr<Rule>>& rules);

}  // namespace kw::audit
