#include "sts/sts_service.hpp"

#include <gtest/gtest.h>

#include <set>

#include "common/clock.hpp"
#include "crypto/csprng.hpp"
#include "iam/policy_test_support.hpp"
#include "store/memory/memory_kv_store.hpp"

namespace kw::sts {
namespace {

using iam::testing::AllowDoc;
using iam::testing::DenyDoc;
using iam::testing::FakeUserDirectory;
using iam::testing::TrustDoc;
using iam::testing::UserPrincipal;

constexpr std::string_view kRoleArn = "arn:aws:iam::123456789012:role/app/deployer";

class StsServiceTest : public ::testing::Test, protected iam::testing::PolicyServiceFixture {
 protected:
  StsServiceTest()
      : envelope_("test-key", SecretBytes(std::string(32, 'k')), random_),
        sts_(store_, envelope_, clock_, random_, account_, policies_) {
    alice_ = users_.Add("alice");
  }

  void MakeRole(const std::string& trust, long long max_session = 3600) {
    iam::CreateRoleRequest r;
    r.role_name = "deployer";
    r.path = "/app/";
    r.assume_role_policy_document = trust;
    r.max_session_duration = max_session;
    auto role = policies_.CreateRole(r);
    ASSERT_TRUE(role.has_value()) << role.error().message;
    ASSERT_EQ(role->arn, kRoleArn);
  }

  std::vector<std::shared_ptr<const policy::Policy>> PoliciesOf(const iam::Principal& p) {
    auto r = policies_.IdentityPolicies(p);
    EXPECT_TRUE(r.has_value());
    return r.value_or(std::vector<std::shared_ptr<const policy::Policy>>{});
  }

  Result<AssumeRoleResult> Assume(const iam::Principal& caller,
                                  std::optional<long long> duration = {}) {
    AssumeRoleRequest req;
    req.role_arn = std::string(kRoleArn);
    req.role_session_name = "deploy-1";
    req.duration_seconds = duration;
    return sts_.AssumeRole(caller, req, PoliciesOf(caller));
  }

  crypto::Envelope envelope_;
  StsService sts_;
  iam::UserSummary alice_;
};

TEST_F(StsServiceTest, TrustNamingCallerSuffices) {
  MakeRole(TrustDoc(alice_.arn));
  auto r = Assume(UserPrincipal(alice_));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  const TemporaryCredentials& c = r->credentials;
  EXPECT_EQ(c.access_key_id.substr(0, 4), "ASIA");
  EXPECT_EQ(c.access_key_id.size(), 20u);
  EXPECT_EQ(c.secret_access_key.size(), 40u);
  EXPECT_GE(c.session_token.size(), 88u);  // >= 64 random bytes, base64
  EXPECT_EQ(c.expiration, clock_.Now() + std::chrono::seconds(3600));
  const iam::Role role = *policies_.GetRole("deployer");
  EXPECT_EQ(r->assumed_role_id, role.role_id + ":deploy-1");
  EXPECT_EQ(r->arn, "arn:aws:sts::123456789012:assumed-role/deployer/deploy-1");
}

TEST_F(StsServiceTest, AccountTrustNeedsIdentityAllow) {
  MakeRole(TrustDoc("arn:aws:iam::123456789012:root"));
  auto denied = Assume(UserPrincipal(alice_));
  ASSERT_FALSE(denied.has_value());
  EXPECT_EQ(denied.error().reason, "AccessDenied");
  EXPECT_EQ(denied.error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(denied.error().message,
            "User: arn:aws:iam::123456789012:user/alice is not authorized to perform: "
            "sts:AssumeRole on resource: arn:aws:iam::123456789012:role/app/deployer");

  // An allow for another role does not help.
  ASSERT_TRUE(policies_
                  .PutUserPolicy("alice", "other",
                                 AllowDoc("sts:AssumeRole", "arn:aws:iam::123456789012:role/x"))
                  .has_value());
  EXPECT_FALSE(Assume(UserPrincipal(alice_)).has_value());

  ASSERT_TRUE(
      policies_.PutUserPolicy("alice", "assume", AllowDoc("sts:AssumeRole", kRoleArn)).has_value());
  auto allowed = Assume(UserPrincipal(alice_));
  EXPECT_TRUE(allowed.has_value()) << allowed.error().message;
}

TEST_F(StsServiceTest, AccountTrustWithBareAccountId) {
  MakeRole(TrustDoc("123456789012"));
  EXPECT_FALSE(Assume(UserPrincipal(alice_)).has_value());
  ASSERT_TRUE(policies_.PutUserPolicy("alice", "assume", AllowDoc("sts:*", "*")).has_value());
  EXPECT_TRUE(Assume(UserPrincipal(alice_)).has_value());
}

TEST_F(StsServiceTest, DenyWins) {
  MakeRole(TrustDoc(alice_.arn));
  ASSERT_TRUE(policies_.PutUserPolicy("alice", "deny", DenyDoc("sts:AssumeRole", "*")).has_value());
  auto r = Assume(UserPrincipal(alice_));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().reason, "AccessDenied");

  // A Deny in the trust policy wins over its own Allow.
  ASSERT_TRUE(policies_.DeleteUserPolicy("alice", "deny").has_value());
  const std::string trust =
      R"({"Version":"2012-10-17","Statement":[)"
      R"({"Effect":"Allow","Principal":{"AWS":")" +
      alice_.arn +
      R"("},"Action":"sts:AssumeRole"},)"
      R"({"Effect":"Deny","Principal":{"AWS":"123456789012"},"Action":"sts:AssumeRole"}]})";
  ASSERT_TRUE(policies_.UpdateAssumeRolePolicy("deployer", trust).has_value());
  EXPECT_FALSE(Assume(UserPrincipal(alice_)).has_value());
}

