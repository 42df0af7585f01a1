#include "iam/user_service.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <thread>

#include "common/time_format.hpp"
#include "crypto/csprng.hpp"
#include "store/memory/memory_kv_store.hpp"

namespace kw::iam {
namespace {

constexpr const char* kAccount = "123456789012";

class FixedDependents final : public UserDependents {
 public:
  std::optional<std::string> blocker;
  Result<std::optional<std::string>> DeleteBlocker(std::string_view) override { return blocker; }
};

class UserServiceTest : public ::testing::Test {
 protected:
  UserServiceTest()
      : clock_(*ParseIso8601("2026-03-01T10:00:00Z")),
        envelope_("test-master", SecretBytes(random_.Bytes(32)), random_),
        service_(store_, envelope_, clock_, random_, Account{kAccount}) {}

  User MustCreate(const std::string& name, std::optional<std::string> path = std::nullopt,
                  std::vector<Tag> tags = {}) {
    auto u = service_.CreateUser(CreateUserRequest{name, std::move(path), std::move(tags)});
    EXPECT_TRUE(u.has_value()) << (u ? "" : u.error().message);
    return u ? *u : User{};
  }

  CreatedAccessKey MustKey(const std::string& user) {
    auto k = service_.CreateAccessKey(user, nullptr);
    EXPECT_TRUE(k.has_value()) << (k ? "" : k.error().message);
    return std::move(k).value();
  }

  Principal CallerFor(const std::string& user) {
    Principal p;
    p.type = PrincipalType::kUser;
    p.name = user;
    p.arn = std::string("arn:aws:iam::") + kAccount + ":user/" + user;
    return p;
  }

  crypto::Csprng random_;
  FakeClock clock_;
  store::MemoryKvStore store_;
  crypto::Envelope envelope_;
  UserService service_;
};

template <typename T>
std::string ReasonOf(const Result<T>& r) {
  return r.has_value() ? "OK" : r.error().reason;
}

// ---- users -------------------------------------------------------------------------

TEST_F(UserServiceTest, CreateUserReturnsAwsShapedUser) {
  User u = MustCreate("alice", "/ops/", {{"team", "red"}});
  EXPECT_EQ(u.name, "alice");
  EXPECT_EQ(u.path, "/ops/");
  EXPECT_EQ(u.arn, "arn:aws:iam::123456789012:user/ops/alice");
  EXPECT_EQ(u.user_id.size(), 21u);
  EXPECT_EQ(u.user_id.substr(0, 4), "AIDA");
  EXPECT_EQ(u.create_date, clock_.Now());
  ASSERT_EQ(u.tags.size(), 1u);

  auto got = service_.GetUser("ALICE", nullptr);  // case-insensitive lookup
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->name, "alice");
  EXPECT_EQ(got->user_id, u.user_id);
  EXPECT_EQ(got->arn, u.arn);
  EXPECT_EQ(got->create_date, u.create_date);
  EXPECT_EQ(got->tags[0].value, "red");

