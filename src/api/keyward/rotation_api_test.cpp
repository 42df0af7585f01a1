// The rotation operations over the real engine, IAM and Secrets Manager (memory store,
// fake clock), with Run Command replaced by a fake that reports every command a success.

#include "api/keyward/rotation_api.hpp"

#include <gtest/gtest.h>

#include <map>
#include <mutex>

#include "common/time_format.hpp"
#include "crypto/csprng.hpp"
#include "rotation/builtin/document_delivery.hpp"
#include "rotation/builtin/iam_issuer.hpp"
#include "rotation/builtin/secrets_target.hpp"
#include "store/memory/memory_kv_store.hpp"

namespace kw::api {
namespace {

using nlohmann::json;

constexpr const char* kUser = "app";
constexpr const char* kSecret = "app/creds";
constexpr const char* kHost = "mi-00000000000000001";

class SuccessSender final : public commands::CommandSender {
 public:
  Result<std::string> SendCommand(const commands::SendCommandRequest& r, TimePoint) override {
    std::lock_guard lock(mu_);
    return "cmd-" + std::to_string(++n_) + "-" + r.instance_ids.at(0);
  }
  Result<commands::CommandStatusSummary> CommandStatus(std::string_view id) override {
    commands::CommandStatusSummary s;
    s.command_id = std::string(id);
    s.status = "Success";
    return s;
  }

 private:
  std::mutex mu_;
  int n_ = 0;
};

class RotationApiTest : public ::testing::Test {
 protected:
  RotationApiTest()
      : clock_(*ParseIso8601("2026-03-01T10:00:00Z")),
        envelope_("test-master", SecretBytes(random_.Bytes(32)), random_),
        users_(store_, envelope_, clock_, random_, account_),
        secrets_(store_, envelope_, clock_, random_, account_),
        issuer_(users_, clock_, &attempts_),
        target_(secrets_),
        delivery_(sender_),
        engine_(store_, clock_, random_) {
    engine_.RegisterIssuer("builtin", issuer_);
    engine_.RegisterSecretTarget("builtin", target_);
    engine_.RegisterDelivery("document", delivery_);
    EXPECT_TRUE(users_.CreateUser({kUser, std::nullopt, {}}).has_value());
    auto k = users_.CreateAccessKey(kUser, nullptr);
    EXPECT_TRUE(k.has_value());
    old_key_ = k->metadata.access_key_id;
    json value = {{"aws_access_key_id", old_key_},
                  {"aws_secret_access_key", std::string(k->secret_access_key.Reveal())}};
    secrets::CreateSecretRequest cs;
    cs.name = kSecret;
    cs.value = secrets::SecretValueInput{false, SecretBytes(value.dump())};
    EXPECT_TRUE(secrets_.CreateSecret(cs).has_value());
    for (auto& op : RotationOperations(engine_, account_)) ops_.emplace(op.name, std::move(op));
  }

  Result<json> Call(const std::string& name, const json& input) {
    const JsonOperation& op = ops_.at(name);
    JsonCall call{input,
                  principal_,
                  "req-1",
                  "127.0.0.1",
                  clock_.Now(),
                  [](std::string_view, std::string_view, const policy::Policy*) -> Status {
                    return OkStatus();
                  }};
    return op.handler(call);
  }
  std::string Resource(const std::string& name, const json& input) {
    return ops_.at(name).resource(input, principal_);
  }

  json PolicyInput() {
    return {{"UserName", kUser},
            {"SecretId", kSecret},
            {"Delivery",
             {{"Type", "document"},
              {"Parameters",
               {{"document", "AWS-RunShellScript"}, {"param:commands", "sync {{VersionId}}"}}}}},
            {"Targets", json::array({{{"Key", "InstanceIds"}, {"Values", {kHost}}}})},
            {"ScheduleExpression", "rate(30 days)"},
            {"QuietPeriodSeconds", 600},
            {"AckTimeoutSeconds", 3600},
            {"GracePeriodSeconds", 7200}};
  }

