#include "notify/outbox.hpp"

#include <nlohmann/json.hpp>

#include "common/time_format.hpp"

namespace kw::notify {

namespace {
std::int64_t Millis(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
}  // namespace

Event FindingEvent(std::string_view finding_id, const audit::Observation& o, TimePoint now) {
  nlohmann::json j = {{"type", "finding"},      {"finding_id", finding_id},
                      {"finding_type", o.type}, {"severity", audit::SeverityName(o.severity)},
                      {"resource", o.resource}, {"summary", o.summary},
                      {"evidence", o.evidence}, {"time", FormatIso8601(now)}};
  Event e;
  e.event_id = "finding-" + std::string(finding_id) + "-" + std::to_string(Millis(now));
  e.type = "finding";
  e.text = "keyward finding [" + std::string(audit::SeverityName(o.severity)) + "] " + o.type +
           " on " + o.resource + ": " + o.summary;
  e.body = j.dump();
  return e;
}

Event RotationFailedEvent(const rotation::Rotation& r, TimePoint now) {
  nlohmann::json j = {{"type", "rotation_failed"},  {"rotation_id", r.rotation_id},
                      {"policy_id", r.policy_id},   {"user_name", r.user_name},
                      {"secret_id", r.secret_id},   {"issuer", r.issuer},
                      {"trigger", r.trigger},       {"old_key_id", r.old_key_id},
                      {"new_key_id", r.new_key_id}, {"failure_reason", r.failure_reason},
                      {"time", FormatIso8601(now)}};
  Event e;
  e.event_id = "rotation-failed-" + r.rotation_id;
  e.type = "rotation_failed";
  e.text = "keyward rotation " + r.rotation_id + " of user " + r.user_name +
           " failed: " + r.failure_reason;
  e.body = j.dump();
  return e;
}

Status Enqueue(store::Txn& txn, const Event& event, TimePoint now) {
  KW_ASSIGN_OR_RETURN(auto done, txn.Get(kDoneTable, event.event_id));
  if (done) return OkStatus();
  KW_ASSIGN_OR_RETURN(auto pending, txn.Get(kOutboxTable, event.event_id));
  if (pending) return OkStatus();
  nlohmann::json j = {{"type", event.type},
                      {"text", event.text},
                      {"body", event.body},
                      {"created_ms", Millis(now)},
                      {"deliveries", nlohmann::json::object()}};
  KW_RETURN_IF_ERROR(txn.Put(kOutboxTable, event.event_id, j.dump()));
  return OkStatus();
}

}  // namespace kw::notify
