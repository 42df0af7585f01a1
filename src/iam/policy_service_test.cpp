#include "iam/policy_service.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "common/clock.hpp"
#include "crypto/csprng.hpp"
#include "iam/policy_test_support.hpp"
#include "store/memory/memory_kv_store.hpp"

namespace kw::iam {
namespace {

using testing::AllowDoc;
using testing::DenyDoc;
using testing::FakeUserDirectory;
using testing::kAllowAllDoc;
using testing::TrustDoc;
using testing::UserPrincipal;

class PolicyServiceTest : public ::testing::Test, protected testing::PolicyServiceFixture {
 protected:
  Role MakeRole(const std::string& name, const std::string& path = "") {
    CreateRoleRequest r;
    r.role_name = name;
    r.path = path;
    r.assume_role_policy_document = TrustDoc("arn:aws:iam::123456789012:root");
    auto role = policies_.CreateRole(r);
    EXPECT_TRUE(role.has_value()) << (role ? "" : role.error().message);
    return role.value_or(Role{});
  }
  ManagedPolicy MakePolicy(const std::string& name,
                           const std::string& doc = std::string(kAllowAllDoc)) {
    CreatePolicyRequest r;
    r.policy_name = name;
    r.policy_document = doc;
    auto p = policies_.CreatePolicy(r);
    EXPECT_TRUE(p.has_value()) << (p ? "" : p.error().message);
    return p.value_or(ManagedPolicy{});
  }
  policy::Decision Decide(const Principal& who, const std::string& action,
                          const std::string& resource) {
    auto policies = policies_.IdentityPolicies(who);
    EXPECT_TRUE(policies.has_value());
    std::vector<const policy::Policy*> raw;
    for (const auto& p : *policies) raw.push_back(p.get());
    policy::RequestContext ctx;
    ctx.action = action;
    ctx.resource = resource;
    return policy::Evaluate(raw, ctx);
  }
};

TEST_F(PolicyServiceTest, CreateGetRole) {
  CreateRoleRequest r;
  r.role_name = "Deployer";
  r.path = "/ops/";
  r.assume_role_policy_document = TrustDoc("arn:aws:iam::123456789012:root");
  r.description = "deploys";
  r.max_session_duration = 7200;
  r.tags = {{"team", "infra"}};
  auto role = policies_.CreateRole(r);
  ASSERT_TRUE(role.has_value()) << role.error().message;
  EXPECT_EQ(role->arn, "arn:aws:iam::123456789012:role/ops/Deployer");
  EXPECT_EQ(role->role_id.substr(0, 4), "AROA");
  EXPECT_EQ(role->role_id.size(), 21u);
  EXPECT_EQ(role->create_date, clock_.Now());

  auto got = policies_.GetRole("deployer");  // case-insensitive
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->name, "Deployer");
  EXPECT_EQ(got->max_session_duration, 7200);
  EXPECT_EQ(got->description, "deploys");
  EXPECT_EQ(got->assume_role_policy_document, r.assume_role_policy_document);
  EXPECT_EQ(got->tags.at("team"), "infra");

  auto dup = policies_.CreateRole(r);
  ASSERT_FALSE(dup.has_value());
  EXPECT_EQ(dup.error().reason, "EntityAlreadyExists");
  r.role_name = "DEPLOYER";
  EXPECT_EQ(policies_.CreateRole(r).error().reason, "EntityAlreadyExists");

  auto missing = policies_.GetRole("nobody");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().reason, "NoSuchEntity");
  EXPECT_EQ(missing.error().message, "The role with name nobody cannot be found.");
}