TEST_F(StsServiceTest, OtherUserNotNamedIsDenied) {
  MakeRole(TrustDoc(alice_.arn));
  iam::UserSummary bob = users_.Add("bob");
  ASSERT_TRUE(
      policies_.PutUserPolicy("bob", "assume", AllowDoc("sts:AssumeRole", "*")).has_value());
  auto r = Assume(UserPrincipal(bob));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().reason, "AccessDenied");
}

TEST_F(StsServiceTest, MissingRoleAndBadInput) {
  auto r = Assume(UserPrincipal(alice_));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().reason, "AccessDenied");

  MakeRole(TrustDoc(alice_.arn));
  AssumeRoleRequest req;
  req.role_arn = std::string(kRoleArn);
  req.role_session_name = "x";  // too short
  EXPECT_EQ(sts_.AssumeRole(UserPrincipal(alice_), req, {}).error().reason, "ValidationError");
  req.role_session_name = "bad name";
  EXPECT_EQ(sts_.AssumeRole(UserPrincipal(alice_), req, {}).error().reason, "ValidationError");
  req.role_session_name = "ok";
  req.has_session_policy = true;
  EXPECT_EQ(sts_.AssumeRole(UserPrincipal(alice_), req, {}).error().reason, "ValidationError");
  req.has_session_policy = false;
  // Same name, other path: not this role.
  req.role_arn = "arn:aws:iam::123456789012:role/deployer";
  EXPECT_EQ(sts_.AssumeRole(UserPrincipal(alice_), req, {}).error().reason, "AccessDenied");
  req.role_arn = "arn:aws:iam::210987654321:role/app/deployer";
  EXPECT_EQ(sts_.AssumeRole(UserPrincipal(alice_), req, {}).error().reason, "AccessDenied");
}

TEST_F(StsServiceTest, DurationBoundedByRole) {
  MakeRole(TrustDoc(alice_.arn), 7200);
  auto too_long = Assume(UserPrincipal(alice_), 7201);
  ASSERT_FALSE(too_long.has_value());
  EXPECT_EQ(too_long.error().reason, "ValidationError");
  EXPECT_EQ(too_long.error().message,
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.");
  EXPECT_EQ(Assume(UserPrincipal(alice_), 899).error().reason, "ValidationError");
  auto ok = Assume(UserPrincipal(alice_), 7200);
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->credentials.expiration, clock_.Now() + std::chrono::seconds(7200));
}

