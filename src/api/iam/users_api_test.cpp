#include "api/iam/users_api.hpp"

#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "common/time_format.hpp"
#include "crypto/csprng.hpp"
#include "crypto/digest.hpp"
#include "store/memory/memory_kv_store.hpp"

namespace kw::api {
namespace {

class UsersApiTest : public ::testing::Test {
 protected:
  UsersApiTest()
      : clock_(*ParseIso8601("2026-03-01T10:00:00Z")),
        envelope_("test-master", SecretBytes(random_.Bytes(32)), random_),
        account_{"123456789012"},
        users_(store_, envelope_, clock_, random_, account_),
        ops_(UserOperations(users_, account_)) {
    caller_.type = iam::PrincipalType::kUser;
    caller_.account_id = account_.id;
    caller_.name = "admin";
    caller_.arn = "arn:aws:iam::123456789012:user/admin";
  }

  const QueryOperation& Find(std::string_view name) {
    for (const auto& op : ops_) {
      if (op.name == name) return op;
    }
    ADD_FAILURE() << "no operation " << name;
    static QueryOperation none;
    return none;
  }

  struct Outcome {
    Status status;
    std::string xml;
  };

  Outcome Call(std::string_view op, std::string_view form) { return CallAs(op, form, caller_); }
  Outcome CallAs(std::string_view op, std::string_view form, const iam::Principal& who) {
    auto params = QueryParams::Parse(form);
    EXPECT_TRUE(params.has_value());
    QueryCall call{*params, who, "req-1", "127.0.0.1", clock_.Now()};
    XmlWriter xml;
    Status s = Find(op).handler(call, xml);
    return Outcome{std::move(s), xml.str()};
  }
  std::string Resource(std::string_view op, std::string_view form) {
    auto params = QueryParams::Parse(form);
    EXPECT_TRUE(params.has_value());
    return Find(op).resource(*params, caller_);
  }
  std::string Reason(const Outcome& o) { return o.status ? "OK" : o.status.error().reason; }

  static std::string Between(const std::string& xml, const std::string& tag) {
    const std::string open = "<" + tag + ">";
    const auto a = xml.find(open);
    if (a == std::string::npos) return "<missing>";
    const auto b = xml.find("</" + tag + ">", a);
    return xml.substr(a + open.size(), b - a - open.size());
  }