TEST_F(PolicyServiceTest, CreateRoleValidation) {
  CreateRoleRequest r;
  r.role_name = "ok";
  r.assume_role_policy_document = TrustDoc("arn:aws:iam::123456789012:root");

  CreateRoleRequest bad = r;
  bad.role_name = std::string(65, 'a');
  EXPECT_EQ(policies_.CreateRole(bad).error().reason, "ValidationError");
  bad.role_name = "has space";
  EXPECT_EQ(policies_.CreateRole(bad).error().reason, "ValidationError");

  bad = r;
  bad.max_session_duration = 3599;
  EXPECT_EQ(policies_.CreateRole(bad).error().reason, "ValidationError");
  bad.max_session_duration = 43201;
  EXPECT_EQ(policies_.CreateRole(bad).error().reason, "ValidationError");

  bad = r;
  bad.path = "noslash";
  EXPECT_EQ(policies_.CreateRole(bad).error().reason, "ValidationError");

  bad = r;
  bad.assume_role_policy_document = "{not json";
  EXPECT_EQ(policies_.CreateRole(bad).error().reason, "MalformedPolicyDocument");
  // A trust policy is a resource policy: it needs a Principal.
  bad.assume_role_policy_document = std::string(kAllowAllDoc);
  EXPECT_EQ(policies_.CreateRole(bad).error().reason, "MalformedPolicyDocument");

  r.max_session_duration = 43200;
  auto ok = policies_.CreateRole(r);
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_EQ(ok->path, "/");
  EXPECT_EQ(ok->arn, "arn:aws:iam::123456789012:role/ok");
}

TEST_F(PolicyServiceTest, ListRolesFiltersAndPages) {
  MakeRole("a", "/x/");
  MakeRole("b", "/x/");
  MakeRole("c", "/y/");
  MakeRole("d", "/x/deep/");

  auto x = policies_.ListRoles("/x/", {});
  ASSERT_TRUE(x.has_value());
  ASSERT_EQ(x->items.size(), 3u);
  EXPECT_FALSE(x->is_truncated);

  auto p1 = policies_.ListRoles("", PageRequest{"", 2});
  ASSERT_TRUE(p1.has_value());
  ASSERT_EQ(p1->items.size(), 2u);
  EXPECT_TRUE(p1->is_truncated);
  EXPECT_EQ(p1->items[0].name, "a");
  auto p2 = policies_.ListRoles("", PageRequest{p1->marker, 2});
  ASSERT_TRUE(p2.has_value());
  ASSERT_EQ(p2->items.size(), 2u);
  EXPECT_EQ(p2->items[0].name, "c");
  EXPECT_EQ(p2->items[1].name, "d");
  EXPECT_FALSE(p2->is_truncated);
  EXPECT_TRUE(p2->marker.empty());
}

TEST_F(PolicyServiceTest, UpdateTagAndDeleteRole) {
  MakeRole("r");
  ASSERT_TRUE(policies_.UpdateRole("r", std::string("new"), 10000).has_value());
  auto got = policies_.GetRole("r");
  EXPECT_EQ(got->description, "new");
  EXPECT_EQ(got->max_session_duration, 10000);
  EXPECT_EQ(policies_.UpdateRole("r", std::nullopt, 100).error().reason, "ValidationError");
  EXPECT_EQ(policies_.UpdateRole("zz", std::nullopt, 4000).error().reason, "NoSuchEntity");

  EXPECT_EQ(policies_.UpdateAssumeRolePolicy("r", "[]").error().reason, "MalformedPolicyDocument");
  const std::string trust = TrustDoc("arn:aws:iam::123456789012:user/alice");
  ASSERT_TRUE(policies_.UpdateAssumeRolePolicy("r", trust).has_value());
  EXPECT_EQ(policies_.GetRole("r")->assume_role_policy_document, trust);

  ASSERT_TRUE(policies_.TagRole("r", {{"a", "1"}, {"b", "2"}}).has_value());
  ASSERT_TRUE(policies_.UntagRole("r", {"a"}).has_value());
  auto tags = policies_.ListRoleTags("r", {});
  ASSERT_TRUE(tags.has_value());
  ASSERT_EQ(tags->items.size(), 1u);
  EXPECT_EQ(tags->items[0].first, "b");
  std::map<std::string, std::string> many;
  for (char a = 'a'; a < 'a' + 5; ++a) {
    for (char b = 'a'; b < 'a' + 10; ++b) many.emplace(std::string{a, b}, "v");
  }
  EXPECT_EQ(policies_.TagRole("r", many).error().reason, "LimitExceeded");

  ASSERT_TRUE(policies_.DeleteRole("R").has_value());
  EXPECT_EQ(policies_.GetRole("r").error().reason, "NoSuchEntity");
  EXPECT_EQ(policies_.DeleteRole("r").error().reason, "NoSuchEntity");
}

