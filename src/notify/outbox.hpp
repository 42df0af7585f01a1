#pragma once

// The durable outbox. An event is written with Enqueue inside the store transaction
// that produces it (a new finding, a rotation reaching failed), so a crash either loses
// both or neither, and the sender finds it after a restart. Storage: KvStore table
// "notify_outbox" (pending events, by event ID, JSON) and "notify_done" (events whose
// every webhook was delivered or given up, with the outcome), so an event ID is
// delivered at most once per outcome even if the producing step runs again.

#include <string>
#include <string_view>

#include "audit/finding.hpp"
#include "common/result.hpp"
#include "rotation/rotation_engine.hpp"
#include "store/kv_store.hpp"

namespace kw::notify {

inline constexpr std::string_view kOutboxTable = "notify_outbox";
inline constexpr std::string_view kDoneTable = "notify_done";

struct Event {
  std::string event_id;  // stable for the same fact: deduplicates re-runs
  std::string type;      // "finding" or "rotation_failed"
  std::string text;      // one human line, for the Slack format
  std::string body;      // the JSON event, exactly the bytes sent (and signed)
};

// A new active finding. Findings' evidence never carries secrets (audit/finding.hpp).
Event FindingEvent(std::string_view finding_id, const audit::Observation& o, TimePoint now);
// A rotation that reached failed: IDs, names and the reason, never key material (no
// secret access key, no secret value, no version token).
Event RotationFailedEvent(const rotation::Rotation& r, TimePoint now);

// Writes the event unless it is pending or done already. Only writes through `txn`.
Status Enqueue(store::Txn& txn, const Event& event, TimePoint now);

}  // namespace kw::notify