  User root_path = MustCreate("bob");
  EXPECT_EQ(root_path.path, "/");
  EXPECT_EQ(root_path.arn, "arn:aws:iam::123456789012:user/bob");
}

TEST_F(UserServiceTest, NamesAreUniqueCaseInsensitively) {
  MustCreate("Alice");
  auto dup = service_.CreateUser({"alice", std::nullopt, {}});
  ASSERT_FALSE(dup.has_value());
  EXPECT_EQ(dup.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(dup.error().reason, "EntityAlreadyExists");
  EXPECT_EQ(dup.error().message, "User with name alice already exists.");
}

TEST_F(UserServiceTest, CreateUserValidatesLikeTheModel) {
  EXPECT_EQ(ReasonOf(service_.CreateUser({"", std::nullopt, {}})), "ValidationError");
  EXPECT_EQ(ReasonOf(service_.CreateUser({"has space", std::nullopt, {}})), "ValidationError");
  EXPECT_EQ(ReasonOf(service_.CreateUser({std::string(65, 'a'), std::nullopt, {}})),
            "ValidationError");
  EXPECT_EQ(ReasonOf(service_.CreateUser({std::string(64, 'a'), std::nullopt, {}})), "OK");
  EXPECT_EQ(ReasonOf(service_.CreateUser({"a+b=c,d.e@f-g_h", std::nullopt, {}})), "OK");
  EXPECT_EQ(ReasonOf(service_.CreateUser({"p1", "noslash", {}})), "ValidationError");
  EXPECT_EQ(ReasonOf(service_.CreateUser({"p2", "/no-trailing", {}})), "ValidationError");
  EXPECT_EQ(ReasonOf(service_.CreateUser({"p3", "//", {}})), "ValidationError");
  EXPECT_EQ(ReasonOf(service_.CreateUser({"p4", "/" + std::string(511, 'a'), {}})),
            "ValidationError");
  EXPECT_EQ(ReasonOf(service_.CreateUser({"p5", "/a/b/", {}})), "OK");

  auto bad = service_.CreateUser({"has space", std::nullopt, {}});
  EXPECT_EQ(bad.error().message,
            "1 validation error detected: Value 'has space' at 'userName' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+");

  std::vector<Tag> many;
  for (int i = 0; i < 51; ++i) many.push_back({"k" + std::to_string(i), "v"});
  EXPECT_EQ(ReasonOf(service_.CreateUser({"t1", std::nullopt, many})), "ValidationError");
  many.pop_back();
  EXPECT_EQ(ReasonOf(service_.CreateUser({"t2", std::nullopt, many})), "OK");
  EXPECT_EQ(ReasonOf(service_.CreateUser({"t3", std::nullopt, {{"", "v"}}})), "ValidationError");
  EXPECT_EQ(ReasonOf(service_.CreateUser({"t4", std::nullopt, {{std::string(129, 'k'), ""}}})),
            "ValidationError");
  EXPECT_EQ(ReasonOf(service_.CreateUser({"t5", std::nullopt, {{"k", std::string(257, 'v')}}})),
            "ValidationError");
  EXPECT_EQ(ReasonOf(service_.CreateUser({"t6", std::nullopt, {{"k", "bad*char"}}})),
            "ValidationError");
  EXPECT_EQ(ReasonOf(service_.CreateUser({"t7", std::nullopt, {{"Team", "a"}, {"team", "b"}}})),
            "InvalidInput");
  // Nothing of the refused users was stored.
  EXPECT_EQ(ReasonOf(service_.GetUser("t7", nullptr)), "NoSuchEntity");
}

TEST_F(UserServiceTest, GetUserWithoutNameIsTheCaller) {
  MustCreate("carol");
  Principal caller = CallerFor("carol");
  auto me = service_.GetUser(std::nullopt, &caller);
  ASSERT_TRUE(me.has_value());
  EXPECT_EQ(me->name, "carol");

  Principal role;
  role.type = PrincipalType::kAssumedRole;
  role.name = "deployer";
  auto r = service_.GetUser(std::nullopt, &role);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().reason, "ValidationError");
  EXPECT_EQ(r.error().message, "Must specify userName when calling with non-User credentials");
  EXPECT_EQ(ReasonOf(service_.GetUser(std::nullopt, nullptr)), "ValidationError");

  auto missing = service_.GetUser("nobody", nullptr);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(missing.error().reason, "NoSuchEntity");
  EXPECT_EQ(missing.error().message, "The user with name nobody cannot be found.");
}

TEST_F(UserServiceTest, ListUsersSortsPagesAndFilters) {
  for (const char* n : {"dave", "Bob", "alice", "erin", "carol"}) MustCreate(n);
  MustCreate("frank", "/ops/");
  MustCreate("grace", "/ops/db/");

  std::vector<std::string> names;
  std::optional<std::string> marker;
  int pages = 0;
  for (;;) {
    auto page = service_.ListUsers({std::nullopt, marker, 2});
    ASSERT_TRUE(page.has_value());
    ++pages;
    EXPECT_LE(page->users.size(), 2u);
    for (const User& u : page->users) names.push_back(u.name);
    if (!page->is_truncated) {
      EXPECT_TRUE(page->marker.empty());
      break;
    }
    ASSERT_FALSE(page->marker.empty());
    marker = page->marker;
  }
  EXPECT_EQ(pages, 4);
  EXPECT_EQ(names,
            (std::vector<std::string>{"alice", "Bob", "carol", "dave", "erin", "frank", "grace"}));

  auto all = service_.ListUsers({});
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(all->users.size(), 7u);
  EXPECT_FALSE(all->is_truncated);

  auto ops = service_.ListUsers({"/ops/", std::nullopt, std::nullopt});
  ASSERT_TRUE(ops.has_value());
  ASSERT_EQ(ops->users.size(), 2u);
  EXPECT_EQ(ops->users[0].name, "frank");
  EXPECT_EQ(ops->users[1].name, "grace");

  // A filtered page that is exactly full but has nothing after it is not truncated.
  auto one = service_.ListUsers({"/ops/db/", std::nullopt, 1});
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(one->users.size(), 1u);
  EXPECT_FALSE(one->is_truncated);

  EXPECT_EQ(ReasonOf(service_.ListUsers({std::nullopt, std::nullopt, 0})), "ValidationError");
  EXPECT_EQ(ReasonOf(service_.ListUsers({std::nullopt, std::nullopt, 1001})), "ValidationError");
  EXPECT_EQ(ReasonOf(service_.ListUsers({"ops", std::nullopt, std::nullopt})), "ValidationError");
}

TEST_F(UserServiceTest, RenameKeepsIdAndKeys) {
  User before = MustCreate("old", "/a/");
  CreatedAccessKey key = MustKey("old");
  auto resolved = service_.Resolve(key.metadata.access_key_id, "", clock_.Now());
  ASSERT_TRUE(resolved.has_value());
  EXPECT_EQ(resolved->principal.name, "old");

  ASSERT_TRUE(service_.UpdateUser({"OLD", "New", "/b/"}).has_value());
  EXPECT_EQ(ReasonOf(service_.GetUser("old", nullptr)), "NoSuchEntity");
  auto after = service_.GetUser("new", nullptr);
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->name, "New");
  EXPECT_EQ(after->user_id, before.user_id);
  EXPECT_EQ(after->path, "/b/");
  EXPECT_EQ(after->arn, "arn:aws:iam::123456789012:user/b/New");