TEST_F(PolicyServiceTest, DeleteRoleConflicts) {
  MakeRole("r");
  ASSERT_TRUE(policies_.PutRolePolicy("r", "inline", kAllowAllDoc).has_value());
  auto del = policies_.DeleteRole("r");
  ASSERT_FALSE(del.has_value());
  EXPECT_EQ(del.error().reason, "DeleteConflict");
  EXPECT_EQ(del.error().message, "Cannot delete entity, must delete policies first.");
  ASSERT_TRUE(policies_.DeleteRolePolicy("r", "inline").has_value());

  ManagedPolicy p = MakePolicy("p");
  ASSERT_TRUE(policies_.AttachRolePolicy("r", p.arn).has_value());
  del = policies_.DeleteRole("r");
  ASSERT_FALSE(del.has_value());
  EXPECT_EQ(del.error().message, "Cannot delete entity, must detach all policies first.");
  ASSERT_TRUE(policies_.DetachRolePolicy("r", p.arn).has_value());
  EXPECT_TRUE(policies_.DeleteRole("r").has_value());
}

TEST_F(PolicyServiceTest, UserInlinePolicies) {
  auto missing = policies_.PutUserPolicy("ghost", "p", kAllowAllDoc);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().reason, "NoSuchEntity");
  EXPECT_EQ(missing.error().message, "The user with name ghost cannot be found.");

  users_.Add("alice");
  const std::string doc =
      "{ \"Version\": \"2012-10-17\",\n \"Statement\": [{\"Effect\": \"Allow\", "
      "\"Action\": \"s3:*\", \"Resource\": \"*\"}]}";
  ASSERT_TRUE(policies_.PutUserPolicy("alice", "S3", doc).has_value());
  auto got = policies_.GetUserPolicy("alice", "s3");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->document, doc);  // verbatim, whitespace included
  EXPECT_EQ(got->policy_name, "S3");
  EXPECT_EQ(got->entity_name, "alice");

  EXPECT_EQ(policies_.PutUserPolicy("alice", "bad", "{").error().reason, "MalformedPolicyDocument");
  // Identity policies must not name a Principal.
  EXPECT_EQ(policies_.PutUserPolicy("alice", "bad", TrustDoc("*")).error().reason,
            "MalformedPolicyDocument");
  EXPECT_EQ(policies_.PutUserPolicy("alice", std::string(129, 'p'), doc).error().reason,
            "ValidationError");

  auto list = policies_.ListUserPolicies("alice", {});
  ASSERT_TRUE(list.has_value());
  ASSERT_EQ(list->items.size(), 1u);
  EXPECT_EQ(list->items[0], "S3");

  auto no_policy = policies_.GetUserPolicy("alice", "nope");
  EXPECT_EQ(no_policy.error().reason, "NoSuchEntity");
  EXPECT_EQ(no_policy.error().message, "The user policy with name nope cannot be found.");
  ASSERT_TRUE(policies_.DeleteUserPolicy("alice", "S3").has_value());
  EXPECT_EQ(policies_.DeleteUserPolicy("alice", "S3").error().reason, "NoSuchEntity");
}

TEST_F(PolicyServiceTest, InlineSizeQuotaIsAggregatePerEntity) {
  users_.Add("alice");
  // ~1100 non-whitespace characters each: one fits in 2048, two do not.
  std::string actions;
  for (int i = 0; i < 80; ++i) {
    if (i > 0) actions.append(",");
    actions.append("\"svc:Action").append(std::to_string(i)).append("\"");
  }
  const std::string big = R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":[)" +
                          actions + R"(],"Resource":"*"}]})";
  ASSERT_GT(big.size(), 1024u);
  ASSERT_LT(big.size(), 2048u);
  ASSERT_TRUE(policies_.PutUserPolicy("alice", "one", big).has_value());
  ASSERT_TRUE(policies_.PutUserPolicy("alice", "one", big).has_value());  // replacing is fine
  auto second = policies_.PutUserPolicy("alice", "two", big);
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().reason, "LimitExceeded");
  // Roles allow 10240.
  MakeRole("r");
  for (int i = 0; i < 8; ++i) {
    EXPECT_TRUE(policies_.PutRolePolicy("r", "p" + std::to_string(i), big).has_value()) << i;
  }
  EXPECT_EQ(policies_.PutRolePolicy("r", "p9", big).error().reason, "LimitExceeded");
}