TEST_F(StsServiceTest, ResolveSessionAndExpiry) {
  MakeRole(TrustDoc(alice_.arn));
  auto r = Assume(UserPrincipal(alice_), 900);
  ASSERT_TRUE(r.has_value());
  const auto& c = r->credentials;

  auto resolved = sts_.Resolve(c.access_key_id, c.session_token.Reveal(), clock_.Now());
  ASSERT_TRUE(resolved.has_value()) << resolved.error().message;
  EXPECT_EQ(resolved->secret_access_key.Reveal(), c.secret_access_key.Reveal());
  const iam::Principal& p = resolved->principal;
  EXPECT_EQ(p.type, iam::PrincipalType::kAssumedRole);
  EXPECT_EQ(p.arn, r->arn);
  EXPECT_EQ(p.user_id, r->assumed_role_id);
  EXPECT_EQ(p.role_arn, kRoleArn);
  EXPECT_EQ(p.name, "deployer");
  EXPECT_EQ(p.session_name, "deploy-1");
  EXPECT_TRUE(p.temporary);
  EXPECT_EQ(p.access_key_id, c.access_key_id);

  // Wrong, truncated, or missing token.
  std::string wrong(c.session_token.Reveal());
  wrong[5] = wrong[5] == 'A' ? 'B' : 'A';
  for (const std::string& token :
       {wrong, std::string(c.session_token.Reveal().substr(1)), std::string()}) {
    auto bad = sts_.Resolve(c.access_key_id, token, clock_.Now());
    ASSERT_FALSE(bad.has_value());
    EXPECT_EQ(bad.error().reason, "InvalidClientTokenId");
    EXPECT_EQ(bad.error().message, "The security token included in the request is invalid.");
  }
  EXPECT_EQ(
      sts_.Resolve("ASIAUNKNOWNUNKNOWN00", c.session_token.Reveal(), clock_.Now()).error().reason,
      "InvalidClientTokenId");

  clock_.Advance(std::chrono::seconds(899));
  EXPECT_TRUE(sts_.Resolve(c.access_key_id, c.session_token.Reveal(), clock_.Now()).has_value());
  clock_.Advance(std::chrono::seconds(1));
  auto expired = sts_.Resolve(c.access_key_id, c.session_token.Reveal(), clock_.Now());
  ASSERT_FALSE(expired.has_value());
  EXPECT_EQ(expired.error().reason, "ExpiredToken");
  EXPECT_EQ(expired.error().message, "The security token included in the request is expired");
}

TEST_F(StsServiceTest, StoreHoldsNoPlainSecrets) {
  MakeRole(TrustDoc(alice_.arn));
  auto r = Assume(UserPrincipal(alice_));
  ASSERT_TRUE(r.has_value());
  auto item = store_.Get("sts_sessions", r->credentials.access_key_id);
  ASSERT_TRUE(item.has_value());
  ASSERT_TRUE(item->has_value());
  const std::string& stored = (*item)->value;
  EXPECT_EQ(stored.find(r->credentials.secret_access_key.Reveal()), std::string::npos);
  EXPECT_EQ(stored.find(r->credentials.session_token.Reveal()), std::string::npos);
  // A fresh service (empty cache) resolves from the store.
  StsService fresh(store_, envelope_, clock_, random_, iam::Account{"123456789012"}, policies_);
  EXPECT_TRUE(fresh
                  .Resolve(r->credentials.access_key_id, r->credentials.session_token.Reveal(),
                           clock_.Now())
                  .has_value());
}

TEST_F(StsServiceTest, DeletedRoleEndsSessions) {
  MakeRole(TrustDoc(alice_.arn));
  auto r = Assume(UserPrincipal(alice_));
  ASSERT_TRUE(r.has_value());
  const auto& c = r->credentials;
  ASSERT_TRUE(sts_.Resolve(c.access_key_id, c.session_token.Reveal(), clock_.Now()).has_value());
  ASSERT_TRUE(policies_.DeleteRole("deployer").has_value());
  EXPECT_EQ(sts_.Resolve(c.access_key_id, c.session_token.Reveal(), clock_.Now()).error().reason,
            "InvalidClientTokenId");
  // A new role of the same name is another role.
  MakeRole(TrustDoc(alice_.arn));
  EXPECT_EQ(sts_.Resolve(c.access_key_id, c.session_token.Reveal(), clock_.Now()).error().reason,
            "InvalidClientTokenId");
}

TEST_F(StsServiceTest, RolePolicyChangesApplyToLiveSessions) {
  MakeRole(TrustDoc(alice_.arn));
  ASSERT_TRUE(
      policies_.PutRolePolicy("deployer", "list", AllowDoc("iam:ListUsers", "*")).has_value());
  auto r = Assume(UserPrincipal(alice_));
  ASSERT_TRUE(r.has_value());
  auto resolved = sts_.Resolve(r->credentials.access_key_id, r->credentials.session_token.Reveal(),
                               clock_.Now());
  ASSERT_TRUE(resolved.has_value());
  auto decide = [&] {
    auto ps = PoliciesOf(resolved->principal);
    std::vector<const policy::Policy*> raw;
    for (const auto& p : ps) raw.push_back(p.get());
    policy::RequestContext ctx{"iam:ListUsers", "*", {}, "", ""};
    return policy::Evaluate(raw, ctx);
  };
  EXPECT_EQ(decide(), policy::Decision::kAllow);
  ASSERT_TRUE(policies_.DeleteRolePolicy("deployer", "list").has_value());
  EXPECT_EQ(decide(), policy::Decision::kImplicitDeny);
}

