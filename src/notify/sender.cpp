#include "notify/sender.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "notify/outbox.hpp"

namespace kw::notify {

namespace {

std::int64_t Millis(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
TimePoint FromMillis(std::int64_t ms) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::milliseconds(ms)));
}

// Attempts one delivery; an empty string on a 2xx, else what went wrong (no secret:
// the status, or the transport's message, which names the URL at most).
std::string Attempt(const Webhook& w, const nlohmann::json& event, std::int64_t now_ms) {
  awsclient::ClientRequest req;
  req.method = "POST";
  req.url = w.url;
  if (w.format == WebhookFormat::kSlack) {
    req.body = nlohmann::json{{"text", event.at("text").get<std::string>()}}.dump();
  } else {
    req.body = event.at("body").get<std::string>();
  }
  // Seconds since the epoch, as Slack and Stripe do; signed with the body.
  std::string timestamp = std::to_string(now_ms / 1000);
  req.headers.emplace_back("Content-Type", "application/json");
  req.headers.emplace_back("User-Agent", "keyward-webhook/1");
  req.headers.emplace_back("X-Keyward-Event", event.at("type").get<std::string>());
  req.headers.emplace_back("X-Keyward-Timestamp", timestamp);
  if (!w.secret.empty()) {
    req.headers.emplace_back("X-Keyward-Signature", Signature(w.secret, timestamp, req.body));
  }
  Result<awsclient::ClientResponse> resp = w.transport->Send(req);
  if (!resp) return "no response: " + resp.error().message;
  if (resp->status >= 200 && resp->status < 300) return {};
  return "HTTP " + std::to_string(resp->status);
}

}  // namespace

WebhookSender::WebhookSender(store::KvStore& store, const Clock& clock, Random& random,
                             std::vector<Webhook> webhooks, SenderOptions options)
    : store_(store),
      clock_(clock),
      random_(random),
      webhooks_(std::move(webhooks)),
      options_(options) {}

std::int64_t WebhookSender::BackoffMillis(int attempts) {
  std::int64_t cap =
      std::chrono::duration_cast<std::chrono::milliseconds>(options_.max_backoff).count();
  std::int64_t d =
      std::chrono::duration_cast<std::chrono::milliseconds>(options_.initial_backoff).count();
  for (int i = 1; i < attempts && d < cap; ++i) d *= 2;
  d = std::max<std::int64_t>(1, std::min(d, cap));
  // "Equal jitter": never sooner than half the delay, so a failing receiver is not
  // hammered, and spread so that many events do not retry in lockstep.
  std::int64_t half = d / 2;
  return half +
         static_cast<std::int64_t>(random_.Uniform(static_cast<std::uint64_t>(d - half) + 1));
}

void PassReport::Add(const PassReport& other) {
  delivered += other.delivered;
  failed += other.failed;
  gave_up += other.gave_up;
  if (other.next_wake && (!next_wake || *other.next_wake < *next_wake)) {
    next_wake = other.next_wake;
  }
}