TEST_F(PolicyServiceTest, ManagedPolicyVersions) {
  ManagedPolicy p = MakePolicy("Deploy");
  EXPECT_EQ(p.arn, "arn:aws:iam::123456789012:policy/Deploy");
  EXPECT_EQ(p.policy_id.substr(0, 4), "ANPA");
  EXPECT_EQ(p.default_version_id, "v1");

  for (int i = 2; i <= 5; ++i) {
    auto v =
        policies_.CreatePolicyVersion(p.arn, AllowDoc("s3:Get" + std::to_string(i), "*"), false);
    ASSERT_TRUE(v.has_value()) << v.error().message;
    EXPECT_EQ(v->version_id, "v" + std::to_string(i));
    EXPECT_FALSE(v->is_default);
  }
  auto sixth = policies_.CreatePolicyVersion(p.arn, kAllowAllDoc, true);
  ASSERT_FALSE(sixth.has_value());
  EXPECT_EQ(sixth.error().reason, "LimitExceeded");

  auto versions = policies_.ListPolicyVersions(p.arn, {});
  ASSERT_TRUE(versions.has_value());
  ASSERT_EQ(versions->items.size(), 5u);
  EXPECT_EQ(versions->items[0].version_id, "v5");  // newest first
  EXPECT_TRUE(versions->items[4].is_default);

  auto del_default = policies_.DeletePolicyVersion(p.arn, "v1");
  ASSERT_FALSE(del_default.has_value());
  EXPECT_EQ(del_default.error().reason, "DeleteConflict");

  ASSERT_TRUE(policies_.SetDefaultPolicyVersion(p.arn, "v3").has_value());
  EXPECT_EQ(policies_.GetPolicy(p.arn)->default_version_id, "v3");
  EXPECT_TRUE(policies_.GetPolicyVersion(p.arn, "v3")->is_default);
  EXPECT_FALSE(policies_.GetPolicyVersion(p.arn, "v1")->is_default);
  ASSERT_TRUE(policies_.DeletePolicyVersion(p.arn, "v1").has_value());
  EXPECT_EQ(policies_.GetPolicyVersion(p.arn, "v1").error().reason, "NoSuchEntity");
  EXPECT_EQ(policies_.SetDefaultPolicyVersion(p.arn, "v1").error().reason, "NoSuchEntity");
  EXPECT_EQ(policies_.GetPolicyVersion(p.arn, "x1").error().reason, "ValidationError");

  // Room for one more; numbering continues.
  auto v6 = policies_.CreatePolicyVersion(p.arn, kAllowAllDoc, true);
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->version_id, "v6");
  EXPECT_EQ(policies_.GetPolicy(p.arn)->default_version_id, "v6");

  auto del = policies_.DeletePolicy(p.arn);
  ASSERT_FALSE(del.has_value());
  EXPECT_EQ(del.error().reason, "DeleteConflict");
  for (const char* v : {"v2", "v3", "v4", "v5"}) {
    ASSERT_TRUE(policies_.DeletePolicyVersion(p.arn, v).has_value()) << v;
  }
  ASSERT_TRUE(policies_.DeletePolicy(p.arn).has_value());
  EXPECT_EQ(policies_.GetPolicy(p.arn).error().reason, "NoSuchEntity");
}

TEST_F(PolicyServiceTest, CreatePolicyChecks) {
  MakePolicy("Same");
  CreatePolicyRequest r;
  r.policy_name = "same";
  r.path = "/other/";
  r.policy_document = std::string(kAllowAllDoc);
  EXPECT_EQ(policies_.CreatePolicy(r).error().reason, "EntityAlreadyExists");
  r.policy_name = "Other";
  r.policy_document = TrustDoc("*");
  EXPECT_EQ(policies_.CreatePolicy(r).error().reason, "MalformedPolicyDocument");
  r.policy_document = std::string(kAllowAllDoc);
  auto ok = policies_.CreatePolicy(r);
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->arn, "arn:aws:iam::123456789012:policy/other/Other");
  EXPECT_EQ(policies_.GetPolicy("arn:aws:iam::999999999999:policy/Other").error().reason,
            "InvalidInput");
}

