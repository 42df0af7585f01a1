#include "cli/scripted_app_test_support.hpp"

namespace kw::cli {
namespace {

using nlohmann::json;

class FleetCommandsTest : public test_support::ScriptedAppTest {};

constexpr const char* kId = "1b3c5d7e-0000-4000-8000-000000000001";

TEST_F(FleetCommandsTest, ActivationCreateIsSafeByDefaultAndPrintsTheRegistration) {
  transport_.Reply(200, {{"ActivationId", kId}, {"ActivationCode", "abcdefghijABCDEFGHIJ"}});
  ASSERT_EQ(Run({"activation", "create", "--role", "web-role"}), 0) << err_.str();
  ASSERT_EQ(transport_.requests.size(), 1u);
  EXPECT_EQ(Header(0, "X-Amz-Target"), "AmazonSSM.CreateActivation");
  EXPECT_EQ(Header(0, "Content-Type"), "application/x-amz-json-1.1");
  EXPECT_EQ(Scope(0), "20260102/us-east-1/ssm/aws4_request");
  const json body = Body(0);
  EXPECT_EQ(body["IamRole"], "web-role");
  EXPECT_EQ(body["RegistrationLimit"], 1);
  EXPECT_EQ(body["ExpirationDate"], 1767323045 + 3600);  // 2026-01-02T03:04:05Z + 1 h
  EXPECT_FALSE(body.contains("SourceCidrs"));

  const std::string out = out_.str();
  EXPECT_NE(out.find("abcdefghijABCDEFGHIJ"), std::string::npos);
  EXPECT_NE(out.find("2026-01-02T04:04:05Z"), std::string::npos);
  EXPECT_NE(out.find("keyward-agent register --endpoint http://127.0.0.1:8787 --code "
                     "abcdefghijABCDEFGHIJ --id " +
                     std::string(kId) + " --region us-east-1"),
            std::string::npos)
      << out;
}

TEST_F(FleetCommandsTest, ActivationCreateOptions) {
  transport_.Reply(200, {{"ActivationId", kId}, {"ActivationCode", "abcdefghijABCDEFGHIJ"}});
  ASSERT_EQ(Run({"activation", "create", "--role", "r", "--limit", "3", "--expires", "1d12h",
                 "--cidr", "10.0.0.0/8", "--cidr", "192.168.1.0/24,2001:db8::/32", "--name", "web",
                 "--output", "json"}),
            0)
      << err_.str();
  const json body = Body(0);
  EXPECT_EQ(body["RegistrationLimit"], 3);
  EXPECT_EQ(body["ExpirationDate"], 1767323045 + 36 * 3600);
  EXPECT_EQ(body["SourceCidrs"], json::array({"10.0.0.0/8", "192.168.1.0/24", "2001:db8::/32"}));
  EXPECT_EQ(body["DefaultInstanceName"], "web");
  EXPECT_EQ(json::parse(out_.str()),
            json({{"ActivationId", kId}, {"ActivationCode", "abcdefghijABCDEFGHIJ"}}));

  for (const char* bad : {"0", "1001", "x"}) {
    EXPECT_EQ(Run({"activation", "create", "--role", "r", "--limit", bad}), 1) << bad;
  }
  for (const char* bad : {"1", "h", "0s", "1w", "-1h"}) {
    EXPECT_EQ(Run({"activation", "create", "--role", "r", "--expires", bad}), 1) << bad;
  }
  EXPECT_EQ(transport_.requests.size(), 1u);    // none of the bad ones was sent
  EXPECT_NE(Run({"activation", "create"}), 0);  // --role is required
}

TEST_F(FleetCommandsTest, ServerErrorsAreShownWithTheirCode) {
  transport_.Reply(400, {{"__type", "InvalidParameters"}, {"message", "Nonexistent role: r"}});
  EXPECT_EQ(Run({"activation", "create", "--role", "r"}), 1);
  EXPECT_EQ(err_.str(), "keyward: error: InvalidParameters: Nonexistent role: r\n");
}

TEST_F(FleetCommandsTest, ActivationListFollowsNextToken) {
  transport_.Reply(200, {{"ActivationList",
                          {{{"ActivationId", kId},
                            {"IamRole", "web-role"},
                            {"RegistrationLimit", 2},
                            {"RegistrationsCount", 1},
                            {"ExpirationDate", 1767323045},
                            {"Expired", false}}}},
                         {"NextToken", "t1"}});
  transport_.Reply(200, {{"ActivationList", json::array()}});
  ASSERT_EQ(Run({"activation", "list", "--output", "json"}), 0) << err_.str();
  ASSERT_EQ(transport_.requests.size(), 2u);
  EXPECT_EQ(Header(0, "X-Amz-Target"), "AmazonSSM.DescribeActivations");
  EXPECT_FALSE(Body(0).contains("NextToken"));
  EXPECT_EQ(Body(1)["NextToken"], "t1");
  const json out = json::parse(out_.str());
  ASSERT_EQ(out["ActivationList"].size(), 1u);
  EXPECT_EQ(out["ActivationList"][0]["ExpirationDate"], "2026-01-02T03:04:05Z");
  EXPECT_EQ(out["ActivationList"][0]["RegistrationsCount"], 1);
  EXPECT_EQ(out["ActivationList"][0]["Expired"], false);
}

TEST_F(FleetCommandsTest, ActivationDelete) {
  transport_.Reply(200, json::object());
  ASSERT_EQ(Run({"activation", "delete", kId}), 0) << err_.str();
  EXPECT_EQ(Header(0, "X-Amz-Target"), "AmazonSSM.DeleteActivation");
  EXPECT_EQ(Body(0), json({{"ActivationId", kId}}));
}

TEST_F(FleetCommandsTest, InstanceListTable) {
  transport_.Reply(200, {{"InstanceInformationList",
                          {{{"InstanceId", "mi-0123456789abcdef0"},
                            {"PingStatus", "Online"},
                            {"LastPingDateTime", 1767323045.5},
                            {"ComputerName", "web1"},
                            {"IPAddress", "10.0.0.1"}}}}});
  ASSERT_EQ(Run({"instance", "list", "--ping-status", "Online"}), 0) << err_.str();
  EXPECT_EQ(Header(0, "X-Amz-Target"), "AmazonSSM.DescribeInstanceInformation");
  EXPECT_EQ(Body(0)["Filters"],
            json::array({{{"Key", "PingStatus"}, {"Values", json::array({"Online"})}}}));
  const std::string out = out_.str();
  EXPECT_NE(out.find("InstanceId"), std::string::npos);
  EXPECT_NE(out.find("mi-0123456789abcdef0"), std::string::npos);
  EXPECT_NE(out.find("2026-01-02T03:04:05Z"), std::string::npos);
}

TEST_F(FleetCommandsTest, InstanceRebindCallsKeywardsOwnService) {
  transport_.Reply(200, json::object());
  ASSERT_EQ(Run({"instance", "rebind", "mi-0123456789abcdef0"}), 0) << err_.str();
  EXPECT_EQ(Header(0, "X-Amz-Target"), "Keyward.ApproveInstanceRebind");
  EXPECT_EQ(Scope(0), "20260102/us-east-1/keyward/aws4_request");
  EXPECT_EQ(Body(0), json({{"InstanceId", "mi-0123456789abcdef0"}}));
  EXPECT_NE(out_.str().find("mi-0123456789abcdef0"), std::string::npos);

  transport_.Reply(400, {{"__type", "InvalidInstanceId"}, {"message", "no such instance"}});
  EXPECT_EQ(Run({"instance", "rebind", "mi-00000000000000000"}), 1);
  EXPECT_NE(err_.str().find("InvalidInstanceId"), std::string::npos);
}

TEST_F(FleetCommandsTest, InstanceDeregister) {
  transport_.Reply(200, json::object());
  ASSERT_EQ(Run({"instance", "deregister", "mi-0123456789abcdef0"}), 0) << err_.str();
  EXPECT_EQ(Header(0, "X-Amz-Target"), "AmazonSSM.DeregisterManagedInstance");
}

}  // namespace
}  // namespace kw::cli
