// The rotation engine end to end over keyward's real IAM and Secrets Manager services
// (memory store, fake clock), with Run Command replaced by a fake whose per-host
// outcome each test controls.

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "common/time_format.hpp"
#include "crypto/csprng.hpp"
#include "rotation/builtin/builtin_services_test_support.hpp"
#include "rotation/builtin/document_delivery.hpp"
#include "rotation/builtin/iam_issuer.hpp"
#include "rotation/builtin/secrets_target.hpp"
#include "rotation/rotation_engine.hpp"
#include "rotation/secret_json.hpp"
#include "store/memory/memory_kv_store.hpp"

namespace kw::rotation {
namespace {

using builtin::DocumentDelivery;
using builtin::IamIssuer;
using builtin::KeyAttemptLog;
using builtin::SecretsTarget;
using std::chrono::hours;
using std::chrono::minutes;

constexpr const char* kUser = "app";
constexpr const char* kSecret = "app/creds";

// Run Command as the rotation sees it: each host's command ends with the status the
// test sets for that host ("Success" unless told otherwise).
class FakeSender final : public commands::CommandSender {
 public:
  Result<std::string> SendCommand(const commands::SendCommandRequest& r, TimePoint) override {
    std::lock_guard lock(mu_);
    if (r.instance_ids.size() != 1) return InvalidArgument("one host per command expected");
    const std::string id = "cmd-" + std::to_string(++n_);
    host_of_[id] = r.instance_ids[0];
    sent_[r.instance_ids[0]]++;
    last_params_ = r.parameters;
    last_document_ = r.document_name;
    return id;
  }
  Result<commands::CommandStatusSummary> CommandStatus(std::string_view id) override {
    std::lock_guard lock(mu_);
    auto it = host_of_.find(std::string(id));
    if (it == host_of_.end()) return NotFound("no command", "InvalidCommandId");
    commands::CommandStatusSummary s;
    s.command_id = std::string(id);
    auto st = status_.find(it->second);
    s.status = st == status_.end() ? "Success" : st->second;
    return s;
  }
  void SetStatus(const std::string& host, std::string status) {
    std::lock_guard lock(mu_);
    status_[host] = std::move(status);
  }
  int Sent(const std::string& host) {
    std::lock_guard lock(mu_);
    return sent_[host];
  }
  std::map<std::string, std::vector<std::string>> last_params_;
  std::string last_document_;

 private:
  std::mutex mu_;
  int n_ = 0;
  std::map<std::string, std::string> host_of_, status_;
  std::map<std::string, int> sent_;
};

// The services live across engine "crashes"; only the engine is destroyed and rebuilt.
class RotationTest : public ::testing::Test, protected test_support::BuiltinServices {
 protected:
  RotationTest() : delivery_(sender_) {
    auto seeded = SeedUser(kUser, kSecret, {{"region", "eu-west-1"}});
    old_key_ = seeded.access_key_id;
    old_version_ = seeded.version_id;
    NewEngine();
  }

  void NewEngine(EngineOptions options = {}) {
    engine_ = std::make_unique<RotationEngine>(store_, clock_, random_, options, failpoints_);
    RegisterBuiltins(*engine_);
    engine_->RegisterDelivery("document", delivery_);
  }

  RotationPolicy BasePolicy() {
    RotationPolicy p;
    p.user_name = kUser;
    p.secret_id = kSecret;
    p.delivery = {"document",
                  {{"document", "AWS-RunShellScript"},
                   {"param:commands", "keyward-sync {{SecretId}} {{VersionId}}"}}};
    p.targets = {{"InstanceIds", {"mi-00000000000000001", "mi-00000000000000002"}}};
    p.schedule_expression = "rate(30 days)";
    p.quiet_period = minutes(10);
    p.ack_timeout = hours(1);
    p.grace_period = hours(2);
    return p;
  }

  RotationPolicy MustPolicy(RotationPolicy p) {
    auto created = engine_->CreatePolicy(std::move(p));
    EXPECT_TRUE(created.has_value()) << (created ? "" : created.error().message);
    return created ? *created : RotationPolicy{};
  }

  // Ticks once a minute until the rotation is done/failed or `limit` passes. Returns the
  // first Tick error (a failpoint crash), else OK.
  Status Run(const std::string& rotation_id, std::chrono::seconds limit = hours(24)) {
    const TimePoint end = clock_.Now() + limit;
    while (clock_.Now() < end) {
      auto tick = engine_->Tick(clock_.Now());
      if (!tick) return tick.error();
      auto r = engine_->GetRotation(rotation_id);
      if (r && (r->step == Step::kDone || r->step == Step::kFailed)) return OkStatus();
      clock_.Advance(minutes(1));
    }
    return OkStatus();
  }