TEST_F(PolicyServiceTest, AttachmentsCountAndLimits) {
  users_.Add("alice");
  MakeRole("r");
  ManagedPolicy p = MakePolicy("p");
  EXPECT_EQ(policies_.AttachUserPolicy("ghost", p.arn).error().reason, "NoSuchEntity");
  EXPECT_EQ(
      policies_.AttachUserPolicy("alice", "arn:aws:iam::123456789012:policy/nope").error().reason,
      "NoSuchEntity");

  ASSERT_TRUE(policies_.AttachUserPolicy("alice", p.arn).has_value());
  ASSERT_TRUE(policies_.AttachUserPolicy("alice", p.arn).has_value());  // no-op
  ASSERT_TRUE(policies_.AttachRolePolicy("r", p.arn).has_value());
  EXPECT_EQ(policies_.GetPolicy(p.arn)->attachment_count, 2);

  auto entities = policies_.ListEntitiesForPolicy(p.arn, EntityFilter::kAll, "", {});
  ASSERT_TRUE(entities.has_value());
  ASSERT_EQ(entities->users.size(), 1u);
  EXPECT_EQ(entities->users[0].name, "alice");
  EXPECT_EQ(entities->users[0].id.substr(0, 4), "AIDA");
  ASSERT_EQ(entities->roles.size(), 1u);
  EXPECT_EQ(entities->roles[0].id.substr(0, 4), "AROA");
  auto only_roles = policies_.ListEntitiesForPolicy(p.arn, EntityFilter::kRole, "", {});
  EXPECT_TRUE(only_roles->users.empty());

  auto del = policies_.DeletePolicy(p.arn);
  ASSERT_FALSE(del.has_value());
  EXPECT_EQ(del.error().reason, "DeleteConflict");
  EXPECT_EQ(del.error().message, "Cannot delete a policy attached to entities.");

  auto attached = policies_.ListAttachedUserPolicies("alice", "", {});
  ASSERT_TRUE(attached.has_value());
  ASSERT_EQ(attached->items.size(), 1u);
  EXPECT_EQ(attached->items[0].policy_arn, p.arn);
  EXPECT_EQ(attached->items[0].policy_name, "p");

  auto blocker = policies_.DeleteBlocker("alice");
  ASSERT_TRUE(blocker.has_value());
  EXPECT_EQ(blocker->value_or(""), "Cannot delete entity, must detach all policies first.");

  // Ten per entity.
  for (int i = 0; i < 9; ++i) {
    ASSERT_TRUE(
        policies_.AttachUserPolicy("alice", MakePolicy("q" + std::to_string(i)).arn).has_value());
  }
  auto eleventh = policies_.AttachUserPolicy("alice", MakePolicy("q10").arn);
  ASSERT_FALSE(eleventh.has_value());
  EXPECT_EQ(eleventh.error().reason, "LimitExceeded");

  ASSERT_TRUE(policies_.DetachUserPolicy("alice", p.arn).has_value());
  EXPECT_EQ(policies_.DetachUserPolicy("alice", p.arn).error().reason, "NoSuchEntity");
  EXPECT_EQ(policies_.GetPolicy(p.arn)->attachment_count, 1);
  auto only_attached = policies_.ListPolicies({PolicyScope::kLocal, true, "", {}});
  ASSERT_TRUE(only_attached.has_value());
  EXPECT_EQ(only_attached->items.size(), 10u);  // p (role) + q0..q8
}

TEST_F(PolicyServiceTest, DeleteBlockerInlineFirst) {
  users_.Add("bob");
  EXPECT_FALSE(policies_.DeleteBlocker("bob")->has_value());
  ASSERT_TRUE(policies_.PutUserPolicy("bob", "x", kAllowAllDoc).has_value());
  EXPECT_EQ(policies_.DeleteBlocker("bob")->value_or(""),
            "Cannot delete entity, must delete policies first.");
}