TEST_F(StsServiceTest, RoleChainingLimitedToOneHour) {
  MakeRole(TrustDoc(alice_.arn), 43200);
  auto first = Assume(UserPrincipal(alice_));
  ASSERT_TRUE(first.has_value());
  auto session = sts_.Resolve(first->credentials.access_key_id,
                              first->credentials.session_token.Reveal(), clock_.Now());
  ASSERT_TRUE(session.has_value());
  // The role trusts alice only; its own sessions are not named.
  EXPECT_EQ(Assume(session->principal).error().reason, "AccessDenied");
  const std::string trust =
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":[")" +
      alice_.arn + R"(",")" + std::string(kRoleArn) + R"("]},"Action":"sts:AssumeRole"}]})";
  ASSERT_TRUE(policies_.UpdateAssumeRolePolicy("deployer", trust).has_value());
  EXPECT_EQ(Assume(session->principal, 3601).error().reason, "ValidationError");
  EXPECT_TRUE(Assume(session->principal, 3600).has_value());
}

TEST_F(StsServiceTest, GetSessionToken) {
  const iam::Principal alice = UserPrincipal(alice_);
  EXPECT_EQ(sts_.GetSessionToken(alice, 899).error().reason, "ValidationError");
  EXPECT_EQ(sts_.GetSessionToken(alice, 129601).error().reason, "ValidationError");
  auto c = sts_.GetSessionToken(alice, std::nullopt);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->expiration, clock_.Now() + std::chrono::seconds(43200));
  auto resolved = sts_.Resolve(c->access_key_id, c->session_token.Reveal(), clock_.Now());
  ASSERT_TRUE(resolved.has_value());
  EXPECT_EQ(resolved->principal.type, iam::PrincipalType::kUser);
  EXPECT_EQ(resolved->principal.arn, alice_.arn);
  EXPECT_EQ(resolved->principal.user_id, alice_.user_id);
  EXPECT_TRUE(resolved->principal.temporary);

  // Session credentials cannot mint more.
  auto again = sts_.GetSessionToken(resolved->principal, std::nullopt);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().reason, "AccessDenied");

  users_.Remove("alice");
  EXPECT_EQ(sts_.Resolve(c->access_key_id, c->session_token.Reveal(), clock_.Now()).error().reason,
            "InvalidClientTokenId");
}

TEST_F(StsServiceTest, RevokeUserSessionsEndsTheUsersSessionsOnly) {
  MakeRole(TrustDoc(alice_.arn));
  const iam::Principal alice = UserPrincipal(alice_);
  const iam::Principal bob = UserPrincipal(users_.Add("bob"));
  auto own = sts_.GetSessionToken(alice, std::nullopt);
  auto role = Assume(alice);
  auto other = sts_.GetSessionToken(bob, std::nullopt);
  ASSERT_TRUE(own && role && other);
  // Cached before the revocation: revocation must reach the cache too.
  ASSERT_TRUE(sts_.Resolve(own->access_key_id, own->session_token.Reveal(), clock_.Now()));

  auto n = sts_.RevokeUserSessions("ALICE");
  ASSERT_TRUE(n.has_value()) << n.error().message;
  EXPECT_EQ(*n, 2u);
  EXPECT_EQ(
      sts_.Resolve(own->access_key_id, own->session_token.Reveal(), clock_.Now()).error().reason,
      "InvalidClientTokenId");
  const auto& rc = role->credentials;
  EXPECT_EQ(sts_.Resolve(rc.access_key_id, rc.session_token.Reveal(), clock_.Now()).error().reason,
            "InvalidClientTokenId");
  EXPECT_TRUE(sts_.Resolve(other->access_key_id, other->session_token.Reveal(), clock_.Now()));
  EXPECT_EQ(*sts_.RevokeUserSessions("alice"), 0u);
}

TEST_F(StsServiceTest, CallerIdentity) {
  const CallerIdentity id = StsService::GetCallerIdentity(UserPrincipal(alice_));
  EXPECT_EQ(id.arn, alice_.arn);
  EXPECT_EQ(id.user_id, alice_.user_id);
  EXPECT_EQ(id.account, "123456789012");
}