  Rotation MustRotation(const std::string& id) {
    auto r = engine_->GetRotation(id);
    EXPECT_TRUE(r.has_value());
    return r ? *r : Rotation{};
  }

  std::vector<iam::AccessKeyMetadata> Keys() {
    auto page = users_.ListAccessKeys(kUser, std::nullopt, 100, nullptr);
    EXPECT_TRUE(page.has_value());
    return page ? page->keys : std::vector<iam::AccessKeyMetadata>{};
  }

  // The invariant after a completed rotation: one key, Active, the one in AWSCURRENT,
  // and it authenticates with the secret stored there.
  void ExpectRotatedCleanly() {
    auto keys = Keys();
    ASSERT_EQ(keys.size(), 1u);
    EXPECT_EQ(keys[0].status, iam::KeyStatus::kActive);
    EXPECT_NE(keys[0].access_key_id, old_key_);
    auto cur = secrets_.GetSecretValue(kSecret, std::nullopt, "AWSCURRENT");
    ASSERT_TRUE(cur.has_value());
    auto pair = ReadKeyPair(cur->bytes);
    ASSERT_TRUE(pair.has_value());
    EXPECT_EQ(pair->access_key_id, keys[0].access_key_id);
    auto ok = issuer_.TestKey(pair->access_key_id, pair->secret_access_key);
    ASSERT_TRUE(ok.has_value());
    EXPECT_TRUE(*ok);
    auto d = secrets_.DescribeSecret(kSecret);
    ASSERT_TRUE(d.has_value());
    for (const auto& [vid, stages] : d->version_stages) {
      for (const auto& s : stages) EXPECT_NE(s, "AWSPENDING") << vid;
    }
    EXPECT_EQ(d->version_stages[old_version_], std::vector<std::string>{"AWSPREVIOUS"});
  }

  FakeSender sender_;
  DocumentDelivery delivery_;
  Failpoints failpoints_;
  std::unique_ptr<RotationEngine> engine_;
  std::string old_key_;
  std::string old_version_;
};

// ---- policies -----------------------------------------------------------------------

TEST_F(RotationTest, PolicyValidationNamesTheProblem) {
  auto expect_invalid = [&](RotationPolicy p, const std::string& words) {
    auto r = engine_->CreatePolicy(std::move(p));
    ASSERT_FALSE(r.has_value()) << words;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(r.error().reason, "ValidationException");
    EXPECT_NE(r.error().message.find(words), std::string::npos) << r.error().message;
  };
  auto p = BasePolicy();
  p.issuer = "nope";
  expect_invalid(p, "no issuer named 'nope'");
  p = BasePolicy();
  p.automatically_after_days = 30;
  expect_invalid(p, "exactly one of");
  p = BasePolicy();
  p.schedule_expression = "rate(1 fortnight)";
  expect_invalid(p, "ScheduleExpression");
  p = BasePolicy();
  p.targets.clear();
  expect_invalid(p, "Targets");
  p = BasePolicy();
  p.targets = {{"Hosts", {"x"}}};
  expect_invalid(p, "InstanceIds or tag:NAME");
  p = BasePolicy();
  p.delivery.parameters.erase("document");
  expect_invalid(p, "'document'");
  p = BasePolicy();
  p.schedule_expression.reset();
  p.automatically_after_days = 1;
  p.grace_period = hours(24);
  expect_invalid(p, "too short");
}

TEST_F(RotationTest, PolicyCrudAndOnePolicyPerSecret) {
  RotationPolicy p = MustPolicy(BasePolicy());
  EXPECT_EQ(p.policy_id.substr(0, 3), "rp-");
  ASSERT_TRUE(p.next_rotation.has_value());
  EXPECT_EQ(*p.next_rotation, clock_.Now() + hours(24 * 30));
  auto again = engine_->CreatePolicy(BasePolicy());
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().reason, "ResourceExistsException");

  auto got = engine_->GetPolicy(p.policy_id);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->targets.size(), 1u);
  EXPECT_EQ(got->quiet_period, p.quiet_period);
  auto found = engine_->FindPolicyForSecret(kSecret);
  ASSERT_TRUE(found.has_value() && found->has_value());
  EXPECT_EQ((*found)->policy_id, p.policy_id);
  auto page = engine_->ListPolicies(std::nullopt, 10);
  ASSERT_TRUE(page.has_value());
  ASSERT_EQ(page->policies.size(), 1u);
  EXPECT_TRUE(page->next_token.empty());

