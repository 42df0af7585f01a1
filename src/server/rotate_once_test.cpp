// `keyward rotate --once`'s loop over a real engine (memory store, fake clock) whose
// secret target is down or holds a secret in the wrong format, so the outcomes a timer
// sees (idle, waiting, failed) each come up without a full rotation.

#include "server/rotate_once.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "awsclient/test_fakes.hpp"
#include "common/time_format.hpp"
#include "crypto/csprng.hpp"
#include "notify/outbox.hpp"
#include "rotation/rotation_test_support.hpp"
#include "store/memory/memory_kv_store.hpp"

namespace kw::server {
namespace {

class RotateOnceTest : public ::testing::Test {
 protected:
  RotateOnceTest()
      : clock_(*ParseIso8601("2026-03-01T10:00:00Z")), engine_(store_, clock_, random_) {
    engine_.RegisterIssuer("builtin", issuer_);
    engine_.RegisterSecretTarget("builtin", target_);
  }
  void StartRotation() {
    rotation::RotationPolicy p;
    p.user_name = "app";
    p.secret_id = "app/creds";
    p.delivery.kind = "none";
    p.schedule_expression = "rate(30 days)";
    auto created = engine_.CreatePolicy(p);
    ASSERT_TRUE(created) << created.error().message;
    ASSERT_TRUE(engine_.RotateNow(created->policy_id));
  }
  Result<RotateOnceReport> Run(std::chrono::seconds wait) {
    RotateOnceOptions options;
    options.wait = wait;
    return RotateUntilIdle(engine_, clock_, options, [this](std::chrono::milliseconds d) {
      sleeps_.push_back(d);
      clock_.Advance(d);
    });
  }

  crypto::Csprng random_;
  FakeClock clock_;
  store::MemoryKvStore store_;
  rotation::test_support::InertIssuer issuer_;
  rotation::test_support::InertTarget target_;
  rotation::RotationEngine engine_;
  std::vector<std::chrono::milliseconds> sleeps_;
};

TEST_F(RotateOnceTest, NothingToDoIsIdle) {
  auto r = Run(std::chrono::seconds(0));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->exit_code, kRotateOnceIdle);
  EXPECT_EQ(r->ticks, 1);
  EXPECT_TRUE(r->in_progress.empty());
}

TEST_F(RotateOnceTest, ARotationThatMustRetryLaterIsReportedWaitingWithItsReason) {
  StartRotation();
  auto r = Run(std::chrono::seconds(0));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->exit_code, kRotateOnceWaiting);
  ASSERT_EQ(r->in_progress.size(), 1u);
  EXPECT_NE(r->in_progress[0].waiting_reason.find("secrets endpoint down"), std::string::npos);
  EXPECT_TRUE(sleeps_.empty());
  std::ostringstream out;
  PrintRotateOnceReport(*r, out);
  EXPECT_NE(out.str().find("waiting  "), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("1 in progress"), std::string::npos) << out.str();
}

TEST_F(RotateOnceTest, WaitKeepsRetryingUntilTheDeadlineWithPauses) {
  StartRotation();
  const TimePoint start = clock_.Now();
  auto r = Run(std::chrono::seconds(20));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->exit_code, kRotateOnceWaiting);
  // Back-off 1s, 2s, 4s, 8s fit in 20 seconds; 16s more does not.
  ASSERT_GE(sleeps_.size(), 3u);
  for (auto d : sleeps_) EXPECT_GE(d, std::chrono::milliseconds(1000));
  EXPECT_LE(clock_.Now() - start, std::chrono::seconds(20));
  EXPECT_GT(r->ticks, 3);
}

TEST_F(RotateOnceTest, ARotationThatFailsDuringTheRunIsFailed) {
  target_.current = R"({"username":"app","password":"p"})";
  StartRotation();
  auto r = Run(std::chrono::seconds(0));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->exit_code, kRotateOnceFailed);
  ASSERT_EQ(r->failed_now.size(), 1u);
  EXPECT_NE(r->failed_now[0].failure_reason.find("aws_access_key_id"), std::string::npos)
      << r->failed_now[0].failure_reason;
  EXPECT_TRUE(r->in_progress.empty());
}

