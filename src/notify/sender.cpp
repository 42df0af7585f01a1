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

Result<PassReport> WebhookSender::RunOnce() {
  PassReport report;
  if (webhooks_.empty()) return report;
  KW_ASSIGN_OR_RETURN(auto items, store_.List(kOutboxTable, {"", "", options_.batch}));
  for (store::Item& item : items) {
    nlohmann::json ev = nlohmann::json::parse(item.value, nullptr, false);
    if (ev.is_discarded() || !ev.contains("body") || !ev.contains("deliveries")) {
      spdlog::error("notify: dropping unreadable outbox entry {}", item.key);
      KW_RETURN_IF_ERROR(
          store_.Transact([&](store::Txn& txn) { return txn.Delete(kOutboxTable, item.key); }));
      continue;
    }
    const std::int64_t created = ev.value("created_ms", std::int64_t{0});
    bool changed = false;
    bool all_done = true;
    nlohmann::json& deliveries = ev["deliveries"];
    for (const Webhook& w : webhooks_) {
      nlohmann::json& d = deliveries[w.id];
      if (d.is_null()) d = {{"url", w.url}, {"attempts", 0}, {"next_ms", 0}, {"state", "pending"}};
      if (d["state"] != "pending") continue;
      const std::int64_t now = Millis(clock_.Now());
      if (d["next_ms"].get<std::int64_t>() > now) {
        all_done = false;
        TimePoint at = FromMillis(d["next_ms"].get<std::int64_t>());
        if (!report.next_wake || at < *report.next_wake) report.next_wake = at;
        continue;
      }
      std::string error = Attempt(w, ev, now);
      changed = true;
      const int attempts = d["attempts"].get<int>() + 1;
      d["attempts"] = attempts;
      const std::int64_t after = Millis(clock_.Now());
      if (error.empty()) {
        d["state"] = "delivered";
        d["delivered_ms"] = after;
        ++report.delivered;
        continue;
      }
      ++report.failed;
      d["last_error"] = error;
      const std::int64_t next = after + BackoffMillis(attempts);
      if (next - created >
          std::chrono::duration_cast<std::chrono::milliseconds>(options_.give_up_after).count()) {
        d["state"] = "gave_up";
        ++report.gave_up;
        spdlog::error("notify: gave up on event {} for webhook {} after {} attempts: {}", item.key,
                      w.url, attempts, error);
        continue;
      }
      spdlog::warn("notify: event {} to webhook {} failed (attempt {}): {}; retrying", item.key,
                   w.url, attempts, error);
      d["next_ms"] = next;
      all_done = false;
      TimePoint at = FromMillis(next);
      if (!report.next_wake || at < *report.next_wake) report.next_wake = at;
    }
    if (!changed && !all_done) continue;
    // Only this thread rewrites outbox entries and Enqueue never replaces one, so the
    // revision check only guards against a second sender on the same store.
    KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
      if (all_done) {
        nlohmann::json done = {
            {"type", ev["type"]}, {"created_ms", created}, {"deliveries", deliveries}};
        KW_RETURN_IF_ERROR(txn.Put(kDoneTable, item.key, done.dump()));
        return txn.Delete(kOutboxTable, item.key);
      }
      KW_RETURN_IF_ERROR(txn.CompareAndPut(kOutboxTable, item.key, ev.dump(), item.revision));
      return OkStatus();
    }));
  }
  return report;
}

Notifier::Notifier(WebhookSender& sender, std::chrono::milliseconds interval)
    : sender_(sender), interval_(interval), thread_([this] { Loop(); }) {}

Notifier::~Notifier() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Notifier::Loop() {
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, interval_, [this] { return stop_; })) {
    lock.unlock();
    if (auto r = sender_.RunOnce(); !r) {
      spdlog::warn("notify: could not read the outbox: {}", r.error().message);
    }
    lock.lock();
  }
}

}  // namespace kw::notify