  ASSERT_TRUE(engine_->RotateNow(p.policy_id).has_value());
  auto busy = engine_->DeletePolicy(p.policy_id);
  ASSERT_FALSE(busy.has_value());
  EXPECT_EQ(busy.error().reason, "InvalidRequestException");
  auto twice = engine_->RotateNow(p.policy_id);
  ASSERT_FALSE(twice.has_value());
  EXPECT_EQ(twice.error().reason, "InvalidRequestException");
}

// ---- the happy path ------------------------------------------------------------------

TEST_F(RotationTest, FullRotationReplacesTheKeyEverywhereAndDeletesTheOldOne) {
  RotationPolicy p = MustPolicy(BasePolicy());
  auto started = engine_->RotateNow(p.policy_id);
  ASSERT_TRUE(started.has_value());
  ASSERT_TRUE(Run(started->rotation_id).has_value());
  Rotation r = MustRotation(started->rotation_id);
  ASSERT_EQ(r.step, Step::kDone) << r.waiting_reason << r.failure_reason;
  ExpectRotatedCleanly();

  EXPECT_EQ(r.old_key_id, old_key_);
  EXPECT_EQ(r.hosts.size(), 2u);
  EXPECT_EQ(sender_.Sent("mi-00000000000000001"), 1);
  EXPECT_EQ(sender_.Sent("mi-00000000000000002"), 1);
  EXPECT_EQ(sender_.last_document_, "AWS-RunShellScript");
  EXPECT_EQ(sender_.last_params_["commands"][0],
            std::string("keyward-sync ") + kSecret + " " + r.new_version_id);
  // Deactivation waited for the quiet period after the last ack; deletion for grace.
  ASSERT_TRUE(r.last_ack && r.deactivated_at && r.finished);
  EXPECT_GE(*r.deactivated_at - *r.last_ack, minutes(10));
  EXPECT_GE(*r.finished - *r.deactivated_at, hours(2));
  std::vector<Step> steps;
  for (const auto& h : r.history) steps.push_back(h.step);
  EXPECT_EQ(steps,
            (std::vector<Step>{Step::kQueued, Step::kPreflight, Step::kCreate, Step::kStore,
                               Step::kTest, Step::kPromote, Step::kDistribute, Step::kVerify,
                               Step::kDeactivate, Step::kGrace, Step::kDelete, Step::kDone}));
  // Other fields of the secret survive.
  auto cur = secrets_.GetSecretValue(kSecret, std::nullopt, "AWSCURRENT");
  ASSERT_TRUE(cur.has_value());
  EXPECT_EQ(nlohmann::json::parse(cur->bytes.Reveal())["region"], "eu-west-1");

  auto pol = engine_->GetPolicy(p.policy_id);
  ASSERT_TRUE(pol.has_value());
  EXPECT_TRUE(pol->active_rotation_id.empty());
  EXPECT_EQ(pol->last_rotated, r.promoted_at);

  // The new secret access key is in no rotation table.
  auto pair = ReadKeyPair(cur->bytes);
  ASSERT_TRUE(pair.has_value());
  for (const char* table : {"rot_policies", "rot_rotations", "rot_active", "rot_due",
                            "rot_deactivated", "rot_by_secret"}) {
    auto items = store_.List(table, {});
    ASSERT_TRUE(items.has_value());
    for (const auto& item : *items) {
      EXPECT_EQ(item.value.find(pair->secret_access_key.Reveal()), std::string::npos) << table;
    }
  }
}

TEST_F(RotationTest, ScheduledRotationStartsOnceAcrossEnginesAndRestarts) {
  RotationPolicy p = MustPolicy(BasePolicy());
  RotationEngine other(store_, clock_, random_, {}, failpoints_);
  other.RegisterIssuer("builtin", issuer_);
  other.RegisterSecretTarget("builtin", target_);
  other.RegisterDelivery("document", delivery_);
  clock_.Advance(hours(24 * 30) - minutes(1));
  auto early = engine_->Tick(clock_.Now());
  ASSERT_TRUE(early.has_value());
  EXPECT_EQ(early->started, 0);
  clock_.Advance(minutes(2));
  auto a = engine_->Tick(clock_.Now());
  auto b = other.Tick(clock_.Now());
  NewEngine();  // a restart re-reads everything from the store
  auto c = engine_->Tick(clock_.Now());
  ASSERT_TRUE(a.has_value() && b.has_value() && c.has_value());
  EXPECT_EQ(a->started + b->started + c->started, 1);
  auto pol = engine_->GetPolicy(p.policy_id);
  ASSERT_TRUE(pol.has_value());
  EXPECT_EQ(pol->rotation_count, 1u);
  ASSERT_TRUE(pol->next_rotation.has_value());
  EXPECT_GT(*pol->next_rotation, clock_.Now() + hours(24 * 29));
  ASSERT_TRUE(Run(pol->active_rotation_id).has_value());
  EXPECT_EQ(MustRotation(pol->last_rotation_id).step, Step::kDone);
  ExpectRotatedCleanly();
}

