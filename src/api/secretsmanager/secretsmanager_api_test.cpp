#include "api/secretsmanager/secretsmanager_api.hpp"

#include <gtest/gtest.h>

#include <set>

#include "common/time_format.hpp"
#include "crypto/csprng.hpp"
#include "crypto/digest.hpp"
#include "store/memory/memory_kv_store.hpp"

namespace kw::api {
namespace {

using nlohmann::json;

class SecretsManagerApiTest : public ::testing::Test {
 protected:
  SecretsManagerApiTest()
      : clock_(*ParseIso8601("2026-03-01T10:00:00Z")),
        envelope_("test-master", SecretBytes(random_.Bytes(32)), random_),
        account_{"123456789012"},
        secrets_(store_, envelope_, clock_, random_, account_) {
    caller_.account_id = account_.id;
    caller_.name = "admin";
    caller_.arn = "arn:aws:iam::123456789012:user/admin";
    service_ = SecretsManagerJsonService(secrets_, account_);
  }

  const JsonOperation& Find(std::string_view name) {
    for (const auto& op : service_.operations) {
      if (op.name == name) return op;
    }
    ADD_FAILURE() << "no operation " << name;
    static JsonOperation none;
    return none;
  }

  Result<json> Call(std::string_view op, const json& input) {
    JsonCall call{input, caller_, "req-1", "127.0.0.1", clock_.Now(), call_authorizer_};
    return Find(op).handler(call);
  }
  json Ok(std::string_view op, const json& input) {
    auto r = Call(op, input);
    EXPECT_TRUE(r.has_value()) << op << ": "
                               << (r ? "" : r.error().reason + " " + r.error().message);
    return r ? *r : json();
  }
  std::string Reason(std::string_view op, const json& input) {
    auto r = Call(op, input);
    return r ? "OK" : r.error().reason;
  }

