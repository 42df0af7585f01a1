#pragma once

// Delivers the outbox's events to every configured webhook: POST with the event (or a
// Slack `{"text": ...}`), signed (webhook.hpp), retried with exponential back-off and
// jitter after any non-2xx answer, a timeout or no answer (a 4xx too: the event is kept
// rather than lost while an operator fixes the receiver; each failure is logged); given
// up, and recorded in "notify_done" with the last error, once the next retry would fall
// later than give_up_after from the event's creation.
//
// Webhooks are independent: each has its own delivery state inside the outbox entry
// (`deliveries[webhook id]`, written in its own transaction that re-reads the entry, so
// two webhooks' workers never overwrite each other's state) and, in the Notifier and in
// DeliverPending, a thread of its own. A receiver that hangs or keeps failing delays only
// its own deliveries. An event moves to "notify_done" when the last configured webhook
// delivered or gave up. Because the state is per webhook and durable, after a restart an
// event already delivered to A but not to B goes only to B.

#include <chrono>
#include <condition_variable>
#include <functional>
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
  // Outbox entries read per store call (a pass pages through the whole outbox).
  std::size_t batch = 100;
};

struct PassReport {
  int delivered = 0;                   // (event, webhook) deliveries that got a 2xx
  int failed = 0;                      // attempts that did not
  int gave_up = 0;                     // (event, webhook) deliveries abandoned
  std::optional<TimePoint> next_wake;  // earliest pending retry

  void Add(const PassReport& other);
};

// What DeliverPending did, and what it left for the next run.
struct DrainReport {
  PassReport attempts;   // summed over every pass of every webhook
  std::size_t left = 0;  // events still in the outbox afterwards
};

// Thread-safe for passes over distinct webhooks: RunWebhookOnce(i) and
// RunWebhookOnce(j), i != j, may run at the same time (that is how webhooks stay
// independent); two passes over the same webhook at once must not (they would send
// twice). RunOnce and DeliverPending run passes themselves, so call them alone.
class WebhookSender {
 public:
  // References must outlive the sender.
  WebhookSender(store::KvStore& store, const Clock& clock, Random& random,
                std::vector<Webhook> webhooks, SenderOptions options = {});

  std::size_t webhook_count() const { return webhooks_.size(); }

  // Attempts every due delivery to webhook number `index` once.
  Result<PassReport> RunWebhookOnce(std::size_t index);

  // Attempts every due delivery once, webhook after webhook on the calling thread
  // (deterministic, for tests; the Notifier runs each webhook on its own thread).
  Result<PassReport> RunOnce();

  // For `keyward rotate --once`: delivers on one thread per webhook until nothing is
  // due before `deadline` (retries that fall later stay in the outbox for the next run
  // or the server), sleeping with `sleep` between retries. An attempt in flight at the
  // deadline finishes first, so the per-attempt timeout bounds the overrun. Errors: the
  // store's.
  Result<DrainReport> DeliverPending(TimePoint deadline,
                                     const std::function<void(std::chrono::milliseconds)>& sleep);

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

// Runs a sender's passes until destroyed, one thread per webhook: each webhook's thread
// runs a pass every `interval` (so a retry is late by at most that). Thread-safe.
class Notifier {
 public:
  Notifier(WebhookSender& sender, std::chrono::milliseconds interval);
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

 private:
  void Loop(std::size_t index);
  WebhookSender& sender_;
  std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace kw::notify