TEST_F(RotationTest, MaxAgePolicySchedulesTheNextRotationFromTheNewKeysAge) {
  RotationPolicy base = BasePolicy();
  base.schedule_expression.reset();
  base.automatically_after_days = 30;
  RotationPolicy p = MustPolicy(base);
  // lead = ack 1h + quiet 10min + margin 1h.
  const Seconds lead = hours(1) + minutes(10) + hours(1);
  ASSERT_TRUE(p.next_rotation.has_value());
  EXPECT_EQ(*p.next_rotation, clock_.Now() + hours(24 * 30) - lead);
  clock_.Set(*p.next_rotation);
  auto tick = engine_->Tick(clock_.Now());
  ASSERT_TRUE(tick.has_value());
  ASSERT_EQ(tick->started, 1);
  auto pol = engine_->GetPolicy(p.policy_id);
  ASSERT_TRUE(pol.has_value());
  ASSERT_TRUE(Run(pol->active_rotation_id).has_value());
  Rotation r = MustRotation(pol->last_rotation_id);
  ASSERT_EQ(r.step, Step::kDone);
  // The old key was deactivated before it was 30 days old, overlap included.
  auto key_age_at_deactivation = *r.deactivated_at - *ParseIso8601("2026-03-01T10:00:00Z");
  EXPECT_LT(key_age_at_deactivation, hours(24 * 30));
  auto keys = Keys();
  ASSERT_EQ(keys.size(), 1u);
  pol = engine_->GetPolicy(p.policy_id);
  ASSERT_TRUE(pol.has_value() && pol->next_rotation.has_value());
  EXPECT_EQ(*pol->next_rotation, keys[0].create_date + hours(24 * 30) - lead);
}

TEST_F(RotationTest, IssuerConcurrencyBoundQueuesTheRest) {
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    const std::string user = "svc" + std::to_string(i);
    ASSERT_TRUE(users_.CreateUser({user, std::nullopt, {}}).has_value());
    auto k = users_.CreateAccessKey(user, nullptr);
    ASSERT_TRUE(k.has_value());
    nlohmann::json v = {{"aws_access_key_id", k->metadata.access_key_id},
                        {"aws_secret_access_key", std::string(k->secret_access_key.Reveal())}};
    secrets::CreateSecretRequest cs;
    cs.name = user + "/creds";
    cs.value = secrets::SecretValueInput{false, SecretBytes(v.dump())};
    ASSERT_TRUE(secrets_.CreateSecret(cs).has_value());
    RotationPolicy p = BasePolicy();
    p.user_name = user;
    p.secret_id = cs.name;
    p = MustPolicy(p);
    auto r = engine_->RotateNow(p.policy_id);
    ASSERT_TRUE(r.has_value());
    ids.push_back(r->rotation_id);
  }
  EngineOptions opts;
  opts.max_active_per_issuer = 1;
  NewEngine(opts);
  ASSERT_TRUE(engine_->Tick(clock_.Now()).has_value());
  auto count = [&](Step step) {
    int n = 0;
    for (const auto& id : ids) n += MustRotation(id).step == step ? 1 : 0;
    return n;
  };
  EXPECT_EQ(count(Step::kQueued), 2);
  for (const auto& id : ids) {
    Rotation r = MustRotation(id);
    if (r.step == Step::kQueued) {
      EXPECT_NE(r.waiting_reason.find("limit 1"), std::string::npos) << r.waiting_reason;
    }
  }
  // Never more than one past the queue at a time, until all are done.
  for (int i = 0; i < 3 * 24 * 60 && count(Step::kDone) < 3; ++i) {
    ASSERT_TRUE(engine_->Tick(clock_.Now()).has_value());
    EXPECT_LE(3 - count(Step::kQueued) - count(Step::kDone), 1);
    clock_.Advance(minutes(1));
  }
  EXPECT_EQ(count(Step::kDone), 3);
}

