#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "policy/detail/statement.hpp"
#include "policy/policy.hpp"

namespace kw::policy {
namespace {

// The message of the MalformedPolicyDocument error Parse returns, or "parsed".
std::string Error(const std::string& doc, PolicyKind kind = PolicyKind::kIdentity) {
  Result<Policy> p = Parse(doc, kind);
  if (p) return "parsed";
  EXPECT_EQ(p.error().code, ErrorCode::kInvalidArgument) << doc;
  EXPECT_EQ(p.error().reason, "MalformedPolicyDocument") << doc;
  return p.error().message;
}

std::string Wrap(const std::string& statement) {
  return R"({"Version":"2012-10-17","Statement":)" + statement + "}";
}

TEST(Parse, AcceptsObjectOrArrayStatement) {
  Result<Policy> one =
      Parse(Wrap(R"({"Sid":"One","Effect":"Allow","Action":"iam:GetUser","Resource":"*"})"),
            PolicyKind::kIdentity);
  ASSERT_TRUE(one.has_value()) << one.error().message;
  ASSERT_EQ(one->statements().size(), 1u);
  EXPECT_EQ(one->statements()[0].sid, "One");
  EXPECT_TRUE(one->statements()[0].allow);
  EXPECT_EQ(one->kind(), PolicyKind::kIdentity);

  Result<Policy> two = Parse(Wrap(R"([{"Effect":"Allow","Action":["a:b","c:*"],"Resource":"*"},
      {"Effect":"Deny","NotAction":"a:b","NotResource":"arn:aws:s3:::x"}])"),
                             PolicyKind::kIdentity);
  ASSERT_TRUE(two.has_value()) << two.error().message;
  ASSERT_EQ(two->statements().size(), 2u);
  EXPECT_FALSE(two->statements()[1].allow);
  EXPECT_TRUE(two->statements()[1].not_action);
  EXPECT_TRUE(two->statements()[1].not_resource);
  EXPECT_EQ(two->statements()[0].actions.size(), 2u);
}

TEST(Parse, VersionHandling) {
  const std::string body = R"("Statement":{"Effect":"Allow","Action":"*","Resource":"*"})";
  EXPECT_EQ(Error(R"({"Version":"2012-10-17",)" + body + "}"), "parsed");
  EXPECT_EQ(Error(R"({"Version":"2008-10-17",)" + body + "}"), "parsed");
  EXPECT_EQ(Error("{" + body + "}"), "parsed");
  EXPECT_EQ(Error(R"({"Version":"2012-10-18",)" + body + "}"), "The policy failed legacy parsing");
  EXPECT_EQ(Error(R"({"Version":20121017,)" + body + "}"), "Syntax errors in policy.");
  EXPECT_EQ(Error(R"({"Version":"2012-10-17","Id":"x",)" + body + "}"), "parsed");
  EXPECT_EQ(Error(R"({"Version":"2012-10-17","Id":5,)" + body + "}"), "Syntax errors in policy.");
}

TEST(Parse, SyntaxErrors) {
  for (const std::string& doc : std::vector<std::string>{
           "",
           "not json",
           "{",
           "[]",
           "null",
           "42",
           R"({"Statement":"x"})",
           R"({"Statement":[1]})",
           R"({"Version":"2012-10-17","Statement":{},"Extra":1})",
           Wrap(R"({"Effect":"Allow","Action":"*","Resource":"*","Bogus":1})"),
           Wrap(R"({"Effect":"Allow","Action":5,"Resource":"*"})"),
           Wrap(R"({"Effect":"Allow","Action":[5],"Resource":"*"})"),
           Wrap(R"({"Effect":"Allow","Action":"*","Resource":{"a":"b"}})"),
           Wrap(R"({"Effect":true,"Action":"*","Resource":"*"})"),
           Wrap(R"({"Sid":1,"Effect":"Allow","Action":"*","Resource":"*"})"),
           Wrap(R"({"Effect":"Allow","Action":"*","Resource":"*","Condition":[]})"),
           "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\xff\"}}",
       }) {
    EXPECT_EQ(Error(doc), "Syntax errors in policy.") << doc;
  }
}

TEST(Parse, MissingElements) {
  EXPECT_EQ(Error(R"({"Version":"2012-10-17"})"), "Missing required field Statement");
  EXPECT_EQ(Error(Wrap(R"({"Action":"*","Resource":"*"})")), "Missing required field Effect");
  EXPECT_EQ(Error(Wrap(R"({"Effect":"Allow","Resource":"*"})")),
            "Policy statement must contain actions.");
  EXPECT_EQ(Error(Wrap(R"({"Effect":"Allow","Action":[],"Resource":"*"})")),
            "Policy statement must contain actions.");
  EXPECT_EQ(Error(Wrap(R"({"Effect":"Allow","Action":"*"})")),
            "Policy statement must contain resources.");
  EXPECT_EQ(Error(Wrap(R"({"Effect":"Allow","Action":"*","Resource":[]})")),
            "Policy statement must contain resources.");
  EXPECT_NE(Error(Wrap(R"({"Effect":"Allow","Action":"*","NotAction":"*","Resource":"*"})")),
            "parsed");
  EXPECT_NE(Error(Wrap(R"({"Effect":"Allow","Action":"*","Resource":"*","NotResource":"*"})")),
            "parsed");
}

TEST(Parse, InvalidValues) {
  EXPECT_EQ(Error(Wrap(R"({"Effect":"Allowed","Action":"*","Resource":"*"})")),
            "Invalid effect: Allowed");
  EXPECT_EQ(Error(Wrap(R"({"Effect":"allow","Action":"*","Resource":"*"})")),
            "Invalid effect: allow");
  EXPECT_EQ(Error(Wrap(R"({"Effect":"Allow","Action":"GetUser","Resource":"*"})")),
            "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.");
  EXPECT_EQ(Error(Wrap(R"({"Effect":"Allow","Action":":GetUser","Resource":"*"})")),
            "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.");
  EXPECT_EQ(Error(Wrap(R"({"Effect":"Allow","Action":"*","Resource":"bucket"})")),
            "Resource bucket must be in ARN format or \"*\".");
  EXPECT_EQ(Error(Wrap(R"([{"Sid":"A","Effect":"Allow","Action":"*","Resource":"*"},
                           {"Sid":"A","Effect":"Deny","Action":"*","Resource":"*"}])")),
            "Statement IDs (SID) in a single policy must be unique.");
  EXPECT_NE(Error(Wrap(R"({"Sid":"has space","Effect":"Allow","Action":"*","Resource":"*"})")),
            "parsed");
}

TEST(Parse, PrincipalOnlyInResourcePolicies) {
  const std::string doc =
      Wrap(R"({"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Resource":"*"})");
  EXPECT_EQ(Error(doc), "Policy document should not specify a principal.");
  EXPECT_EQ(Error(Wrap(R"({"Effect":"Allow","NotPrincipal":{"AWS":"*"},"Action":"*",
                           "Resource":"*"})")),
            "Policy document should not specify a principal.");
  EXPECT_EQ(Error(doc, PolicyKind::kResource), "parsed");
  EXPECT_EQ(Error(Wrap(R"({"Effect":"Allow","Action":"sts:AssumeRole"})"), PolicyKind::kResource),
            "Missing required field Principal");
}

TEST(Parse, PrincipalForms) {
  for (const std::string& principal : std::vector<std::string>{
           R"("*")",
           R"({"AWS":"*"})",
           R"({"AWS":"123456789012"})",
           R"({"AWS":"arn:aws:iam::123456789012:root"})",
           R"({"AWS":["arn:aws:iam::123456789012:user/alice","arn:aws:iam::1:role/r"]})",
           R"({"Service":"ec2.amazonaws.com"})",
           R"({"Service":["a.amazonaws.com"]})",
           R"({"Federated":"cognito-identity.amazonaws.com"})",
           R"({"AWS":"123456789012","Service":"ssm.amazonaws.com"})",
       }) {
    EXPECT_EQ(
        Error(Wrap(R"({"Effect":"Allow","Action":"sts:AssumeRole","Principal":)" + principal + "}"),
              PolicyKind::kResource),
        "parsed")
        << principal;
  }
  for (const std::string& principal : std::vector<std::string>{
           R"("alice")",
           R"({"AWS":"alice"})",
           R"({"AWS":"12345"})",
           R"({"AWS":"arn:aws:iam::*:root"})",
           R"({"AWS":"arn:aws:iam::1:user/*"})",
           R"({"AWS":[]})",
           R"({"Robot":"x"})",
           R"({})",
           R"(["*"])",
           R"({"Service":""})",
           R"({"AWS":"arn:aws:iam::12:root"})",
       }) {
    EXPECT_NE(
        Error(Wrap(R"({"Effect":"Allow","Action":"sts:AssumeRole","Principal":)" + principal + "}"),
              PolicyKind::kResource),
        "parsed")
        << principal;
  }
}

TEST(Parse, Limits) {
  std::string deep(100, '[');
  EXPECT_EQ(Error(deep), "Syntax errors in policy.");
  std::string many = R"({"Statement":[)";
  for (int i = 0; i < 1001; ++i) {
    if (i) many += ",";
    many += R"({"Effect":"Allow","Action":"*","Resource":"*"})";
  }
  many += "]}";
  EXPECT_NE(Error(many), "parsed");
  std::string values = R"({"Statement":{"Effect":"Allow","Resource":"*","Action":[)";
  for (int i = 0; i < 1001; ++i) {
    if (i) values += ",";
    values += R"("s:a)" + std::to_string(i) + "\"";
  }
  values += "]}}";
  EXPECT_NE(Error(values), "parsed");
  // Exactly at the limit is fine.
  std::string ok = R"({"Statement":[)";
  for (int i = 0; i < 1000; ++i) {
    if (i) ok += ",";
    ok += R"({"Effect":"Allow","Action":"*","Resource":"*"})";
  }
  ok += "]}";
  EXPECT_EQ(Error(ok), "parsed");
}

TEST(Parse, BracesInsideStringsDoNotCountAsNesting) {
  std::string doc = Wrap(R"({"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::)" +
                         std::string(100, '[') + R"(\"{"})");
  EXPECT_EQ(Error(doc), "parsed");
}

TEST(Policy, MovedFromIsEmpty) {
  Result<Policy> p =
      Parse(Wrap(R"({"Effect":"Allow","Action":"*","Resource":"*"})"), PolicyKind::kResource);
  ASSERT_FALSE(p.has_value());  // kResource needs a Principal
  Result<Policy> q =
      Parse(Wrap(R"({"Effect":"Allow","Action":"*","Resource":"*"})"), PolicyKind::kIdentity);
  ASSERT_TRUE(q.has_value());
  Policy moved = std::move(*q);
  EXPECT_EQ(moved.statements().size(), 1u);
  EXPECT_TRUE(q->statements().empty());  // NOLINT: use after move is the point
  Policy empty;
  EXPECT_TRUE(empty.statements().empty());
}

// The fuzz seeds are meant to be valid policies (except the ones named malformed*),
// so the fuzzer starts from deep inside the evaluator.
TEST(Parse, FuzzSeedCorpusParses) {
  const std::filesystem::path dir =
      std::filesystem::path(KW_SOURCE_DIR) / "fuzz/corpus/policy_parse";
  int valid = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const bool identity = Parse(doc, PolicyKind::kIdentity).has_value();
    const bool resource = Parse(doc, PolicyKind::kResource).has_value();
    if (entry.path().filename().string().rfind("malformed", 0) == 0) {
      EXPECT_FALSE(identity || resource) << entry.path();
    } else {
      EXPECT_TRUE(identity || resource) << entry.path();
      ++valid;
    }
  }
  EXPECT_GE(valid, 8);
}

}  // namespace
}  // namespace kw::policy
