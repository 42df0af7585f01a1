#include "api/sts/sts_api.hpp"

#include <gtest/gtest.h>

#include "common/clock.hpp"
#include "crypto/csprng.hpp"
#include "iam/policy_test_support.hpp"
#include "sigv4/sigv4.hpp"
#include "store/memory/memory_kv_store.hpp"

namespace kw::api {
namespace {

using iam::testing::AllowDoc;
using iam::testing::FakeUserDirectory;
using iam::testing::TrustDoc;
using iam::testing::UserPrincipal;

class StsApiTest : public ::testing::Test, protected iam::testing::PolicyServiceFixture {
 protected:
  StsApiTest()
      : envelope_("k", SecretBytes(std::string(32, 'm')), random_),
        sts_(store_, envelope_, clock_, random_, account_, policies_),
        service_(StsQueryService(sts_, policies_, account_)) {
    alice_ = users_.Add("alice");
    caller_ = UserPrincipal(alice_);
  }

  const QueryOperation& Find(std::string_view name) {
    for (const auto& op : service_.operations) {
      if (op.name == name) return op;
    }
    ADD_FAILURE() << "no operation " << name;
    return service_.operations.front();
  }

  Result<std::string> Call(std::string_view op,
                           const std::vector<std::pair<std::string, std::string>>& params) {
    std::string form;
    for (const auto& [k, v] : params) {
      form +=
          (form.empty() ? "" : "&") + sigv4::UriEncode(k, false) + "=" + sigv4::UriEncode(v, false);
    }
    KW_ASSIGN_OR_RETURN(QueryParams qp, QueryParams::Parse(form));
    QueryCall call{qp, caller_, "req-1", "192.0.2.1", clock_.Now()};
    XmlWriter x;
    KW_RETURN_IF_ERROR(Find(op).handler(call, x));
    return x.str();
  }

  // The text of the first <tag>...</tag> in xml.
  static std::string Text(const std::string& xml, const std::string& tag) {
    const std::size_t a = xml.find("<" + tag + ">");
    const std::size_t b = xml.find("</" + tag + ">");
    if (a == std::string::npos || b == std::string::npos) return "";
    return xml.substr(a + tag.size() + 2, b - a - tag.size() - 2);
  }

