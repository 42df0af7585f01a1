// RotationEngine::Plan over keyward's real IAM and Secrets Manager services (memory
// store, fake clock): what a rotation would do, and that asking changes nothing.

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "common/time_format.hpp"
#include "crypto/csprng.hpp"
#include "rotation/builtin/builtin_services_test_support.hpp"
#include "rotation/builtin/document_delivery.hpp"
#include "rotation/builtin/iam_issuer.hpp"
#include "rotation/builtin/secrets_target.hpp"
#include "rotation/rotation_engine.hpp"
#include "store/memory/memory_kv_store.hpp"

namespace kw::rotation {
namespace {

using std::chrono::hours;
using std::chrono::minutes;

constexpr const char* kUser = "app";
constexpr const char* kSecret = "app/creds";
constexpr const char* kHost1 = "mi-00000000000000001";
constexpr const char* kHost2 = "mi-00000000000000002";

// Every command succeeds at once.
class InstantSender final : public commands::CommandSender {
 public:
  Result<std::string> SendCommand(const commands::SendCommandRequest& r, TimePoint) override {
    std::lock_guard lock(mu_);
    const std::string id = "cmd-" + std::to_string(++n_);
    return id;
  }
  Result<commands::CommandStatusSummary> CommandStatus(std::string_view id) override {
    commands::CommandStatusSummary s;
    s.command_id = std::string(id);
    s.status = "Success";
    return s;
  }

 private:
  std::mutex mu_;
  int n_ = 0;
};

// Host 1 is registered and online; host 2 is not registered.
class OneHostDirectory final : public fleet::InstanceDirectory {
 public:
  Result<std::optional<fleet::InstanceSummary>> FindInstance(std::string_view id) override {
    if (id != kHost1) return std::optional<fleet::InstanceSummary>();
    fleet::InstanceSummary s;
    s.instance_id = kHost1;
    s.ping_status = "Online";
    s.computer_name = "web-1";
    s.ip_address = "10.0.0.1";
    return std::optional<fleet::InstanceSummary>(s);
  }
  Result<std::vector<fleet::InstanceSummary>> ListInstances() override {
    auto one = FindInstance(kHost1);
    return std::vector<fleet::InstanceSummary>{**one};
  }
};

class RotationPlanTest : public ::testing::Test, protected test_support::BuiltinServices {
 protected:
  RotationPlanTest() : delivery_(sender_), engine_(store_, clock_, random_) {
    auto seeded = SeedUser(kUser, kSecret);
    old_key_ = seeded.access_key_id;
    old_version_ = seeded.version_id;
    RegisterBuiltins(engine_);
    engine_.RegisterDelivery("document", delivery_);
    engine_.SetInstanceDirectory(&directory_);
  }

  RotationPolicy MustPolicy() {
    RotationPolicy p;
    p.user_name = kUser;
    p.secret_id = kSecret;
    p.delivery = {"document", {{"document", "AWS-RunShellScript"}}};
    p.targets = {{"InstanceIds", {kHost1, kHost2}}};
    p.schedule_expression = "rate(30 days)";
    p.quiet_period = minutes(10);
    p.ack_timeout = hours(1);
    p.grace_period = hours(2);
    auto created = engine_.CreatePolicy(p);
    EXPECT_TRUE(created.has_value()) << (created ? "" : created.error().message);
    return created ? *created : RotationPolicy{};
  }

  const PlannedStep& StepOf(const RotationPlan& plan, Step step) {
    for (const auto& s : plan.steps) {
      if (s.step == step) return s;
    }
    ADD_FAILURE() << "no step " << StepName(step);
    return plan.steps.front();
  }