  auto keys = service_.ListAccessKeys("new", std::nullopt, std::nullopt, nullptr);
  ASSERT_TRUE(keys.has_value());
  ASSERT_EQ(keys->keys.size(), 1u);
  EXPECT_EQ(keys->keys[0].access_key_id, key.metadata.access_key_id);
  EXPECT_EQ(keys->keys[0].user_name, "New");
  EXPECT_EQ(ReasonOf(service_.ListAccessKeys("old", std::nullopt, std::nullopt, nullptr)),
            "NoSuchEntity");

  // The cached principal followed the rename.
  resolved = service_.Resolve(key.metadata.access_key_id, "", clock_.Now());
  ASSERT_TRUE(resolved.has_value());
  EXPECT_EQ(resolved->principal.name, "New");
  EXPECT_EQ(resolved->principal.arn, "arn:aws:iam::123456789012:user/b/New");

  // The key still counts against the renamed user's quota.
  MustKey("New");
  EXPECT_EQ(ReasonOf(service_.CreateAccessKey("new", nullptr)), "LimitExceeded");
}

TEST_F(UserServiceTest, RenameConflictsAndMissing) {
  MustCreate("a");
  MustCreate("b");
  auto s = service_.UpdateUser({"a", "B", std::nullopt});
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().reason, "EntityAlreadyExists");
  EXPECT_TRUE(service_.GetUser("a", nullptr).has_value());  // unchanged
  EXPECT_EQ(ReasonOf(service_.UpdateUser({"zz", "y", std::nullopt})), "NoSuchEntity");
  // A change of case only is a rename onto itself.
  ASSERT_TRUE(service_.UpdateUser({"a", "A", std::nullopt}).has_value());
  EXPECT_EQ(service_.GetUser("a", nullptr)->name, "A");
}

TEST_F(UserServiceTest, DeleteUserConflicts) {
  FixedDependents deps;
  service_.SetDependents(&deps);
  MustCreate("dan");
  CreatedAccessKey key = MustKey("dan");

  auto s = service_.DeleteUser("dan");
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().reason, "DeleteConflict");
  EXPECT_EQ(s.error().message, "Cannot delete entity, must delete access keys first.");

  ASSERT_TRUE(service_.DeleteAccessKey("dan", key.metadata.access_key_id, nullptr).has_value());
  deps.blocker = "Cannot delete entity, must delete policies first.";
  s = service_.DeleteUser("dan");
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().reason, "DeleteConflict");
  EXPECT_EQ(s.error().message, "Cannot delete entity, must delete policies first.");

  deps.blocker.reset();
  ASSERT_TRUE(service_.DeleteUser("DAN").has_value());
  EXPECT_EQ(ReasonOf(service_.GetUser("dan", nullptr)), "NoSuchEntity");
  EXPECT_EQ(ReasonOf(service_.DeleteUser("dan")), "NoSuchEntity");
  // The name is free again.
  MustCreate("dan");
}