  crypto::Envelope envelope_;
  sts::StsService sts_;
  QueryService service_;
  iam::UserSummary alice_;
  iam::Principal caller_;
};

TEST_F(StsApiTest, ServiceMetadata) {
  EXPECT_EQ(service_.signing_name, "sts");
  EXPECT_EQ(service_.action_prefix, "sts");
  EXPECT_EQ(service_.xmlns, "https://sts.amazonaws.com/doc/2011-06-15/");
  EXPECT_EQ(service_.version, "2011-06-15");
  EXPECT_FALSE(Find("GetCallerIdentity").authorize);
  EXPECT_FALSE(Find("AssumeRole").authorize);
  EXPECT_TRUE(Find("GetSessionToken").authorize);
  auto qp = QueryParams::Parse("");
  EXPECT_EQ(Find("GetSessionToken").resource(*qp, caller_), "*");
  auto arn = QueryParams::Parse("RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fr");
  EXPECT_EQ(Find("AssumeRole").resource(*arn, caller_), "arn:aws:iam::123456789012:role/r");
}

TEST_F(StsApiTest, GetCallerIdentityXml) {
  auto xml = Call("GetCallerIdentity", {});
  ASSERT_TRUE(xml.has_value());
  EXPECT_EQ(*xml, "<UserId>" + alice_.user_id +
                      "</UserId><Account>123456789012</Account><Arn>"
                      "arn:aws:iam::123456789012:user/alice</Arn>");
}

TEST_F(StsApiTest, AssumeRoleXmlAndCombinedCheck) {
  iam::CreateRoleRequest r;
  r.role_name = "deployer";
  r.assume_role_policy_document = TrustDoc("arn:aws:iam::123456789012:root");
  ASSERT_TRUE(policies_.CreateRole(r).has_value());
  const std::vector<std::pair<std::string, std::string>> params = {
      {"RoleArn", "arn:aws:iam::123456789012:role/deployer"},
      {"RoleSessionName", "ci"},
      {"DurationSeconds", "900"}};

  // The account is trusted but alice's identity policies do not allow it.
  auto denied = Call("AssumeRole", params);
  ASSERT_FALSE(denied.has_value());
  EXPECT_EQ(denied.error().reason, "AccessDenied");

  // The handler passes alice's identity policies from the resolver.
  ASSERT_TRUE(policies_
                  .PutUserPolicy("alice", "assume",
                                 AllowDoc("sts:AssumeRole", "arn:aws:iam::123456789012:role/*"))
                  .has_value());
  auto xml = Call("AssumeRole", params);
  ASSERT_TRUE(xml.has_value()) << xml.error().message;
  const std::string& s = *xml;
  EXPECT_EQ(s.rfind("<Credentials><AccessKeyId>ASIA", 0), 0u) << s;
  EXPECT_EQ(Text(s, "AccessKeyId").size(), 20u);
  EXPECT_EQ(Text(s, "SecretAccessKey").size(), 40u);
  EXPECT_GE(Text(s, "SessionToken").size(), 88u);
  EXPECT_EQ(Text(s, "Expiration"), "2023-11-14T22:28:20Z");
  const std::string role_id = policies_.GetRole("deployer")->role_id;
  EXPECT_NE(s.find("</Credentials><AssumedRoleUser><AssumedRoleId>" + role_id +
                   ":ci</AssumedRoleId><Arn>arn:aws:sts::123456789012:assumed-role/deployer/ci"
                   "</Arn></AssumedRoleUser>"),
            std::string::npos)
      << s;

  // The issued credentials resolve.
  auto resolved = sts_.Resolve(Text(s, "AccessKeyId"), Text(s, "SessionToken"), clock_.Now());
  ASSERT_TRUE(resolved.has_value());
  EXPECT_EQ(resolved->secret_access_key.Reveal(), Text(s, "SecretAccessKey"));

  auto with_policy = params;
  with_policy.push_back({"Policy", std::string(iam::testing::kAllowAllDoc)});
  EXPECT_EQ(Call("AssumeRole", with_policy).error().reason, "ValidationError");
  auto missing = Call("AssumeRole", {{"RoleArn", "arn:aws:iam::123456789012:role/deployer"}});
  EXPECT_EQ(missing.error().reason, "MissingParameter");
  auto too_long = params;
  too_long[2].second = "43201";
  EXPECT_EQ(Call("AssumeRole", too_long).error().reason, "ValidationError");
}

TEST_F(StsApiTest, AssumeRoleTrustConditionSeesSourceIp) {
  iam::CreateRoleRequest r;
  r.role_name = "ipbound";
  r.assume_role_policy_document =
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":")" +
      alice_.arn +
      R"("},"Action":"sts:AssumeRole","Condition":{"IpAddress":{"aws:SourceIp":"198.51.100.0/24"}}}]})";
  ASSERT_TRUE(policies_.CreateRole(r).has_value());
  // The test calls come from 192.0.2.1.
  auto xml = Call("AssumeRole", {{"RoleArn", "arn:aws:iam::123456789012:role/ipbound"},
                                 {"RoleSessionName", "s1"}});
  ASSERT_FALSE(xml.has_value());
  EXPECT_EQ(xml.error().reason, "AccessDenied");
}

TEST_F(StsApiTest, GetSessionTokenXml) {
  auto xml = Call("GetSessionToken", {{"DurationSeconds", "1800"}});
  ASSERT_TRUE(xml.has_value()) << xml.error().message;
  EXPECT_EQ(xml->rfind("<Credentials><AccessKeyId>ASIA", 0), 0u);
  EXPECT_EQ(Text(*xml, "Expiration"), "2023-11-14T22:43:20Z");
  EXPECT_NE(xml->find("</SessionToken><Expiration>"), std::string::npos);
  EXPECT_EQ(Call("GetSessionToken", {{"DurationSeconds", "129601"}}).error().reason,
            "ValidationError");
}

}  // namespace
}  // namespace kw::api