TEST_F(PolicyServiceTest, AwsManagedPolicies) {
  ASSERT_TRUE(policies_.EnsureAwsManagedPolicies().has_value());
  ASSERT_TRUE(policies_.EnsureAwsManagedPolicies().has_value());  // idempotent
  const std::string admin = "arn:aws:iam::aws:policy/AdministratorAccess";
  auto p = policies_.GetPolicy(admin);
  ASSERT_TRUE(p.has_value()) << p.error().message;
  EXPECT_TRUE(p->aws_managed);
  EXPECT_EQ(policies_.DeletePolicy(admin).error().reason, "InvalidInput");
  EXPECT_FALSE(policies_.CreatePolicyVersion(admin, kAllowAllDoc, true).has_value());

  MakePolicy("mine");
  auto local = policies_.ListPolicies({PolicyScope::kLocal, false, "", {}});
  ASSERT_EQ(local->items.size(), 1u);
  EXPECT_EQ(local->items[0].name, "mine");
  auto aws = policies_.ListPolicies({PolicyScope::kAws, false, "", {}});
  ASSERT_GE(aws->items.size(), 1u);
  for (const auto& item : aws->items) EXPECT_TRUE(item.aws_managed);
  EXPECT_EQ(policies_.ListPolicies({})->items.size(), aws->items.size() + 1);

  UserSummary alice = users_.Add("alice");
  EXPECT_EQ(Decide(UserPrincipal(alice), "iam:DeleteUser", "*"), policy::Decision::kImplicitDeny);
  ASSERT_TRUE(policies_.AttachUserPolicy("alice", admin).has_value());
  EXPECT_EQ(Decide(UserPrincipal(alice), "iam:DeleteUser", "*"), policy::Decision::kAllow);

  UserSummary bob = users_.Add("bob");
  ASSERT_TRUE(
      policies_.AttachUserPolicy("bob", "arn:aws:iam::aws:policy/ReadOnlyAccess").has_value());
  EXPECT_EQ(Decide(UserPrincipal(bob), "iam:GetUser", "*"), policy::Decision::kAllow);
  EXPECT_EQ(Decide(UserPrincipal(bob), "iam:DeleteUser", "*"), policy::Decision::kImplicitDeny);
  EXPECT_EQ(Decide(UserPrincipal(bob), "secretsmanager:GetSecretValue", "*"),
            policy::Decision::kImplicitDeny);
}

// Readers racing writers: every answer is one of the two states, and once the writes
// stop the cache serves the final state.
TEST_F(PolicyServiceTest, ConcurrentReadersAndWriters) {
  UserSummary alice = users_.Add("alice");
  const Principal who = UserPrincipal(alice);
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        auto policies = policies_.IdentityPolicies(who);
        if (!policies || policies->size() > 1) bad.fetch_add(1);
      }
    });
  }
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(policies_.PutUserPolicy("alice", "p", kAllowAllDoc).has_value());
    ASSERT_TRUE(policies_.DeleteUserPolicy("alice", "p").has_value());
  }
  stop.store(true);
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_TRUE(policies_.IdentityPolicies(who)->empty());
}

TEST_F(PolicyServiceTest, IdentityPoliciesFollowEveryChange) {
  UserSummary alice = users_.Add("alice");
  const Principal who = UserPrincipal(alice);
  const std::string secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:x";
  EXPECT_EQ(Decide(who, "secretsmanager:GetSecretValue", secret), policy::Decision::kImplicitDeny);

  ASSERT_TRUE(
      policies_.PutUserPolicy("alice", "read", AllowDoc("secretsmanager:GetSecretValue", secret))
          .has_value());
  EXPECT_EQ(Decide(who, "secretsmanager:GetSecretValue", secret), policy::Decision::kAllow);
  EXPECT_EQ(Decide(who, "secretsmanager:GetSecretValue", secret),
            policy::Decision::kAllow);  // cached
  ASSERT_TRUE(policies_.DeleteUserPolicy("alice", "read").has_value());
  EXPECT_EQ(Decide(who, "secretsmanager:GetSecretValue", secret), policy::Decision::kImplicitDeny);

  // Managed: the default version is what counts, and switching it applies at once.
  ManagedPolicy p = MakePolicy("m", AllowDoc("secretsmanager:GetSecretValue", secret));
  ASSERT_TRUE(policies_.AttachUserPolicy("alice", p.arn).has_value());
  EXPECT_EQ(Decide(who, "secretsmanager:GetSecretValue", secret), policy::Decision::kAllow);
  ASSERT_TRUE(
      policies_.CreatePolicyVersion(p.arn, DenyDoc("secretsmanager:*", "*"), true).has_value());
  EXPECT_EQ(Decide(who, "secretsmanager:GetSecretValue", secret), policy::Decision::kExplicitDeny);
  ASSERT_TRUE(policies_.SetDefaultPolicyVersion(p.arn, "v1").has_value());
  EXPECT_EQ(Decide(who, "secretsmanager:GetSecretValue", secret), policy::Decision::kAllow);
  ASSERT_TRUE(policies_.DetachUserPolicy("alice", p.arn).has_value());
  EXPECT_EQ(Decide(who, "secretsmanager:GetSecretValue", secret), policy::Decision::kImplicitDeny);
}

