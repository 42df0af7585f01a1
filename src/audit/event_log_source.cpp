#include "audit/event_log_source.hpp"

namespace kw::audit {

AuditEvent ToAuditEvent(const events::EventSummary& s) {
  return AuditEvent{s.time,        s.event_name, s.access_key_id, s.user_arn,
                    s.instance_id, s.source_ip,  s.error_code,    s.key_inactive};
}

AuditEvent ToAuditEvent(const events::IndexedEvent& e) {
  return AuditEvent{e.time,        e.event_name, e.access_key_id, e.user_arn,
                    e.instance_id, e.source_ip,  e.error_code,    e.key_inactive};
}

Status EventLogSource::Scan(std::optional<TimePoint> start, std::optional<TimePoint> end,
                            const std::function<bool(const AuditEvent&)>& fn) const {
  return log_.ScanIndexed(start, end,
                          [&](const events::IndexedEvent& e) { return fn(ToAuditEvent(e)); });
}

Status EventLogSource::ScanBlocks(std::optional<TimePoint> start, std::optional<TimePoint> end,
                                  const std::function<bool(const events::IndexBlock&)>& fn) const {
  return log_.ScanIndexBlocks(start, end, fn);
}

Result<std::vector<FinishedRotation>> EventLogSource::FinishedRotations() const {
  std::vector<FinishedRotation> out;
  if (rotations_ == nullptr) return out;
  std::optional<std::string> token;
  do {
    KW_ASSIGN_OR_RETURN(rotation::PolicyPage page, rotations_->ListPolicies(token));
    for (const auto& p : page.policies) {
      KW_ASSIGN_OR_RETURN(auto rotations, rotations_->ListRotations(p.policy_id));
      for (const auto& r : rotations) {
        if (r.finished && !r.old_key_id.empty() && r.step == rotation::Step::kDone) {
          out.push_back({r.rotation_id, r.old_key_id, *r.finished});
        }
      }
    }
    token = page.next_token.empty() ? std::nullopt : std::optional<std::string>(page.next_token);
  } while (token);
  return out;
}

}  // namespace kw::audit
