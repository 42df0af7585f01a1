#include "audit/offboarding.hpp"

#include <gtest/gtest.h>

#include "audit/audit_service.hpp"
#include "audit/directory_sync.hpp"
#include "crypto/csprng.hpp"
#include "store/memory/memory_kv_store.hpp"

namespace kw::audit {
namespace {

class FakeRevoker final : public SessionRevoker {
 public:
  Result<std::size_t> RevokeUserSessions(std::string_view user) override {
    if (fail) return Unavailable("store busy");
    revoked.emplace_back(user);
    return std::size_t{1};
  }
  std::vector<std::string> revoked;
  bool fail = false;
};

class FakeSource final : public directory::DirectorySource {
 public:
  Result<directory::Snapshot> Fetch() override {
    if (error) return *error;
    return snapshot;
  }
  std::string Describe() const override { return "fake"; }
  directory::Snapshot snapshot;
  std::optional<Error> error;
};

class OffboardingTest : public ::testing::Test {
 protected:
  OffboardingTest()
      : envelope_("test-key", SecretBytes(std::string(32, 'k')), random_),
        users_(store_, envelope_, clock_, random_, account_),
        directory_(store_, clock_),
        offboarder_(store_, clock_, users_, revoker_, directory_, "owner") {}

  std::string MakeUser(const std::string& name, const std::string& owner) {
    iam::CreateUserRequest req;
    req.user_name = name;
    if (!owner.empty()) req.tags.push_back({"owner", owner});
    EXPECT_TRUE(users_.CreateUser(req).has_value());
    auto key = users_.CreateAccessKey(name, nullptr);
    EXPECT_TRUE(key.has_value());
    return key->metadata.access_key_id;
  }

  iam::KeyStatus StatusOf(const std::string& user, const std::string& key) {
    auto page = users_.ListAccessKeys(user, std::nullopt, 100, nullptr);
    for (const auto& k : page->keys) {
      if (k.access_key_id == key) return k.status;
    }
    ADD_FAILURE() << "no key " << key;
    return iam::KeyStatus::kActive;
  }

  iam::Account account_{"123456789012"};
  store::MemoryKvStore store_;
  FakeClock clock_{TimePoint(std::chrono::seconds(1700000000))};
  crypto::Csprng random_;
  crypto::Envelope envelope_;
  iam::UserService users_;
  directory::DirectoryService directory_;
  FakeRevoker revoker_;
  Offboarder offboarder_;
};

TEST_F(OffboardingTest, DeactivatesEveryKeyOfEveryOwnedUserAndRecordsWhy) {
  const std::string k1 = MakeUser("build", "alice");
  const std::string k2 = MakeUser("deploy", "ALICE");
  const std::string other = MakeUser("web", "bob");
  users_.RecordUse(k1, "s3", "us-east-1", clock_.Now());

  auto rec = offboarder_.Offboard({"alice", false, "left the company", "admin"});
  ASSERT_TRUE(rec.has_value()) << rec.error().message;
  EXPECT_EQ(rec->status, "completed");
  ASSERT_EQ(rec->keys.size(), 2u);
  for (const auto& k : rec->keys) EXPECT_EQ(k.action, "deactivated");
  EXPECT_TRUE(rec->keys[0].last_used.has_value());  // build's key, used
  EXPECT_EQ(rec->keys[0].last_used_service, "s3");
  EXPECT_EQ(StatusOf("build", k1), iam::KeyStatus::kInactive);
  EXPECT_EQ(StatusOf("deploy", k2), iam::KeyStatus::kInactive);
  EXPECT_EQ(StatusOf("web", other), iam::KeyStatus::kActive);
  EXPECT_EQ(revoker_.revoked, (std::vector<std::string>{"build", "deploy"}));

  auto list = offboarder_.List(10);
  ASSERT_TRUE(list.has_value());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].reason, "left the company");
  EXPECT_EQ((*list)[0].status, "completed");

  // Again: nothing active is left, and it says so.
  auto again = offboarder_.Offboard({"alice", false, "", "admin"});
  ASSERT_TRUE(again.has_value());
  for (const auto& k : again->keys) EXPECT_EQ(k.action, "already-inactive");
}

TEST_F(OffboardingTest, DryRunChangesNothing) {
  const std::string k = MakeUser("build", "alice");
  auto rec = offboarder_.Offboard({"alice", true, "", "admin"});
  ASSERT_TRUE(rec.has_value());
  EXPECT_EQ(rec->status, "dry-run");
  ASSERT_EQ(rec->keys.size(), 1u);
  EXPECT_EQ(rec->keys[0].action, "would-deactivate");
  EXPECT_EQ(StatusOf("build", k), iam::KeyStatus::kActive);
  EXPECT_TRUE(revoker_.revoked.empty());
  EXPECT_TRUE(offboarder_.List(10)->empty());
}

