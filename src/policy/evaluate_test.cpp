#include <gtest/gtest.h>

#include <string>

#include "policy/policy.hpp"

namespace kw::policy {
namespace {

constexpr char kSecretArn[] = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf";

Policy MustParse(const std::string& doc, PolicyKind kind = PolicyKind::kIdentity) {
  Result<Policy> p = Parse(doc, kind);
  EXPECT_TRUE(p.has_value()) << doc << ": " << p.error().message;
  if (!p) return Policy();
  return std::move(*p);
}

RequestContext Request(std::string action, std::string resource) {
  RequestContext r;
  r.action = std::move(action);
  r.resource = std::move(resource);
  return r;
}

Decision Eval(const Policy& p, const RequestContext& r) { return Evaluate({&p}, r); }

TEST(Evaluate, SeedSecretPolicyAllowsExactlyThatActionOnThatArn) {
  const Policy p =
      MustParse(std::string(R"({"Version":"2012-10-17","Statement":{"Effect":"Allow",)"
                            R"("Action":"secretsmanager:GetSecretValue","Resource":")") +
                kSecretArn + "\"}}");
  EXPECT_EQ(Eval(p, Request("secretsmanager:GetSecretValue", kSecretArn)), Decision::kAllow);
  // Actions are case-insensitive.
  EXPECT_EQ(Eval(p, Request("SecretsManager:getsecretvalue", kSecretArn)), Decision::kAllow);
  EXPECT_EQ(Eval(p, Request("secretsmanager:PutSecretValue", kSecretArn)), Decision::kImplicitDeny);
  EXPECT_EQ(Eval(p, Request("secretsmanager:GetSecretValue", std::string(kSecretArn) + "x")),
            Decision::kImplicitDeny);
  EXPECT_EQ(Eval(p, Request("secretsmanager:GetSecretValue",
                            "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-ABCDEF")),
            Decision::kImplicitDeny);  // resources are case-sensitive
  EXPECT_EQ(Eval(p, Request("secretsmanager:GetSecretValue", "*")), Decision::kImplicitDeny);
  EXPECT_EQ(Eval(p, Request("iam:GetSecretValue", kSecretArn)), Decision::kImplicitDeny);
}

TEST(Evaluate, IpRestrictionDeniesOutsideTheRange) {
  const Policy allow = MustParse(std::string(R"({"Version":"2012-10-17","Statement":{)"
                                             R"("Effect":"Allow","Action":"secretsmanager:*",)"
                                             R"("Resource":"*"}})"));
  const Policy deny = MustParse(
      R"({"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*",)"
      R"("Condition":{"NotIpAddress":{"aws:SourceIp":["203.0.113.0/24"]}}}})");
  RequestContext r = Request("secretsmanager:GetSecretValue", kSecretArn);
  r.keys["aws:sourceip"] = {"127.0.0.1"};
  EXPECT_EQ(Evaluate({&allow, &deny}, r), Decision::kExplicitDeny);
  r.keys["aws:sourceip"] = {"203.0.113.10"};
  EXPECT_EQ(Evaluate({&allow, &deny}, r), Decision::kAllow);
  EXPECT_EQ(Evaluate({&deny}, r), Decision::kImplicitDeny);
  r.keys.erase("aws:sourceip");  // unknown source: the negated operator is true, deny
  EXPECT_EQ(Evaluate({&allow, &deny}, r), Decision::kExplicitDeny);
}

TEST(Evaluate, DenyBeatsAllowInAnyOrder) {
  const Policy allow =
      MustParse(R"({"Statement":{"Effect":"Allow","Action":"iam:*","Resource":"*"}})");
  const Policy deny =
      MustParse(R"({"Statement":{"Effect":"Deny","Action":"iam:DeleteUser","Resource":"*"}})");
  const RequestContext del = Request("iam:DeleteUser", "arn:aws:iam::1:user/bob");
  EXPECT_EQ(Evaluate({&allow, &deny}, del), Decision::kExplicitDeny);
  EXPECT_EQ(Evaluate({&deny, &allow}, del), Decision::kExplicitDeny);
  EXPECT_EQ(Evaluate({&allow, &deny}, Request("iam:GetUser", "*")), Decision::kAllow);
  EXPECT_EQ(Evaluate({&deny}, Request("iam:GetUser", "*")), Decision::kImplicitDeny);
  EXPECT_EQ(Evaluate({}, Request("iam:GetUser", "*")), Decision::kImplicitDeny);
  EXPECT_EQ(Evaluate({nullptr, &allow}, Request("iam:GetUser", "*")), Decision::kAllow);

  const Policy both = MustParse(R"({"Statement":[
      {"Effect":"Allow","Action":"*","Resource":"*"},
      {"Effect":"Deny","Action":"iam:*","Resource":"arn:aws:iam::1:user/admin"}]})");
  EXPECT_EQ(Eval(both, Request("iam:GetUser", "arn:aws:iam::1:user/admin")),
            Decision::kExplicitDeny);
  EXPECT_EQ(Eval(both, Request("iam:GetUser", "arn:aws:iam::1:user/bob")), Decision::kAllow);
}