TEST_F(UserServiceTest, TagsReplaceCaseInsensitivelyAndAreLimited) {
  MustCreate("tess", std::nullopt, {{"Team", "red"}, {"env", "prod"}});
  ASSERT_TRUE(service_.TagUser("tess", {{"team", "blue"}, {"cost", "42"}}).has_value());
  auto page = service_.ListUserTags("tess", std::nullopt, std::nullopt);
  ASSERT_TRUE(page.has_value());
  ASSERT_EQ(page->tags.size(), 3u);
  EXPECT_EQ(page->tags[0].key, "team");
  EXPECT_EQ(page->tags[0].value, "blue");
  EXPECT_EQ(page->tags[2].key, "cost");

  ASSERT_TRUE(service_.UntagUser("tess", {"ENV", "absent"}).has_value());
  page = service_.ListUserTags("tess", std::nullopt, std::nullopt);
  ASSERT_EQ(page->tags.size(), 2u);

  std::vector<Tag> more;
  for (int i = 0; i < 49; ++i) more.push_back({"k" + std::to_string(i), "v"});
  auto s = service_.TagUser("tess", more);  // 2 + 49 > 50
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().reason, "LimitExceeded");
  more.pop_back();
  ASSERT_TRUE(service_.TagUser("tess", more).has_value());  // exactly 50

  // Pagination.
  std::size_t seen = 0;
  std::optional<std::string> marker;
  for (;;) {
    auto p = service_.ListUserTags("tess", marker, 20);
    ASSERT_TRUE(p.has_value());
    seen += p->tags.size();
    if (!p->is_truncated) break;
    marker = p->marker;
  }
  EXPECT_EQ(seen, 50u);
  EXPECT_EQ(ReasonOf(service_.TagUser("nobody", {{"a", "b"}})), "NoSuchEntity");
  EXPECT_EQ(ReasonOf(service_.UntagUser("nobody", {"a"})), "NoSuchEntity");
  EXPECT_EQ(ReasonOf(service_.ListUserTags("nobody", std::nullopt, std::nullopt)), "NoSuchEntity");
}

// ---- access keys ---------------------------------------------------------------------

TEST_F(UserServiceTest, CreateAccessKeyShapesAndQuota) {
  MustCreate("kim");
  CreatedAccessKey k1 = MustKey("KIM");
  EXPECT_EQ(k1.metadata.access_key_id.size(), 20u);
  EXPECT_EQ(k1.metadata.access_key_id.substr(0, 4), "AKIA");
  EXPECT_EQ(k1.secret_access_key.size(), 40u);
  EXPECT_EQ(k1.metadata.user_name, "kim");
  EXPECT_EQ(k1.metadata.status, KeyStatus::kActive);
  EXPECT_EQ(k1.metadata.create_date, clock_.Now());

  Principal caller = CallerFor("kim");
  auto k2 = service_.CreateAccessKey(std::nullopt, &caller);  // the caller's own
  ASSERT_TRUE(k2.has_value());
  EXPECT_EQ(k2->metadata.user_name, "kim");
  EXPECT_NE(k2->metadata.access_key_id, k1.metadata.access_key_id);

  auto k3 = service_.CreateAccessKey("kim", nullptr);
  ASSERT_FALSE(k3.has_value());
  EXPECT_EQ(k3.error().reason, "LimitExceeded");
  EXPECT_EQ(k3.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(k3.error().message, "Cannot exceed quota for AccessKeysPerUser: 2");

  // A deleted key frees its slot.
  ASSERT_TRUE(service_.DeleteAccessKey("kim", k1.metadata.access_key_id, nullptr).has_value());
  MustKey("kim");

  EXPECT_EQ(ReasonOf(service_.CreateAccessKey("nobody", nullptr)), "NoSuchEntity");
  EXPECT_EQ(ReasonOf(service_.CreateAccessKey(std::nullopt, nullptr)), "ValidationError");
}

TEST_F(UserServiceTest, ConcurrentCreatesNeverExceedTheQuota) {
  MustCreate("race");
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&] {
      if (service_.CreateAccessKey("race", nullptr).has_value()) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 2);
  EXPECT_EQ(service_.ListAccessKeys("race", std::nullopt, std::nullopt, nullptr)->keys.size(), 2u);
}

