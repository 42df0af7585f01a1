// The composition root's rotation glue: the Secrets Manager link over a real engine
// (memory store, fake clock, inert issuer and secret target: no rotation step runs) and
// the observer that feeds the grace-period signal.

#include "server/rotation_links.hpp"

#include <gtest/gtest.h>

#include "common/time_format.hpp"
#include "crypto/csprng.hpp"
#include "rotation/rotation_test_support.hpp"
#include "store/memory/memory_kv_store.hpp"

namespace kw::server {
namespace {

class EngineSecretRotationLinkTest : public ::testing::Test {
 protected:
  EngineSecretRotationLinkTest()
      : clock_(*ParseIso8601("2026-03-01T10:00:00Z")), engine_(store_, clock_, random_) {
    engine_.RegisterIssuer("builtin", issuer_);
    engine_.RegisterSecretTarget("builtin", target_);
  }
  rotation::RotationPolicy MustPolicy(std::string secret_id) {
    rotation::RotationPolicy p;
    p.user_name = "app";
    p.secret_id = std::move(secret_id);
    p.delivery.kind = "none";
    p.schedule_expression = "rate(30 days)";
    auto created = engine_.CreatePolicy(p);
    EXPECT_TRUE(created.has_value()) << (created ? "" : created.error().message);
    return created ? *created : rotation::RotationPolicy{};
  }

  crypto::Csprng random_;
  FakeClock clock_;
  store::MemoryKvStore store_;
  rotation::test_support::InertIssuer issuer_;  // policies validate; no test Ticks
  rotation::test_support::InertTarget target_;
  rotation::RotationEngine engine_;
};

TEST_F(EngineSecretRotationLinkTest, FindsThePolicyByNameOrArnAndStartsItsRotation) {
  const auto by_name = MustPolicy("app/creds");
  const std::string arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:other-AbCdEf";
  MustPolicy(arn);
  EngineSecretRotationLink link(engine_);

  auto state = link.Find("app/creds", "arn:...:secret:app/creds-xyz");
  ASSERT_TRUE(state.has_value());
  ASSERT_TRUE(state->has_value());
  EXPECT_EQ((*state)->next_rotation, by_name.next_rotation);
  EXPECT_FALSE((*state)->last_rotated.has_value());
  auto by_arn = link.Find("other", arn);
  ASSERT_TRUE(by_arn.has_value());
  EXPECT_TRUE(by_arn->has_value());
  auto none = link.Find("uncovered", "arn:...:secret:uncovered-123456");
  ASSERT_TRUE(none.has_value());
  EXPECT_FALSE(none->has_value());

  auto started = link.RotateNow("app/creds", "");
  ASSERT_TRUE(started.has_value()) << started.error().message;
  ASSERT_TRUE(started->has_value());
  EXPECT_TRUE((*started)->empty());  // queued: no version yet
  auto policy = engine_.GetPolicy(by_name.policy_id);
  ASSERT_TRUE(policy.has_value());
  EXPECT_FALSE(policy->active_rotation_id.empty());
  // A second one while the first runs is refused as AWS refuses it.
  auto again = link.RotateNow("app/creds", "");
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().reason, "InvalidRequestException");
  auto uncovered = link.RotateNow("uncovered", "");
  ASSERT_TRUE(uncovered.has_value());
  EXPECT_FALSE(uncovered->has_value());
}

TEST(KeyAttemptObserverTest, RecordsOnlyRequestsSignedWithAnInactiveKey) {
  rotation::builtin::KeyAttemptLog log;
  KeyAttemptObserver observer(log);
  api::ObservedRequest req;
  req.time = *ParseIso8601("2026-03-01T10:00:00Z");
  req.source_ip = "10.1.2.3";
  req.access_key_id = "AKIAOLD";
  observer.OnRequest(req);  // an ordinary request (or one refused for another reason)
  EXPECT_FALSE(log.Latest("AKIAOLD").has_value());

  req.key_inactive = true;
  observer.OnRequest(req);
  auto use = log.Latest("AKIAOLD");
  ASSERT_TRUE(use.has_value());
  EXPECT_EQ(use->source, "10.1.2.3");
  EXPECT_EQ(use->when, req.time);

  api::ObservedRequest no_key = req;
  no_key.access_key_id.clear();
  observer.OnRequest(no_key);  // nothing to attribute it to
  EXPECT_EQ(log.Latest("AKIAOLD")->when, req.time);
}

TEST(KeyAttemptObserverTest, SourceNamesTheInstanceWhenThereIsOne) {
  api::ObservedRequest req;
  req.source_ip = "10.1.2.3";
  EXPECT_EQ(AttemptSource(req), "10.1.2.3");
  req.principal = iam::Principal{};
  req.principal->instance_id = "mi-0123456789abcdef0";
  EXPECT_EQ(AttemptSource(req), "10.1.2.3 instance mi-0123456789abcdef0");
  req.source_ip.clear();
  req.principal.reset();
  EXPECT_EQ(AttemptSource(req), "unknown address");
}

}  // namespace
}  // namespace kw::server