// ---- holding and refusing ------------------------------------------------------------

TEST_F(RotationTest, HostThatNeverAcksHoldsTheRotationWithTheOldKeyActive) {
  sender_.SetStatus("mi-00000000000000002", "InProgress");
  RotationPolicy p = MustPolicy(BasePolicy());
  auto started = engine_->RotateNow(p.policy_id);
  ASSERT_TRUE(started.has_value());
  ASSERT_TRUE(Run(started->rotation_id, hours(5)).has_value());
  Rotation r = MustRotation(started->rotation_id);
  EXPECT_EQ(r.step, Step::kDistribute);
  EXPECT_NE(r.waiting_reason.find("mi-00000000000000002"), std::string::npos) << r.waiting_reason;
  EXPECT_EQ(r.waiting_reason.find("mi-00000000000000001"), std::string::npos) << r.waiting_reason;
  auto keys = Keys();
  ASSERT_EQ(keys.size(), 2u);
  for (const auto& k : keys) EXPECT_EQ(k.status, iam::KeyStatus::kActive);
  // Redelivered after each ack timeout, only to the host that is missing.
  EXPECT_GE(sender_.Sent("mi-00000000000000002"), 4);
  EXPECT_EQ(sender_.Sent("mi-00000000000000001"), 1);

  sender_.SetStatus("mi-00000000000000002", "Failed");
  clock_.Advance(hours(1));
  ASSERT_TRUE(engine_->Tick(clock_.Now()).has_value());
  r = MustRotation(started->rotation_id);
  EXPECT_NE(r.waiting_reason.find("failed: command"), std::string::npos) << r.waiting_reason;

  sender_.SetStatus("mi-00000000000000002", "Success");
  ASSERT_TRUE(Run(started->rotation_id).has_value());
  EXPECT_EQ(MustRotation(started->rotation_id).step, Step::kDone);
  ExpectRotatedCleanly();
}

TEST_F(RotationTest, UseOfTheOldKeyAfterTheLastAckDelaysDeactivation) {
  RotationPolicy p = MustPolicy(BasePolicy());
  auto started = engine_->RotateNow(p.policy_id);
  ASSERT_TRUE(started.has_value());
  ASSERT_TRUE(engine_->Tick(clock_.Now()).has_value());
  Rotation r = MustRotation(started->rotation_id);
  ASSERT_EQ(r.step, Step::kVerify) << r.waiting_reason;
  // A straggler keeps signing with the old key for 30 minutes.
  for (int i = 0; i < 30; ++i) {
    clock_.Advance(minutes(1));
    users_.RecordUse(old_key_, "sts", "us-east-1", clock_.Now());
    ASSERT_TRUE(engine_->Tick(clock_.Now()).has_value());
    r = MustRotation(started->rotation_id);
    ASSERT_EQ(r.step, Step::kVerify);
  }
  EXPECT_NE(r.waiting_reason.find("was used at"), std::string::npos) << r.waiting_reason;
  const TimePoint last_use = clock_.Now();
  ASSERT_TRUE(Run(started->rotation_id).has_value());
  r = MustRotation(started->rotation_id);
  ASSERT_EQ(r.step, Step::kDone);
  EXPECT_GE(*r.deactivated_at, last_use + minutes(10));
}

TEST_F(RotationTest, PreflightRefusesWhenTheOtherSlotHoldsAnActiveKey) {
  auto extra = users_.CreateAccessKey(kUser, nullptr);
  ASSERT_TRUE(extra.has_value());
  RotationPolicy p = MustPolicy(BasePolicy());
  auto started = engine_->RotateNow(p.policy_id);
  ASSERT_TRUE(started.has_value());
  ASSERT_TRUE(Run(started->rotation_id).has_value());
  Rotation r = MustRotation(started->rotation_id);
  EXPECT_EQ(r.step, Step::kFailed);
  EXPECT_NE(r.failure_reason.find("no free access-key slot"), std::string::npos);
  EXPECT_NE(r.failure_reason.find(extra->metadata.access_key_id), std::string::npos);
  EXPECT_EQ(Keys().size(), 2u);
  auto pol = engine_->GetPolicy(p.policy_id);
  ASSERT_TRUE(pol.has_value());
  EXPECT_TRUE(pol->active_rotation_id.empty());
}

