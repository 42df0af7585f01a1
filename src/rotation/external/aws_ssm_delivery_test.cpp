#include "rotation/external/aws_ssm_delivery.hpp"

#include <gtest/gtest.h>

#include "awsclient/test_fakes.hpp"

namespace kw::rotation::external {
namespace {

using awsclient::testing::Header;
using awsclient::testing::ScriptedTransport;
using nlohmann::json;

class AwsSsmDeliveryTest : public ::testing::Test {
 protected:
  AwsSsmDeliveryTest() {
    auto client = awsclient::QueryClient::Create(
        transport_, clock_, "https://ssm.example.com",
        sigv4::Credentials{"AKIAROTATOR", SecretBytes("rotsecret"), ""}, "us-east-1");
    delivery_ = std::make_unique<AwsSsmDelivery>(std::move(*client));
  }
  json Sent(std::size_t i) { return json::parse(transport_.requests.at(i).body); }
  std::string Op(std::size_t i) { return Header(transport_.requests.at(i), "X-Amz-Target"); }
  DeliveryRequest Request(std::vector<std::string> hosts) {
    DeliveryRequest r;
    r.secret_id = "iam-user-test001";
    r.version_id = "tok";
    r.hosts = std::move(hosts);
    r.spec.kind = "aws-ssm";
    r.comment = "keyward rotation rp-1.00000001";
    return r;
  }
  void PushInvocation(const std::string& status, const std::string& details = "", int code = -1) {
    json j{{"Status", status}, {"StatusDetails", details.empty() ? status : details}};
    if (code >= 0) j["ResponseCode"] = code;
    if (status == "Success") j["ExecutionEndDateTime"] = "2023-11-14T22:15:00Z";
    transport_.Push(200, j.dump());
  }

