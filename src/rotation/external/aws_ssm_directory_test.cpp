#include "rotation/external/aws_ssm_directory.hpp"

#include <gtest/gtest.h>

#include "awsclient/test_fakes.hpp"

namespace kw::rotation::external {
namespace {

using awsclient::testing::Header;
using awsclient::testing::ScriptedTransport;
using nlohmann::json;

json Info(const std::string& id, const std::string& ping = "Online") {
  return json{{"InstanceId", id},        {"PingStatus", ping},
              {"PlatformType", "Linux"}, {"ComputerName", id + ".local"},
              {"IPAddress", "10.0.0.1"}, {"IamRole", "SSMRole"}};
}

class AwsSsmDirectoryTest : public ::testing::Test {
 protected:
  AwsSsmDirectoryTest() {
    auto client = awsclient::QueryClient::Create(
        transport_, clock_, "https://ssm.example.com",
        sigv4::Credentials{"AKIAROTATOR", SecretBytes("rotsecret"), ""}, "us-east-1");
    directory_ = std::make_unique<AwsSsmInstanceDirectory>(std::move(*client));
  }
  json Sent(std::size_t i) { return json::parse(transport_.requests.at(i).body); }

  FakeClock clock_{TimePoint(std::chrono::seconds(1700000000))};
  ScriptedTransport transport_;
  std::unique_ptr<AwsSsmInstanceDirectory> directory_;
};

TEST_F(AwsSsmDirectoryTest, TagTargetsAreOneFilteredListingFollowedToTheLastPage) {
  transport_.Push(
      200,
      json{{"InstanceInformationList", {Info("mi-2"), Info("mi-1")}}, {"NextToken", "p2"}}.dump());
  transport_.Push(200, json{{"InstanceInformationList", {Info("mi-3", "ConnectionLost")}}}.dump());
  auto tagged = directory_->ListInstancesWithTag("Role", {"batch", "web"});
  ASSERT_TRUE(tagged.has_value()) << tagged.error().message;
  ASSERT_EQ(tagged->size(), 3u);
  EXPECT_EQ((*tagged)[0].instance_id, "mi-1");  // ordered by ID
  EXPECT_EQ((*tagged)[2].instance_id, "mi-3");
  EXPECT_EQ((*tagged)[2].ping_status, "ConnectionLost");
  EXPECT_EQ((*tagged)[0].computer_name, "mi-1.local");

  ASSERT_EQ(transport_.requests.size(), 2u);
  EXPECT_EQ(Header(transport_.requests[0], "X-Amz-Target"),
            "AmazonSSM.DescribeInstanceInformation");
  const json first = Sent(0);
  EXPECT_EQ(first["Filters"], json::parse(R"([{"Key":"tag:Role","Values":["batch","web"]}])"));
  EXPECT_FALSE(first.contains("NextToken"));
  EXPECT_EQ(Sent(1)["NextToken"], "p2");
  EXPECT_EQ(Sent(1)["Filters"], first["Filters"]);
}

TEST_F(AwsSsmDirectoryTest, NoMatchIsAnEmptyListAndErrorsPassThrough) {
  transport_.Push(200, json{{"InstanceInformationList", json::array()}}.dump());
  auto none = directory_->ListInstancesWithTag("Role", {"nobody"});
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty());

  transport_.Push(400, json{{"__type", "AccessDeniedException"}, {"message", "no"}}.dump());
  auto denied = directory_->ListInstancesWithTag("Role", {"batch"});
  ASSERT_FALSE(denied.has_value());
  EXPECT_EQ(denied.error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(denied.error().reason, "AccessDeniedException");

  EXPECT_FALSE(directory_->ListInstancesWithTag("Role", {}).has_value());
}

TEST_F(AwsSsmDirectoryTest, MoreThanAHundredValuesGoOutInChunks) {
  std::vector<std::string> values;
  for (int i = 0; i < 150; ++i) values.push_back("v" + std::to_string(i));
  transport_.Push(200, json{{"InstanceInformationList", {Info("mi-1")}}}.dump());
  transport_.Push(200, json{{"InstanceInformationList", {Info("mi-1"), Info("mi-9")}}}.dump());
  auto tagged = directory_->ListInstancesWithTag("Role", values);
  ASSERT_TRUE(tagged.has_value()) << tagged.error().message;
  EXPECT_EQ(tagged->size(), 2u);  // mi-1 once
  EXPECT_EQ(Sent(0)["Filters"][0]["Values"].size(), 100u);
  EXPECT_EQ(Sent(1)["Filters"][0]["Values"].size(), 50u);
}

TEST_F(AwsSsmDirectoryTest, FindInstanceByIdAndUnknownIds) {
  transport_.Push(200, json{{"InstanceInformationList", {Info("mi-1")}}}.dump());
  auto found = directory_->FindInstance("mi-1");
  ASSERT_TRUE(found.has_value()) << found.error().message;
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->ip_address, "10.0.0.1");
  EXPECT_EQ(Sent(0)["Filters"], json::parse(R"([{"Key":"InstanceIds","Values":["mi-1"]}])"));

  transport_.Push(200, json{{"InstanceInformationList", json::array()}}.dump());
  auto missing = directory_->FindInstance("mi-2");
  ASSERT_TRUE(missing.has_value());
  EXPECT_FALSE(missing->has_value());

  // AWS answers an unknown ID with InvalidInstanceId.
  transport_.Push(400, json{{"__type", "InvalidInstanceId"}}.dump());
  auto invalid = directory_->FindInstance("mi-3");
  ASSERT_TRUE(invalid.has_value()) << invalid.error().message;
  EXPECT_FALSE(invalid->has_value());
}

TEST_F(AwsSsmDirectoryTest, ARepeatedNextTokenStops) {
  transport_.Push(200,
                  json{{"InstanceInformationList", {Info("mi-1")}}, {"NextToken", "t"}}.dump());
  transport_.Push(200,
                  json{{"InstanceInformationList", {Info("mi-1")}}, {"NextToken", "t"}}.dump());
  auto all = directory_->ListInstances();
  ASSERT_FALSE(all.has_value());
  EXPECT_EQ(all.error().code, ErrorCode::kInternal);
  EXPECT_FALSE(Sent(0).contains("Filters"));
}

}  // namespace
}  // namespace kw::rotation::external
