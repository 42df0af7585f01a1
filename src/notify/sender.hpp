#pragma once

// Delivers the outbox's events to every configured webhook: POST with the event (or a
// Slack `{"text": ...}`), signed (webhook.hpp), retried with exponential back-off and
// jitter after any non-2xx answer, a timeout or no answer (a 4xx too: the event is kept
// rather than lost while an operator fixes the receiver; each failure is logged); given
// up, and recorded in "notify_done" with the last error, once the next retry would fall
// later than give_up_after from the event's creation. Deliveries are sequential, so a
// receiver that hangs delays the others by at most its per-attempt timeout.

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "common/clock.hpp"
#include "common/random.hpp"
#include "common/result.hpp"
#include "notify/webhook.hpp"
#include "store/kv_store.hpp"

namespace kw::notify {

struct SenderOptions {
  Seconds initial_backoff{1};
  Seconds max_backoff{300};
  // Measured from the event's creation.
  Seconds give_up_after{24 * 3600};
  // Events looked at per pass.
  std::size_t batch = 100;
};

struct PassReport {
  int delivered = 0;                   // (event, webhook) deliveries that got a 2xx
  int failed = 0;                      // attempts that did not
  int gave_up = 0;                     // (event, webhook) deliveries abandoned
  std::optional<TimePoint> next_wake;  // earliest pending retry
};

// Not thread-safe: one thread runs passes (the Notifier's, or a test's).
class WebhookSender {
 public:
  // References must outlive the sender.
  WebhookSender(store::KvStore& store, const Clock& clock, Random& random,
                std::vector<Webhook> webhooks, SenderOptions options = {});

  // Attempts every due delivery once.
  Result<PassReport> RunOnce();

  // The delay before retry number `attempts` (1: after the first failure): initial *
  // 2^(attempts-1), capped at max_backoff, then a uniform random point in its upper half.
  std::int64_t BackoffMillis(int attempts);

 private:
  store::KvStore& store_;
  const Clock& clock_;
  Random& random_;
  std::vector<Webhook> webhooks_;
  SenderOptions options_;
};

// Runs a sender's passes on a thread of its own until destroyed: every `interval`, or
// sooner when a retry is due. Thread-safe.
class Notifier {
 public:
  Notifier(WebhookSender& sender, std::chrono::milliseconds interval);
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

 private:
  void Loop();
  WebhookSender& sender_;
  std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace kw::notify
