#pragma once

// `keyward rotate --once`: the rotation engine of a data directory run until no
// rotation can advance further now, for a systemd timer, cron or a scheduled container
// (the long-running server's Scheduler does the same on a cadence). The engine is
// composed exactly as the server composes it (server_app.cpp, RunRotateOnce); this
// file holds the loop and its report so they can be tested over any engine.

#include <chrono>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/result.hpp"
#include "notify/sender.hpp"
#include "rotation/rotation_engine.hpp"

namespace kw::server {

struct RotateOnceOptions {
  // Keep ticking while a rotation wants to be looked at again within this long (a host
  // acknowledgement being polled, a short back-off); 0: stop at the first Tick that
  // changes nothing. Quiet and grace periods (hours) are left to the next run.
  std::chrono::seconds wait{0};
  // After the rotations, webhook deliveries (what this run enqueued and anything pending
  // from before) are attempted and retried until this long has passed; what is still
  // undelivered stays in the outbox for the next run or the server. It also caps each
  // attempt's timeout, so a receiver that hangs cannot hold the run much longer.
  std::chrono::seconds notify_timeout{30};
};

// Exit codes of `keyward rotate --once`.
inline constexpr int kRotateOnceIdle = 0;     // nothing in progress
inline constexpr int kRotateOnceWaiting = 3;  // rotations left in progress (waiting)
inline constexpr int kRotateOnceFailed = 4;   // a rotation failed during this run

struct RotateOnceReport {
  int ticks = 0;
  int started = 0, advanced = 0, completed = 0, failed = 0;
  std::vector<rotation::Rotation> in_progress;  // after the last Tick
  std::vector<rotation::Rotation> failed_now;   // rotations that failed during this run
  int exit_code = kRotateOnceIdle;
};

// Ticks `engine` at clock.Now() until a Tick starts and advances nothing and no
// rotation wakes within options.wait (sleeping with `sleep` until it does), then lists
// what is left. At most 1,000 Ticks. Errors: a Tick's (store failures).
Result<RotateOnceReport> RotateUntilIdle(
    rotation::RotationEngine& engine, const Clock& clock, const RotateOnceOptions& options,
    const std::function<void(std::chrono::milliseconds)>& sleep);

// One line per rotation left or failed, and a summary; never a secret.
void PrintRotateOnceReport(const RotateOnceReport& report, std::ostream& out);

// Delivers the outbox with `sender` until options.notify_timeout from now (sleeping with
// `sleep` between retries) and prints one line: deliveries sent, failed attempts, events
// left in the outbox. A store error is printed and returned; the rotations' outcome
// stands either way.
Result<notify::DrainReport> DeliverNotifications(
    notify::WebhookSender& sender, const Clock& clock, const RotateOnceOptions& options,
    const std::function<void(std::chrono::milliseconds)>& sleep, std::ostream& out);

}  // namespace kw::server