TEST(Evaluate, NotActionAndNotResource) {
  const Policy p = MustParse(R"({"Statement":{"Effect":"Allow","NotAction":["iam:*","sts:*"],
      "NotResource":"arn:aws:s3:::secret/*"}})");
  EXPECT_EQ(Eval(p, Request("s3:GetObject", "arn:aws:s3:::public/a")), Decision::kAllow);
  EXPECT_EQ(Eval(p, Request("s3:GetObject", "arn:aws:s3:::secret/a")), Decision::kImplicitDeny);
  EXPECT_EQ(Eval(p, Request("IAM:CreateUser", "arn:aws:s3:::public/a")), Decision::kImplicitDeny);
  const Policy deny = MustParse(
      R"({"Statement":{"Effect":"Deny","NotAction":"iam:ChangePassword","Resource":"*"}})");
  EXPECT_EQ(Eval(deny, Request("iam:ChangePassword", "*")), Decision::kImplicitDeny);
  EXPECT_EQ(Eval(deny, Request("iam:GetUser", "*")), Decision::kExplicitDeny);
}

TEST(Evaluate, Wildcards) {
  const Policy p = MustParse(R"({"Statement":{"Effect":"Allow",
      "Action":["secretsmanager:Get*","ssm:Describe?nstance*"],
      "Resource":["arn:aws:secretsmanager:*:123456789012:secret:app/*",
                  "arn:aws:ssm:us-east-1:123456789012:managed-instance/mi-????"]}})");
  EXPECT_EQ(Eval(p, Request("secretsmanager:GetSecretValue",
                            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/x-1")),
            Decision::kAllow);
  EXPECT_EQ(Eval(p, Request("secretsmanager:GetSecretValue",
                            "arn:aws:secretsmanager:eu-west-1:999999999999:secret:app/x-1")),
            Decision::kImplicitDeny);
  EXPECT_EQ(Eval(p, Request("secretsmanager:ListSecrets",
                            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/x-1")),
            Decision::kImplicitDeny);
  EXPECT_EQ(Eval(p, Request("ssm:DescribeInstanceInformation",
                            "arn:aws:ssm:us-east-1:123456789012:managed-instance/mi-abcd")),
            Decision::kAllow);
  EXPECT_EQ(Eval(p, Request("ssm:DescribeInstanceInformation",
                            "arn:aws:ssm:us-east-1:123456789012:managed-instance/mi-abcde")),
            Decision::kImplicitDeny);
}

TEST(Evaluate, ConditionsGateTheStatement) {
  const Policy p = MustParse(R"({"Version":"2012-10-17","Statement":{"Effect":"Allow",
      "Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}})");
  RequestContext r = Request("s3:GetObject", "*");
  EXPECT_EQ(Eval(p, r), Decision::kImplicitDeny);
  r.keys["aws:securetransport"] = {"true"};
  EXPECT_EQ(Eval(p, r), Decision::kAllow);
}

TEST(Evaluate, ResourceVariables) {
  const Policy p = MustParse(R"({"Version":"2012-10-17","Statement":{"Effect":"Allow",
      "Action":"iam:*AccessKey*","Resource":"arn:aws:iam::123456789012:user/${aws:username}"}})");
  RequestContext r = Request("iam:CreateAccessKey", "arn:aws:iam::123456789012:user/alice");
  EXPECT_EQ(Eval(p, r), Decision::kImplicitDeny);  // no aws:username: unresolvable
  r.keys["aws:username"] = {"alice"};
  EXPECT_EQ(Eval(p, r), Decision::kAllow);
  r.keys["aws:username"] = {"bob"};
  EXPECT_EQ(Eval(p, r), Decision::kImplicitDeny);
  // In the 2008 language the variable is literal text.
  const Policy old = MustParse(R"({"Statement":{"Effect":"Allow",
      "Action":"iam:*","Resource":"arn:aws:iam::123456789012:user/${aws:username}"}})");
  r.keys["aws:username"] = {"alice"};
  EXPECT_EQ(Eval(old, r), Decision::kImplicitDeny);
  EXPECT_EQ(Eval(old, Request("iam:GetUser", "arn:aws:iam::123456789012:user/${aws:username}")),
            Decision::kAllow);
}