TEST_F(RotationTest, OnFailedHookRunsInTheTransactionThatRecordsTheFailure) {
  std::vector<std::string> failed;
  EngineOptions opts;
  opts.on_failed = [&failed](store::Txn& txn, const Rotation& r) -> Status {
    failed.push_back(r.rotation_id);
    EXPECT_EQ(r.step, Step::kFailed);
    KW_RETURN_IF_ERROR(txn.Put("hook_outbox", r.rotation_id, r.failure_reason));
    return OkStatus();
  };
  NewEngine(opts);
  ASSERT_TRUE(users_.CreateAccessKey(kUser, nullptr).has_value());
  RotationPolicy p = MustPolicy(BasePolicy());
  auto started = engine_->RotateNow(p.policy_id);
  ASSERT_TRUE(started.has_value());
  ASSERT_TRUE(Run(started->rotation_id).has_value());
  ASSERT_EQ(MustRotation(started->rotation_id).step, Step::kFailed);
  ASSERT_FALSE(failed.empty());
  EXPECT_EQ(failed.back(), started->rotation_id);
  auto row = store_.Get("hook_outbox", started->rotation_id);
  ASSERT_TRUE(row.has_value() && row->has_value());
  EXPECT_NE((*row)->value.find("no free access-key slot"), std::string::npos);
}

TEST_F(RotationTest, PreflightDeletesAnUnusedInactiveKeyButNotOneStillTried) {
  auto extra = users_.CreateAccessKey(kUser, nullptr);
  ASSERT_TRUE(extra.has_value());
  const std::string extra_id = extra->metadata.access_key_id;
  ASSERT_TRUE(
      users_.UpdateAccessKey(kUser, extra_id, iam::KeyStatus::kInactive, nullptr).has_value());
  attempts_.RecordRejected(extra_id, "10.0.0.9", clock_.Now());
  RotationPolicy p = MustPolicy(BasePolicy());
  auto first = engine_->RotateNow(p.policy_id);
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(Run(first->rotation_id).has_value());
  Rotation r = MustRotation(first->rotation_id);
  EXPECT_EQ(r.step, Step::kFailed);
  EXPECT_NE(r.failure_reason.find("10.0.0.9"), std::string::npos) << r.failure_reason;

  // A fresh log (as after a restart with no attempts since): deletable.
  KeyAttemptLog empty;
  IamIssuer quiet_issuer(users_, clock_, &empty);
  engine_->RegisterIssuer("builtin", quiet_issuer);
  auto second = engine_->RotateNow(p.policy_id);
  ASSERT_TRUE(second.has_value());
  ASSERT_TRUE(Run(second->rotation_id).has_value());
  EXPECT_EQ(MustRotation(second->rotation_id).step, Step::kDone);
  ExpectRotatedCleanly();
}

TEST_F(RotationTest, SecretWithoutTheKeyFieldsStopsBeforeCreatingAnything) {
  secrets::PutSecretValueRequest put;
  put.secret_id = kSecret;
  put.value = secrets::SecretValueInput{false, SecretBytes(R"({"password":"x"})")};
  ASSERT_TRUE(secrets_.PutSecretValue(put).has_value());
  RotationPolicy p = MustPolicy(BasePolicy());
  auto started = engine_->RotateNow(p.policy_id);
  ASSERT_TRUE(started.has_value());
  ASSERT_TRUE(Run(started->rotation_id).has_value());
  Rotation r = MustRotation(started->rotation_id);
  EXPECT_EQ(r.step, Step::kFailed);
  EXPECT_NE(r.failure_reason.find("aws_access_key_id"), std::string::npos) << r.failure_reason;
  EXPECT_EQ(Keys().size(), 1u);
  EXPECT_TRUE(r.new_key_id.empty());
}

TEST_F(RotationTest, UseDuringGraceReactivatesTheKeyAndReportsTheHost) {
  RotationPolicy p = MustPolicy(BasePolicy());
  auto started = engine_->RotateNow(p.policy_id);
  ASSERT_TRUE(started.has_value());
  Rotation r;
  for (int i = 0; i < 120; ++i) {
    ASSERT_TRUE(engine_->Tick(clock_.Now()).has_value());
    r = MustRotation(started->rotation_id);
    if (r.step == Step::kGrace) break;
    clock_.Advance(minutes(1));
  }
  ASSERT_EQ(r.step, Step::kGrace);
  auto old_meta = users_.FindAccessKey(old_key_);
  ASSERT_TRUE(old_meta.has_value());
  EXPECT_EQ(old_meta->status, iam::KeyStatus::kInactive);

  clock_.Advance(minutes(5));
  attempts_.RecordRejected(old_key_, "10.0.0.7 mi-00000000000000003", clock_.Now());
  ASSERT_TRUE(engine_->Tick(clock_.Now()).has_value());
  r = MustRotation(started->rotation_id);
  EXPECT_EQ(r.step, Step::kVerify);
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].source, "10.0.0.7 mi-00000000000000003");
  EXPECT_TRUE(r.findings[0].reactivated);
  old_meta = users_.FindAccessKey(old_key_);
  ASSERT_TRUE(old_meta.has_value());
  EXPECT_EQ(old_meta->status, iam::KeyStatus::kActive);

  // Once the straggler is fixed, the rotation finishes.
  ASSERT_TRUE(Run(started->rotation_id).has_value());
  r = MustRotation(started->rotation_id);
  EXPECT_EQ(r.step, Step::kDone);
  EXPECT_EQ(r.findings.size(), 1u);
  ExpectRotatedCleanly();
}