TEST_F(OffboardingTest, SessionRevocationFailureFailsClosed) {
  const std::string k = MakeUser("build", "alice");
  revoker_.fail = true;
  auto rec = offboarder_.Offboard({"alice", false, "", "admin"});
  ASSERT_TRUE(rec.has_value());
  EXPECT_EQ(rec->status, "failed");
  EXPECT_FALSE(rec->users[0].error.empty());
  // The keys are still deactivated: a failure elsewhere never leaves them working.
  EXPECT_EQ(StatusOf("build", k), iam::KeyStatus::kInactive);
  EXPECT_EQ((*offboarder_.List(1))[0].status, "failed");
}

TEST_F(OffboardingTest, OwnerTagByEmailMatchesThroughTheDirectory) {
  directory::Snapshot snap;
  snap.people.push_back(
      {"alice", "person", "Alice", "alice@example.com", "eng", directory::PersonStatus::kActive});
  ASSERT_TRUE(directory_.Sync(snap, {}));
  const std::string k = MakeUser("build", "Alice@Example.com");
  auto rec = offboarder_.Offboard({"alice", false, "", "admin"});
  ASSERT_TRUE(rec.has_value());
  EXPECT_EQ(StatusOf("build", k), iam::KeyStatus::kInactive);
}

TEST_F(OffboardingTest, SyncOffboardsDeparturesOnlyWhenThePolicySaysSo) {
  const std::string k = MakeUser("build", "alice");
  FakeSource source;
  source.snapshot.people = {{"alice", "person", "", "", "eng", directory::PersonStatus::kActive},
                            {"bob", "person", "", "", "eng", directory::PersonStatus::kActive}};
  DirectorySync manual(directory_, offboarder_, &source, false);
  ASSERT_TRUE(manual.Sync());
  source.snapshot.people[0].status = directory::PersonStatus::kDeparted;
  auto report = manual.Sync();
  ASSERT_TRUE(report.has_value());
  ASSERT_EQ(report->result.changes.size(), 1u);
  EXPECT_EQ(report->result.changes[0].kind, directory::ChangeKind::kDeparted);
  EXPECT_TRUE(report->offboarded.empty());
  EXPECT_EQ(StatusOf("build", k), iam::KeyStatus::kActive);

  // With automatic offboarding, bob's departure (he disappears) offboards him, and
  // alice's earlier one is not repeated.
  const std::string kb = MakeUser("bobs", "bob");
  source.snapshot.people.pop_back();
  DirectorySync automatic(directory_, offboarder_, &source, true);
  report = automatic.Sync();
  ASSERT_TRUE(report.has_value()) << report.error().message;
  ASSERT_EQ(report->offboarded.size(), 1u);
  EXPECT_EQ(report->offboarded[0].person, "bob");
  EXPECT_EQ(StatusOf("bobs", kb), iam::KeyStatus::kInactive);
  EXPECT_EQ(StatusOf("build", k), iam::KeyStatus::kActive);
}

TEST_F(OffboardingTest, FailedSourceKeepsThePreviousSnapshot) {
  FakeSource source;
  source.snapshot.people = {{"alice", "person", "", "", "eng", directory::PersonStatus::kActive}};
  DirectorySync sync(directory_, offboarder_, &source, true);
  ASSERT_TRUE(sync.Sync());
  source.error = Unavailable("LDAP: bind to ldap://127.0.0.1:1 failed: Can't contact LDAP server");
  auto r = sync.Sync();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().reason, "ServiceUnavailable");
  EXPECT_NE(r.error().message.find("previous snapshot is kept"), std::string::npos);
  // An empty answer is refused rather than taken as everyone leaving.
  source.error.reset();
  source.snapshot.people.clear();
  r = sync.Sync();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition);
  auto people = directory_.Load();
  ASSERT_EQ(people->size(), 1u);
  EXPECT_FALSE((*people)[0].absent);
  DirectorySync none(directory_, offboarder_, nullptr, false);
  EXPECT_EQ(none.Sync().error().code, ErrorCode::kFailedPrecondition);
}

TEST_F(OffboardingTest, LiveDataFeedsTheRules) {
  MakeUser("orphan", "");
  LiveAuditData live(users_, nullptr, directory_);
  AuditService service(store_, clock_, live, AuditPolicy{});
  auto run = service.Run();
  ASSERT_TRUE(run.has_value()) << run.error().message;
  ASSERT_EQ(run->findings.size(), 1u);
  EXPECT_EQ(run->findings[0].type, "OwnerMissing");
  clock_.Advance(std::chrono::hours(24 * 8));  // never used past the grace period
  run = service.Run();
  ASSERT_TRUE(run.has_value());
  EXPECT_EQ(run->findings.size(), 2u);
}

}  // namespace
}  // namespace kw::audit