TEST(Evaluate, IdentityPolicyIgnoresPrincipalFields) {
  const Policy p =
      MustParse(R"({"Statement":{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}})");
  RequestContext r = Request("iam:GetUser", "*");
  r.principal_arn = "arn:aws:iam::999999999999:user/x";
  EXPECT_EQ(Eval(p, r), Decision::kAllow);
}

class TrustPolicy : public ::testing::Test {
 protected:
  static Decision Assume(const std::string& principal, const std::string& caller_arn,
                         const std::string& caller_account, bool not_principal = false) {
    const Policy p =
        MustParse(std::string(R"({"Version":"2012-10-17","Statement":{"Effect":"Allow",")") +
                      (not_principal ? "NotPrincipal" : "Principal") + "\":" + principal +
                      R"(,"Action":"sts:AssumeRole"}})",
                  PolicyKind::kResource);
    RequestContext r = Request("sts:AssumeRole", "arn:aws:iam::123456789012:role/target");
    r.principal_arn = caller_arn;
    r.principal_account = caller_account;
    return Eval(p, r);
  }
};

TEST_F(TrustPolicy, Star) {
  EXPECT_EQ(Assume(R"("*")", "arn:aws:iam::1:user/x", "1"), Decision::kAllow);
  EXPECT_EQ(Assume(R"({"AWS":"*"})", "arn:aws:iam::1:user/x", "1"), Decision::kAllow);
}

TEST_F(TrustPolicy, AccountMatchesEveryPrincipalOfThatAccount) {
  for (const std::string& principal : std::vector<std::string>{
           R"({"AWS":"123456789012"})", R"({"AWS":"arn:aws:iam::123456789012:root"})"}) {
    EXPECT_EQ(Assume(principal, "arn:aws:iam::123456789012:user/alice", "123456789012"),
              Decision::kAllow)
        << principal;
    EXPECT_EQ(Assume(principal, "arn:aws:sts::123456789012:assumed-role/r/s", "123456789012"),
              Decision::kAllow);
    // The account is taken from the ARN when principal_account is not filled in.
    EXPECT_EQ(Assume(principal, "arn:aws:iam::123456789012:user/alice", ""), Decision::kAllow);
    EXPECT_EQ(Assume(principal, "arn:aws:iam::210987654321:user/alice", "210987654321"),
              Decision::kImplicitDeny);
    EXPECT_EQ(Assume(principal, "", ""), Decision::kImplicitDeny);
  }
}

TEST_F(TrustPolicy, UserArnMatchesExactly) {
  const std::string p = R"({"AWS":["arn:aws:iam::123456789012:user/alice"]})";
  EXPECT_EQ(Assume(p, "arn:aws:iam::123456789012:user/alice", "123456789012"), Decision::kAllow);
  EXPECT_EQ(Assume(p, "arn:aws:iam::123456789012:user/alice2", "123456789012"),
            Decision::kImplicitDeny);
  EXPECT_EQ(Assume(p, "arn:aws:iam::123456789012:user/bob", "123456789012"),
            Decision::kImplicitDeny);
}

TEST_F(TrustPolicy, RoleArnMatchesTheRoleAndItsSessions) {
  const std::string p = R"({"AWS":"arn:aws:iam::123456789012:role/ops/Deployer"})";
  EXPECT_EQ(Assume(p, "arn:aws:iam::123456789012:role/ops/Deployer", "123456789012"),
            Decision::kAllow);
  EXPECT_EQ(Assume(p, "arn:aws:sts::123456789012:assumed-role/Deployer/ci-42", "123456789012"),
            Decision::kAllow);
  EXPECT_EQ(Assume(p, "arn:aws:sts::123456789012:assumed-role/Deployer2/ci", "123456789012"),
            Decision::kImplicitDeny);
  EXPECT_EQ(Assume(p, "arn:aws:sts::999999999999:assumed-role/Deployer/ci", "999999999999"),
            Decision::kImplicitDeny);
  EXPECT_EQ(Assume(p, "arn:aws:sts::123456789012:assumed-role/Deployer", "123456789012"),
            Decision::kImplicitDeny);
}