TEST_F(UserServiceTest, ListUpdateDeleteKeys) {
  MustCreate("lee");
  MustCreate("other");
  CreatedAccessKey a = MustKey("lee");
  CreatedAccessKey b = MustKey("lee");
  CreatedAccessKey theirs = MustKey("other");

  auto all = service_.ListAccessKeys("lee", std::nullopt, std::nullopt, nullptr);
  ASSERT_TRUE(all.has_value());
  ASSERT_EQ(all->keys.size(), 2u);
  EXPECT_FALSE(all->is_truncated);
  EXPECT_LT(all->keys[0].access_key_id, all->keys[1].access_key_id);

  auto first = service_.ListAccessKeys("lee", std::nullopt, 1, nullptr);
  ASSERT_TRUE(first.has_value());
  ASSERT_EQ(first->keys.size(), 1u);
  EXPECT_TRUE(first->is_truncated);
  auto second = service_.ListAccessKeys("lee", first->marker, 1, nullptr);
  ASSERT_TRUE(second.has_value());
  ASSERT_EQ(second->keys.size(), 1u);
  EXPECT_FALSE(second->is_truncated);
  EXPECT_NE(second->keys[0].access_key_id, first->keys[0].access_key_id);

  ASSERT_TRUE(
      service_.UpdateAccessKey("lee", a.metadata.access_key_id, KeyStatus::kInactive, nullptr)
          .has_value());
  auto listed = service_.ListAccessKeys("lee", std::nullopt, std::nullopt, nullptr);
  for (const auto& k : listed->keys) {
    EXPECT_EQ(k.status, k.access_key_id == a.metadata.access_key_id ? KeyStatus::kInactive
                                                                    : KeyStatus::kActive);
  }

  // Another user's key is "not found" for this user.
  auto wrong =
      service_.UpdateAccessKey("lee", theirs.metadata.access_key_id, KeyStatus::kInactive, nullptr);
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().reason, "NoSuchEntity");
  EXPECT_EQ(wrong.error().message,
            "The Access Key with id " + theirs.metadata.access_key_id + " cannot be found.");
  EXPECT_EQ(ReasonOf(service_.DeleteAccessKey("lee", theirs.metadata.access_key_id, nullptr)),
            "NoSuchEntity");
  EXPECT_EQ(ReasonOf(service_.DeleteAccessKey("lee", "AKIAXXXXXXXXXXXXXXXX", nullptr)),
            "NoSuchEntity");
  EXPECT_EQ(ReasonOf(service_.DeleteAccessKey("lee", "short", nullptr)), "ValidationError");

  Principal caller = CallerFor("lee");
  ASSERT_TRUE(service_.DeleteAccessKey(std::nullopt, b.metadata.access_key_id, &caller));
  EXPECT_EQ(service_.ListAccessKeys(std::nullopt, std::nullopt, std::nullopt, &caller)->keys.size(),
            1u);
  EXPECT_EQ(ReasonOf(service_.FindAccessKey(b.metadata.access_key_id)), "NoSuchEntity");
}

// ---- resolver ------------------------------------------------------------------------

TEST_F(UserServiceTest, ResolveReturnsSecretAndPrincipal) {
  User u = MustCreate("rita", "/svc/", {{"team", "red"}});
  CreatedAccessKey key = MustKey("rita");
  auto r = service_.Resolve(key.metadata.access_key_id, "", clock_.Now());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->secret_access_key.Reveal(), key.secret_access_key.Reveal());
  EXPECT_EQ(r->principal.type, PrincipalType::kUser);
  EXPECT_EQ(r->principal.account_id, kAccount);
  EXPECT_EQ(r->principal.arn, "arn:aws:iam::123456789012:user/svc/rita");
  EXPECT_EQ(r->principal.user_id, u.user_id);
  EXPECT_EQ(r->principal.name, "rita");
  EXPECT_EQ(r->principal.access_key_id, key.metadata.access_key_id);
  EXPECT_FALSE(r->principal.temporary);
  EXPECT_EQ(r->principal.tags.at("team"), "red");

  auto unknown = service_.Resolve("AKIAUNKNOWN000000000", "", clock_.Now());
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().reason, "InvalidClientTokenId");
  EXPECT_EQ(unknown.error().message, "The security token included in the request is invalid.");
  EXPECT_EQ(ReasonOf(service_.Resolve(key.metadata.access_key_id, "token", clock_.Now())),
            "InvalidClientTokenId");
}

TEST_F(UserServiceTest, DeactivationAndDeletionTakeEffectOnTheNextRequest) {
  MustCreate("ivan");
  CreatedAccessKey key = MustKey("ivan");
  const std::string id = key.metadata.access_key_id;
  ASSERT_TRUE(service_.Resolve(id, "", clock_.Now()).has_value());  // now cached

  ASSERT_TRUE(service_.UpdateAccessKey("ivan", id, KeyStatus::kInactive, nullptr).has_value());
  EXPECT_EQ(ReasonOf(service_.Resolve(id, "", clock_.Now())), "InvalidClientTokenId");
  EXPECT_EQ(ReasonOf(service_.Resolve(id, "", clock_.Now())), "InvalidClientTokenId");

  ASSERT_TRUE(service_.UpdateAccessKey("ivan", id, KeyStatus::kActive, nullptr).has_value());
  EXPECT_TRUE(service_.Resolve(id, "", clock_.Now()).has_value());

  ASSERT_TRUE(service_.DeleteAccessKey("ivan", id, nullptr).has_value());
  EXPECT_EQ(ReasonOf(service_.Resolve(id, "", clock_.Now())), "InvalidClientTokenId");
}

