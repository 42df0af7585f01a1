#include "api/iam/policies_api.hpp"

#include <gtest/gtest.h>

#include <set>

#include "common/clock.hpp"
#include "crypto/csprng.hpp"
#include "iam/policy_test_support.hpp"
#include "sigv4/sigv4.hpp"
#include "store/memory/memory_kv_store.hpp"

namespace kw::api {
namespace {

using iam::testing::FakeUserDirectory;
using iam::testing::kAllowAllDoc;
using iam::testing::TrustDoc;
using iam::testing::UserPrincipal;

class PoliciesApiTest : public ::testing::Test, protected iam::testing::PolicyServiceFixture {
 protected:
  PoliciesApiTest() : ops_(PolicyOperations(policies_, account_)) {
    caller_ = UserPrincipal(users_.Add("admin"));
  }

  const QueryOperation& Find(std::string_view name) {
    for (const auto& op : ops_) {
      if (op.name == name) return op;
    }
    ADD_FAILURE() << "no operation " << name;
    return ops_.front();
  }

  static std::string Form(const std::vector<std::pair<std::string, std::string>>& params) {
    std::string form;
    for (const auto& [k, v] : params) {
      if (!form.empty()) form += "&";
      form += sigv4::UriEncode(k, false) + "=" + sigv4::UriEncode(v, false);
    }
    return form;
  }

  // Runs an operation; returns the inside of <{Op}Result>, or the error.
  Result<std::string> Call(std::string_view op,
                           const std::vector<std::pair<std::string, std::string>>& params) {
    KW_ASSIGN_OR_RETURN(QueryParams qp, QueryParams::Parse(Form(params)));
    QueryCall call{qp, caller_, "req-1", "192.0.2.1", clock_.Now()};
    XmlWriter x;
    KW_RETURN_IF_ERROR(Find(op).handler(call, x));
    return x.str();
  }

  std::string Resource(std::string_view op,
                       const std::vector<std::pair<std::string, std::string>>& params) {
    auto qp = QueryParams::Parse(Form(params));
    EXPECT_TRUE(qp.has_value());
    return Find(op).resource(*qp, caller_);
  }

  std::string MustCall(std::string_view op,
                       const std::vector<std::pair<std::string, std::string>>& params) {
    auto r = Call(op, params);
    EXPECT_TRUE(r.has_value()) << op << ": " << (r ? "" : r.error().message);
    return r.value_or("");
  }

