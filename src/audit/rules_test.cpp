#include "audit/rules.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "audit/audit_service.hpp"
#include "store/memory/memory_kv_store.hpp"

namespace kw::audit {
namespace {

using std::chrono::hours;
constexpr auto kDay = hours(24);

// Each test builds the scenario that causes one finding and the matching clean
// scenario, and checks the finding is present in the first and absent in the second.
class RulesTest : public ::testing::Test {
 protected:
  FakeClock clock_{TimePoint(std::chrono::seconds(1700000000))};
  AuditPolicy policy_;
  std::vector<std::unique_ptr<Rule>> rules_ = DefaultRules();

  // A user with an owner and one active key used an hour ago, created 10 days ago:
  // nothing to report.
  UserView CleanUser(std::string name = "app") {
    UserView u;
    u.name = name;
    u.arn = "arn:aws:iam::123456789012:user/" + name;
    u.created = clock_.Now() - 10 * kDay;
    u.tags = {{"owner", "alice"}};
    u.keys.push_back({"AKIA" + name, true, clock_.Now() - 10 * kDay, clock_.Now() - hours(1)});
    return u;
  }

  AuditData Data(std::vector<UserView> users, std::vector<directory::PersonRecord> people = {}) {
    AuditData d;
    d.now = clock_.Now();
    d.users = std::move(users);
    if (people.empty()) people.push_back(Person("alice", directory::PersonStatus::kActive));
    d.directory = std::make_shared<directory::OwnerIndex>(std::move(people));
    return d;
  }

  static directory::PersonRecord Person(std::string id, directory::PersonStatus status) {
    directory::PersonRecord r;
    r.person.id = id;
    r.person.email = id + "@example.com";
    r.person.status = status;
    return r;
  }

  std::vector<std::string> Types(const AuditData& d) {
    std::vector<std::string> out;
    for (const auto& o : Evaluate(rules_, d, policy_)) out.push_back(o.type);
    std::sort(out.begin(), out.end());
    return out;
  }

  bool Has(const AuditData& d, std::string_view type) {
    auto t = Types(d);
    return std::find(t.begin(), t.end(), type) != t.end();
  }
};

TEST_F(RulesTest, CleanScenarioHasNoFindings) { EXPECT_TRUE(Types(Data({CleanUser()})).empty()); }

TEST_F(RulesTest, KeyOlderThanPolicy) {
  UserView old = CleanUser();
  old.keys[0].created = clock_.Now() - 91 * kDay;
  EXPECT_TRUE(Has(Data({old}), "AccessKeyTooOld"));
  old.keys[0].created = clock_.Now() - 89 * kDay;
  EXPECT_FALSE(Has(Data({old}), "AccessKeyTooOld"));
  // An inactive old key is not a risk.
  old.keys[0].created = clock_.Now() - 200 * kDay;
  old.keys[0].active = false;
  EXPECT_FALSE(Has(Data({old}), "AccessKeyTooOld"));
  // The policy's age is honoured.
  policy_.key_max_age = Days(30);
  UserView u = CleanUser();
  u.keys[0].created = clock_.Now() - 31 * kDay;
  EXPECT_TRUE(Has(Data({u}), "AccessKeyTooOld"));
}

TEST_F(RulesTest, KeyUnusedFor45And90Days) {
  UserView u = CleanUser();
  u.keys[0].created = clock_.Now() - 80 * kDay;
  u.keys[0].last_used = clock_.Now() - 46 * kDay;
  EXPECT_EQ(Types(Data({u})), std::vector<std::string>{"AccessKeyUnused45Days"});
  u.keys[0].last_used = clock_.Now() - 44 * kDay;
  EXPECT_TRUE(Types(Data({u})).empty());
  u.keys[0].last_used = clock_.Now() - 91 * kDay;
  policy_.key_max_age = Days(365);
  u.keys[0].created = clock_.Now() - 100 * kDay;
  auto findings = Evaluate(rules_, Data({u}), policy_);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].type, "AccessKeyUnused90Days");
  EXPECT_EQ(findings[0].severity, Severity::kHigh);
  EXPECT_EQ(findings[0].resource, "AKIAapp");
  EXPECT_EQ(findings[0].evidence.at("UnusedDays"), "91");
}