  FakeClock clock_{TimePoint(std::chrono::seconds(1700000000))};
  ScriptedTransport transport_;
  std::unique_ptr<AwsSsmDelivery> delivery_;
};

TEST_F(AwsSsmDeliveryTest, StartSendsTheDefaultDocumentWithTheSecretAndLimits) {
  transport_.Push(200, json{{"Commands", json::array()}}.dump());
  transport_.Push(200, json{{"Command", {{"CommandId", "c-1"}}}}.dump());
  auto id = delivery_->Start(Request({"mi-1", "mi-2"}), clock_.Now());
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(Op(0), "AmazonSSM.ListCommands");
  EXPECT_EQ(Op(1), "AmazonSSM.SendCommand");
  const json send = Sent(1);
  EXPECT_EQ(send["DocumentName"], kDefaultSsmDocument);
  EXPECT_EQ(send["InstanceIds"], (json{"mi-1", "mi-2"}));
  EXPECT_EQ(send["MaxConcurrency"], "50");
  EXPECT_EQ(send["MaxErrors"], "0");
  EXPECT_EQ(send["Parameters"], (json{{"SecretId", {"iam-user-test001"}}}));
  EXPECT_EQ(send["Comment"], "keyward rotation rp-1.00000001 v tok");
  EXPECT_EQ(json::parse(*id), (json{{"c", {{{"id", "c-1"}, {"h", {"mi-1", "mi-2"}}}}}}));
}

TEST_F(AwsSsmDeliveryTest, StartHonoursTheSpecAndSplitsAtFiftyInstances) {
  std::vector<std::string> hosts;
  for (int i = 0; i < 51; ++i) hosts.push_back("mi-" + std::to_string(100 + i));
  DeliveryRequest r = Request(hosts);
  r.spec.parameters = {{"document", "Custom"},
                       {"max_concurrency", "10%"},
                       {"max_errors", "2"},
                       {"timeout_seconds", "120"},
                       {"parameter.Path", "/etc/creds"}};
  for (int i = 0; i < 2; ++i) {
    transport_.Push(200, json{{"Commands", json::array()}}.dump());
    transport_.Push(200, json{{"Command", {{"CommandId", "c-" + std::to_string(i)}}}}.dump());
  }
  auto id = delivery_->Start(r, clock_.Now());
  ASSERT_TRUE(id) << id.error().message;
  const json first = Sent(1);
  EXPECT_EQ(first["DocumentName"], "Custom");
  EXPECT_EQ(first["InstanceIds"].size(), 50u);
  EXPECT_EQ(first["MaxConcurrency"], "10%");
  EXPECT_EQ(first["MaxErrors"], "2");
  EXPECT_EQ(first["TimeoutSeconds"], 120);
  // A custom document gets only the parameters the spec names.
  EXPECT_EQ(first["Parameters"], (json{{"Path", {"/etc/creds"}}}));
  EXPECT_EQ(Sent(3)["InstanceIds"], (json{"mi-150"}));
  EXPECT_EQ(json::parse(*id)["c"].size(), 2u);
}

TEST_F(AwsSsmDeliveryTest, StartAgainReusesTheRunningCommandButNotAFinishedOne) {
  const json running{{"CommandId", "c-run"},
                     {"DocumentName", kDefaultSsmDocument},
                     {"Comment", "keyward rotation rp-1.00000001 v tok"},
                     {"InstanceIds", {"mi-2", "mi-1"}},
                     {"Status", "InProgress"}};
  transport_.Push(200, json{{"Commands", {running}}}.dump());
  auto id = delivery_->Start(Request({"mi-1", "mi-2"}), clock_.Now());
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(transport_.requests.size(), 1u);  // nothing sent
  EXPECT_EQ(json::parse(*id)["c"][0]["id"], "c-run");

  json done = running;
  done["Status"] = "TimedOut";
  transport_.Push(200, json{{"Commands", {done}}}.dump());
  transport_.Push(200, json{{"Command", {{"CommandId", "c-new"}}}}.dump());
  auto again = delivery_->Start(Request({"mi-1", "mi-2"}), clock_.Now());
  ASSERT_TRUE(again);
  EXPECT_EQ(json::parse(*again)["c"][0]["id"], "c-new");
}

TEST_F(AwsSsmDeliveryTest, PollMapsInvocationStatesAndCachesFinalOnes) {
  const std::string id =
      json{{"c", {{{"id", "c-1"}, {"h", {"mi-ok", "mi-bad", "mi-run", "mi-new"}}}}}}.dump();
  PushInvocation("Success");
  PushInvocation("Failed", "Failed", 1);
  PushInvocation("InProgress");
  transport_.Push(400, json{{"__type", "InvocationDoesNotExist"}}.dump());
  auto states = delivery_->Poll(id, clock_.Now());
  ASSERT_TRUE(states) << states.error().message;
  EXPECT_EQ(Sent(0), (json{{"CommandId", "c-1"}, {"InstanceId", "mi-ok"}}));
  EXPECT_EQ(Op(0), "AmazonSSM.GetCommandInvocation");
  ASSERT_EQ(states->count("mi-ok"), 1u);
  EXPECT_EQ(states->at("mi-ok").state, HostDeliveryState::kAcked);
  EXPECT_EQ(states->at("mi-ok").acked_at, TimePoint(std::chrono::seconds(1700000100)));
  EXPECT_EQ(states->at("mi-bad").state, HostDeliveryState::kFailed);
  EXPECT_NE(states->at("mi-bad").reason.find("exit code 1"), std::string::npos);
  EXPECT_EQ(states->count("mi-run"), 0u);
  EXPECT_EQ(states->count("mi-new"), 0u);

  // Only the two still running are asked again.
  PushInvocation("TimedOut", "DeliveryTimedOut");
  PushInvocation("Cancelled");
  auto next = delivery_->Poll(id, clock_.Now());
  ASSERT_TRUE(next);
  EXPECT_EQ(transport_.requests.size(), 6u);
  EXPECT_EQ(next->at("mi-ok").state, HostDeliveryState::kAcked);
  EXPECT_EQ(next->at("mi-run").state, HostDeliveryState::kFailed);
  EXPECT_NE(next->at("mi-run").reason.find("DeliveryTimedOut"), std::string::npos);
  EXPECT_EQ(next->at("mi-new").state, HostDeliveryState::kFailed);
}

TEST_F(AwsSsmDeliveryTest, ValidateRejectsUnknownParameters) {
  DeliverySpec spec{"aws-ssm", {{"documnet", "x"}}};
  EXPECT_FALSE(delivery_->Validate(spec));
  spec.parameters = {{"timeout_seconds", "soon"}};
  EXPECT_FALSE(delivery_->Validate(spec));
  spec.parameters = {{"document", "X"}, {"parameter.A", "b"}};
  EXPECT_TRUE(delivery_->Validate(spec));
}

TEST_F(AwsSsmDeliveryTest, AccessDeniedIsReportedNotPending) {
  transport_.Push(400, json{{"__type", "AccessDeniedException"}, {"message", "no"}}.dump());
  auto states =
      delivery_->Poll(json{{"c", {{{"id", "c-1"}, {"h", {"mi-1"}}}}}}.dump(), clock_.Now());
  ASSERT_FALSE(states);
  EXPECT_EQ(states.error().code, ErrorCode::kPermissionDenied);
}

}  // namespace
}  // namespace kw::rotation::external