  std::string MustCreate() {
    auto r = Call("CreateRotationPolicy", PolicyInput());
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
    return r ? (*r)["RotationPolicy"].value("PolicyId", "") : "";
  }

  iam::Account account_{"123456789012"};
  iam::Principal principal_;
  store::MemoryKvStore store_;
  FakeClock clock_;
  crypto::Csprng random_;
  crypto::Envelope envelope_;
  iam::UserService users_;
  secrets::SecretService secrets_;
  rotation::builtin::KeyAttemptLog attempts_;
  rotation::builtin::IamIssuer issuer_;
  rotation::builtin::SecretsTarget target_;
  SuccessSender sender_;
  rotation::builtin::DocumentDelivery delivery_;
  rotation::RotationEngine engine_;
  std::map<std::string, JsonOperation> ops_;
  std::string old_key_;
};

TEST_F(RotationApiTest, CreateGetListDeletePolicy) {
  auto created = Call("CreateRotationPolicy", PolicyInput());
  ASSERT_TRUE(created.has_value()) << created.error().message;
  const json& p = (*created)["RotationPolicy"];
  const std::string id = p.value("PolicyId", "");
  ASSERT_EQ(id.rfind("rp-", 0), 0u) << id;
  EXPECT_EQ(p["Arn"], "arn:aws:keyward:us-east-1:123456789012:rotation-policy/" + id);
  EXPECT_EQ(p["UserName"], kUser);
  EXPECT_EQ(p["SecretId"], kSecret);
  EXPECT_EQ(p["Delivery"]["Type"], "document");
  EXPECT_EQ(p["Delivery"]["Parameters"]["document"], "AWS-RunShellScript");
  EXPECT_EQ(p["Targets"][0]["Values"][0], kHost);
  EXPECT_EQ(p["ScheduleExpression"], "rate(30 days)");
  EXPECT_EQ(p["QuietPeriodSeconds"], 600);
  EXPECT_EQ(p["GracePeriodSeconds"], 7200);
  EXPECT_EQ(p["CreatedDate"].get<double>(), ToEpochSeconds(clock_.Now()));
  ASSERT_TRUE(p.contains("NextRotationDate"));
  EXPECT_GT(p["NextRotationDate"].get<double>(), ToEpochSeconds(clock_.Now()));

  auto got = Call("GetRotationPolicy", {{"PolicyId", id}});
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ((*got)["RotationPolicy"]["PolicyId"], id);

  auto list = Call("ListRotationPolicies", json::object());
  ASSERT_TRUE(list.has_value());
  ASSERT_EQ((*list)["RotationPolicies"].size(), 1u);
  EXPECT_FALSE(list->contains("NextToken"));

  // One policy per secret.
  auto again = Call("CreateRotationPolicy", PolicyInput());
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().reason, "ResourceExistsException");

  ASSERT_TRUE(Call("DeleteRotationPolicy", {{"PolicyId", id}}).has_value());
  auto gone = Call("GetRotationPolicy", {{"PolicyId", id}});
  ASSERT_FALSE(gone.has_value());
  EXPECT_EQ(gone.error().reason, "ResourceNotFoundException");
}

TEST_F(RotationApiTest, BadInputIsRejectedWithTheAwsReason) {
  json no_user = PolicyInput();
  no_user.erase("UserName");
  auto r = Call("CreateRotationPolicy", no_user);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().reason, "ValidationException");
  EXPECT_NE(r.error().message.find("UserName"), std::string::npos);

  json wrong_type = PolicyInput();
  wrong_type["GracePeriodSeconds"] = "two hours";
  r = Call("CreateRotationPolicy", wrong_type);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().reason, "SerializationException");

  json both = PolicyInput();
  both["AutomaticallyAfterDays"] = 90;
  r = Call("CreateRotationPolicy", both);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().reason, "ValidationException");

  json negative = PolicyInput();
  negative["AckTimeoutSeconds"] = -5;
  r = Call("CreateRotationPolicy", negative);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().reason, "ValidationException");

  json no_delivery = PolicyInput();
  no_delivery.erase("Delivery");
  r = Call("CreateRotationPolicy", no_delivery);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().reason, "ValidationException");

  r = Call("GetRotation", {{"RotationId", "rp-0000000000000000.00000001"}});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().reason, "ResourceNotFoundException");
  r = Call("ListRotations", {{"PolicyId", "rp-0000000000000000"}});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().reason, "ResourceNotFoundException");
}

