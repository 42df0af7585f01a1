#include "notify/sender.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/stat.h>

#include <condition_variable>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "awsclient/test_fakes.hpp"
#include "common/error.hpp"
#include "notify/outbox.hpp"
#include "store/memory/memory_kv_store.hpp"

namespace kw::notify {
namespace {

using awsclient::testing::ScriptedTransport;
using awsclient::testing::SeededRandom;
using namespace std::chrono_literals;

// An HMAC computed straight with OpenSSL, independent of crypto::HmacSha256.
std::string ReferenceHmacHex(const std::string& key, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (unsigned int i = 0; i < len; ++i) {
    s += hex[out[i] >> 4];
    s += hex[out[i] & 15];
  }
  return s;
}

std::string Header(const awsclient::ClientRequest& r, std::string_view name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return "";
}

// A receiver whose answers wait until Open(): a hung one, for as long as a test likes.
// Counts requests under a lock so that a test thread can wait for them.
class GateTransport final : public awsclient::HttpTransport {
 public:
  explicit GateTransport(bool open) : open_(open) {}
  Result<awsclient::ClientResponse> Send(const awsclient::ClientRequest& request) override {
    std::unique_lock lock(mu_);
    bodies_.push_back(request.body);
    cv_.notify_all();
    cv_.wait(lock, [this] { return open_; });
    return awsclient::ClientResponse{200, {}, ""};
  }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  // Waits (bounded, so a broken sender fails the test instead of hanging it) until at
  // least n requests arrived; returns how many did.
  std::size_t WaitFor(std::size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(20), [&] { return bodies_.size() >= n; });
    return bodies_.size();
  }
  std::vector<std::string> Bodies() {
    std::lock_guard lock(mu_);
    return bodies_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_;
  std::vector<std::string> bodies_;
};

class SenderTest : public ::testing::Test {
 protected:
  SenderTest() : clock_(TimePoint(std::chrono::seconds(1'800'000'000))), random_(7) {}

  Webhook Hook(std::shared_ptr<awsclient::HttpTransport> t,
               WebhookFormat format = WebhookFormat::kJson, std::string secret = "s3cret",
               std::string url = "http://hooks.example/x") {
    Webhook w;
    w.url = std::move(url);
    w.format = format;
    w.id = WebhookId(w.url, format);
    w.secret = SecretBytes(std::move(secret));
    w.transport = std::move(t);
    return w;
  }
  void EnqueueFinding(std::string id = "f-0123456789abcdef") {
    audit::Observation o{"AccessKeyNeverUsed",
                         audit::Severity::kMedium,
                         "AKIAEXAMPLE",
                         "key never used",
                         {{"user", "alice"}}};
    Event e = FindingEvent(id, o, clock_.Now());
    ASSERT_TRUE(store_.Transact([&](store::Txn& txn) { return Enqueue(txn, e, clock_.Now()); }));
  }
  std::size_t Pending() { return store_.List(kOutboxTable, {}).value().size(); }

  store::MemoryKvStore store_;
  FakeClock clock_;
  SeededRandom random_;
};

TEST_F(SenderTest, SignsBodyAndTimestampWithHmac) {
  auto t = std::make_shared<ScriptedTransport>();
  t->Push(200, "");
  std::vector<Webhook> hooks;
  hooks.push_back(Hook(t));
  WebhookSender sender(store_, clock_, random_, std::move(hooks));
  EnqueueFinding();
  auto r = sender.RunOnce();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->delivered, 1);
  ASSERT_EQ(t->requests.size(), 1u);
  const auto& req = t->requests[0];
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(Header(req, "X-Keyward-Timestamp"), "1800000000");
  EXPECT_EQ(Header(req, "X-Keyward-Signature"),
            "sha256=" + ReferenceHmacHex("s3cret", "1800000000." + req.body));
  auto body = nlohmann::json::parse(req.body);
  EXPECT_EQ(body["type"], "finding");
  EXPECT_EQ(body["finding_type"], "AccessKeyNeverUsed");
  EXPECT_EQ(body["resource"], "AKIAEXAMPLE");
  EXPECT_EQ(body["evidence"]["user"], "alice");
  EXPECT_EQ(Pending(), 0u);
  EXPECT_TRUE(store_.Get(kDoneTable, store_.List(kDoneTable, {}).value().at(0).key).value());
  // Delivered once: another pass sends nothing, and the same event is not enqueued again.
  EnqueueFinding();
  EXPECT_EQ(Pending(), 0u);
  ASSERT_TRUE(sender.RunOnce());
  EXPECT_EQ(t->requests.size(), 1u);
}

TEST_F(SenderTest, RetriesAfter500AndTimeoutWithBackoff) {
  auto t = std::make_shared<ScriptedTransport>();
  t->Push(500, "boom");
  t->PushError(Unavailable("Timeout was reached"));
  t->Push(204, "");
  std::vector<Webhook> hooks;
  hooks.push_back(Hook(t));
  WebhookSender sender(store_, clock_, random_, std::move(hooks));
  EnqueueFinding();

  auto r = sender.RunOnce();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->failed, 1);
  ASSERT_TRUE(r->next_wake);
  // First retry: between half and all of the initial 1 s back-off.
  EXPECT_GE(*r->next_wake - clock_.Now(), 500ms);
  EXPECT_LE(*r->next_wake - clock_.Now(), 1000ms);
  // Not due yet: no request.
  ASSERT_TRUE(sender.RunOnce());
  EXPECT_EQ(t->requests.size(), 1u);

  clock_.Advance(1s);
  r = sender.RunOnce();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->failed, 1);
  EXPECT_EQ(t->requests.size(), 2u);
  // Second retry: the back-off doubled.
  EXPECT_GE(*r->next_wake - clock_.Now(), 1000ms);
  EXPECT_LE(*r->next_wake - clock_.Now(), 2000ms);
  EXPECT_EQ(Pending(), 1u);

