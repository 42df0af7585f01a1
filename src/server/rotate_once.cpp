#include "server/rotate_once.hpp"

#include <algorithm>
#include <ostream>
#include <set>

#include "common/time_format.hpp"

namespace kw::server {
namespace {

constexpr int kMaxTicks = 1000;
constexpr std::chrono::milliseconds kMinPause{1000};

// Every rotation of every policy that is still in progress, and the IDs of those that
// were, for telling which of them failed.
Result<std::vector<rotation::Rotation>> InProgress(rotation::RotationEngine& engine) {
  std::vector<rotation::Rotation> out;
  std::optional<std::string> token;
  do {
    KW_ASSIGN_OR_RETURN(rotation::PolicyPage page, engine.ListPolicies(token));
    for (const auto& p : page.policies) {
      if (p.active_rotation_id.empty()) continue;
      KW_ASSIGN_OR_RETURN(rotation::Rotation r, engine.GetRotation(p.active_rotation_id));
      out.push_back(std::move(r));
    }
    token = page.next_token.empty() ? std::nullopt : std::optional<std::string>(page.next_token);
  } while (token);
  return out;
}

}  // namespace

Result<RotateOnceReport> RotateUntilIdle(
    rotation::RotationEngine& engine, const Clock& clock, const RotateOnceOptions& options,
    const std::function<void(std::chrono::milliseconds)>& sleep) {
  RotateOnceReport report;
  const TimePoint deadline = clock.Now() + options.wait;
  // Rotations seen in progress at any point, to find the ones that ended failed.
  std::set<std::string> seen;
  KW_ASSIGN_OR_RETURN(auto before, InProgress(engine));
  for (const auto& r : before) seen.insert(r.rotation_id);
  while (report.ticks < kMaxTicks) {
    const TimePoint now = clock.Now();
    KW_ASSIGN_OR_RETURN(rotation::TickReport t, engine.Tick(now));
    report.ticks++;
    report.started += t.started;
    report.advanced += t.advanced;
    report.completed += t.completed;
    report.failed += t.failed;
    KW_ASSIGN_OR_RETURN(auto active, InProgress(engine));
    for (const auto& r : active) seen.insert(r.rotation_id);
    if (t.started > 0 || t.advanced > 0) continue;
    if (!t.next_wake || *t.next_wake > deadline) break;
    // A rotation that polls (SSM invocations still running) wakes at once; pause between
    // polls rather than asking the endpoint as fast as it answers.
    const auto pause = std::max<std::chrono::milliseconds>(
        std::chrono::duration_cast<std::chrono::milliseconds>(*t.next_wake - now), kMinPause);
    if (now + pause > deadline) break;
    sleep(pause);
  }
  KW_ASSIGN_OR_RETURN(report.in_progress, InProgress(engine));
  std::set<std::string> still;
  for (const auto& r : report.in_progress) still.insert(r.rotation_id);
  for (const auto& id : seen) {
    if (still.contains(id)) continue;
    KW_ASSIGN_OR_RETURN(rotation::Rotation r, engine.GetRotation(id));
    if (r.step == rotation::Step::kFailed) report.failed_now.push_back(std::move(r));
  }
  // A rotation can also start and fail within the run without being listed between
  // Ticks; the Tick counts catch it.
  if (report.failed > 0 || !report.failed_now.empty()) {
    report.exit_code = kRotateOnceFailed;
  } else if (!report.in_progress.empty()) {
    report.exit_code = kRotateOnceWaiting;
  }
  return report;
}

void PrintRotateOnceReport(const RotateOnceReport& report, std::ostream& out) {
  for (const auto& r : report.failed_now) {
    out << "failed   " << r.rotation_id << "  secret " << r.secret_id << "  user " << r.user_name
        << ": " << r.failure_reason << '\n';
  }
  for (const auto& r : report.in_progress) {
    out << "waiting  " << r.rotation_id << "  secret " << r.secret_id << "  user " << r.user_name
        << "  step " << rotation::StepName(r.step);
    if (!r.waiting_reason.empty()) out << ": " << r.waiting_reason;
    if (r.next_attempt_at) out << " (next attempt " << FormatIso8601(*r.next_attempt_at) << ")";
    out << '\n';
  }
  out << "keyward rotate --once: " << report.ticks << " tick(s), " << report.started << " started, "
      << report.completed << " completed, " << report.failed << " failed, "
      << report.in_progress.size() << " in progress\n";
}

Result<notify::DrainReport> DeliverNotifications(
    notify::WebhookSender& sender, const Clock& clock, const RotateOnceOptions& options,
    const std::function<void(std::chrono::milliseconds)>& sleep, std::ostream& out) {
  Result<notify::DrainReport> r =
      sender.DeliverPending(clock.Now() + options.notify_timeout, sleep);
  if (!r) {
    out << "keyward rotate --once: notifications not sent: " << r.error().message << '\n';
    return r;
  }
  out << "keyward rotate --once: notifications: " << r->attempts.delivered << " sent, "
      << r->attempts.failed << " failed attempt(s), " << r->attempts.gave_up << " given up, "
      << r->left << " left in the outbox\n";
  return r;
}

}  // namespace kw::server