Result<PassReport> WebhookSender::RunWebhookOnce(std::size_t index) {
  PassReport report;
  if (index >= webhooks_.size()) return report;
  const Webhook& w = webhooks_[index];
  const std::int64_t give_up_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(options_.give_up_after).count();
  auto wake_at = [&report](std::int64_t ms) {
    TimePoint at = FromMillis(ms);
    if (!report.next_wake || at < *report.next_wake) report.next_wake = at;
  };
  std::string start_after;
  while (true) {
    KW_ASSIGN_OR_RETURN(auto items, store_.List(kOutboxTable, {"", start_after, options_.batch}));
    if (items.empty()) break;
    start_after = items.back().key;
    for (store::Item& item : items) {
      nlohmann::json ev = nlohmann::json::parse(item.value, nullptr, false);
      if (ev.is_discarded() || !ev.contains("body") || !ev.contains("deliveries")) {
        spdlog::error("notify: dropping unreadable outbox entry {}", item.key);
        KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
          Status s = txn.Delete(kOutboxTable, item.key);
          // Another webhook's worker may have dropped it first.
          if (!s && s.error().code == ErrorCode::kNotFound) return OkStatus();
          return s;
        }));
        continue;
      }
      const std::int64_t created = ev.value("created_ms", std::int64_t{0});
      nlohmann::json d = ev["deliveries"].value(w.id, nlohmann::json());
      if (d.is_null()) {
        d = {{"url", w.url}, {"attempts", 0}, {"next_ms", 0}, {"state", "pending"}};
      }
      if (d["state"] != "pending") continue;
      const std::int64_t now = Millis(clock_.Now());
      if (d["next_ms"].get<std::int64_t>() > now) {
        wake_at(d["next_ms"].get<std::int64_t>());
        continue;
      }
      std::string error = Attempt(w, ev, now);
      const int attempts = d["attempts"].get<int>() + 1;
      d["attempts"] = attempts;
      const std::int64_t after = Millis(clock_.Now());
      if (error.empty()) {
        d["state"] = "delivered";
        d["delivered_ms"] = after;
        ++report.delivered;
      } else {
        ++report.failed;
        d["last_error"] = error;
        const std::int64_t next = after + BackoffMillis(attempts);
        if (next - created > give_up_ms) {
          d["state"] = "gave_up";
          ++report.gave_up;
          spdlog::error("notify: gave up on event {} for webhook {} after {} attempts: {}",
                        item.key, w.url, attempts, error);
        } else {
          spdlog::warn("notify: event {} to webhook {} failed (attempt {}): {}; retrying", item.key,
                       w.url, attempts, error);
          d["next_ms"] = next;
          wake_at(next);
        }
      }
      // Re-read the entry inside the transaction and change only this webhook's state:
      // the other webhooks' workers write theirs concurrently. The last webhook to finish
      // moves the event to the done table.
      KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
        KW_ASSIGN_OR_RETURN(auto current, txn.Get(kOutboxTable, item.key));
        if (!current) return OkStatus();  // done already (a second sender on the store)
        nlohmann::json cur = nlohmann::json::parse(current->value, nullptr, false);
        if (cur.is_discarded() || !cur.contains("deliveries")) return OkStatus();
        nlohmann::json& deliveries = cur["deliveries"];
        deliveries[w.id] = d;
        bool all_done = true;
        for (const Webhook& other : webhooks_) {
          const nlohmann::json o = deliveries.value(other.id, nlohmann::json());
          if (o.is_null() || o.value("state", "pending") == "pending") all_done = false;
        }
        if (!all_done) {
          KW_RETURN_IF_ERROR(txn.Put(kOutboxTable, item.key, cur.dump()));
          return OkStatus();
        }
        nlohmann::json done = {
            {"type", cur["type"]}, {"created_ms", created}, {"deliveries", deliveries}};
        KW_RETURN_IF_ERROR(txn.Put(kDoneTable, item.key, done.dump()));
        return txn.Delete(kOutboxTable, item.key);
      }));
    }
    if (items.size() < options_.batch) break;
  }
  return report;
}

Result<PassReport> WebhookSender::RunOnce() {
  PassReport report;
  for (std::size_t i = 0; i < webhooks_.size(); ++i) {
    KW_ASSIGN_OR_RETURN(PassReport r, RunWebhookOnce(i));
    report.Add(r);
  }
  return report;
}

Result<DrainReport> WebhookSender::DeliverPending(
    TimePoint deadline, const std::function<void(std::chrono::milliseconds)>& sleep) {
  DrainReport report;
  std::mutex mu;
  std::optional<Error> first_error;  // guarded by mu
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < webhooks_.size(); ++i) {
    threads.emplace_back([&, i] {
      while (true) {
        Result<PassReport> r = RunWebhookOnce(i);
        std::unique_lock lock(mu);
        if (!r) {
          if (!first_error) first_error = r.error();
          return;
        }
        report.attempts.delivered += r->delivered;
        report.attempts.failed += r->failed;
        report.attempts.gave_up += r->gave_up;
        // Nothing pending for this webhook, or its next retry is past the deadline.
        if (!r->next_wake || *r->next_wake > deadline) return;
        const auto pause = std::max<std::chrono::milliseconds>(
            std::chrono::milliseconds(1),
            std::chrono::duration_cast<std::chrono::milliseconds>(*r->next_wake - clock_.Now()));
        lock.unlock();
        sleep(pause);
      }
    });
  }
  for (auto& t : threads) t.join();
  if (first_error) return *first_error;
  KW_ASSIGN_OR_RETURN(auto left, store_.List(kOutboxTable, {}));
  report.left = left.size();
  return report;
}

Notifier::Notifier(WebhookSender& sender, std::chrono::milliseconds interval)
    : sender_(sender), interval_(interval) {
  for (std::size_t i = 0; i < sender_.webhook_count(); ++i) {
    threads_.emplace_back([this, i] { Loop(i); });
  }
}

Notifier::~Notifier() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void Notifier::Loop(std::size_t index) {
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, interval_, [this] { return stop_; })) {
    lock.unlock();
    if (auto r = sender_.RunWebhookOnce(index); !r) {
      spdlog::warn("notify: could not read the outbox: {}", r.error().message);
    }
    lock.lock();
  }
}

}  // namespace kw::notify