TEST_F(RulesTest, KeyNeverUsedAfterGrace) {
  UserView u = CleanUser();
  u.keys[0].last_used.reset();
  u.keys[0].created = clock_.Now() - 8 * kDay;
  EXPECT_EQ(Types(Data({u})), std::vector<std::string>{"AccessKeyNeverUsed"});
  u.keys[0].created = clock_.Now() - 6 * kDay;
  EXPECT_TRUE(Types(Data({u})).empty());
}

TEST_F(RulesTest, TwoActiveKeys) {
  UserView u = CleanUser();
  u.keys.push_back({"AKIAsecond", true, clock_.Now() - kDay, clock_.Now() - hours(2)});
  EXPECT_EQ(Types(Data({u})), std::vector<std::string>{"UserHasTwoActiveKeys"});
  u.keys[1].active = false;
  EXPECT_TRUE(Types(Data({u})).empty());
}

TEST_F(RulesTest, OwnerMissingUnknownDepartedTransferred) {
  UserView u = CleanUser();
  u.tags.clear();
  EXPECT_EQ(Types(Data({u})), std::vector<std::string>{"OwnerMissing"});

  u.tags = {{"Owner", "nobody"}};  // the tag key matches case-insensitively
  EXPECT_EQ(Types(Data({u})), std::vector<std::string>{"OwnerUnknown"});
  // Without a directory nobody can be called unknown.
  AuditData no_dir = Data({u});
  no_dir.directory =
      std::make_shared<directory::OwnerIndex>(std::vector<directory::PersonRecord>{});
  EXPECT_TRUE(Types(no_dir).empty());

  u.tags = {{"owner", "ALICE@example.com"}};  // by email
  EXPECT_TRUE(Types(Data({u})).empty());
  auto departed =
      Evaluate(rules_, Data({u}, {Person("alice", directory::PersonStatus::kDeparted)}), policy_);
  ASSERT_EQ(departed.size(), 1u);
  EXPECT_EQ(departed[0].type, "OwnerDeparted");
  EXPECT_EQ(departed[0].severity, Severity::kCritical);
  u.keys[0].active = false;
  departed =
      Evaluate(rules_, Data({u}, {Person("alice", directory::PersonStatus::kDeparted)}), policy_);
  ASSERT_EQ(departed.size(), 1u);
  EXPECT_EQ(departed[0].severity, Severity::kHigh);

  auto absent = Person("alice", directory::PersonStatus::kActive);
  absent.absent = true;
  EXPECT_TRUE(Has(Data({u}, {absent}), "OwnerDeparted"));

  EXPECT_EQ(Types(Data({u}, {Person("alice", directory::PersonStatus::kTransferred)})),
            std::vector<std::string>{"OwnerTransferred"});
}

TEST_F(RulesTest, ActivationUnusedAndStillValid) {
  AuditData d = Data({CleanUser()});
  ActivationView a{"act-1", "role", clock_.Now() - 2 * kDay, clock_.Now() + 5 * kDay, 0, 1, {}};
  d.activations = {a};
  EXPECT_EQ(Types(d), std::vector<std::string>{"ActivationUnusedAndValid"});
  d.activations[0].registrations = 1;  // used
  EXPECT_TRUE(Types(d).empty());
  d.activations[0] = a;
  d.activations[0].expiration = clock_.Now() - hours(1);  // expired
  EXPECT_TRUE(Types(d).empty());
  d.activations[0] = a;
  d.activations[0].created = clock_.Now() - hours(2);  // just created: a host is coming
  EXPECT_TRUE(Types(d).empty());
}