// ---- crashes -------------------------------------------------------------------------

class RotationCrashTest : public RotationTest, public ::testing::WithParamInterface<const char*> {};

// The engine dies right at the failpoint (nothing after it runs, nothing in memory
// survives); a new engine over the same store finishes the rotation cleanly.
TEST_P(RotationCrashTest, ResumesAfterACrashAtTheFailpoint) {
  const std::string point = GetParam();
  RotationPolicy base = BasePolicy();
  base.schedule_expression = "rate(1 day)";
  RotationPolicy p = MustPolicy(base);
  clock_.Advance(hours(24));
  failpoints_.Set(point, {FailpointAction::kCrash});
  auto crashed = Run("", hours(6));
  ASSERT_FALSE(crashed.has_value()) << point << " was never hit";
  EXPECT_EQ(crashed.error().reason, kFailpointCrashReason);
  EXPECT_EQ(failpoints_.Hits(point), 1u);

  failpoints_.Clear();
  engine_.reset();
  NewEngine();
  auto pol = engine_->GetPolicy(p.policy_id);
  ASSERT_TRUE(pol.has_value());
  ASSERT_EQ(pol->rotation_count, 1u);
  ASSERT_TRUE(Run(pol->last_rotation_id).has_value());
  Rotation r = MustRotation(pol->last_rotation_id);
  ASSERT_EQ(r.step, Step::kDone) << point << ": " << r.waiting_reason;
  ExpectRotatedCleanly();
  EXPECT_EQ(sender_.Sent("mi-00000000000000001") >= 1, true);
}

INSTANTIATE_TEST_SUITE_P(EveryStepBoundary, RotationCrashTest,
                         ::testing::Values("rotation.after_claim", "rotation.before_create",
                                           "rotation.after_create", "rotation.before_store",
                                           "rotation.after_store", "rotation.before_promote",
                                           "rotation.after_promote", "rotation.before_distribute",
                                           "rotation.after_distribute",
                                           "rotation.before_deactivate",
                                           "rotation.after_deactivate", "rotation.before_delete",
                                           "rotation.after_delete"));

TEST_F(RotationTest, CrashesInsideRecoveryAlsoResume) {
  // after_create loses a created key (orphan); the resumed engine crashes again while
  // deleting it, and again after discarding a key whose secret was never stored.
  RotationPolicy p = MustPolicy(BasePolicy());
  auto started = engine_->RotateNow(p.policy_id);
  ASSERT_TRUE(started.has_value());
  for (const char* point : {"rotation.after_create", "rotation.after_orphan_delete",
                            "rotation.before_store", "rotation.after_discard"}) {
    failpoints_.Clear();
    failpoints_.Set(point, {FailpointAction::kCrash});
    auto crashed = Run(started->rotation_id, hours(1));
    ASSERT_FALSE(crashed.has_value()) << point << " was never hit";
    engine_.reset();
    NewEngine();
  }
  failpoints_.Clear();
  ASSERT_TRUE(Run(started->rotation_id).has_value());
  EXPECT_EQ(MustRotation(started->rotation_id).step, Step::kDone);
  ExpectRotatedCleanly();
}

TEST_F(RotationTest, CrashWhileMakingRoomResumes) {
  auto extra = users_.CreateAccessKey(kUser, nullptr);
  ASSERT_TRUE(extra.has_value());
  ASSERT_TRUE(
      users_
          .UpdateAccessKey(kUser, extra->metadata.access_key_id, iam::KeyStatus::kInactive, nullptr)
          .has_value());
  RotationPolicy p = MustPolicy(BasePolicy());
  auto started = engine_->RotateNow(p.policy_id);
  ASSERT_TRUE(started.has_value());
  for (const char* point :
       {"rotation.before_preflight_delete", "rotation.after_preflight_delete"}) {
    failpoints_.Clear();
    failpoints_.Set(point, {FailpointAction::kCrash});
    auto crashed = Run(started->rotation_id, hours(1));
    ASSERT_FALSE(crashed.has_value()) << point << " was never hit";
    engine_.reset();
    NewEngine();
  }
  failpoints_.Clear();
  ASSERT_TRUE(Run(started->rotation_id).has_value());
  EXPECT_EQ(MustRotation(started->rotation_id).step, Step::kDone);
  ExpectRotatedCleanly();
}