  crypto::Csprng random_;
  FakeClock clock_;
  store::MemoryKvStore store_;
  crypto::Envelope envelope_;
  iam::Account account_;
  secrets::SecretService secrets_;
  JsonService service_;
  iam::Principal caller_;
  // Allows everything unless a test sets another (the dispatcher's is tested in the
  // integration suite).
  CallAuthorizer call_authorizer_ = [](std::string_view, std::string_view, const policy::Policy*) {
    return OkStatus();
  };
};

TEST_F(SecretsManagerApiTest, RegistersEveryModelOperation) {
  EXPECT_EQ(service_.signing_name, "secretsmanager");
  EXPECT_EQ(service_.target_prefix, "secretsmanager");
  EXPECT_EQ(service_.action_prefix, "secretsmanager");
  std::set<std::string> names;
  for (const auto& op : service_.operations) names.insert(op.name);
  const std::set<std::string> expected = {"BatchGetSecretValue",
                                          "CancelRotateSecret",
                                          "CreateSecret",
                                          "DeleteResourcePolicy",
                                          "DeleteSecret",
                                          "DescribeSecret",
                                          "GetRandomPassword",
                                          "GetResourcePolicy",
                                          "GetSecretValue",
                                          "ListSecretVersionIds",
                                          "ListSecrets",
                                          "PutResourcePolicy",
                                          "PutSecretValue",
                                          "RemoveRegionsFromReplication",
                                          "ReplicateSecretToRegions",
                                          "RestoreSecret",
                                          "RotateSecret",
                                          "StopReplicationToReplica",
                                          "TagResource",
                                          "UntagResource",
                                          "UpdateSecret",
                                          "UpdateSecretVersionStage",
                                          "ValidateResourcePolicy"};
  EXPECT_EQ(names, expected);
}

TEST_F(SecretsManagerApiTest, CreateGetDescribeShapes) {
  json created = Ok("CreateSecret", {{"Name", "app/db"},
                                     {"SecretString", "hunter2"},
                                     {"Description", "the db"},
                                     {"KmsKeyId", "alias/k"},
                                     {"Tags", {{{"Key", "team"}, {"Value", "a"}}}}});
  ASSERT_TRUE(created["ARN"].is_string());
  EXPECT_EQ(created["Name"], "app/db");
  ASSERT_TRUE(created["VersionId"].is_string());
  const std::string arn = created["ARN"];
  const std::string vid = created["VersionId"];

  json v = Ok("GetSecretValue", {{"SecretId", arn}});
  EXPECT_EQ(v["ARN"], arn);
  EXPECT_EQ(v["Name"], "app/db");
  EXPECT_EQ(v["VersionId"], vid);
  EXPECT_EQ(v["SecretString"], "hunter2");
  EXPECT_FALSE(v.contains("SecretBinary"));
  EXPECT_EQ(v["VersionStages"], json::array({"AWSCURRENT"}));
  ASSERT_TRUE(v["CreatedDate"].is_number());
  EXPECT_DOUBLE_EQ(v["CreatedDate"].get<double>(), ToEpochSeconds(clock_.Now()));

  json d = Ok("DescribeSecret", {{"SecretId", "app/db"}});
  EXPECT_EQ(d["ARN"], arn);
  EXPECT_EQ(d["Description"], "the db");
  EXPECT_EQ(d["KmsKeyId"], "alias/k");
  EXPECT_EQ(d["RotationEnabled"], false);
  EXPECT_EQ(d["Tags"], json::array({{{"Key", "team"}, {"Value", "a"}}}));
  EXPECT_EQ(d["VersionIdsToStages"], json({{vid, {"AWSCURRENT"}}}));
  EXPECT_TRUE(d["CreatedDate"].is_number());
  EXPECT_TRUE(d["LastChangedDate"].is_number());
  ASSERT_TRUE(d["LastAccessedDate"].is_number());  // the Get above
  EXPECT_DOUBLE_EQ(d["LastAccessedDate"].get<double>(),
                   ToEpochSeconds(*ParseIso8601("2026-03-01T00:00:00Z")));
  EXPECT_FALSE(d.contains("DeletedDate"));
  EXPECT_FALSE(d.contains("OwningService"));
  EXPECT_FALSE(d.contains("SecretString"));

  json list = Ok("ListSecrets", json::object());
  ASSERT_EQ(list["SecretList"].size(), 1u);
  EXPECT_EQ(list["SecretList"][0]["SecretVersionsToStages"], json({{vid, {"AWSCURRENT"}}}));
  EXPECT_FALSE(list.contains("NextToken"));
}

TEST_F(SecretsManagerApiTest, BinaryValuesAreBase64) {
  const std::string raw("\x00\xfe\x01", 3);
  Ok("CreateSecret", {{"Name", "bin"}, {"SecretBinary", crypto::Base64Encode(raw)}});
  json v = Ok("GetSecretValue", {{"SecretId", "bin"}});
  EXPECT_EQ(v["SecretBinary"], crypto::Base64Encode(raw));
  EXPECT_FALSE(v.contains("SecretString"));
  EXPECT_EQ(Reason("CreateSecret", {{"Name", "x"}, {"SecretBinary", "not base64!"}}),
            "SerializationException");
  EXPECT_EQ(
      Reason("CreateSecret", {{"Name", "x"}, {"SecretString", "a"}, {"SecretBinary", "YQ=="}}),
      "InvalidParameterException");
  EXPECT_EQ(Reason("CreateSecret", {{"Name", 5}}), "SerializationException");
  EXPECT_EQ(Reason("CreateSecret", json::object()), "ValidationError");
  auto missing = Call("GetSecretValue", json::object());
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().reason, "ValidationError");
  EXPECT_NE(missing.error().message.find("SecretId"), std::string::npos);
  EXPECT_EQ(Reason("GetSecretValue", {{"SecretId", 5}}), "SerializationException");
  EXPECT_EQ(Reason("PutSecretValue",
                   {{"SecretId", "bin"}, {"SecretString", "v"}, {"ClientRequestToken", "short"}}),
            "ValidationError");
}

TEST_F(SecretsManagerApiTest, PutUpdateStagesDeleteRestore) {
  json created = Ok("CreateSecret", {{"Name", "s"}, {"SecretString", "one"}});
  json put = Ok(
      "PutSecretValue",
      {{"SecretId", "s"}, {"SecretString", "two"}, {"ClientRequestToken", std::string(36, 'a')}});
  EXPECT_EQ(put["VersionId"], std::string(36, 'a'));
  EXPECT_EQ(put["VersionStages"], json::array({"AWSCURRENT"}));
  json pending =
      Ok("PutSecretValue",
         {{"SecretId", "s"}, {"SecretString", "three"}, {"VersionStages", {"AWSPENDING"}}});
  EXPECT_EQ(pending["VersionStages"], json::array({"AWSPENDING"}));
  EXPECT_EQ(Reason("PutSecretValue", {{"SecretId", "s"}}), "InvalidRequestException");

  Ok("UpdateSecretVersionStage", {{"SecretId", "s"},
                                  {"VersionStage", "AWSCURRENT"},
                                  {"MoveToVersionId", pending["VersionId"]},
                                  {"RemoveFromVersionId", std::string(36, 'a')}});
  EXPECT_EQ(Ok("GetSecretValue", {{"SecretId", "s"}})["SecretString"], "three");
  json versions = Ok("ListSecretVersionIds", {{"SecretId", "s"}, {"IncludeDeprecated", true}});
  EXPECT_EQ(versions["Versions"].size(), 3u);
  EXPECT_TRUE(versions["Versions"][0]["CreatedDate"].is_number());

  json upd = Ok("UpdateSecret", {{"SecretId", "s"}, {"Description", "d"}});
  EXPECT_FALSE(upd.contains("VersionId"));
  upd = Ok("UpdateSecret", {{"SecretId", "s"}, {"SecretString", "four"}});
  EXPECT_TRUE(upd["VersionId"].is_string());

  EXPECT_EQ(Reason("DeleteSecret", {{"SecretId", "s"},
                                    {"RecoveryWindowInDays", 7},
                                    {"ForceDeleteWithoutRecovery", true}}),
            "InvalidParameterException");
  json del = Ok("DeleteSecret", {{"SecretId", "s"}, {"RecoveryWindowInDays", 7}});
  ASSERT_TRUE(del["DeletionDate"].is_number());
  EXPECT_DOUBLE_EQ(del["DeletionDate"].get<double>(),
                   ToEpochSeconds(clock_.Now() + std::chrono::hours(24 * 7)));
  EXPECT_EQ(Reason("GetSecretValue", {{"SecretId", "s"}}), "InvalidRequestException");
  json described = Ok("DescribeSecret", {{"SecretId", "s"}});
  EXPECT_TRUE(described["DeletedDate"].is_number());
  json restored = Ok("RestoreSecret", {{"SecretId", "s"}});
  EXPECT_EQ(restored["ARN"], created["ARN"]);
  EXPECT_EQ(Ok("GetSecretValue", {{"SecretId", "s"}})["SecretString"], "four");
}

TEST_F(SecretsManagerApiTest, ResourcesAndResourcePolicyForTheDispatcher) {
  json created = Ok("CreateSecret", {{"Name", "pol"}, {"SecretString", "v"}});
  const auto& get = Find("GetSecretValue");
  EXPECT_EQ(get.resource({{"SecretId", "pol"}}, caller_), created["ARN"]);
  EXPECT_EQ(get.resource({{"SecretId", "missing"}}, caller_),
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing");
  EXPECT_EQ(Find("ListSecrets").resource(json::object(), caller_), "*");
  EXPECT_EQ(Find("GetRandomPassword").resource(json::object(), caller_), "*");
  EXPECT_EQ(get.resource_policy({{"SecretId", "pol"}}), nullptr);

  const std::string doc =
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/bob"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]})";
  Ok("PutResourcePolicy", {{"SecretId", "pol"}, {"ResourcePolicy", doc}});
  EXPECT_NE(get.resource_policy({{"SecretId", "pol"}}), nullptr);
  EXPECT_EQ(Ok("GetResourcePolicy", {{"SecretId", "pol"}})["ResourcePolicy"], doc);
  EXPECT_EQ(Reason("PutResourcePolicy", {{"SecretId", "pol"}, {"ResourcePolicy", "{"}}),
            "MalformedPolicyDocumentException");
  json validated = Ok("ValidateResourcePolicy",
                      {{"ResourcePolicy", R"({"Version":"2012-10-17","Statement":[]})"}});
  EXPECT_TRUE(validated["PolicyValidationPassed"].is_boolean());
  EXPECT_TRUE(validated["ValidationErrors"].is_array());
  Ok("DeleteResourcePolicy", {{"SecretId", "pol"}});
  EXPECT_EQ(get.resource_policy({{"SecretId", "pol"}}), nullptr);
  EXPECT_FALSE(Ok("GetResourcePolicy", {{"SecretId", "pol"}}).contains("ResourcePolicy"));
}

TEST_F(SecretsManagerApiTest, ReplicationIsRefusedClearly) {
  for (const char* op :
       {"ReplicateSecretToRegions", "RemoveRegionsFromReplication", "StopReplicationToReplica"}) {
    auto r = Call(op, {{"SecretId", "x"}});
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().reason, "InvalidRequestException");
    EXPECT_EQ(r.error().message, "keyward does not replicate secrets across regions.");
  }
  EXPECT_EQ(
      Reason("CreateSecret", {{"Name", "r"}, {"AddReplicaRegions", {{{"Region", "eu-west-1"}}}}}),
      "InvalidRequestException");
  EXPECT_EQ(Reason("DescribeSecret", {{"SecretId", "r"}}), "ResourceNotFoundException");
}

TEST_F(SecretsManagerApiTest, BatchGetSecretValue) {
  Ok("CreateSecret", {{"Name", "a"}, {"SecretString", "va"}});
  Ok("CreateSecret", {{"Name", "b"}, {"SecretString", "vb"}});
  json out = Ok("BatchGetSecretValue", {{"SecretIdList", {"a", "b", "missing"}}});
  ASSERT_EQ(out["SecretValues"].size(), 2u);
  EXPECT_EQ(out["SecretValues"][0]["SecretString"], "va");
  EXPECT_EQ(out["SecretValues"][1]["SecretString"], "vb");
  ASSERT_EQ(out["Errors"].size(), 1u);
  EXPECT_EQ(out["Errors"][0]["SecretId"], "missing");
  EXPECT_EQ(out["Errors"][0]["ErrorCode"], "ResourceNotFoundException");

  json filtered = Ok("BatchGetSecretValue", {{"Filters", {{{"Key", "name"}, {"Values", {"b"}}}}}});
  ASSERT_EQ(filtered["SecretValues"].size(), 1u);
  EXPECT_EQ(filtered["SecretValues"][0]["Name"], "b");
  EXPECT_EQ(Reason("BatchGetSecretValue", json::object()), "InvalidParameterException");
  EXPECT_EQ(Reason("BatchGetSecretValue",
                   {{"SecretIdList", {"a"}}, {"Filters", {{{"Key", "name"}, {"Values", {"b"}}}}}}),
            "InvalidParameterException");
}

TEST_F(SecretsManagerApiTest, BatchGetChecksEachSecretWithTheCallsAuthorizer) {
  Ok("CreateSecret", {{"Name", "a"}, {"SecretString", "va"}});
  Ok("CreateSecret", {{"Name", "b"}, {"SecretString", "vb"}});
  const std::string doc =
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/admin"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]})";
  Ok("PutResourcePolicy", {{"SecretId", "a"}, {"ResourcePolicy", doc}});
  std::vector<std::string> asked;
  std::vector<bool> with_policy;
  call_authorizer_ = [&](std::string_view action, std::string_view resource,
                         const policy::Policy* resource_policy) -> Status {
    asked.push_back(std::string(action) + " " + std::string(resource));
    with_policy.push_back(resource_policy != nullptr);
    if (resource_policy == nullptr) return PermissionDenied("denied", "AccessDenied");
    return OkStatus();
  };
  json out = Ok("BatchGetSecretValue", {{"SecretIdList", {"a", "b", "missing"}}});
  ASSERT_EQ(out["SecretValues"].size(), 1u);
  EXPECT_EQ(out["SecretValues"][0]["Name"], "a");
  ASSERT_EQ(out["Errors"].size(), 2u);
  EXPECT_EQ(out["Errors"][0]["SecretId"], "b");
  EXPECT_EQ(out["Errors"][0]["ErrorCode"], "AccessDeniedException");
  // An unknown secret is denied before it is looked up, so existence does not leak.
  EXPECT_EQ(out["Errors"][1]["ErrorCode"], "AccessDeniedException");
  ASSERT_EQ(asked.size(), 3u);
  EXPECT_EQ(asked[2],
            "secretsmanager:GetSecretValue "
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing");
  EXPECT_EQ(with_policy, (std::vector<bool>{true, false, false}));
}

TEST_F(SecretsManagerApiTest, RotationAndPasswordShapes) {
  Ok("CreateSecret", {{"Name", "rot"}, {"SecretString", "v"}});
  Ok("RotateSecret", {{"SecretId", "rot"},
                      {"RotationRules", {{"AutomaticallyAfterDays", 10}}},
                      {"RotateImmediately", false}});
  json d = Ok("DescribeSecret", {{"SecretId", "rot"}});
  EXPECT_EQ(d["RotationEnabled"], true);
  EXPECT_EQ(d["RotationRules"], json({{"AutomaticallyAfterDays", 10}}));
  EXPECT_TRUE(d["NextRotationDate"].is_number());
  Ok("CancelRotateSecret", {{"SecretId", "rot"}});
  EXPECT_EQ(Ok("DescribeSecret", {{"SecretId", "rot"}})["RotationEnabled"], false);

  json pw = Ok("GetRandomPassword", {{"PasswordLength", 20}, {"ExcludePunctuation", true}});
  ASSERT_TRUE(pw["RandomPassword"].is_string());
  const std::string s = pw["RandomPassword"];
  EXPECT_EQ(s.size(), 20u);
  EXPECT_EQ(s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"),
            std::string::npos);
  EXPECT_EQ(Reason("GetRandomPassword", {{"PasswordLength", "20"}}), "SerializationException");
}

}  // namespace
}  // namespace kw::api

