#pragma once

// The audit's EventSource over keyward's own event log and rotation engine.

#include "audit/event_rules.hpp"
#include "events/event_log.hpp"
#include "rotation/rotation_engine.hpp"

namespace kw::audit {

// The AuditEvent of a stored event's summary.
AuditEvent ToAuditEvent(const events::EventSummary& s);

// Thread-safe as its parts are. References must outlive it; `rotations` may be null
// (no OldKeyUsedAfterRotation findings).
class EventLogSource final : public EventSource {
 public:
  EventLogSource(const events::EventLog& log, rotation::RotationEngine* rotations)
      : log_(log), rotations_(rotations) {}
  Status Scan(std::optional<TimePoint> start, std::optional<TimePoint> end,
              const std::function<bool(const AuditEvent&)>& fn) const override;
  Result<std::vector<FinishedRotation>> FinishedRotations() const override;

 private:
  const events::EventLog& log_;
  rotation::RotationEngine* rotations_;
};

}  // namespace kw::audit