TEST_F(TrustPolicy, ServiceAndFederated) {
  const std::string svc = R"({"Service":["ec2.amazonaws.com","ssm.amazonaws.com"]})";
  EXPECT_EQ(Assume(svc, "ssm.amazonaws.com", ""), Decision::kAllow);
  EXPECT_EQ(Assume(svc, "lambda.amazonaws.com", ""), Decision::kImplicitDeny);
  EXPECT_EQ(Assume(svc, "arn:aws:iam::123456789012:user/alice", "123456789012"),
            Decision::kImplicitDeny);
  const std::string fed = R"({"Federated":"arn:aws:iam::123456789012:saml-provider/corp"})";
  EXPECT_EQ(Assume(fed, "arn:aws:iam::123456789012:saml-provider/corp", "123456789012"),
            Decision::kAllow);
}

TEST_F(TrustPolicy, NotPrincipal) {
  const std::string p = R"({"AWS":"arn:aws:iam::123456789012:user/mallory"})";
  EXPECT_EQ(Assume(p, "arn:aws:iam::123456789012:user/alice", "123456789012", true),
            Decision::kAllow);
  EXPECT_EQ(Assume(p, "arn:aws:iam::123456789012:user/mallory", "123456789012", true),
            Decision::kImplicitDeny);
}

TEST_F(TrustPolicy, ResourceIsOptionalButMatchedWhenPresent) {
  const Policy p = MustParse(R"({"Statement":{"Effect":"Allow","Principal":"*",
      "Action":"secretsmanager:GetSecretValue","Resource":"arn:aws:secretsmanager:*:*:secret:a*"}})",
                             PolicyKind::kResource);
  EXPECT_EQ(
      Eval(p, Request("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:r:1:secret:abc")),
      Decision::kAllow);
  EXPECT_EQ(
      Eval(p, Request("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:r:1:secret:xyz")),
      Decision::kImplicitDeny);
}

TEST_F(TrustPolicy, DenyInResourcePolicyBeatsIdentityAllow) {
  const Policy identity =
      MustParse(R"({"Statement":{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}})");
  const Policy trust = MustParse(R"({"Statement":{"Effect":"Deny",
      "Principal":{"AWS":"arn:aws:iam::123456789012:user/alice"},"Action":"sts:*"}})",
                                 PolicyKind::kResource);
  RequestContext r = Request("sts:AssumeRole", "arn:aws:iam::123456789012:role/x");
  r.principal_arn = "arn:aws:iam::123456789012:user/alice";
  EXPECT_EQ(Evaluate({&identity, &trust}, r), Decision::kExplicitDeny);
  r.principal_arn = "arn:aws:iam::123456789012:user/bob";
  EXPECT_EQ(Evaluate({&identity, &trust}, r), Decision::kAllow);
}

TEST(WildcardMatch, Basics) {
  EXPECT_TRUE(WildcardMatch("*", "", false));
  EXPECT_TRUE(WildcardMatch("*", "anything", false));
  EXPECT_TRUE(WildcardMatch("", "", false));
  EXPECT_FALSE(WildcardMatch("", "a", false));
  EXPECT_FALSE(WildcardMatch("?", "", false));
  EXPECT_TRUE(WildcardMatch("a?c", "abc", false));
  EXPECT_FALSE(WildcardMatch("a?c", "abbc", false));
  EXPECT_TRUE(WildcardMatch("a*b*c", "aXXbYYbc", false));
  EXPECT_FALSE(WildcardMatch("a*b*c", "aXXbYYb", false));
  EXPECT_TRUE(WildcardMatch("*.txt", "a.b.txt", false));
  EXPECT_FALSE(WildcardMatch("ABC", "abc", false));
  EXPECT_TRUE(WildcardMatch("ABC*", "abcdef", true));
  EXPECT_TRUE(WildcardMatch("abc", "ABC", true));
  // No escapes in the public function: a backslash is an ordinary character.
  EXPECT_TRUE(WildcardMatch("a\\*", "a\\xyz", false));
  // Pathological patterns finish quickly (no exponential backtracking).
  const std::string value(5000, 'a');
  EXPECT_FALSE(WildcardMatch("*a*a*a*a*a*a*a*a*a*a*b", value, false));
}

}  // namespace
}  // namespace kw::policy