TEST_F(UserServiceTest, ResolveInactiveGivesOnlyInactiveKeysWithTheirSecret) {
  MustCreate("olga");
  CreatedAccessKey key = MustKey("olga");
  const std::string id = key.metadata.access_key_id;
  EXPECT_FALSE(service_.ResolveInactive(id).has_value());  // active
  EXPECT_FALSE(service_.ResolveInactive("AKIAUNKNOWN000000000").has_value());

  ASSERT_TRUE(service_.UpdateAccessKey("olga", id, KeyStatus::kInactive, nullptr).has_value());
  // Both paths: straight from the store (nothing cached since the change) and from the
  // cache entry a refused Resolve leaves behind.
  for (int pass = 0; pass < 2; ++pass) {
    auto r = service_.ResolveInactive(id);
    ASSERT_TRUE(r.has_value()) << "pass " << pass;
    EXPECT_EQ(r->secret_access_key.Reveal(), key.secret_access_key.Reveal());
    EXPECT_EQ(r->principal.arn, "arn:aws:iam::123456789012:user/olga");
    EXPECT_EQ(ReasonOf(service_.Resolve(id, "", clock_.Now())), "InvalidClientTokenId");
  }
  ASSERT_TRUE(service_.DeleteAccessKey("olga", id, nullptr).has_value());
  EXPECT_FALSE(service_.ResolveInactive(id).has_value());
}

// A store that can hold a single read of iam_access_keys (outside a transaction)
// after it has read, to interleave a Resolve with a concurrent change exactly.
class GatedStore final : public store::KvStore {
 public:
  Status Transact(const std::function<Status(store::Txn&)>& fn) override {
    return inner_.Transact(fn);
  }
  Result<std::optional<store::Item>> Get(std::string_view table, std::string_view key) override {
    auto item = inner_.Get(table, key);
    if (table == "iam_access_keys") {
      std::unique_lock lock(mu_);
      if (armed_) {
        armed_ = false;
        read_done_ = true;
        cv_.notify_all();
        cv_.wait(lock, [&] { return released_; });
      }
    }
    return item;
  }
  Result<std::vector<store::Item>> List(std::string_view table,
                                        const store::ListOptions& options) override {
    return inner_.List(table, options);
  }
  void Arm() {
    std::lock_guard lock(mu_);
    armed_ = true;
    read_done_ = released_ = false;
  }
  void WaitForRead() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return read_done_; });
  }
  void Release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  store::MemoryKvStore inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool armed_ = false, read_done_ = false, released_ = false;
};

TEST(UserServiceRaceTest, AResolveInFlightDuringDeactivationDoesNotCacheTheOldState) {
  crypto::Csprng random;
  FakeClock clock(*ParseIso8601("2026-03-01T10:00:00Z"));
  GatedStore store;
  crypto::Envelope envelope("m", SecretBytes(random.Bytes(32)), random);
  UserService service(store, envelope, clock, random, Account{kAccount});
  ASSERT_TRUE(service.CreateUser({"hot", std::nullopt, {}}).has_value());
  auto key = service.CreateAccessKey("hot", nullptr);
  ASSERT_TRUE(key.has_value());
  const std::string id = key->metadata.access_key_id;

  store.Arm();
  std::thread in_flight([&] {
    // Read the key while it was active; it may succeed, it is the earlier request.
    (void)service.Resolve(id, "", clock.Now());
  });
  store.WaitForRead();
  ASSERT_TRUE(service.UpdateAccessKey("hot", id, KeyStatus::kInactive, nullptr).has_value());
  store.Release();
  in_flight.join();
  // The next request after the deactivation returned is refused.
  EXPECT_EQ(ReasonOf(service.Resolve(id, "", clock.Now())), "InvalidClientTokenId");
}

