#pragma once

// The audit's EventSource over keyward's own event log and rotation engine.

#include "audit/event_rules.hpp"
#include "events/event_log.hpp"
#include "rotation/rotation_engine.hpp"

namespace kw::audit {

// The AuditEvent of a stored event's summary or index entry (views into it).
AuditEvent ToAuditEvent(const events::EventSummary& s);
AuditEvent ToAuditEvent(const events::IndexedEvent& e);

// Thread-safe as its parts are. References must outlive it; `rotations` may be null
// (no OldKeyUsedAfterRotation findings).
class EventLogSource final : public EventSource {
 public:
  EventLogSource(const events::EventLog& log, rotation::RotationEngine* rotations)
      : log_(log), rotations_(rotations) {}
  Status Scan(std::optional<TimePoint> start, std::optional<TimePoint> end,
              const std::function<bool(const AuditEvent&)>& fn) const override;
  // The index's blocks as they are stored (EventLog::ScanIndexBlocks).
  Status ScanBlocks(std::optional<TimePoint> start, std::optional<TimePoint> end,
                    const std::function<bool(const events::IndexBlock&)>& fn) const override;
  Result<std::vector<FinishedRotation>> FinishedRotations() const override;

 private:
  const events::EventLog& log_;
  rotation::RotationEngine* rotations_;
};

}  // namespace kw::audit
