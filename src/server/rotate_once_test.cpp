// `keyward rotate --once`'s loop over a real engine (memory store, fake clock) whose
// secret target is down or holds a secret in the wrong format, so the outcomes a timer
// sees (idle, waiting, failed) each come up without a full rotation.

#include "server/rotate_once.hpp"

#include <gtest/gtest.h>

#include <sstream>

#include "common/time_format.hpp"
#include "crypto/csprng.hpp"
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

}  // namespace
}  // namespace kw::server