  crypto::Csprng random_;
  FakeClock clock_;
  store::MemoryKvStore store_;
  crypto::Envelope envelope_;
  iam::Account account_;
  iam::UserService users_;
  std::vector<QueryOperation> ops_;
  iam::Principal caller_;
};

TEST_F(UsersApiTest, RegistersEveryOperation) {
  std::set<std::string> names;
  for (const auto& op : ops_) {
    names.insert(op.name);
    EXPECT_TRUE(op.authorize) << op.name;
    EXPECT_TRUE(op.resource) << op.name;
    EXPECT_TRUE(op.handler) << op.name;
    const bool reads = op.name.rfind("Get", 0) == 0 || op.name.rfind("List", 0) == 0;
    EXPECT_EQ(op.read_only, reads) << op.name;
  }
  EXPECT_EQ(names, (std::set<std::string>{"CreateUser", "GetUser", "ListUsers", "UpdateUser",
                                          "DeleteUser", "TagUser", "UntagUser", "ListUserTags",
                                          "CreateAccessKey", "ListAccessKeys", "UpdateAccessKey",
                                          "DeleteAccessKey", "GetAccessKeyLastUsed",
                                          "GenerateCredentialReport", "GetCredentialReport"}));
  EXPECT_EQ(names.size(), ops_.size());
}

TEST_F(UsersApiTest, CreateUserWritesTheUserShape) {
  auto out = Call("CreateUser",
                  "Action=CreateUser&UserName=alice&Path=%2Fops%26dev%2F"
                  "&Tags.member.1.Key=team&Tags.member.1.Value=red"
                  "&Tags.member.2.Key=env&Tags.member.2.Value=a+b");
  ASSERT_TRUE(out.status) << out.status.error().message;
  auto user = users_.GetUser("alice", nullptr);
  ASSERT_TRUE(user.has_value());
  EXPECT_EQ(out.xml, "<User><Path>/ops&amp;dev/</Path><UserName>alice</UserName><UserId>" +
                         user->user_id +
                         "</UserId><Arn>arn:aws:iam::123456789012:user/ops&amp;dev/alice</Arn>"
                         "<CreateDate>2026-03-01T10:00:00Z</CreateDate>"
                         "<Tags><member><Key>team</Key><Value>red</Value></member>"
                         "<member><Key>env</Key><Value>a b</Value></member></Tags></User>");
  EXPECT_EQ(Reason(Call("CreateUser", "UserName=amp&Tags.member.1.Key=k&Tags.member.1.Value=%26")),
            "ValidationError");

  auto dup = Call("CreateUser", "UserName=ALICE");
  EXPECT_EQ(Reason(dup), "EntityAlreadyExists");
  EXPECT_EQ(Reason(Call("CreateUser", "Path=%2F")), "MissingParameter");
  EXPECT_EQ(Reason(Call("CreateUser", "UserName=bad%20name")), "ValidationError");
  EXPECT_EQ(Reason(Call("CreateUser", "UserName=t&Tags.member.1.Key=k")), "ValidationError");
}

TEST_F(UsersApiTest, GetUserNamedOrCaller) {
  ASSERT_TRUE(Call("CreateUser", "UserName=admin").status);
  auto named = Call("GetUser", "UserName=ADMIN");
  ASSERT_TRUE(named.status);
  EXPECT_EQ(Between(named.xml, "UserName"), "admin");
  EXPECT_EQ(named.xml.rfind("<User><Path>/</Path>", 0), 0u);
  EXPECT_EQ(named.xml.find("<Tags>"), std::string::npos);  // no tags, no element

  auto me = Call("GetUser", "");
  ASSERT_TRUE(me.status);
  EXPECT_EQ(Between(me.xml, "Arn"), "arn:aws:iam::123456789012:user/admin");

  iam::Principal role;
  role.type = iam::PrincipalType::kAssumedRole;
  role.arn = "arn:aws:sts::123456789012:assumed-role/r/s";
  auto r = CallAs("GetUser", "", role);
  ASSERT_FALSE(r.status);
  EXPECT_EQ(r.status.error().reason, "ValidationError");
  EXPECT_EQ(r.status.error().message,
            "Must specify userName when calling with non-User credentials");
  EXPECT_EQ(Reason(Call("GetUser", "UserName=nobody")), "NoSuchEntity");
}

TEST_F(UsersApiTest, ListUsersPagesWithModelNames) {
  for (const char* n : {"a", "b", "c"}) {
    ASSERT_TRUE(Call("CreateUser", std::string("UserName=") + n +
                                       "&Tags.member.1.Key=k"
                                       "&Tags.member.1.Value=v")
                    .status);
  }
  auto page = Call("ListUsers", "MaxItems=2");
  ASSERT_TRUE(page.status);
  EXPECT_EQ(page.xml.rfind("<Users><member><Path>/</Path><UserName>a</UserName>", 0), 0u)
      << page.xml;
  EXPECT_NE(page.xml.find("</member><member><Path>/</Path><UserName>b</UserName>"),
            std::string::npos);
  EXPECT_EQ(page.xml.find("<Tags>"), std::string::npos);  // ListUsers omits tags
  EXPECT_NE(page.xml.find("</Users><IsTruncated>true</IsTruncated><Marker>"), std::string::npos);
  const std::string marker = Between(page.xml, "Marker");
  auto rest = Call("ListUsers", "MaxItems=2&Marker=" + marker);
  ASSERT_TRUE(rest.status);
  EXPECT_NE(rest.xml.find("<UserName>c</UserName>"), std::string::npos);
  EXPECT_EQ(rest.xml.find("<UserName>a</UserName>"), std::string::npos);
  EXPECT_NE(rest.xml.find("<IsTruncated>false</IsTruncated>"), std::string::npos);
  EXPECT_EQ(rest.xml.find("<Marker>"), std::string::npos);

  EXPECT_EQ(Reason(Call("ListUsers", "MaxItems=0")), "ValidationError");
  EXPECT_EQ(Reason(Call("ListUsers", "MaxItems=x")), "ValidationError");
  auto empty = Call("ListUsers", "PathPrefix=%2Fnone%2F");
  ASSERT_TRUE(empty.status);
  EXPECT_EQ(empty.xml, "<Users></Users><IsTruncated>false</IsTruncated>");
}

TEST_F(UsersApiTest, UpdateDeleteAndTags) {
  ASSERT_TRUE(Call("CreateUser", "UserName=u1").status);
  ASSERT_TRUE(Call("UpdateUser", "UserName=u1&NewUserName=u2&NewPath=%2Fx%2F").status);
  EXPECT_EQ(Reason(Call("GetUser", "UserName=u1")), "NoSuchEntity");
  EXPECT_EQ(Between(Call("GetUser", "UserName=u2").xml, "Path"), "/x/");

  auto tagged = Call("TagUser",
                     "UserName=u2&Tags.member.1.Key=a&Tags.member.1.Value=1"
                     "&Tags.member.2.Key=b&Tags.member.2.Value=2");
  ASSERT_TRUE(tagged.status);
  EXPECT_EQ(tagged.xml, "");
  EXPECT_EQ(Reason(Call("TagUser", "UserName=u2")), "MissingParameter");
  ASSERT_TRUE(Call("UntagUser", "UserName=u2&TagKeys.member.1=a").status);
  EXPECT_EQ(Reason(Call("UntagUser", "UserName=u2")), "MissingParameter");
  auto tags = Call("ListUserTags", "UserName=u2");
  ASSERT_TRUE(tags.status);
  EXPECT_EQ(tags.xml,
            "<Tags><member><Key>b</Key><Value>2</Value></member></Tags>"
            "<IsTruncated>false</IsTruncated>");

  ASSERT_TRUE(Call("CreateAccessKey", "UserName=u2").status);
  auto conflict = Call("DeleteUser", "UserName=u2");
  ASSERT_FALSE(conflict.status);
  EXPECT_EQ(conflict.status.error().reason, "DeleteConflict");
  EXPECT_EQ(Reason(Call("DeleteUser", "")), "MissingParameter");
  EXPECT_EQ(Reason(Call("DeleteUser", "UserName=ghost")), "NoSuchEntity");
}

TEST_F(UsersApiTest, AccessKeyLifecycle) {
  ASSERT_TRUE(Call("CreateUser", "UserName=admin").status);
  auto created = Call("CreateAccessKey", "");  // the caller's own
  ASSERT_TRUE(created.status);
  const std::regex shape(
      "<AccessKey><UserName>admin</UserName><AccessKeyId>(AKIA[A-Z2-7]{16})</AccessKeyId>"
      "<Status>Active</Status><SecretAccessKey>([A-Za-z0-9+/]{40})</SecretAccessKey>"
      "<CreateDate>2026-03-01T10:00:00Z</CreateDate></AccessKey>");
  std::smatch m;
  ASSERT_TRUE(std::regex_match(created.xml, m, shape)) << created.xml;
  const std::string id = m[1];
  const std::string secret = m[2];
  auto resolved = users_.Resolve(id, "", clock_.Now());
  ASSERT_TRUE(resolved.has_value());
  EXPECT_EQ(resolved->secret_access_key.Reveal(), secret);

  auto listed = Call("ListAccessKeys", "UserName=admin");
  ASSERT_TRUE(listed.status);
  EXPECT_EQ(listed.xml, "<AccessKeyMetadata><member><UserName>admin</UserName><AccessKeyId>" + id +
                            "</AccessKeyId><Status>Active</Status>"
                            "<CreateDate>2026-03-01T10:00:00Z</CreateDate></member>"
                            "</AccessKeyMetadata><IsTruncated>false</IsTruncated>");
  EXPECT_EQ(listed.xml.find(secret), std::string::npos);

  auto never = Call("GetAccessKeyLastUsed", "AccessKeyId=" + id);
  ASSERT_TRUE(never.status);
  EXPECT_EQ(never.xml,
            "<UserName>admin</UserName><AccessKeyLastUsed><ServiceName>N/A</ServiceName>"
            "<Region>N/A</Region></AccessKeyLastUsed>");
  users_.RecordUse(id, "iam", "us-east-1", clock_.Now());
  auto used = Call("GetAccessKeyLastUsed", "AccessKeyId=" + id);
  EXPECT_EQ(used.xml,
            "<UserName>admin</UserName><AccessKeyLastUsed>"
            "<LastUsedDate>2026-03-01T10:00:00Z</LastUsedDate><ServiceName>iam</ServiceName>"
            "<Region>us-east-1</Region></AccessKeyLastUsed>");

  EXPECT_EQ(Reason(Call("UpdateAccessKey", "AccessKeyId=" + id + "&Status=Paused")),
            "ValidationError");
  EXPECT_EQ(Reason(Call("UpdateAccessKey", "AccessKeyId=" + id)), "MissingParameter");
  ASSERT_TRUE(Call("UpdateAccessKey", "AccessKeyId=" + id + "&Status=Inactive").status);
  EXPECT_EQ(Between(Call("ListAccessKeys", "").xml, "Status"), "Inactive");
  ASSERT_TRUE(Call("CreateAccessKey", "UserName=admin").status);  // the second key
  auto third = Call("CreateAccessKey", "UserName=admin");
  EXPECT_EQ(Reason(third), "LimitExceeded");

  EXPECT_EQ(Reason(Call("DeleteAccessKey", "UserName=admin&AccessKeyId=AKIAAAAAAAAAAAAAAAAA")),
            "NoSuchEntity");
  ASSERT_TRUE(Call("DeleteAccessKey", "AccessKeyId=" + id).status);
  EXPECT_EQ(Reason(Call("GetAccessKeyLastUsed", "AccessKeyId=" + id)), "NoSuchEntity");
}

TEST_F(UsersApiTest, CredentialReport) {
  auto missing = Call("GetCredentialReport", "");
  ASSERT_FALSE(missing.status);
  EXPECT_EQ(missing.status.error().reason, "ReportNotPresent");

  ASSERT_TRUE(Call("CreateUser", "UserName=rep").status);
  auto gen = Call("GenerateCredentialReport", "");
  ASSERT_TRUE(gen.status);
  EXPECT_EQ(Between(gen.xml, "State"), "STARTED");
  EXPECT_EQ(gen.xml.rfind("<State>STARTED</State><Description>", 0), 0u);
  EXPECT_EQ(Between(Call("GenerateCredentialReport", "").xml, "State"), "COMPLETE");

  auto got = Call("GetCredentialReport", "");
  ASSERT_TRUE(got.status);
  EXPECT_EQ(Between(got.xml, "ReportFormat"), "text/csv");
  EXPECT_EQ(Between(got.xml, "GeneratedTime"), "2026-03-01T10:00:00Z");
  auto csv = crypto::Base64Decode(Between(got.xml, "Content"));
  ASSERT_TRUE(csv.has_value());
  EXPECT_EQ(csv->rfind("user,arn,user_creation_time,password_enabled,", 0), 0u);
  EXPECT_NE(csv->find("\nrep,arn:aws:iam::123456789012:user/rep,"), std::string::npos);
  EXPECT_EQ(got.xml.rfind("<Content>", 0), 0u);

  clock_.Advance(std::chrono::hours(5));
  EXPECT_EQ(Reason(Call("GetCredentialReport", "")), "ReportExpired");
}

TEST_F(UsersApiTest, ResourcesForAuthorization) {
  ASSERT_TRUE(Call("CreateUser", "UserName=Pat&Path=%2Fteam%2F").status);
  EXPECT_EQ(Resource("GetUser", "UserName=pat"), "arn:aws:iam::123456789012:user/team/Pat");
  EXPECT_EQ(Resource("DeleteUser", "UserName=pat"), "arn:aws:iam::123456789012:user/team/Pat");
  EXPECT_EQ(Resource("GetUser", "UserName=ghost"), "arn:aws:iam::123456789012:user/ghost");
  EXPECT_EQ(Resource("GetUser", ""), caller_.arn);
  EXPECT_EQ(Resource("CreateAccessKey", ""), caller_.arn);
  EXPECT_EQ(Resource("CreateUser", "UserName=n&Path=%2Fp%2F"),
            "arn:aws:iam::123456789012:user/p/n");
  EXPECT_EQ(Resource("CreateUser", "UserName=n"), "arn:aws:iam::123456789012:user/n");
  EXPECT_EQ(Resource("ListUsers", ""), "*");
  EXPECT_EQ(Resource("GenerateCredentialReport", ""), "*");
  EXPECT_EQ(Resource("GetCredentialReport", ""), "*");

  auto key = users_.CreateAccessKey("pat", nullptr);
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(Resource("GetAccessKeyLastUsed", "AccessKeyId=" + key->metadata.access_key_id),
            "arn:aws:iam::123456789012:user/team/Pat");
  EXPECT_EQ(Resource("GetAccessKeyLastUsed", "AccessKeyId=AKIAAAAAAAAAAAAAAAAA"),
            "arn:aws:iam::123456789012:user/");
}

}  // namespace
}  // namespace kw::api