TEST_F(RotationApiTest, RotateNowRunsToCompletionAndReportsProgress) {
  const std::string id = MustCreate();
  auto started = Call("RotateNow", {{"PolicyId", id}});
  ASSERT_TRUE(started.has_value()) << started.error().message;
  const std::string rid = (*started)["Rotation"].value("RotationId", "");
  EXPECT_EQ((*started)["Rotation"]["Step"], "queued");
  EXPECT_EQ((*started)["Rotation"]["Trigger"], "manual");

  // A second one while the first is in progress is refused.
  auto twice = Call("RotateNow", {{"PolicyId", id}});
  ASSERT_FALSE(twice.has_value());
  EXPECT_EQ(twice.error().reason, "InvalidRequestException");
  auto del = Call("DeleteRotationPolicy", {{"PolicyId", id}});
  ASSERT_FALSE(del.has_value());
  EXPECT_EQ(del.error().reason, "InvalidRequestException");

  // The first tick gets as far as verify (waiting for the quiet period).
  ASSERT_TRUE(engine_.Tick(clock_.Now()).has_value());
  auto mid = Call("GetRotation", {{"RotationId", rid}});
  ASSERT_TRUE(mid.has_value());
  const json& m = (*mid)["Rotation"];
  EXPECT_EQ(m["OldAccessKeyId"], old_key_);
  EXPECT_TRUE(m.contains("NewAccessKeyId"));
  ASSERT_EQ(m["Hosts"].size(), 1u);
  EXPECT_EQ(m["Hosts"][0]["InstanceId"], kHost);
  EXPECT_EQ(m["Hosts"][0]["Status"], "acked");
  EXPECT_TRUE(m["Hosts"][0].contains("AckedDate"));
  EXPECT_EQ(m["Step"], "verify");
  EXPECT_FALSE(m.value("WaitingReason", "").empty());
  ASSERT_GE(m["History"].size(), 3u);
  EXPECT_EQ(m["History"][0]["Step"], "queued");
  EXPECT_TRUE(m["History"][0]["EnteredDate"].is_number());
  // No secret material in the report.
  EXPECT_EQ(m.dump().find("aws_secret_access_key"), std::string::npos);

  // Quiet period, then grace period, then done.
  for (int i = 0; i < 200; ++i) {
    clock_.Advance(std::chrono::minutes(1));
    ASSERT_TRUE(engine_.Tick(clock_.Now()).has_value());
  }
  auto done = Call("GetRotation", {{"RotationId", rid}});
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ((*done)["Rotation"]["Step"], "done");
  EXPECT_TRUE((*done)["Rotation"].contains("FinishedDate"));

  auto list = Call("ListRotations", {{"PolicyId", id}});
  ASSERT_TRUE(list.has_value());
  ASSERT_EQ((*list)["Rotations"].size(), 1u);
  EXPECT_EQ((*list)["Rotations"][0]["RotationId"], rid);

  auto policy = Call("GetRotationPolicy", {{"PolicyId", id}});
  ASSERT_TRUE(policy.has_value());
  EXPECT_EQ((*policy)["RotationPolicy"]["LastRotationId"], rid);
  EXPECT_TRUE((*policy)["RotationPolicy"].contains("LastRotatedDate"));
}