TEST_F(PolicyServiceTest, AssumedRolePrincipalGetsRolePolicies) {
  Role role = MakeRole("worker");
  Principal session;
  session.type = PrincipalType::kAssumedRole;
  session.account_id = "123456789012";
  session.name = "worker";
  session.session_name = "s1";
  session.role_arn = role.arn;
  session.arn = "arn:aws:sts::123456789012:assumed-role/worker/s1";
  EXPECT_EQ(Decide(session, "iam:ListUsers", "*"), policy::Decision::kImplicitDeny);
  ASSERT_TRUE(policies_.PutRolePolicy("worker", "list", AllowDoc("iam:List*", "*")).has_value());
  EXPECT_EQ(Decide(session, "iam:ListUsers", "*"), policy::Decision::kAllow);
  // A user of the same name does not get the role's policies.
  UserSummary u = users_.Add("worker");
  EXPECT_EQ(Decide(UserPrincipal(u), "iam:ListUsers", "*"), policy::Decision::kImplicitDeny);
  ASSERT_TRUE(policies_.DeleteRolePolicy("worker", "list").has_value());
  EXPECT_EQ(Decide(session, "iam:ListUsers", "*"), policy::Decision::kImplicitDeny);
}

TEST_F(PolicyServiceTest, PoliciesFollowTheUserNotTheName) {
  users_.Add("alice");
  ManagedPolicy p = MakePolicy("m");
  ASSERT_TRUE(policies_.PutUserPolicy("alice", "inline", kAllowAllDoc).has_value());
  ASSERT_TRUE(policies_.AttachUserPolicy("alice", p.arn).has_value());

  // Renamed: the policies go with the user.
  UserSummary carol = users_.Rename("alice", "carol");
  EXPECT_EQ(Decide(UserPrincipal(carol), "iam:ListUsers", "*"), policy::Decision::kAllow);
  auto got = policies_.GetUserPolicy("carol", "inline");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->entity_name, "carol");
  EXPECT_EQ(policies_.ListAttachedUserPolicies("carol", "", {})->items.size(), 1u);
  EXPECT_EQ(policies_.DeleteBlocker("carol")->value_or(""),
            "Cannot delete entity, must delete policies first.");

  // A new user with the old name inherits nothing.
  UserSummary new_alice = users_.Add("alice");
  EXPECT_EQ(Decide(UserPrincipal(new_alice), "iam:ListUsers", "*"),
            policy::Decision::kImplicitDeny);
  EXPECT_TRUE(policies_.ListUserPolicies("alice", {})->items.empty());
  EXPECT_FALSE(policies_.DeleteBlocker("alice")->has_value());
  EXPECT_FALSE(policies_.DeleteBlocker("nobody")->has_value());
}

TEST_F(PolicyServiceTest, FindRoleSeesDeletion) {
  MakeRole("r");
  auto found = policies_.FindRole("r");
  ASSERT_TRUE(found.has_value());
  ASSERT_TRUE(found->has_value());
  ASSERT_TRUE(policies_.DeleteRole("r").has_value());
  found = policies_.FindRole("r");
  ASSERT_TRUE(found.has_value());
  EXPECT_FALSE(found->has_value());
}

}  // namespace
}  // namespace kw::iam