namespace kw::api {
namespace {

// A rotation policy covering the secret named "covered" (by name or ARN), as the engine
// link reports it; records the rotations it was asked to start.
class FakeRotationLink final : public SecretRotationLink {
 public:
  Result<std::optional<State>> Find(std::string_view name, std::string_view arn) override {
    if (name != "covered") return std::optional<State>();
    arns.push_back(std::string(arn));
    return std::optional<State>(state);
  }
  Result<std::optional<std::string>> RotateNow(std::string_view name, std::string_view) override {
    if (name != "covered") return std::optional<std::string>();
    if (busy) {
      return FailedPrecondition("A previous rotation isn't complete", "InvalidRequestException");
    }
    ++started;
    return std::optional<std::string>(version);
  }
  State state;
  std::string version;
  bool busy = false;
  int started = 0;
  std::vector<std::string> arns;
};

class SecretsManagerRotationLinkTest : public SecretsManagerApiTest {
 protected:
  SecretsManagerRotationLinkTest() {
    service_ = SecretsManagerJsonService(secrets_, account_, &link_);
    link_.state.next_rotation = *ParseIso8601("2026-03-31T10:00:00Z");
    link_.state.last_rotated = *ParseIso8601("2026-02-28T09:00:00Z");
    Ok("CreateSecret", {{"Name", "covered"}, {"SecretString", "{}"}});
    Ok("CreateSecret", {{"Name", "plain"}, {"SecretString", "{}"}});
  }
  FakeRotationLink link_;
};

TEST_F(SecretsManagerRotationLinkTest, DescribeAndListShowThePolicysDates) {
  const json d = Ok("DescribeSecret", {{"SecretId", "covered"}});
  EXPECT_EQ(d["RotationEnabled"], true);
  EXPECT_EQ(d["NextRotationDate"].get<double>(),
            ToEpochSeconds(*ParseIso8601("2026-03-31T10:00:00Z")));
  EXPECT_EQ(d["LastRotatedDate"].get<double>(),
            ToEpochSeconds(*ParseIso8601("2026-02-28T09:00:00Z")));
  ASSERT_FALSE(link_.arns.empty());
  EXPECT_EQ(link_.arns.back(), d["ARN"]);

  const json plain = Ok("DescribeSecret", {{"SecretId", "plain"}});
  EXPECT_EQ(plain["RotationEnabled"], false);
  EXPECT_FALSE(plain.contains("NextRotationDate"));
  EXPECT_FALSE(plain.contains("LastRotatedDate"));

  const json list = Ok("ListSecrets", json::object());
  int seen = 0;
  for (const auto& e : list["SecretList"]) {
    if (e["Name"] == "covered") {
      ++seen;
      EXPECT_EQ(e["RotationEnabled"], true);
      EXPECT_TRUE(e["NextRotationDate"].is_number());
      EXPECT_TRUE(e["LastRotatedDate"].is_number());
    } else if (e["Name"] == "plain") {
      ++seen;
      EXPECT_EQ(e["RotationEnabled"], false);
    }
  }
  EXPECT_EQ(seen, 2);
}

TEST_F(SecretsManagerRotationLinkTest, RotateSecretStartsTheEnginesRotation) {
  link_.version = "v-new";
  json out = Ok("RotateSecret", {{"SecretId", "covered"}});
  EXPECT_EQ(link_.started, 1);
  EXPECT_EQ(out["Name"], "covered");
  EXPECT_EQ(out["VersionId"], "v-new");

  // The version is not known yet: no VersionId rather than one that will not exist.
  link_.version.clear();
  out = Ok("RotateSecret", {{"SecretId", "covered"}, {"ClientRequestToken", std::string(32, 'a')}});
  EXPECT_EQ(link_.started, 2);
  EXPECT_FALSE(out.contains("VersionId"));

  // Rules are stored as Secrets Manager stores them; RotateImmediately false starts nothing.
  Ok("RotateSecret", {{"SecretId", "covered"},
                      {"RotationRules", {{"ScheduleExpression", "rate(10 days)"}}},
                      {"RotateImmediately", false}});
  EXPECT_EQ(link_.started, 2);
  EXPECT_EQ(Ok("DescribeSecret", {{"SecretId", "covered"}})["RotationRules"],
            json({{"ScheduleExpression", "rate(10 days)"}}));

  link_.busy = true;
  EXPECT_EQ(Reason("RotateSecret", {{"SecretId", "covered"}}), "InvalidRequestException");

  // Without a policy: today's behaviour, configuration only.
  Ok("RotateSecret", {{"SecretId", "plain"}, {"RotationRules", {{"AutomaticallyAfterDays", 5}}}});
  EXPECT_EQ(link_.started, 2);
  EXPECT_EQ(Ok("DescribeSecret", {{"SecretId", "plain"}})["RotationEnabled"], true);
  EXPECT_EQ(Reason("RotateSecret", {{"SecretId", "missing"}}), "ResourceNotFoundException");
}

}  // namespace
}  // namespace kw::api