TEST_F(RulesTest, ExemptionsByTagAndList) {
  UserView u = CleanUser();
  u.tags.clear();
  u.keys.push_back({"AKIAsecond", true, clock_.Now() - kDay, clock_.Now()});
  EXPECT_EQ(Types(Data({u})), (std::vector<std::string>{"OwnerMissing", "UserHasTwoActiveKeys"}));
  u.tags["keyward:audit-exempt"] = "OwnerMissing";
  EXPECT_EQ(Types(Data({u})), std::vector<std::string>{"UserHasTwoActiveKeys"});
  u.tags["keyward:audit-exempt"] = "true";
  EXPECT_TRUE(Types(Data({u})).empty());
  u.tags.clear();
  policy_.exempt = {"app"};
  EXPECT_TRUE(Types(Data({u})).empty());
}

// The service merges repeated audits into one finding per (type, resource).
TEST_F(RulesTest, RepeatedAuditsUpdateRatherThanDuplicate) {
  store::MemoryKvStore store;
  struct NoSource : AuditDataSource {
    Result<AuditData> Collect(TimePoint) override { return Internal("unused"); }
  } source;
  AuditService service(store, clock_, source, policy_);
  UserView u = CleanUser();
  u.tags.clear();
  auto first = service.RunOn(Data({u}));
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_EQ(first->created, 1u);
  clock_.Advance(kDay);
  auto second = service.RunOn(Data({u}));
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->created, 0u);
  auto page = service.List({}, std::nullopt, 100);
  ASSERT_TRUE(page.has_value());
  ASSERT_EQ(page->findings.size(), 1u);
  const Finding f = page->findings[0];
  EXPECT_EQ(f.count, 2);
  EXPECT_EQ(f.first_seen + kDay, f.last_seen);
  EXPECT_EQ(f.finding_id, FindingId("OwnerMissing", u.arn));

  // Suppressed stays suppressed while still seen.
  ASSERT_TRUE(service.UpdateState(f.finding_id, FindingState::kSuppressed, "known service user"));
  ASSERT_TRUE(service.RunOn(Data({u})));
  EXPECT_EQ(service.Get(f.finding_id)->state, FindingState::kSuppressed);
  EXPECT_EQ(service.Get(f.finding_id)->count, 3);

  // Fixed: resolved; broken again: active again.
  ASSERT_TRUE(service.UpdateState(f.finding_id, FindingState::kActive, ""));
  auto fixed = service.RunOn(Data({CleanUser()}));
  ASSERT_TRUE(fixed.has_value());
  EXPECT_EQ(fixed->resolved, 1u);
  EXPECT_EQ(service.Get(f.finding_id)->state, FindingState::kResolved);
  ASSERT_TRUE(service.RunOn(Data({u})));
  EXPECT_EQ(service.Get(f.finding_id)->state, FindingState::kActive);
  EXPECT_EQ(service.Get("f-0000000000000000").error().reason, "ResourceNotFoundException");
}

TEST_F(RulesTest, ListPaginatesAndFilters) {
  store::MemoryKvStore store;
  struct NoSource : AuditDataSource {
    Result<AuditData> Collect(TimePoint) override { return Internal("unused"); }
  } source;
  AuditService service(store, clock_, source, policy_);
  std::vector<UserView> users;
  for (int i = 0; i < 5; ++i) {
    UserView u = CleanUser("u" + std::to_string(i));
    u.tags.clear();  // OwnerMissing (HIGH)
    u.keys.push_back({"AKIAx" + std::to_string(i), true, clock_.Now(), clock_.Now()});  // MEDIUM
    users.push_back(u);
  }
  ASSERT_TRUE(service.RunOn(Data(users)));
  std::vector<std::string> seen;
  std::optional<std::string> token;
  int pages = 0;
  do {
    auto page = service.List({}, token, 3);
    ASSERT_TRUE(page.has_value());
    ++pages;
    for (const auto& f : page->findings) seen.push_back(f.finding_id);
    token = page->next_token.empty() ? std::nullopt : std::optional<std::string>(page->next_token);
  } while (token);
  EXPECT_EQ(pages, 4);
  EXPECT_EQ(seen.size(), 10u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  FindingFilter high;
  high.min_severity = Severity::kHigh;
  EXPECT_EQ(service.List(high, std::nullopt, 100)->findings.size(), 5u);
  EXPECT_EQ(service.List({}, std::string("bogus"), 10).error().reason, "InvalidNextTokenException");
}

}  // namespace
}  // namespace kw::audit