  InstantSender sender_;
  builtin::DocumentDelivery delivery_;
  OneHostDirectory directory_;
  RotationEngine engine_;
  std::string old_key_;
  std::string old_version_;
};

TEST_F(RotationPlanTest, NamesTheKeyTheHostsAndTheStepDatesAndChangesNothing) {
  const RotationPolicy p = MustPolicy();
  const TimePoint now = clock_.Now();
  auto plan = engine_.Plan(p.policy_id, now);
  ASSERT_TRUE(plan.has_value()) << plan.error().message;
  EXPECT_TRUE(plan->blockers.empty()) << plan->blockers.front();
  EXPECT_EQ(plan->old_key_id, old_key_);
  ASSERT_TRUE(plan->old_key.has_value());
  EXPECT_EQ(plan->old_key->status, KeyStatus::kActive);
  EXPECT_EQ(plan->current_version_id, old_version_);
  EXPECT_NE(plan->preflight.find("slot is free"), std::string::npos) << plan->preflight;

  ASSERT_EQ(plan->hosts.size(), 2u);
  EXPECT_EQ(plan->hosts[0].instance_id, kHost1);
  EXPECT_TRUE(plan->hosts[0].registered);
  EXPECT_EQ(plan->hosts[0].ping_status, "Online");
  EXPECT_EQ(plan->hosts[0].ip_address, "10.0.0.1");
  EXPECT_EQ(plan->hosts[1].instance_id, kHost2);
  EXPECT_FALSE(plan->hosts[1].registered);
  // No rotation of this policy delivered the current version: nobody was seen with it.
  EXPECT_FALSE(plan->hosts[0].seen_with_current_key);
  EXPECT_FALSE(plan->hosts[1].seen_with_current_key);

  EXPECT_EQ(plan->quiet_period, minutes(10));
  EXPECT_EQ(StepOf(*plan, Step::kCreate).earliest, now);
  EXPECT_EQ(StepOf(*plan, Step::kDistribute).latest, now + hours(1));
  EXPECT_EQ(StepOf(*plan, Step::kDeactivate).earliest, now + minutes(10));
  EXPECT_EQ(StepOf(*plan, Step::kDeactivate).latest, now + hours(1) + minutes(10));
  EXPECT_EQ(StepOf(*plan, Step::kDelete).earliest, now + minutes(10) + hours(2));
  EXPECT_EQ(StepOf(*plan, Step::kDelete).latest, now + hours(3) + minutes(10));
  EXPECT_EQ(plan->next_rotation, p.next_rotation);

  // Nothing happened: no rotation, the same single key.
  auto rotations = engine_.ListRotations(p.policy_id);
  ASSERT_TRUE(rotations.has_value());
  EXPECT_TRUE(rotations->empty());
  auto keys = issuer_.ListKeys(kUser);
  ASSERT_TRUE(keys.has_value());
  EXPECT_EQ(keys->size(), 1u);
}

TEST_F(RotationPlanTest, HostsThatAcknowledgedTheCurrentVersionAreSeen) {
  const RotationPolicy p = MustPolicy();
  auto started = engine_.RotateNow(p.policy_id);
  ASSERT_TRUE(started.has_value());
  // In progress: a plan says a new rotation could not start.
  auto busy = engine_.Plan(p.policy_id, clock_.Now());
  ASSERT_TRUE(busy.has_value());
  ASSERT_FALSE(busy->blockers.empty());
  EXPECT_NE(busy->blockers[0].find(started->rotation_id), std::string::npos);

  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(engine_.Tick(clock_.Now()).has_value());
    auto r = engine_.GetRotation(started->rotation_id);
    ASSERT_TRUE(r.has_value());
    if (r->step == Step::kDone || r->step == Step::kFailed) break;
    clock_.Advance(minutes(1));
  }
  auto done = engine_.GetRotation(started->rotation_id);
  ASSERT_TRUE(done.has_value());
  ASSERT_EQ(done->step, Step::kDone) << done->waiting_reason << done->failure_reason;

  auto plan = engine_.Plan(p.policy_id, clock_.Now());
  ASSERT_TRUE(plan.has_value());
  EXPECT_TRUE(plan->blockers.empty()) << plan->blockers.front();
  EXPECT_EQ(plan->old_key_id, done->new_key_id);
  EXPECT_EQ(plan->current_version_id, done->new_version_id);
  ASSERT_EQ(plan->hosts.size(), 2u);
  for (const auto& h : plan->hosts) {
    EXPECT_TRUE(h.seen_with_current_key) << h.instance_id;
    EXPECT_EQ(h.seen_in_rotation, started->rotation_id);
    EXPECT_TRUE(h.acked_at.has_value());
  }
}

TEST_F(RotationPlanTest, ReportsBlockersInsteadOfFailing) {
  const RotationPolicy p = MustPolicy();
  // A second Active key fills the user's slots.
  ASSERT_TRUE(users_.CreateAccessKey(kUser, nullptr).has_value());
  auto plan = engine_.Plan(p.policy_id, clock_.Now());
  ASSERT_TRUE(plan.has_value());
  ASSERT_EQ(plan->blockers.size(), 1u);
  EXPECT_NE(plan->blockers[0].find("no free access-key slot"), std::string::npos);

  auto unknown = engine_.Plan("rp-0000000000000000", clock_.Now());
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace kw::rotation
