#include "audit/event_log_source.hpp"

namespace kw::audit {

AuditEvent ToAuditEvent(const events::EventSummary& s) {
  return AuditEvent{s.time,        s.event_name, s.access_key_id, s.user_arn,
                    s.instance_id, s.source_ip,  s.error_code,    s.key_inactive};
}

Status EventLogSource::Scan(std::optional<TimePoint> start, std::optional<TimePoint> end,
                            const std::function<bool(const AuditEvent&)>& fn) const {
  return log_.Scan(start, end,
                   [&](const events::StoredEvent& e) { return fn(ToAuditEvent(e.summary)); });
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