// A run that fails a rotation delivers the signed rotation_failed event before it exits,
// retrying a failing receiver within the notify deadline, and leaves an event it could
// not deliver in the outbox.
TEST(RotateOnceNotifyTest, DeliversWhatTheRunEnqueuedAndLeavesTheRest) {
  crypto::Csprng random;
  FakeClock clock(*ParseIso8601("2026-03-01T10:00:00Z"));
  store::MemoryKvStore store;
  rotation::test_support::InertIssuer issuer;
  rotation::test_support::InertTarget target;
  target.current = R"({"username":"app","password":"p"})";
  rotation::EngineOptions engine_options;
  engine_options.on_failed = [&clock](store::Txn& txn, const rotation::Rotation& r) {
    return notify::Enqueue(txn, notify::RotationFailedEvent(r, clock.Now()), clock.Now());
  };
  rotation::RotationEngine engine(store, clock, random, engine_options);
  engine.RegisterIssuer("builtin", issuer);
  engine.RegisterSecretTarget("builtin", target);
  rotation::RotationPolicy p;
  p.user_name = "app";
  p.secret_id = "app/creds";
  p.delivery.kind = "none";
  p.schedule_expression = "rate(30 days)";
  auto created = engine.CreatePolicy(p);
  ASSERT_TRUE(created) << created.error().message;
  ASSERT_TRUE(engine.RotateNow(created->policy_id));
  auto sleep = [&clock](std::chrono::milliseconds d) { clock.Advance(d); };
  RotateOnceOptions options;
  auto report = RotateUntilIdle(engine, clock, options, sleep);
  ASSERT_TRUE(report) << report.error().message;
  ASSERT_EQ(report->exit_code, kRotateOnceFailed);

  auto receiver = std::make_shared<awsclient::testing::ScriptedTransport>();
  receiver->Push(502, "");
  receiver->Push(200, "");
  notify::Webhook hook;
  hook.url = "http://hooks.example/x";
  hook.id = notify::WebhookId(hook.url, notify::WebhookFormat::kJson);
  hook.secret = SecretBytes(std::string("s3cret"));
  hook.transport = receiver;
  std::vector<notify::Webhook> hooks;
  hooks.push_back(std::move(hook));
  notify::WebhookSender sender(store, clock, random, std::move(hooks));
  std::ostringstream out;
  auto drained = DeliverNotifications(sender, clock, options, sleep, out);
  ASSERT_TRUE(drained) << drained.error().message;
  ASSERT_EQ(receiver->requests.size(), 2u);  // the 502, then the retry
  auto body = nlohmann::json::parse(receiver->requests[1].body);
  EXPECT_EQ(body["type"], "rotation_failed");
  EXPECT_EQ(body["rotation_id"], report->failed_now.at(0).rotation_id);
  EXPECT_NE(out.str().find("notifications: 1 sent, 1 failed attempt(s), 0 given up, 0 left"),
            std::string::npos)
      << out.str();

  // A receiver that keeps failing: retried until the deadline, then left for the next run.
  ASSERT_TRUE(store.Transact([&](store::Txn& txn) {
    rotation::Rotation r = report->failed_now.at(0);
    r.rotation_id += "-again";
    return notify::Enqueue(txn, notify::RotationFailedEvent(r, clock.Now()), clock.Now());
  }));
  auto down = std::make_shared<awsclient::testing::ScriptedTransport>();
  notify::Webhook down_hook;
  down_hook.url = "http://hooks.example/x";
  down_hook.id = notify::WebhookId(down_hook.url, notify::WebhookFormat::kJson);
  down_hook.transport = down;
  std::vector<notify::Webhook> down_hooks;
  down_hooks.push_back(std::move(down_hook));
  notify::WebhookSender down_sender(store, clock, random, std::move(down_hooks));
  options.notify_timeout = std::chrono::seconds(5);
  const TimePoint start = clock.Now();
  std::ostringstream out2;
  drained = DeliverNotifications(down_sender, clock, options, sleep, out2);
  ASSERT_TRUE(drained);
  EXPECT_GE(down->requests.size(), 2u);
  EXPECT_LE(clock.Now() - start, std::chrono::seconds(5));
  EXPECT_EQ(drained->left, 1u);
  EXPECT_NE(out2.str().find("0 sent"), std::string::npos) << out2.str();
  EXPECT_NE(out2.str().find("1 left in the outbox"), std::string::npos) << out2.str();
}

}  // namespace
}  // namespace kw::server