  std::vector<QueryOperation> ops_;
  iam::Principal caller_;
};

TEST_F(PoliciesApiTest, OperationTable) {
  std::set<std::string> names;
  for (const auto& op : ops_) {
    names.insert(op.name);
    EXPECT_TRUE(op.authorize) << op.name;
    EXPECT_TRUE(op.handler) << op.name;
    EXPECT_TRUE(op.resource) << op.name;
    const bool reader = op.name.rfind("Get", 0) == 0 || op.name.rfind("List", 0) == 0;
    EXPECT_EQ(op.read_only, reader) << op.name;
  }
  const std::set<std::string> expected = {"CreateRole",
                                          "GetRole",
                                          "ListRoles",
                                          "UpdateRole",
                                          "UpdateAssumeRolePolicy",
                                          "DeleteRole",
                                          "TagRole",
                                          "UntagRole",
                                          "ListRoleTags",
                                          "PutUserPolicy",
                                          "GetUserPolicy",
                                          "ListUserPolicies",
                                          "DeleteUserPolicy",
                                          "PutRolePolicy",
                                          "GetRolePolicy",
                                          "ListRolePolicies",
                                          "DeleteRolePolicy",
                                          "CreatePolicy",
                                          "GetPolicy",
                                          "ListPolicies",
                                          "DeletePolicy",
                                          "CreatePolicyVersion",
                                          "GetPolicyVersion",
                                          "ListPolicyVersions",
                                          "DeletePolicyVersion",
                                          "SetDefaultPolicyVersion",
                                          "AttachUserPolicy",
                                          "DetachUserPolicy",
                                          "AttachRolePolicy",
                                          "DetachRolePolicy",
                                          "ListAttachedUserPolicies",
                                          "ListAttachedRolePolicies",
                                          "ListEntitiesForPolicy"};
  EXPECT_EQ(names, expected);
  EXPECT_EQ(names.size(), ops_.size());
}

TEST_F(PoliciesApiTest, RoleXml) {
  const std::string trust = TrustDoc("arn:aws:iam::123456789012:root");
  const std::string xml = MustCall("CreateRole", {{"RoleName", "app"},
                                                  {"Path", "/svc/"},
                                                  {"AssumeRolePolicyDocument", trust},
                                                  {"Description", "a & b"},
                                                  {"MaxSessionDuration", "7200"},
                                                  {"Tags.member.1.Key", "team"},
                                                  {"Tags.member.1.Value", "infra"}});
  const iam::Role role = *policies_.GetRole("app");
  const std::string expected =
      "<Role><Path>/svc/</Path><RoleName>app</RoleName><RoleId>" + role.role_id +
      "</RoleId><Arn>arn:aws:iam::123456789012:role/svc/app</Arn>"
      "<CreateDate>2023-11-14T22:13:20Z</CreateDate><AssumeRolePolicyDocument>" +
      sigv4::UriEncode(trust, false) +
      "</AssumeRolePolicyDocument><Description>a &amp; b</Description>"
      "<MaxSessionDuration>7200</MaxSessionDuration>"
      "<Tags><member><Key>team</Key><Value>infra</Value></member></Tags></Role>";
  EXPECT_EQ(xml, expected);
  // The document is percent-encoded: no raw JSON punctuation.
  EXPECT_NE(xml.find("%7B%22Version%22%3A%222012-10-17%22"), std::string::npos);
  EXPECT_EQ(MustCall("GetRole", {{"RoleName", "APP"}}), expected);

  const std::string list = MustCall("ListRoles", {{"MaxItems", "1"}});
  EXPECT_EQ(list.rfind("<Roles><member><Path>/svc/</Path><RoleName>app</RoleName>", 0), 0u) << list;
  EXPECT_EQ(list.find("<Tags>"), std::string::npos);  // ListRoles omits tags
  EXPECT_NE(list.find("</Roles><IsTruncated>false</IsTruncated>"), std::string::npos);

  EXPECT_EQ(Resource("GetRole", {{"RoleName", "app"}}), "arn:aws:iam::123456789012:role/svc/app");
  EXPECT_EQ(Resource("GetRole", {{"RoleName", "ghost"}}), "arn:aws:iam::123456789012:role/ghost");
  EXPECT_EQ(Resource("ListRoles", {}), "*");

  EXPECT_EQ(MustCall("ListRoleTags", {{"RoleName", "app"}}),
            "<Tags><member><Key>team</Key><Value>infra</Value></member></Tags>"
            "<IsTruncated>false</IsTruncated>");
  EXPECT_EQ(MustCall("UntagRole", {{"RoleName", "app"}, {"TagKeys.member.1", "team"}}), "");
  EXPECT_EQ(MustCall("ListRoleTags", {{"RoleName", "app"}}),
            "<Tags></Tags><IsTruncated>false</IsTruncated>");
  EXPECT_EQ(MustCall("UpdateRole", {{"RoleName", "app"}, {"MaxSessionDuration", "3600"}}), "");
  EXPECT_EQ(policies_.GetRole("app")->max_session_duration, 3600);

  auto missing = Call("CreateRole", {{"RoleName", "x"}});
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().reason, "MissingParameter");
  auto bad_duration =
      Call("CreateRole",
           {{"RoleName", "x"}, {"AssumeRolePolicyDocument", trust}, {"MaxSessionDuration", "60"}});
  EXPECT_EQ(bad_duration.error().reason, "ValidationError");
  EXPECT_EQ(MustCall("DeleteRole", {{"RoleName", "app"}}), "");
  EXPECT_EQ(Call("GetRole", {{"RoleName", "app"}}).error().reason, "NoSuchEntity");
}

TEST_F(PoliciesApiTest, InlinePolicyXml) {
  users_.Add("alice", "/staff/");
  const std::string doc =
      "{\"Version\": \"2012-10-17\", \"Statement\": {\"Effect\": \"Allow\", "
      "\"Action\": \"s3:GetObject\", \"Resource\": \"*\"}}";
  EXPECT_EQ(MustCall("PutUserPolicy",
                     {{"UserName", "alice"}, {"PolicyName", "read"}, {"PolicyDocument", doc}}),
            "");
  EXPECT_EQ(MustCall("GetUserPolicy", {{"UserName", "alice"}, {"PolicyName", "read"}}),
            "<UserName>alice</UserName><PolicyName>read</PolicyName><PolicyDocument>" +
                sigv4::UriEncode(doc, false) + "</PolicyDocument>");
  // Spaces are %20 (botocore unquotes; '+' would not come back as a space).
  EXPECT_NE(sigv4::UriEncode(doc, false).find("%20"), std::string::npos);
  EXPECT_EQ(MustCall("ListUserPolicies", {{"UserName", "alice"}}),
            "<PolicyNames><member>read</member></PolicyNames><IsTruncated>false</IsTruncated>");
  EXPECT_EQ(Resource("PutUserPolicy", {{"UserName", "alice"}}),
            "arn:aws:iam::123456789012:user/staff/alice");
  EXPECT_EQ(Resource("PutUserPolicy", {{"UserName", "ghost"}}),
            "arn:aws:iam::123456789012:user/ghost");

  auto nouser = Call("GetUserPolicy", {{"UserName", "ghost"}, {"PolicyName", "read"}});
  ASSERT_FALSE(nouser.has_value());
  EXPECT_EQ(nouser.error().reason, "NoSuchEntity");

  MustCall("CreateRole", {{"RoleName", "r"}, {"AssumeRolePolicyDocument", TrustDoc("*")}});
  MustCall("PutRolePolicy", {{"RoleName", "r"}, {"PolicyName", "p"}, {"PolicyDocument", doc}});
  EXPECT_EQ(MustCall("GetRolePolicy", {{"RoleName", "r"}, {"PolicyName", "p"}}),
            "<RoleName>r</RoleName><PolicyName>p</PolicyName><PolicyDocument>" +
                sigv4::UriEncode(doc, false) + "</PolicyDocument>");
  EXPECT_EQ(MustCall("ListRolePolicies", {{"RoleName", "r"}}),
            "<PolicyNames><member>p</member></PolicyNames><IsTruncated>false</IsTruncated>");
  auto conflict = Call("DeleteRole", {{"RoleName", "r"}});
  ASSERT_FALSE(conflict.has_value());
  EXPECT_EQ(conflict.error().reason, "DeleteConflict");
}

TEST_F(PoliciesApiTest, ManagedPolicyXml) {
  const std::string created =
      MustCall("CreatePolicy", {{"PolicyName", "deploy"},
                                {"PolicyDocument", std::string(kAllowAllDoc)},
                                {"Description", "d"}});
  const iam::ManagedPolicy p = *policies_.GetPolicy("arn:aws:iam::123456789012:policy/deploy");
  EXPECT_EQ(created,
            "<Policy><PolicyName>deploy</PolicyName><PolicyId>" + p.policy_id +
                "</PolicyId><Arn>arn:aws:iam::123456789012:policy/deploy</Arn><Path>/</Path>"
                "<DefaultVersionId>v1</DefaultVersionId><AttachmentCount>0</AttachmentCount>"
                "<PermissionsBoundaryUsageCount>0</PermissionsBoundaryUsageCount>"
                "<IsAttachable>true</IsAttachable><Description>d</Description>"
                "<CreateDate>2023-11-14T22:13:20Z</CreateDate>"
                "<UpdateDate>2023-11-14T22:13:20Z</UpdateDate></Policy>");
  EXPECT_EQ(Resource("GetPolicy", {{"PolicyArn", p.arn}}), p.arn);
  EXPECT_EQ(Resource("CreatePolicy", {{"PolicyName", "x"}, {"Path", "/a/"}}),
            "arn:aws:iam::123456789012:policy/a/x");

  EXPECT_EQ(MustCall("CreatePolicyVersion", {{"PolicyArn", p.arn},
                                             {"PolicyDocument", std::string(kAllowAllDoc)},
                                             {"SetAsDefault", "true"}}),
            "<PolicyVersion><VersionId>v2</VersionId><IsDefaultVersion>true</IsDefaultVersion>"
            "<CreateDate>2023-11-14T22:13:20Z</CreateDate></PolicyVersion>");
  EXPECT_EQ(MustCall("GetPolicyVersion", {{"PolicyArn", p.arn}, {"VersionId", "v1"}}),
            "<PolicyVersion><Document>" + sigv4::UriEncode(kAllowAllDoc, false) +
                "</Document><VersionId>v1</VersionId><IsDefaultVersion>false</IsDefaultVersion>"
                "<CreateDate>2023-11-14T22:13:20Z</CreateDate></PolicyVersion>");
  EXPECT_EQ(
      MustCall("ListPolicyVersions", {{"PolicyArn", p.arn}}),
      "<Versions><member><VersionId>v2</VersionId><IsDefaultVersion>true</IsDefaultVersion>"
      "<CreateDate>2023-11-14T22:13:20Z</CreateDate></member><member><VersionId>v1</VersionId>"
      "<IsDefaultVersion>false</IsDefaultVersion><CreateDate>2023-11-14T22:13:20Z</CreateDate>"
      "</member></Versions><IsTruncated>false</IsTruncated>");

  users_.Add("alice");
  MustCall("AttachUserPolicy", {{"UserName", "alice"}, {"PolicyArn", p.arn}});
  MustCall("CreateRole", {{"RoleName", "r"}, {"AssumeRolePolicyDocument", TrustDoc("*")}});
  MustCall("AttachRolePolicy", {{"RoleName", "r"}, {"PolicyArn", p.arn}});
  EXPECT_EQ(MustCall("ListAttachedUserPolicies", {{"UserName", "alice"}}),
            "<AttachedPolicies><member><PolicyName>deploy</PolicyName><PolicyArn>" + p.arn +
                "</PolicyArn></member></AttachedPolicies><IsTruncated>false</IsTruncated>");
  EXPECT_EQ(MustCall("ListAttachedRolePolicies", {{"RoleName", "r"}}),
            "<AttachedPolicies><member><PolicyName>deploy</PolicyName><PolicyArn>" + p.arn +
                "</PolicyArn></member></AttachedPolicies><IsTruncated>false</IsTruncated>");
  const std::string entities = MustCall("ListEntitiesForPolicy", {{"PolicyArn", p.arn}});
  const std::string alice_id = users_.FindUser("alice")->user_id;
  const std::string role_id = policies_.GetRole("r")->role_id;
  EXPECT_EQ(entities,
            "<PolicyGroups></PolicyGroups><PolicyUsers><member><UserName>alice</UserName>"
            "<UserId>" +
                alice_id +
                "</UserId></member></PolicyUsers><PolicyRoles><member>"
                "<RoleName>r</RoleName><RoleId>" +
                role_id +
                "</RoleId></member></PolicyRoles>"
                "<IsTruncated>false</IsTruncated>");
  EXPECT_EQ(MustCall("ListEntitiesForPolicy", {{"PolicyArn", p.arn}, {"EntityFilter", "Group"}}),
            "<PolicyGroups></PolicyGroups><PolicyUsers></PolicyUsers><PolicyRoles></PolicyRoles>"
            "<IsTruncated>false</IsTruncated>");
  EXPECT_EQ(
      Call("ListEntitiesForPolicy", {{"PolicyArn", p.arn}, {"EntityFilter", "Bad"}}).error().reason,
      "ValidationError");
  EXPECT_NE(
      MustCall("GetPolicy", {{"PolicyArn", p.arn}}).find("<AttachmentCount>2</AttachmentCount>"),
      std::string::npos);

  auto del = Call("DeletePolicy", {{"PolicyArn", p.arn}});
  ASSERT_FALSE(del.has_value());
  EXPECT_EQ(del.error().reason, "DeleteConflict");

  const std::string listed =
      MustCall("ListPolicies", {{"Scope", "Local"}, {"OnlyAttached", "true"}});
  EXPECT_EQ(listed.rfind("<Policies><member><PolicyName>deploy</PolicyName>", 0), 0u) << listed;
  EXPECT_EQ(listed.find("<Description>"), std::string::npos);  // AWS lists without it
  EXPECT_EQ(Call("ListPolicies", {{"Scope", "Mine"}}).error().reason, "ValidationError");
  EXPECT_EQ(Call("ListPolicies", {{"OnlyAttached", "yes"}}).error().reason, "ValidationError");
  EXPECT_EQ(MustCall("ListPolicies",
                     {{"OnlyAttached", "true"}, {"PolicyUsageFilter", "PermissionsBoundary"}}),
            "<Policies></Policies><IsTruncated>false</IsTruncated>");
}

TEST_F(PoliciesApiTest, PaginationMarker) {
  for (const char* n : {"a", "b", "c"}) {
    MustCall("CreatePolicy", {{"PolicyName", n}, {"PolicyDocument", std::string(kAllowAllDoc)}});
  }
  const std::string first = MustCall("ListPolicies", {{"MaxItems", "2"}});
  const std::string open = "<IsTruncated>true</IsTruncated><Marker>";
  const std::size_t at = first.find(open);
  ASSERT_NE(at, std::string::npos) << first;
  const std::string marker =
      first.substr(at + open.size(), first.find("</Marker>") - at - open.size());
  const std::string second = MustCall("ListPolicies", {{"MaxItems", "2"}, {"Marker", marker}});
  EXPECT_NE(second.find("<PolicyName>c</PolicyName>"), std::string::npos) << second;
  EXPECT_NE(second.find("<IsTruncated>false</IsTruncated>"), std::string::npos);
  EXPECT_EQ(Call("ListPolicies", {{"MaxItems", "0"}}).error().reason, "ValidationError");
}

}  // namespace
}  // namespace kw::api