  clock_.Advance(2s);
  r = sender.RunOnce();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->delivered, 1);
  EXPECT_EQ(t->requests.size(), 3u);
  EXPECT_EQ(t->requests[0].body, t->requests[2].body);
  EXPECT_EQ(Pending(), 0u);
}

TEST_F(SenderTest, GivesUpAfterTheBoundAndRecordsIt) {
  auto t = std::make_shared<ScriptedTransport>();
  for (int i = 0; i < 50; ++i) t->Push(503, "");
  std::vector<Webhook> hooks;
  hooks.push_back(Hook(t));
  SenderOptions options;
  options.give_up_after = Seconds(60);
  options.max_backoff = Seconds(8);
  WebhookSender sender(store_, clock_, random_, std::move(hooks), options);
  EnqueueFinding();
  int gave_up = 0;
  for (int i = 0; i < 40 && Pending() > 0; ++i) {
    auto r = sender.RunOnce();
    ASSERT_TRUE(r);
    gave_up += r->gave_up;
    clock_.Advance(8s);
  }
  EXPECT_EQ(gave_up, 1);
  EXPECT_EQ(Pending(), 0u);
  // Bounded: no more than 60 s of attempts at >= 0.5 s apart, and at least a few.
  EXPECT_GE(t->requests.size(), 4u);
  EXPECT_LE(t->requests.size(), 12u);
  auto done = store_.List(kDoneTable, {}).value();
  ASSERT_EQ(done.size(), 1u);
  auto j = nlohmann::json::parse(done[0].value);
  const auto& d = j["deliveries"].begin().value();
  EXPECT_EQ(d["state"], "gave_up");
  EXPECT_EQ(d["last_error"], "HTTP 503");
}

TEST_F(SenderTest, SlackFormatSendsText) {
  auto t = std::make_shared<ScriptedTransport>();
  t->Push(200, "ok");
  std::vector<Webhook> hooks;
  hooks.push_back(Hook(t, WebhookFormat::kSlack));
  WebhookSender sender(store_, clock_, random_, std::move(hooks));
  EnqueueFinding();
  ASSERT_TRUE(sender.RunOnce());
  ASSERT_EQ(t->requests.size(), 1u);
  auto body = nlohmann::json::parse(t->requests[0].body);
  ASSERT_EQ(body.size(), 1u);
  const std::string text = body["text"];
  EXPECT_NE(text.find("AccessKeyNeverUsed"), std::string::npos);
  EXPECT_NE(text.find("AKIAEXAMPLE"), std::string::npos);
}

TEST_F(SenderTest, EachWebhookGetsItsOwnDeliveryState) {
  auto ok = std::make_shared<ScriptedTransport>();
  auto bad = std::make_shared<ScriptedTransport>();
  ok->Push(200, "");
  bad->Push(500, "");
  bad->Push(200, "");
  std::vector<Webhook> hooks;
  hooks.push_back(Hook(ok));
  hooks.push_back(Hook(bad, WebhookFormat::kSlack));
  WebhookSender sender(store_, clock_, random_, std::move(hooks));
  EnqueueFinding();
  ASSERT_TRUE(sender.RunOnce());
  clock_.Advance(2s);
  ASSERT_TRUE(sender.RunOnce());
  EXPECT_EQ(ok->requests.size(), 1u);  // not sent twice while the other retried
  EXPECT_EQ(bad->requests.size(), 2u);
  EXPECT_EQ(Pending(), 0u);
}

// One receiver hangs on its first request; the other must still get every event at once,
// and the hung one must not be asked again while its attempt is in flight.
TEST_F(SenderTest, HangingReceiverDoesNotDelayAnother) {
  auto hung = std::make_shared<GateTransport>(false);
  auto healthy = std::make_shared<GateTransport>(true);
  std::vector<Webhook> hooks;
  hooks.push_back(Hook(hung, WebhookFormat::kJson, "s3cret", "http://hung.example/x"));
  hooks.push_back(Hook(healthy, WebhookFormat::kJson, "s3cret", "http://ok.example/x"));
  const std::string healthy_id = hooks[1].id;
  WebhookSender sender(store_, clock_, random_, std::move(hooks));
  EnqueueFinding("f-1");
  EnqueueFinding("f-2");
  EnqueueFinding("f-3");
  {
    Notifier notifier(sender, 5ms);
    // Declared after the notifier, so destroyed first: a failed assertion below opens the
    // gate before the notifier joins its threads, rather than hanging the test.
    struct OpenOnExit {
      GateTransport& gate;
      ~OpenOnExit() { gate.Open(); }
    } open_on_exit{*hung};
    // With sequential deliveries the healthy receiver would get nothing until the hung
    // attempt returned, which it never does before Open().
    ASSERT_EQ(healthy->WaitFor(3), 3u);
    EXPECT_EQ(hung->WaitFor(1), 1u);
    EXPECT_EQ(hung->Bodies().size(), 1u);
    // The healthy webhook's state is recorded per event (just after its answer, so wait
    // for the write); the events stay pending for the hung one.
    auto healthy_delivered = [&] {
      int n = 0;
      // A named copy: ranging over the temporary Result's value() would dangle.
      const auto items = store_.List(kOutboxTable, {}).value();
      for (const auto& item : items) {
        auto j = nlohmann::json::parse(item.value, nullptr, false);
        EXPECT_FALSE(j.is_discarded()) << item.key << ": " << item.value;
        if (j["deliveries"][healthy_id]["state"] == "delivered") ++n;
      }
      return n;
    };
    for (int i = 0; i < 2000 && healthy_delivered() < 3; ++i) std::this_thread::sleep_for(5ms);
    EXPECT_EQ(healthy_delivered(), 3);
    EXPECT_EQ(Pending(), 3u);
    EXPECT_EQ(hung->Bodies().size(), 1u);
    hung->Open();
    ASSERT_EQ(hung->WaitFor(3), 3u);
    for (int i = 0; i < 2000 && Pending() > 0; ++i) std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(Pending(), 0u);
  EXPECT_EQ(healthy->Bodies().size(), 3u);  // never resent
  EXPECT_EQ(hung->Bodies().size(), 3u);
  auto done = store_.List(kDoneTable, {}).value();
  ASSERT_EQ(done.size(), 3u);
  for (const auto& item : done) {
    auto j = nlohmann::json::parse(item.value);
    ASSERT_EQ(j["deliveries"].size(), 2u);
    for (const auto& [id, d] : j["deliveries"].items()) EXPECT_EQ(d["state"], "delivered") << id;
  }
}

// Per-webhook state is durable: a new sender (a restart) sends an event delivered to A
// but not to B only to B.
TEST_F(SenderTest, AfterRestartOnlyTheUndeliveredWebhookIsSent) {
  auto a1 = std::make_shared<ScriptedTransport>();
  auto b1 = std::make_shared<ScriptedTransport>();
  a1->Push(200, "");
  b1->Push(500, "");
  {
    std::vector<Webhook> hooks;
    hooks.push_back(Hook(a1, WebhookFormat::kJson, "s3cret", "http://a.example/x"));
    hooks.push_back(Hook(b1, WebhookFormat::kJson, "s3cret", "http://b.example/x"));
    WebhookSender sender(store_, clock_, random_, std::move(hooks));
    EnqueueFinding();
    ASSERT_TRUE(sender.RunOnce());
  }
  EXPECT_EQ(Pending(), 1u);
  auto a2 = std::make_shared<ScriptedTransport>();
  auto b2 = std::make_shared<ScriptedTransport>();
  a2->Push(200, "");
  b2->Push(200, "");
  std::vector<Webhook> hooks;
  hooks.push_back(Hook(a2, WebhookFormat::kJson, "s3cret", "http://a.example/x"));
  hooks.push_back(Hook(b2, WebhookFormat::kJson, "s3cret", "http://b.example/x"));
  WebhookSender sender(store_, clock_, random_, std::move(hooks));
  clock_.Advance(2s);
  auto r = sender.RunOnce();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->delivered, 1);
  EXPECT_EQ(a2->requests.size(), 0u);
  ASSERT_EQ(b2->requests.size(), 1u);
  EXPECT_EQ(b2->requests[0].body, b1->requests[0].body);
  EXPECT_EQ(Pending(), 0u);
}

// rotate --once: delivers what is due, retries a failing receiver with back-off until the
// deadline, then leaves its event in the outbox for the next run.
TEST_F(SenderTest, DeliverPendingStopsAtTheDeadlineAndLeavesTheRest) {
  auto ok = std::make_shared<ScriptedTransport>();
  auto failing = std::make_shared<ScriptedTransport>();
  ok->Push(200, "");
  ok->Push(200, "");
  for (int i = 0; i < 50; ++i) failing->Push(503, "");
  std::vector<Webhook> hooks;
  hooks.push_back(Hook(ok, WebhookFormat::kJson, "s3cret", "http://ok.example/x"));
  hooks.push_back(Hook(failing, WebhookFormat::kJson, "s3cret", "http://bad.example/x"));
  WebhookSender sender(store_, clock_, random_, std::move(hooks));
  EnqueueFinding("f-1");
  EnqueueFinding("f-2");
  const TimePoint start = clock_.Now();
  const TimePoint deadline = start + 10s;
  std::mutex sleep_mu;
  auto r = sender.DeliverPending(deadline, [&](std::chrono::milliseconds d) {
    std::lock_guard lock(sleep_mu);
    clock_.Advance(d);
  });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->attempts.delivered, 2);
  EXPECT_EQ(ok->requests.size(), 2u);
  // Back-off 1, 2, 4, ... s (each at least half): within 10 s, 2 to 5 attempts per event.
  EXPECT_GE(failing->requests.size(), 4u);
  EXPECT_LE(failing->requests.size(), 10u);
  EXPECT_EQ(r->attempts.failed, static_cast<int>(failing->requests.size()));
  EXPECT_EQ(r->left, 2u);
  EXPECT_EQ(Pending(), 2u);
  // No attempt was started after the deadline.
  for (const auto& req : failing->requests) {
    EXPECT_LE(
        std::stoll(Header(req, "X-Keyward-Timestamp")),
        std::chrono::duration_cast<std::chrono::seconds>(deadline.time_since_epoch()).count());
  }
  // Nothing pending at all: returns at once with nothing left.
  store::MemoryKvStore empty;
  WebhookSender idle(empty, clock_, random_, {});
  auto none = idle.DeliverPending(deadline, [](std::chrono::milliseconds) { FAIL(); });
  ASSERT_TRUE(none);
  EXPECT_EQ(none->left, 0u);
}

