#include "api/ssm/fleet/fleet_api.hpp"

#include <gtest/gtest.h>

#include <set>

#include "api/ssm/fleet/fleet_tags.hpp"
#include "api/ssm/tags/tags_api.hpp"
#include "common/time_format.hpp"
#include "fleet/fleet_test_support.hpp"

namespace kw::api {
namespace {

using fleet::testing::FakeHost;
using nlohmann::json;

class FleetApiTest : public ::testing::Test, protected fleet::testing::FleetFixture {
 protected:
  FleetApiTest() {
    MakeRole("fleet-role");
    ops_ = FleetOperations(fleet_, account_);
    keyward_ops_ = KeywardFleetOperations(fleet_, account_);
    tag_ops_ =
        TagOperations({{"ManagedInstance", &instance_tags_}, {"Activation", &activation_tags_}});
    caller_.account_id = account_.id;
    caller_.arn = "arn:aws:iam::123456789012:user/admin";
  }

  const JsonOperation& Find(std::string_view name) {
    for (const auto* list : {&ops_, &keyward_ops_, &tag_ops_}) {
      for (const auto& op : *list) {
        if (op.name == name) return op;
      }
    }
    ADD_FAILURE() << "no operation " << name;
    static JsonOperation none;
    return none;
  }
  Result<json> Call(std::string_view op, const json& input) {
    JsonCall call{input, caller_, "req-1", "192.0.2.10", clock_.Now(), authorize_};
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
  std::string Resource(std::string_view op, const json& input) {
    return Find(op).resource(input, caller_);
  }

  std::string RegisterHost(const json& activation, std::string_view machine) {
    FakeHost host = FakeHost::Make(machine);
    auto r =
        fleet_.Register(host.Registration(activation["ActivationId"], activation["ActivationCode"]),
                        "192.0.2.10", clock_.Now());
    EXPECT_TRUE(r.has_value());
    return r ? r->instance_id : "";
  }

  FleetTagAccess instance_tags_{fleet_, fleet::TagResourceType::kManagedInstance, account_};
  FleetTagAccess activation_tags_{fleet_, fleet::TagResourceType::kActivation, account_};
  std::vector<JsonOperation> ops_;
  std::vector<JsonOperation> keyward_ops_;
  std::vector<JsonOperation> tag_ops_;
  iam::Principal caller_;
  CallAuthorizer authorize_ = [](std::string_view, std::string_view, const policy::Policy*) {
    return OkStatus();
  };
};

TEST_F(FleetApiTest, OperationTables) {
  std::set<std::string> names;
  for (const auto& op : ops_) names.insert(op.name);
  EXPECT_EQ(names,
            (std::set<std::string>{"CreateActivation", "DescribeActivations", "DeleteActivation",
                                   "DescribeInstanceInformation", "DeregisterManagedInstance",
                                   "UpdateManagedInstanceRole"}));
  std::set<std::string> keyward;
  for (const auto& op : keyward_ops_) keyward.insert(op.name);
  EXPECT_EQ(keyward, (std::set<std::string>{"ApproveInstanceRebind", "DescribeInstanceIdentity"}));
  for (const auto* list : {&ops_, &keyward_ops_}) {
    for (const auto& op : *list) {
      EXPECT_EQ(op.read_only, op.name.rfind("Describe", 0) == 0 || op.name.rfind("List", 0) == 0)
          << op.name;
    }
  }
}

TEST_F(FleetApiTest, CreateAndDescribeActivationShapes) {
  const double expires = ToEpochSeconds(clock_.Now() + std::chrono::hours(48));
  json created = Ok("CreateActivation", {{"IamRole", "fleet-role"},
                                         {"RegistrationLimit", 3},
                                         {"ExpirationDate", expires},
                                         {"DefaultInstanceName", "web"},
                                         {"Description", "the web tier"},
                                         {"Tags", {{{"Key", "env"}, {"Value", "prod"}}}},
                                         {"SourceCidrs", {"10.0.0.0/8"}}});
  ASSERT_TRUE(created["ActivationId"].is_string());
  ASSERT_TRUE(created["ActivationCode"].is_string());
  EXPECT_EQ(created["ActivationCode"].get<std::string>().size(), 20u);

  json described =
      Ok("DescribeActivations",
         {{"Filters",
           {{{"FilterKey", "ActivationIds"}, {"FilterValues", {created["ActivationId"]}}}}}});
  ASSERT_EQ(described["ActivationList"].size(), 1u);
  const json& a = described["ActivationList"][0];
  EXPECT_EQ(a["ActivationId"], created["ActivationId"]);
  EXPECT_EQ(a["IamRole"], "fleet-role");
  EXPECT_EQ(a["RegistrationLimit"], 3);
  EXPECT_EQ(a["RegistrationsCount"], 0);
  EXPECT_EQ(a["Expired"], false);
  EXPECT_DOUBLE_EQ(a["ExpirationDate"].get<double>(), expires);
  EXPECT_DOUBLE_EQ(a["CreatedDate"].get<double>(), ToEpochSeconds(clock_.Now()));
  EXPECT_EQ(a["DefaultInstanceName"], "web");
  EXPECT_EQ(a["Description"], "the web tier");
  EXPECT_EQ(a["Tags"], json::array({{{"Key", "env"}, {"Value", "prod"}}}));
  EXPECT_EQ(a["SourceCidrs"], json::array({"10.0.0.0/8"}));
  EXPECT_FALSE(a.contains("ActivationCode"));
  EXPECT_FALSE(described.contains("NextToken"));

  // ISO 8601 dates are accepted too.
  EXPECT_EQ(Reason("CreateActivation",
                   {{"IamRole", "fleet-role"},
                    {"ExpirationDate", FormatIso8601(clock_.Now() + std::chrono::hours(2))}}),
            "OK");
}

TEST_F(FleetApiTest, ActivationErrors) {
  EXPECT_EQ(Reason("CreateActivation", json::object()), "ValidationError");
  EXPECT_EQ(Reason("CreateActivation", {{"IamRole", 5}}), "SerializationException");
  EXPECT_EQ(Reason("CreateActivation", {{"IamRole", "ghost"}}), "InvalidParameters");
  EXPECT_EQ(Reason("CreateActivation", {{"IamRole", "fleet-role"}, {"RegistrationLimit", 1001}}),
            "ValidationError");
  EXPECT_EQ(Reason("CreateActivation", {{"IamRole", "fleet-role"}, {"ExpirationDate", "soon"}}),
            "SerializationException");
  EXPECT_EQ(Reason("DescribeActivations", {{"Filters", {{{"FilterKey", "Color"}}}}}),
            "InvalidFilter");
  EXPECT_EQ(Reason("DescribeActivations", {{"NextToken", "xyz"}}), "InvalidNextToken");
  EXPECT_EQ(Reason("DeleteActivation", json::object()), "ValidationError");
  EXPECT_EQ(Reason("DeleteActivation", {{"ActivationId", "00000000-0000-4000-8000-000000000000"}}),
            "InvalidActivationId");
  json created = Ok("CreateActivation", {{"IamRole", "fleet-role"}});
  EXPECT_EQ(Ok("DeleteActivation", {{"ActivationId", created["ActivationId"]}}), json::object());
  EXPECT_EQ(Ok("DescribeActivations", json::object())["ActivationList"], json::array());
}

TEST_F(FleetApiTest, DescribeInstanceInformationShape) {
  json activation =
      Ok("CreateActivation",
         {{"IamRole", "fleet-role"}, {"RegistrationLimit", 2}, {"DefaultInstanceName", "web"}});
  const std::string id = RegisterHost(activation, "one");
  RegisterHost(activation, "two");
  agentproto::HelloMessage hello;
  hello.agent_version = "1.2.3";
  hello.platform = {"Debian GNU/Linux", "12", "Linux"};
  hello.computer_name = "one.example";
  fleet_.Connected(id, hello, "10.1.1.1", clock_.Now());

  json out =
      Ok("DescribeInstanceInformation",
         {{"InstanceInformationFilterList", {{{"key", "InstanceIds"}, {"valueSet", {id}}}}}});
  ASSERT_EQ(out["InstanceInformationList"].size(), 1u);
  const json& i = out["InstanceInformationList"][0];
  EXPECT_EQ(i["InstanceId"], id);
  EXPECT_EQ(i["PingStatus"], "Online");
  EXPECT_DOUBLE_EQ(i["LastPingDateTime"].get<double>(), ToEpochSeconds(clock_.Now()));
  EXPECT_EQ(i["AgentVersion"], "1.2.3");
  EXPECT_EQ(i["PlatformType"], "Linux");
  EXPECT_EQ(i["PlatformName"], "Debian GNU/Linux");
  EXPECT_EQ(i["PlatformVersion"], "12");
  EXPECT_EQ(i["ActivationId"], activation["ActivationId"]);
  EXPECT_EQ(i["IamRole"], "fleet-role");
  EXPECT_TRUE(i["RegistrationDate"].is_number());
  EXPECT_EQ(i["ResourceType"], "ManagedInstance");
  EXPECT_EQ(i["Name"], "web");
  EXPECT_EQ(i["IPAddress"], "10.1.1.1");
  EXPECT_EQ(i["ComputerName"], "one.example");
  EXPECT_EQ(i["SourceType"], "AWS::SSM::ManagedInstance");

  json lost = Ok("DescribeInstanceInformation",
                 {{"Filters", {{{"Key", "PingStatus"}, {"Values", {"ConnectionLost"}}}}}});
  ASSERT_EQ(lost["InstanceInformationList"].size(), 1u);
  EXPECT_NE(lost["InstanceInformationList"][0]["InstanceId"], id);
  EXPECT_FALSE(lost["InstanceInformationList"][0].contains("LastPingDateTime"));

  EXPECT_EQ(Reason("DescribeInstanceInformation",
                   {{"InstanceInformationFilterList", {{{"key", "tag:x"}, {"valueSet", {"y"}}}}}}),
            "InvalidFilterKey");
  EXPECT_EQ(
      Reason("DescribeInstanceInformation", {{"Filters", {{{"Key", "Bogus"}, {"Values", {"y"}}}}}}),
      "InvalidFilterKey");
  EXPECT_EQ(Reason("DescribeInstanceInformation", {{"MaxResults", 51}}), "ValidationError");
  EXPECT_EQ(Reason("DescribeInstanceInformation", {{"Filters", "x"}}), "SerializationException");
}

TEST_F(FleetApiTest, InstanceOperationsAndResources) {
  json activation = Ok("CreateActivation", {{"IamRole", "fleet-role"}});
  const std::string id = RegisterHost(activation, "one");
  const std::string arn = "arn:aws:ssm:us-east-1:123456789012:managed-instance/" + id;
  EXPECT_EQ(Resource("DeregisterManagedInstance", {{"InstanceId", id}}), arn);
  EXPECT_EQ(Resource("UpdateManagedInstanceRole", {{"InstanceId", id}}), arn);
  EXPECT_EQ(Resource("ApproveInstanceRebind", {{"InstanceId", id}}), arn);
  EXPECT_EQ(
      Resource("AddTagsToResource", {{"ResourceType", "ManagedInstance"}, {"ResourceId", id}}),
      arn);
  EXPECT_EQ(Resource("ListTagsForResource",
                     {{"ResourceType", "Activation"}, {"ResourceId", activation["ActivationId"]}}),
            "*");
  EXPECT_EQ(Resource("CreateActivation", json::object()), "*");
  EXPECT_EQ(Resource("DescribeInstanceInformation", json::object()), "*");

  MakeRole("other-role");
  EXPECT_EQ(Reason("UpdateManagedInstanceRole", {{"InstanceId", id}}), "ValidationError");
  EXPECT_EQ(Ok("UpdateManagedInstanceRole", {{"InstanceId", id}, {"IamRole", "other-role"}}),
            json::object());
  EXPECT_EQ(fleet_.GetInstance(id)->iam_role, "other-role");

  EXPECT_EQ(Ok("ApproveInstanceRebind", {{"InstanceId", id}}), json::object());
  json identity = Ok("DescribeInstanceIdentity", {{"InstanceId", id}});
  EXPECT_EQ(identity["RebindApproved"], true);
  EXPECT_EQ(identity["FingerprintHistory"], json::array());
  EXPECT_EQ(Reason("ApproveInstanceRebind", {{"InstanceId", "mi-00000000000000000"}}),
            "InvalidInstanceId");

  EXPECT_EQ(Ok("DeregisterManagedInstance", {{"InstanceId", id}}), json::object());
  EXPECT_EQ(Reason("DeregisterManagedInstance", {{"InstanceId", id}}), "InvalidInstanceId");
  EXPECT_EQ(Reason("DeregisterManagedInstance", json::object()), "ValidationError");
}

TEST_F(FleetApiTest, Tagging) {
  json activation = Ok("CreateActivation", {{"IamRole", "fleet-role"}});
  const std::string id = RegisterHost(activation, "one");
  const json target = {{"ResourceType", "ManagedInstance"}, {"ResourceId", id}};
  json add = target;
  add["Tags"] = {{{"Key", "team"}, {"Value", "blue"}}, {{"Key", "tier"}, {"Value", "web"}}};
  EXPECT_EQ(Ok("AddTagsToResource", add), json::object());
  json remove = target;
  remove["TagKeys"] = {"tier"};
  EXPECT_EQ(Ok("RemoveTagsFromResource", remove), json::object());
  EXPECT_EQ(Ok("ListTagsForResource", target)["TagList"],
            json::array({{{"Key", "team"}, {"Value", "blue"}}}));

  EXPECT_EQ(Reason("AddTagsToResource", target), "ValidationError");  // no Tags
  EXPECT_EQ(Reason("ListTagsForResource", {{"ResourceType", "Document"}, {"ResourceId", "d"}}),
            "InvalidResourceType");
  EXPECT_EQ(Reason("ListTagsForResource",
                   {{"ResourceType", "ManagedInstance"}, {"ResourceId", "mi-00000000000000000"}}),
            "InvalidResourceId");
  json bad_tag = target;
  bad_tag["Tags"] = {{{"Key", "k"}}};
  EXPECT_EQ(Reason("AddTagsToResource", bad_tag), "ValidationError");

  // Activations through their own access; SSM's limit of 50 tags per resource.
  json on_activation = {{"ResourceType", "Activation"}, {"ResourceId", activation["ActivationId"]}};
  json many = on_activation;
  many["Tags"] = json::array();
  for (int i = 0; i < 51; ++i) {
    many["Tags"].push_back({{"Key", "k" + std::to_string(i)}, {"Value", "v"}});
  }
  EXPECT_EQ(Reason("AddTagsToResource", many), "TooManyTagsError");
  many["Tags"].erase(50);
  EXPECT_EQ(Ok("AddTagsToResource", many), json::object());
  EXPECT_EQ(Ok("ListTagsForResource", on_activation)["TagList"].size(), 50u);
}

}  // namespace
}  // namespace kw::api