TEST_F(StsServiceTest, PurgeExpiredSessions) {
  auto short_lived = sts_.GetSessionToken(UserPrincipal(alice_), 900);
  auto long_lived = sts_.GetSessionToken(UserPrincipal(alice_), 3600);
  ASSERT_TRUE(short_lived.has_value() && long_lived.has_value());
  EXPECT_EQ(sts_.PurgeExpiredSessions(clock_.Now()).value_or(99), 0u);
  clock_.Advance(std::chrono::seconds(900));
  EXPECT_EQ(sts_.PurgeExpiredSessions(clock_.Now()).value_or(99), 1u);
  EXPECT_FALSE(store_.Get("sts_sessions", short_lived->access_key_id)->has_value());
  // Purged: now unknown rather than expired.
  EXPECT_EQ(
      sts_.Resolve(short_lived->access_key_id, short_lived->session_token.Reveal(), clock_.Now())
          .error()
          .reason,
      "InvalidClientTokenId");
  EXPECT_TRUE(
      sts_.Resolve(long_lived->access_key_id, long_lived->session_token.Reveal(), clock_.Now())
          .has_value());
}

TEST_F(StsServiceTest, LongTermKeysAreNotResolvedHere) {
  EXPECT_EQ(sts_.Resolve("AKIAEXAMPLEEXAMPLE00", "token", clock_.Now()).error().reason,
            "InvalidClientTokenId");
}

class FakeInstanceChecker final : public InstanceChecker {
 public:
  bool IsRegistered(std::string_view instance_id) override {
    return registered.count(std::string(instance_id)) > 0;
  }
  std::set<std::string> registered;
};

TEST_F(StsServiceTest, InstanceCredentialsCarryTheInstanceAndDieWithIt) {
  MakeRole(TrustDoc(alice_.arn));
  FakeInstanceChecker checker;
  checker.registered.insert("mi-0123456789abcdef0");
  sts_.SetInstanceChecker(&checker);
  auto r = sts_.IssueInstanceCredentials("deployer", "mi-0123456789abcdef0", clock_.Now());
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->arn, "arn:aws:sts::123456789012:assumed-role/deployer/mi-0123456789abcdef0");
  EXPECT_EQ(r->credentials.expiration, clock_.Now() + std::chrono::seconds(3600));
  const std::string key = r->credentials.access_key_id;
  const std::string token(r->credentials.session_token.Reveal());

  auto resolved = sts_.Resolve(key, token, clock_.Now());
  ASSERT_TRUE(resolved.has_value()) << resolved.error().message;
  EXPECT_EQ(resolved->principal.instance_id, "mi-0123456789abcdef0");
  EXPECT_EQ(resolved->principal.type, iam::PrincipalType::kAssumedRole);
  EXPECT_EQ(resolved->principal.session_name, "mi-0123456789abcdef0");
  EXPECT_EQ(resolved->principal.role_arn, kRoleArn);

  // Deregistered: refused at once, although the session has not expired (and is cached).
  checker.registered.clear();
  EXPECT_EQ(sts_.Resolve(key, token, clock_.Now()).error().reason, "InvalidClientTokenId");
  // No checker at all: fail closed.
  checker.registered.insert("mi-0123456789abcdef0");
  sts_.SetInstanceChecker(nullptr);
  EXPECT_EQ(sts_.Resolve(key, token, clock_.Now()).error().reason, "InvalidClientTokenId");
}

TEST_F(StsServiceTest, OtherSessionsHaveNoInstanceAndIgnoreTheChecker) {
  MakeRole(TrustDoc(alice_.arn));
  FakeInstanceChecker checker;  // knows no instance
  sts_.SetInstanceChecker(&checker);
  auto r = Assume(UserPrincipal(alice_));
  ASSERT_TRUE(r.has_value());
  auto resolved = sts_.Resolve(r->credentials.access_key_id, r->credentials.session_token.Reveal(),
                               clock_.Now());
  ASSERT_TRUE(resolved.has_value());
  EXPECT_EQ(resolved->principal.instance_id, "");
}

TEST_F(StsServiceTest, InstanceCredentialsValidateRoleAndDuration) {
  MakeRole(TrustDoc(alice_.arn), 3600);
  EXPECT_EQ(
      sts_.IssueInstanceCredentials("nope", "mi-0123456789abcdef0", clock_.Now()).error().reason,
      "NoSuchEntity");
  EXPECT_EQ(sts_.IssueInstanceCredentials("deployer", "mi-0123456789abcdef0", clock_.Now(), 7200)
                .error()
                .reason,
            "ValidationError");
  EXPECT_EQ(sts_.IssueInstanceCredentials("deployer", "mi-0123456789abcdef0", clock_.Now(), 60)
                .error()
                .reason,
            "ValidationError");
  auto ok = sts_.IssueInstanceCredentials("deployer", "mi-0123456789abcdef0", clock_.Now(), 900);
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->credentials.expiration, clock_.Now() + std::chrono::seconds(900));
}

}  // namespace
}  // namespace kw::sts
