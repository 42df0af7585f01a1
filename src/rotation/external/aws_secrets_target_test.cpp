#include "rotation/external/aws_secrets_target.hpp"

#include <gtest/gtest.h>

#include "awsclient/test_fakes.hpp"
#include "rotation/secret_json.hpp"

namespace kw::rotation::external {
namespace {

using awsclient::testing::Header;
using awsclient::testing::ScriptedTransport;
using nlohmann::json;

std::string ErrorBody(const std::string& type) {
  return json{{"__type", type}, {"message", "m"}}.dump();
}

class AwsSecretsTargetTest : public ::testing::Test {
 protected:
  AwsSecretsTargetTest() {
    auto client = awsclient::QueryClient::Create(
        transport_, clock_, "https://secretsmanager.example.com",
        sigv4::Credentials{"AKIAROTATOR", SecretBytes("rotsecret"), ""}, "us-east-1");
    target_ = std::make_unique<AwsSecretsTarget>(std::move(*client));
  }
  json Sent(std::size_t i) { return json::parse(transport_.requests.at(i).body); }
  std::string Op(std::size_t i) { return Header(transport_.requests.at(i), "X-Amz-Target"); }

  FakeClock clock_{TimePoint(std::chrono::seconds(1700000000))};
  ScriptedTransport transport_;
  std::unique_ptr<AwsSecretsTarget> target_;
};

TEST_F(AwsSecretsTargetTest, GetCurrentAsksForAwsCurrentAndKeepsTheJsonAsStored) {
  const std::string value = R"({"aws_access_key_id":"AKIA1","aws_secret_access_key":"s","x":1})";
  transport_.Push(200, json{{"Name", "app"}, {"VersionId", "v1"}, {"SecretString", value}}.dump());
  auto v = target_->GetCurrent("app");
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->version_id, "v1");
  EXPECT_EQ(v->secret_string.Reveal(), value);
  EXPECT_EQ(Op(0), "secretsmanager.GetSecretValue");
  EXPECT_EQ(Sent(0), (json{{"SecretId", "app"}, {"VersionStage", "AWSCURRENT"}}));
  EXPECT_NE(Header(transport_.requests[0], "Authorization").find("/secretsmanager/aws4_request"),
            std::string::npos);
}

TEST_F(AwsSecretsTargetTest, ASecretWithoutTheKeyFieldsIsReturnedSoPreflightRejectsIt) {
  // The engine's preflight runs ReadKeyPair on GetCurrent's value and fails the rotation
  // (before any key is created) when it fails; the target must hand the value through
  // rather than an error the engine would merely retry.
  transport_.Push(200, json{{"Name", "app"},
                            {"VersionId", "v1"},
                            {"SecretString", R"({"username":"u","password":"p"})"}}
                           .dump());
  auto v = target_->GetCurrent("app");
  ASSERT_TRUE(v);
  auto pair = ReadKeyPair(v->secret_string);
  ASSERT_FALSE(pair);
  EXPECT_EQ(pair.error().reason, "InvalidSecretFormat");
}

TEST_F(AwsSecretsTargetTest, BinarySecretIsInvalidArgument) {
  transport_.Push(200, json{{"Name", "app"}, {"VersionId", "v1"}, {"SecretBinary", "AAEC"}}.dump());
  auto v = target_->GetCurrent("app");
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(v.error().reason, "InvalidSecretFormat");
}

TEST_F(AwsSecretsTargetTest, MissingSecretIsNotFound) {
  transport_.Push(400, ErrorBody("ResourceNotFoundException"));
  auto v = target_->GetCurrent("nope");
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(v.error().reason, "ResourceNotFoundException");
}

TEST_F(AwsSecretsTargetTest, GetVersionTellsAMissingVersionFromAMissingSecret) {
  transport_.Push(400, ErrorBody("ResourceNotFoundException"));
  transport_.Push(200, json{{"Name", "app"}}.dump());  // DescribeSecret: the secret exists
  auto v = target_->GetVersion("app", "tok");
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_FALSE(v->has_value());
  EXPECT_EQ(Sent(0), (json{{"SecretId", "app"}, {"VersionId", "tok"}}));
  EXPECT_EQ(Op(1), "secretsmanager.DescribeSecret");

  transport_.Push(400, ErrorBody("ResourceNotFoundException"));
  transport_.Push(400, ErrorBody("ResourceNotFoundException"));
  auto gone = target_->GetVersion("gone", "tok");
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
}

TEST_F(AwsSecretsTargetTest, PutPendingSendsTheTokenAndAwsPending) {
  transport_.Push(200, json{{"VersionId", "tok"}}.dump());
  ASSERT_TRUE(target_->PutPending("app", "tok", SecretBytes(R"({"a":1})")));
  EXPECT_EQ(Op(0), "secretsmanager.PutSecretValue");
  EXPECT_EQ(Sent(0), (json{{"SecretId", "app"},
                           {"ClientRequestToken", "tok"},
                           {"SecretString", R"({"a":1})"},
                           {"VersionStages", {"AWSPENDING"}}}));
}

TEST_F(AwsSecretsTargetTest, PutPendingAgainIsIdempotentOnlyForTheSameValue) {
  transport_.Push(400, ErrorBody("ResourceExistsException"));
  transport_.Push(200,
                  json{{"Name", "app"}, {"VersionId", "tok"}, {"SecretString", "same"}}.dump());
  EXPECT_TRUE(target_->PutPending("app", "tok", SecretBytes("same")));

  transport_.Push(400, ErrorBody("ResourceExistsException"));
  transport_.Push(200, json{{"Name", "app"}, {"VersionId", "tok"}, {"SecretString", "old"}}.dump());
  auto s = target_->PutPending("app", "tok", SecretBytes("new"));
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(s.error().message.find("new"), std::string::npos);  // no value in errors
}

TEST_F(AwsSecretsTargetTest, PromoteMovesCurrentFromItsHolderAndDropsPending) {
  transport_.Push(
      200, json{{"VersionIdsToStages", {{"old", {"AWSCURRENT"}}, {"tok", {"AWSPENDING"}}}}}.dump());
  transport_.Push(200, "{}");
  transport_.Push(200, "{}");
  ASSERT_TRUE(target_->Promote("app", "tok"));
  ASSERT_EQ(transport_.requests.size(), 3u);
  EXPECT_EQ(Op(1), "secretsmanager.UpdateSecretVersionStage");
  EXPECT_EQ(Sent(1), (json{{"SecretId", "app"},
                           {"VersionStage", "AWSCURRENT"},
                           {"MoveToVersionId", "tok"},
                           {"RemoveFromVersionId", "old"}}));
  EXPECT_EQ(
      Sent(2),
      (json{{"SecretId", "app"}, {"VersionStage", "AWSPENDING"}, {"RemoveFromVersionId", "tok"}}));
}

TEST_F(AwsSecretsTargetTest, PromoteOfThePromotedVersionChangesNothing) {
  transport_.Push(
      200,
      json{{"VersionIdsToStages", {{"old", {"AWSPREVIOUS"}}, {"tok", {"AWSCURRENT"}}}}}.dump());
  ASSERT_TRUE(target_->Promote("app", "tok"));
  EXPECT_EQ(transport_.requests.size(), 1u);
}

TEST_F(AwsSecretsTargetTest, PromoteOfAnUnknownVersionIsNotFound) {
  transport_.Push(200, json{{"VersionIdsToStages", {{"old", {"AWSCURRENT"}}}}}.dump());
  auto s = target_->Promote("app", "tok");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace kw::rotation::external