TEST_F(UserServiceTest, ResolveServesFromCacheWithoutReadingTheStore) {
  MustCreate("cache");
  CreatedAccessKey key = MustKey("cache");
  const std::string id = key.metadata.access_key_id;
  ASSERT_TRUE(service_.Resolve(id, "", clock_.Now()).has_value());
  // Break the stored record behind the service's back: a cached key still resolves,
  // so the hit path neither reads nor decrypts.
  ASSERT_TRUE(store_.Transact([&](store::Txn& txn) -> Status {
    KW_RETURN_IF_ERROR(txn.Put("iam_access_keys", id, "not json"));
    return OkStatus();
  }));
  auto r = service_.Resolve(id, "", clock_.Now());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->secret_access_key.Reveal(), key.secret_access_key.Reveal());
}

TEST_F(UserServiceTest, TagChangesReachCachedPrincipals) {
  MustCreate("pat", std::nullopt, {{"team", "red"}});
  CreatedAccessKey key = MustKey("pat");
  const std::string id = key.metadata.access_key_id;
  EXPECT_EQ(service_.Resolve(id, "", clock_.Now())->principal.tags.at("team"), "red");
  ASSERT_TRUE(service_.TagUser("pat", {{"team", "blue"}}).has_value());
  EXPECT_EQ(service_.Resolve(id, "", clock_.Now())->principal.tags.at("team"), "blue");
  ASSERT_TRUE(service_.UntagUser("pat", {"team"}).has_value());
  EXPECT_TRUE(service_.Resolve(id, "", clock_.Now())->principal.tags.empty());
}

TEST_F(UserServiceTest, SecretIsNeverStoredInPlaintext) {
  MustCreate("sam");
  CreatedAccessKey key = MustKey("sam");
  service_.RecordUse(key.metadata.access_key_id, "iam", "us-east-1", clock_.Now());
  ASSERT_TRUE(service_.FlushUsage().has_value());
  ASSERT_TRUE(service_.GenerateCredentialReport().has_value());
  const std::string secret(key.secret_access_key.Reveal());
  int values = 0;
  bool saw_key_record = false;
  for (const char* table : {"iam_users", "iam_access_keys", "iam_user_keys", "iam_key_usage",
                            "iam_credential_report"}) {
    auto items = store_.List(table, {});
    ASSERT_TRUE(items.has_value());
    for (const auto& item : *items) {
      ++values;
      EXPECT_EQ(item.value.find(secret), std::string::npos) << table << "/" << item.key;
      EXPECT_EQ(item.key.find(secret), std::string::npos);
      if (item.value.find("kw2:") != std::string::npos) saw_key_record = true;
    }
  }
  EXPECT_GE(values, 5);
  EXPECT_TRUE(saw_key_record);  // the ciphertext is there instead
}

// ---- last used ---------------------------------------------------------------------

TEST_F(UserServiceTest, LastUsedMergesMemoryAndStore) {
  MustCreate("uma");
  CreatedAccessKey key = MustKey("uma");
  const std::string id = key.metadata.access_key_id;

  auto never = service_.GetAccessKeyLastUsed(id);
  ASSERT_TRUE(never.has_value());
  EXPECT_EQ(never->user_name, "uma");
  EXPECT_FALSE(never->last_used_date.has_value());
  EXPECT_EQ(never->service_name, "N/A");
  EXPECT_EQ(never->region, "N/A");

  const TimePoint t1 = clock_.Now() + std::chrono::minutes(1);
  service_.RecordUse(id, "iam", "us-east-1", t1);
  auto unflushed = service_.GetAccessKeyLastUsed(id);
  ASSERT_TRUE(unflushed.has_value());
  EXPECT_EQ(unflushed->last_used_date, t1);
  EXPECT_EQ(unflushed->service_name, "iam");

  ASSERT_TRUE(service_.FlushUsage().has_value());
  // Another instance over the same store (a restart) sees the flushed use.
  UserService restarted(store_, envelope_, clock_, random_, Account{kAccount});
  auto flushed = restarted.GetAccessKeyLastUsed(id);
  ASSERT_TRUE(flushed.has_value());
  EXPECT_EQ(flushed->last_used_date, t1);
  EXPECT_EQ(flushed->region, "us-east-1");

  // A newer buffered use wins over the stored one; an older one never replaces it.
  const TimePoint t2 = t1 + std::chrono::minutes(5);
  service_.RecordUse(id, "secretsmanager", "eu-west-1", t2);
  service_.RecordUse(id, "sts", "ap-south-1", t1 - std::chrono::minutes(1));
  auto merged = service_.GetAccessKeyLastUsed(id);
  EXPECT_EQ(merged->last_used_date, t2);
  EXPECT_EQ(merged->service_name, "secretsmanager");
  ASSERT_TRUE(service_.FlushUsage().has_value());
  EXPECT_EQ(restarted.GetAccessKeyLastUsed(id)->last_used_date, t2);

  // A stale instance flushing an older use does not move the stored date back.
  restarted.RecordUse(id, "iam", "us-east-1", t1);
  ASSERT_TRUE(restarted.FlushUsage().has_value());
  EXPECT_EQ(service_.GetAccessKeyLastUsed(id)->last_used_date, t2);

  EXPECT_EQ(ReasonOf(service_.GetAccessKeyLastUsed("AKIAUNKNOWN000000000")), "NoSuchEntity");
}