TEST_F(RotationTest, CrashAroundReactivationResumes) {
  RotationPolicy p = MustPolicy(BasePolicy());
  auto started = engine_->RotateNow(p.policy_id);
  ASSERT_TRUE(started.has_value());
  for (int i = 0; i < 120 && MustRotation(started->rotation_id).step != Step::kGrace; ++i) {
    ASSERT_TRUE(engine_->Tick(clock_.Now()).has_value());
    clock_.Advance(minutes(1));
  }
  ASSERT_EQ(MustRotation(started->rotation_id).step, Step::kGrace);
  attempts_.RecordRejected(old_key_, "10.0.0.7", clock_.Now());
  for (const char* point : {"rotation.before_reactivate", "rotation.after_reactivate"}) {
    failpoints_.Clear();
    failpoints_.Set(point, {FailpointAction::kCrash});
    auto crashed = engine_->Tick(clock_.Now());
    ASSERT_FALSE(crashed.has_value()) << point << " was never hit";
    engine_.reset();
    NewEngine();
  }
  failpoints_.Clear();
  ASSERT_TRUE(engine_->Tick(clock_.Now()).has_value());
  Rotation r = MustRotation(started->rotation_id);
  EXPECT_EQ(r.step, Step::kVerify);
  EXPECT_EQ(r.findings.size(), 1u);
  auto meta = users_.FindAccessKey(old_key_);
  ASSERT_TRUE(meta.has_value());
  EXPECT_EQ(meta->status, iam::KeyStatus::kActive);
  ASSERT_TRUE(Run(started->rotation_id).has_value());
  EXPECT_EQ(MustRotation(started->rotation_id).step, Step::kDone);
  ExpectRotatedCleanly();
}

TEST_F(RotationTest, UseDuringGraceWithoutReactivationIsRecordedOnly) {
  RotationPolicy base = BasePolicy();
  base.reactivate_on_use = false;
  RotationPolicy p = MustPolicy(base);
  auto started = engine_->RotateNow(p.policy_id);
  ASSERT_TRUE(started.has_value());
  for (int i = 0; i < 120 && MustRotation(started->rotation_id).step != Step::kGrace; ++i) {
    ASSERT_TRUE(engine_->Tick(clock_.Now()).has_value());
    clock_.Advance(minutes(1));
  }
  attempts_.RecordRejected(old_key_, "10.0.0.8", clock_.Now());
  ASSERT_TRUE(engine_->Tick(clock_.Now()).has_value());
  Rotation r = MustRotation(started->rotation_id);
  EXPECT_EQ(r.step, Step::kGrace);
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_FALSE(r.findings[0].reactivated);
  ASSERT_TRUE(Run(started->rotation_id).has_value());
  EXPECT_EQ(MustRotation(started->rotation_id).step, Step::kDone);
  EXPECT_EQ(MustRotation(started->rotation_id).findings.size(), 1u);
  ExpectRotatedCleanly();
}

TEST_F(RotationTest, InjectedErrorsAreRetriedWithBackoff) {
  RotationPolicy p = MustPolicy(BasePolicy());
  auto started = engine_->RotateNow(p.policy_id);
  ASSERT_TRUE(started.has_value());
  failpoints_.Set("rotation.after_store", {FailpointAction::kError, 0, 3});
  ASSERT_TRUE(engine_->Tick(clock_.Now()).has_value());
  Rotation r = MustRotation(started->rotation_id);
  EXPECT_EQ(r.step, Step::kStore);
  EXPECT_NE(r.waiting_reason.find("injected"), std::string::npos) << r.waiting_reason;
  ASSERT_TRUE(r.next_attempt_at.has_value());
  ASSERT_TRUE(Run(started->rotation_id).has_value());
  EXPECT_EQ(MustRotation(started->rotation_id).step, Step::kDone);
  EXPECT_EQ(failpoints_.Hits("rotation.after_store"), 4u);
  ExpectRotatedCleanly();
}

}  // namespace
}  // namespace kw::rotation