TEST(OutboxTest, RotationFailedPayloadHasNoKeyMaterial) {
  rotation::Rotation r;
  r.rotation_id = "rot-1";
  r.user_name = "alice";
  r.old_key_id = "AKIAOLD";
  r.new_key_id = "AKIANEW";
  r.new_version_id = "version-token-123";
  r.failure_reason = "issuer refused";
  Event e = RotationFailedEvent(r, TimePoint(std::chrono::seconds(1)));
  auto j = nlohmann::json::parse(e.body);
  EXPECT_EQ(j["type"], "rotation_failed");
  EXPECT_EQ(j["failure_reason"], "issuer refused");
  EXPECT_EQ(j["new_key_id"], "AKIANEW");
  for (const auto& [k, v] : j.items()) {
    std::string lower = k;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    EXPECT_EQ(lower.find("secret_access"), std::string::npos) << k;
    EXPECT_EQ(lower.find("secretstring"), std::string::npos) << k;
    EXPECT_EQ(lower.find("token"), std::string::npos) << k;
  }
  EXPECT_EQ(e.body.find("version-token-123"), std::string::npos);
}

TEST(WebhookFlagTest, ParsesOptionsAndRejectsUnknown) {
  auto c = ParseWebhookFlag("https://h.example/p,format=slack,secret-file=/tmp/s,timeout=3");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->url, "https://h.example/p");
  EXPECT_EQ(c->format, WebhookFormat::kSlack);
  EXPECT_EQ(c->secret_file, "/tmp/s");
  EXPECT_EQ(c->timeout, std::chrono::seconds(3));
  EXPECT_FALSE(ParseWebhookFlag("https://h.example/p,colour=red"));
  EXPECT_FALSE(ParseWebhookFlag("ftp://h.example/p"));
  EXPECT_FALSE(ParseWebhookFlag("http://h/,timeout=0"));
}

TEST(WebhookFlagTest, SecretFileMustBePrivate) {
  std::string path = ::testing::TempDir() + "/kw_notify_secret";
  { std::ofstream(path) << "topsecret\n"; }
  ::chmod(path.c_str(), 0644);
  auto open = ReadSecretFile(path);
  ASSERT_FALSE(open);
  EXPECT_EQ(open.error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(open.error().message.find("topsecret"), std::string::npos);
  ::chmod(path.c_str(), 0600);
  auto ok = ReadSecretFile(path);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->Reveal(), "topsecret");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace kw::notify