TEST_F(RotationApiTest, ListRotationsPaginates) {
  const std::string id = MustCreate();
  for (int n = 0; n < 3; ++n) {
    ASSERT_TRUE(Call("RotateNow", {{"PolicyId", id}}).has_value());
    for (int i = 0; i < 200; ++i) {
      ASSERT_TRUE(engine_.Tick(clock_.Now()).has_value());
      clock_.Advance(std::chrono::minutes(1));
    }
  }
  std::vector<std::string> seen;
  json input = {{"PolicyId", id}, {"MaxResults", 2}};
  for (int page = 0; page < 5; ++page) {
    auto r = Call("ListRotations", input);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    for (const auto& rot : (*r)["Rotations"]) seen.push_back(rot["RotationId"]);
    if (!r->contains("NextToken")) break;
    input["NextToken"] = (*r)["NextToken"];
  }
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_GT(seen[0], seen[1]);  // newest first
  EXPECT_GT(seen[1], seen[2]);

  auto bad = Call("ListRotations", {{"PolicyId", id}, {"NextToken", "x"}});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().reason, "InvalidNextTokenException");
}

TEST_F(RotationApiTest, AuthorizationResources) {
  EXPECT_EQ(Resource("CreateRotationPolicy", PolicyInput()), "*");
  EXPECT_EQ(Resource("ListRotationPolicies", json::object()), "*");
  const std::string arn = "arn:aws:keyward:us-east-1:123456789012:rotation-policy/rp-abc";
  EXPECT_EQ(Resource("GetRotationPolicy", {{"PolicyId", "rp-abc"}}), arn);
  EXPECT_EQ(Resource("DeleteRotationPolicy", {{"PolicyId", "rp-abc"}}), arn);
  EXPECT_EQ(Resource("RotateNow", {{"PolicyId", "rp-abc"}}), arn);
  EXPECT_EQ(Resource("ListRotations", {{"PolicyId", "rp-abc"}}), arn);
  EXPECT_EQ(Resource("GetRotation", {{"RotationId", "rp-abc.00000002"}}), arn);
  EXPECT_TRUE(ops_.at("GetRotation").read_only);
  EXPECT_FALSE(ops_.at("RotateNow").read_only);
}

}  // namespace
}  // namespace kw::api

namespace kw::api {
namespace {

TEST_F(RotationApiTest, PlanRotationShowsWhatWouldHappenWithoutStartingIt) {
  const std::string id = MustCreate();
  const double now = ToEpochSeconds(clock_.Now());
  EXPECT_EQ(Resource("PlanRotation", {{"PolicyId", id}}),
            "arn:aws:keyward:us-east-1:123456789012:rotation-policy/" + id);
  auto r = Call("PlanRotation", {{"PolicyId", id}});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  const json& plan = (*r)["Plan"];
  EXPECT_EQ(plan["PolicyId"], id);
  EXPECT_EQ(plan["OldAccessKeyId"], old_key_);
  EXPECT_EQ(plan["OldKeyStatus"], "Active");
  EXPECT_EQ(plan["StartDate"].get<double>(), now);
  EXPECT_TRUE(plan["Blockers"].empty()) << plan["Blockers"].dump();
  ASSERT_EQ(plan["Hosts"].size(), 1u);
  EXPECT_EQ(plan["Hosts"][0]["InstanceId"], kHost);
  EXPECT_EQ(plan["Hosts"][0]["SeenWithCurrentKey"], false);
  EXPECT_NE(plan["HostsNote"].get<std::string>().find("seen ="), std::string::npos);
  bool found = false;
  for (const auto& s : plan["Steps"]) {
    if (s["Step"] != "deactivate") continue;
    found = true;
    EXPECT_EQ(s["EarliestDate"].get<double>(), now + 600);
    EXPECT_EQ(s["LatestDate"].get<double>(), now + 3600 + 600);
  }
  EXPECT_TRUE(found) << plan["Steps"].dump();
  // Nothing was started.
  auto rotations = Call("ListRotations", {{"PolicyId", id}});
  ASSERT_TRUE(rotations.has_value());
  EXPECT_TRUE((*rotations)["Rotations"].empty());

  auto unknown = Call("PlanRotation", {{"PolicyId", "rp-0000000000000000"}});
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().reason, "ResourceNotFoundException");
  auto missing = Call("PlanRotation", json::object());
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().reason, "ValidationException");
}

}  // namespace
}  // namespace kw::api