TEST_F(UserServiceTest, FlushSkipsDeletedKeys) {
  MustCreate("vic");
  CreatedAccessKey key = MustKey("vic");
  const std::string id = key.metadata.access_key_id;
  service_.RecordUse(id, "iam", "us-east-1", clock_.Now());
  ASSERT_TRUE(service_.FlushUsage().has_value());
  service_.RecordUse(id, "iam", "us-east-1", clock_.Now() + std::chrono::seconds(1));
  ASSERT_TRUE(service_.DeleteAccessKey("vic", id, nullptr).has_value());
  ASSERT_TRUE(service_.FlushUsage().has_value());
  auto usage = store_.List("iam_key_usage", {});
  ASSERT_TRUE(usage.has_value());
  EXPECT_TRUE(usage->empty());
}

// ---- credential report ------------------------------------------------------------

TEST_F(UserServiceTest, CredentialReportLifecycle) {
  auto none = service_.GetCredentialReport();
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.error().reason, "ReportNotPresent");

  MustCreate("wes");
  CreatedAccessKey key = MustKey("wes");
  ASSERT_TRUE(
      service_.UpdateAccessKey("wes", key.metadata.access_key_id, KeyStatus::kActive, nullptr));
  clock_.Advance(std::chrono::hours(1));
  service_.RecordUse(key.metadata.access_key_id, "iam", "us-east-1", clock_.Now());  // unflushed

  auto gen = service_.GenerateCredentialReport();
  ASSERT_TRUE(gen.has_value());
  EXPECT_EQ(gen->state, "STARTED");
  auto again = service_.GenerateCredentialReport();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->state, "COMPLETE");

  auto report = service_.GetCredentialReport();
  ASSERT_TRUE(report.has_value());
  EXPECT_EQ(report->generated_time, clock_.Now());
  EXPECT_EQ(report->csv.rfind("user,arn,user_creation_time,", 0), 0u);
  EXPECT_NE(report->csv.find("\n<root_account>,arn:aws:iam::123456789012:root,"),
            std::string::npos);
  EXPECT_NE(report->csv.find("\nwes,arn:aws:iam::123456789012:user/wes,"
                             "2026-03-01T10:00:00+00:00,false,N/A,N/A,N/A,false,"
                             "true,2026-03-01T10:00:00+00:00,2026-03-01T11:00:00+00:00,"
                             "us-east-1,iam,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A"),
            std::string::npos)
      << report->csv;

  // Users created after generation appear only in the next report.
  MustCreate("xena");
  clock_.Advance(std::chrono::hours(3));
  EXPECT_EQ(service_.GenerateCredentialReport()->state, "COMPLETE");
  EXPECT_EQ(service_.GetCredentialReport()->csv.find("xena"), std::string::npos);

  clock_.Advance(std::chrono::hours(1));  // 4 hours old
  auto expired = service_.GetCredentialReport();
  ASSERT_FALSE(expired.has_value());
  EXPECT_EQ(expired.error().reason, "ReportExpired");
  EXPECT_EQ(service_.GenerateCredentialReport()->state, "STARTED");
  auto fresh = service_.GetCredentialReport();
  ASSERT_TRUE(fresh.has_value());
  EXPECT_NE(fresh->csv.find("\nxena,"), std::string::npos);
}

// ---- directory ---------------------------------------------------------------------

TEST_F(UserServiceTest, FindUserForOtherServices) {
  User u = MustCreate("yan", "/x/", {{"k", "v"}});
  auto s = service_.FindUser("YAN");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->name, "yan");
  EXPECT_EQ(s->user_id, u.user_id);
  EXPECT_EQ(s->arn, u.arn);
  EXPECT_EQ(s->path, "/x/");
  EXPECT_EQ(s->tags.at("k"), "v");
  auto missing = service_.FindUser("zed");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().reason, "NoSuchEntity");
  EXPECT_EQ(ReasonOf(service_.FindUser("bad name")), "NoSuchEntity");
}

}  // namespace
}  // namespace kw::iam
