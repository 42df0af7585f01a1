// The rotation engine's Tick with many rotations: advanced on several threads, a wait
// with a known end reported as next_wake, the per-issuer bound kept (issue 5's
// benchmark changes; rotation_engine.cpp).

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/time_format.hpp"
#include "crypto/csprng.hpp"
#include "rotation/builtin/builtin_services_test_support.hpp"
#include "rotation/builtin/iam_issuer.hpp"
#include "rotation/builtin/secrets_target.hpp"
#include "rotation/rotation_engine.hpp"
#include "rotation/secret_json.hpp"
#include "store/memory/memory_kv_store.hpp"

namespace kw::rotation {
namespace {

using std::chrono::seconds;

class ParallelRotationTest : public ::testing::Test, protected test_support::BuiltinServices {
 protected:
  std::unique_ptr<RotationEngine> Engine(EngineOptions options) {
    auto e = std::make_unique<RotationEngine>(store_, clock_, random_, options);
    RegisterBuiltins(*e);
    return e;
  }

  // `n` users, each with one key in a secret and a policy with delivery "none".
  std::vector<std::string> Start(RotationEngine& engine, int n) {
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) {
      const std::string user = "u" + std::to_string(i);
      const std::string secret = user + "/creds";
      SeedUser(user, secret);
      RotationPolicy p;
      p.user_name = user;
      p.secret_id = secret;
      p.delivery.kind = "none";
      p.automatically_after_days = 90;
      p.quiet_period = seconds(10);
      p.grace_period = seconds(20);
      auto created = engine.CreatePolicy(p);
      EXPECT_TRUE(created.has_value());
      auto r = engine.RotateNow(created->policy_id);
      EXPECT_TRUE(r.has_value());
      ids.push_back(r->rotation_id);
    }
    return ids;
  }

  int Count(RotationEngine& engine, const std::vector<std::string>& ids, Step step) {
    int n = 0;
    for (const auto& id : ids) n += engine.GetRotation(id)->step == step ? 1 : 0;
    return n;
  }
};

TEST_F(ParallelRotationTest, ManyRotationsOnThreadsEachEndWithOneKeyAndWakeAtTheirEnds) {
  EngineOptions opts;
  opts.advance_threads = 8;
  auto engine = Engine(opts);
  auto ids = Start(*engine, 24);
  auto tick = engine->Tick(clock_.Now());
  ASSERT_TRUE(tick.has_value());
  // All 24 ran to verify in one Tick; the quiet period's end is the next wake.
  EXPECT_EQ(Count(*engine, ids, Step::kVerify), 24);
  ASSERT_TRUE(tick->next_wake.has_value());
  EXPECT_EQ(*tick->next_wake, clock_.Now() + seconds(10));
  clock_.Advance(seconds(10));
  tick = engine->Tick(clock_.Now());
  ASSERT_TRUE(tick.has_value());
  EXPECT_EQ(Count(*engine, ids, Step::kGrace), 24);
  clock_.Advance(seconds(20));
  tick = engine->Tick(clock_.Now());
  ASSERT_TRUE(tick.has_value());
  EXPECT_EQ(tick->completed, 24);
  EXPECT_FALSE(tick->next_wake.has_value());
  for (int i = 0; i < 24; ++i) {
    const std::string user = "u" + std::to_string(i);
    auto keys = users_.ListAccessKeys(user, std::nullopt, 100, nullptr);
    ASSERT_TRUE(keys.has_value());
    ASSERT_EQ(keys->keys.size(), 1u) << user;
    auto cur = secrets_.GetSecretValue(user + "/creds", std::nullopt, "AWSCURRENT");
    ASSERT_TRUE(cur.has_value());
    EXPECT_EQ(ReadKeyPair(cur->bytes)->access_key_id, keys->keys[0].access_key_id);
  }
}

TEST_F(ParallelRotationTest, TheIssuerBoundHoldsWithThreadsAndAFreedSlotWakesAtOnce) {
  EngineOptions opts;
  opts.advance_threads = 4;
  opts.max_active_per_issuer = 5;
  auto engine = Engine(opts);
  auto ids = Start(*engine, 12);
  ASSERT_TRUE(engine->Tick(clock_.Now()).has_value());
  EXPECT_EQ(Count(*engine, ids, Step::kQueued), 7);
  for (const auto& id : ids) {
    auto r = engine->GetRotation(id);
    ASSERT_TRUE(r.has_value());
    if (r->step != Step::kQueued) continue;
    EXPECT_NE(r->waiting_reason.find("limit 5"), std::string::npos) << r->waiting_reason;
  }
  clock_.Advance(seconds(30));
  ASSERT_TRUE(engine->Tick(clock_.Now()).has_value());  // to grace, then past it
  clock_.Advance(seconds(30));
  auto tick = engine->Tick(clock_.Now());
  ASSERT_TRUE(tick.has_value());
  EXPECT_EQ(tick->completed, 5);
  // Five slots freed while seven wait: look again now, not a tick later.
  ASSERT_TRUE(tick->next_wake.has_value());
  EXPECT_EQ(*tick->next_wake, clock_.Now());
  for (int i = 0; i < 20 && Count(*engine, ids, Step::kDone) < 12; ++i) {
    ASSERT_TRUE(engine->Tick(clock_.Now()).has_value());
    EXPECT_LE(12 - Count(*engine, ids, Step::kQueued) - Count(*engine, ids, Step::kDone), 5);
    clock_.Advance(seconds(30));
  }
  EXPECT_EQ(Count(*engine, ids, Step::kDone), 12);
}

}  // namespace
}  // namespace kw::rotation
