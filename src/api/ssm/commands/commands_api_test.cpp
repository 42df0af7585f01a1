#include "api/ssm/commands/commands_api.hpp"

#include <gtest/gtest.h>

#include <set>

#include "common/time_format.hpp"
#include "crypto/csprng.hpp"
#include "store/memory/memory_kv_store.hpp"

namespace kw::api {
namespace {

using nlohmann::json;

class FakeResolver final : public commands::DocumentResolver {
 public:
  Result<commands::ResolvedDocument> Resolve(
      std::string_view name, const std::optional<std::string>&,
      const std::map<std::string, std::vector<std::string>>& params, std::string_view) override {
    if (name != "AWS-RunShellScript") {
      return InvalidArgument("The document does not exist.", "InvalidDocument");
    }
    commands::ResolvedDocument d;
    d.name = std::string(name);
    d.document_version = "1";
    agentproto::Step s;
    s.name = "runShellScript";
    s.action = "aws:runShellScript";
    auto it = params.find("commands");
    if (it != params.end()) s.run_command = it->second;
    d.steps.push_back(s);
    return d;
  }
};

class FakeDirectory final : public fleet::InstanceDirectory {
 public:
  FakeDirectory() {
    for (const char* id : {"mi-00000000000000001", "mi-00000000000000002"}) {
      fleet::InstanceSummary s;
      s.instance_id = id;
      s.platform_type = "Linux";
      s.computer_name = std::string("host") + id[19];
      s.tags = {{"Role", "web"}};
      instances.push_back(s);
    }
  }
  Result<std::optional<fleet::InstanceSummary>> FindInstance(std::string_view id) override {
    for (const auto& s : instances) {
      if (s.instance_id == id) return std::optional<fleet::InstanceSummary>(s);
    }
    return std::optional<fleet::InstanceSummary>();
  }
  Result<std::vector<fleet::InstanceSummary>> ListInstances() override { return instances; }
  std::vector<fleet::InstanceSummary> instances;
};

constexpr const char* kMi1 = "mi-00000000000000001";
constexpr const char* kMi2 = "mi-00000000000000002";

class CommandsApiTest : public ::testing::Test {
 protected:
  CommandsApiTest()
      : clock_(*ParseIso8601("2026-03-01T10:00:00Z")),
        account_{"123456789012"},
        svc_(store_, clock_, random_, account_, docs_, dir_) {
    caller_.account_id = account_.id;
    caller_.arn = "arn:aws:iam::123456789012:user/admin";
    ops_ = CommandOperations(svc_, account_);
  }

  const JsonOperation& Find(std::string_view name) {
    for (const auto& op : ops_) {
      if (op.name == name) return op;
    }
    ADD_FAILURE() << "no operation " << name;
    static JsonOperation none;
    return none;
  }
  Result<json> Call(std::string_view op, const json& input) {
    JsonCall call{input, caller_, "req-1", "127.0.0.1", clock_.Now(), authorizer_};
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
  std::string Send() {
    json out = Ok("SendCommand", {{"DocumentName", "AWS-RunShellScript"},
                                  {"InstanceIds", {kMi1, kMi2}},
                                  {"Parameters", {{"commands", {"uptime"}}}},
                                  {"Comment", "hello"}});
    return out["Command"].value("CommandId", "");
  }
  void AgentRuns(const std::string& instance, const std::string& id) {
    ASSERT_TRUE(svc_.Acknowledge(instance, id, clock_.Now()).has_value());
    agentproto::ResultMessage r;
    r.command_id = id;
    r.status = "Success";
    r.response_code = 0;
    agentproto::StepResult s;
    s.name = "runShellScript";
    s.status = "Success";
    s.response_code = 0;
    s.standard_output = std::string(3000, 'x');
    s.started_at = 1772359200250;
    s.ended_at = 1772359201000;
    r.steps.push_back(s);
    ASSERT_TRUE(svc_.Complete(instance, r, clock_.Now()).has_value());
  }

  crypto::Csprng random_;
  FakeClock clock_;
  store::MemoryKvStore store_;
  iam::Account account_;
  FakeResolver docs_;
  FakeDirectory dir_;
  commands::CommandService svc_;
  std::vector<JsonOperation> ops_;
  iam::Principal caller_;
  std::vector<std::string> authorized_;
  std::string deny_resource_;
  CallAuthorizer authorizer_ = [this](std::string_view action, std::string_view resource,
                                      const policy::Policy*) -> Status {
    authorized_.push_back(std::string(action) + " " + std::string(resource));
    if (resource == deny_resource_) return PermissionDenied("denied", "AccessDenied");
    return OkStatus();
  };
};

TEST_F(CommandsApiTest, RegistersTheRunCommandOperations) {
  std::set<std::string> names;
  for (const auto& op : ops_) names.insert(op.name);
  EXPECT_EQ(names, (std::set<std::string>{"SendCommand", "ListCommands", "ListCommandInvocations",
                                          "GetCommandInvocation", "CancelCommand"}));
  EXPECT_TRUE(Find("ListCommands").read_only);
  EXPECT_FALSE(Find("SendCommand").read_only);
  const auto& send = Find("SendCommand");
  EXPECT_EQ(send.resource({{"DocumentName", "AWS-RunShellScript"}}, caller_),
            "arn:aws:ssm:us-east-1::document/AWS-RunShellScript");
  EXPECT_EQ(send.resource({{"DocumentName", "Mine"}}, caller_),
            "arn:aws:ssm:us-east-1:123456789012:document/Mine");
}

TEST_F(CommandsApiTest, SendCommandShapeAndInstanceAuthorization) {
  json out = Ok("SendCommand", {{"DocumentName", "AWS-RunShellScript"},
                                {"InstanceIds", {kMi1, kMi2}},
                                {"Parameters", {{"commands", {"uptime"}}}},
                                {"TimeoutSeconds", 60},
                                {"MaxConcurrency", "50%"},
                                {"MaxErrors", "1"},
                                {"OutputS3BucketName", "ignored"}});
  const json& c = out["Command"];
  EXPECT_EQ(c["CommandId"].get<std::string>().size(), 36u);
  EXPECT_EQ(c["Status"], "Pending");
  EXPECT_EQ(c["TargetCount"], 2);
  EXPECT_EQ(c["TimeoutSeconds"], 60);
  EXPECT_EQ(c["MaxConcurrency"], "50%");
  EXPECT_EQ(c["Parameters"]["commands"], json({"uptime"}));
  EXPECT_TRUE(c["RequestedDateTime"].is_number());
  EXPECT_DOUBLE_EQ(c["RequestedDateTime"].get<double>(), ToEpochSeconds(clock_.Now()));
  EXPECT_TRUE(c["ExpiresAfter"].is_number());
  EXPECT_EQ(authorized_,
            (std::vector<std::string>{
                "ssm:SendCommand arn:aws:ssm:us-east-1:123456789012:managed-instance/" +
                    std::string(kMi1),
                "ssm:SendCommand arn:aws:ssm:us-east-1:123456789012:managed-instance/" +
                    std::string(kMi2)}));

  // One refused instance refuses the request; nothing is stored.
  deny_resource_ = "arn:aws:ssm:us-east-1:123456789012:managed-instance/" + std::string(kMi2);
  EXPECT_EQ(Reason("SendCommand", {{"DocumentName", "AWS-RunShellScript"},
                                   {"Targets", {{{"Key", "tag:Role"}, {"Values", {"web"}}}}},
                                   {"Parameters", {{"commands", {"id"}}}}}),
            "AccessDenied");
  EXPECT_EQ(Ok("ListCommands", json::object())["Commands"].size(), 1u);
}

TEST_F(CommandsApiTest, SendCommandDecodeErrors) {
  EXPECT_EQ(Reason("SendCommand", {{"InstanceIds", {kMi1}}}), "ValidationError");
  EXPECT_EQ(Reason("SendCommand", {{"DocumentName", "AWS-RunShellScript"}, {"InstanceIds", kMi1}}),
            "SerializationException");
  EXPECT_EQ(Reason("SendCommand", {{"DocumentName", "AWS-RunShellScript"},
                                   {"InstanceIds", {kMi1}},
                                   {"Parameters", {{"commands", "not a list"}}}}),
            "SerializationException");
  EXPECT_EQ(Reason("SendCommand", {{"DocumentName", "Nope-Doc"}, {"InstanceIds", {kMi1}}}),
            "InvalidDocument");
  EXPECT_EQ(Reason("SendCommand", {{"DocumentName", "AWS-RunShellScript"},
                                   {"InstanceIds", {"mi-0000000000000000f"}}}),
            "InvalidInstanceId");
}

TEST_F(CommandsApiTest, InvocationShapesAndDates) {
  const std::string id = Send();
  clock_.Advance(std::chrono::seconds(5));
  AgentRuns(kMi1, id);

  json got = Ok("GetCommandInvocation", {{"CommandId", id}, {"InstanceId", kMi1}});
  EXPECT_EQ(got["Status"], "Success");
  EXPECT_EQ(got["StatusDetails"], "Success");
  EXPECT_EQ(got["PluginName"], "runShellScript");
  EXPECT_EQ(got["ResponseCode"], 0);
  EXPECT_EQ(got["ExecutionStartDateTime"], "2026-03-01T10:00:00.250Z");
  EXPECT_EQ(got["ExecutionEndDateTime"], "2026-03-01T10:00:01.000Z");
  EXPECT_EQ(got["ExecutionElapsedTime"], "PT0.750S");
  EXPECT_EQ(got["StandardOutputContent"].get<std::string>().size(), 3000u);
  EXPECT_EQ(got["Comment"], "hello");

  json pending = Ok("GetCommandInvocation", {{"CommandId", id}, {"InstanceId", kMi2}});
  EXPECT_EQ(pending["Status"], "Pending");
  EXPECT_EQ(pending["ResponseCode"], -1);
  EXPECT_EQ(pending["ExecutionStartDateTime"], "");

  EXPECT_EQ(Reason("GetCommandInvocation", {{"CommandId", id}}), "ValidationError");
  EXPECT_EQ(Reason("GetCommandInvocation",
                   {{"CommandId", "00000000-0000-4000-8000-000000000000"}, {"InstanceId", kMi1}}),
            "InvocationDoesNotExist");

  json list = Ok("ListCommandInvocations", {{"CommandId", id}, {"Details", true}});
  ASSERT_EQ(list["CommandInvocations"].size(), 2u);
  const json& first = list["CommandInvocations"][0];
  EXPECT_EQ(first["InstanceId"], kMi1);
  EXPECT_EQ(first["InstanceName"], "host1");
  EXPECT_TRUE(first["RequestedDateTime"].is_number());
  ASSERT_EQ(first["CommandPlugins"].size(), 1u);
  const json& plugin = first["CommandPlugins"][0];
  EXPECT_EQ(plugin["Output"].get<std::string>().size(), 2500u);
  EXPECT_TRUE(plugin["ResponseStartDateTime"].is_number());
  EXPECT_DOUBLE_EQ(plugin["ResponseStartDateTime"].get<double>(), 1772359200.25);
  EXPECT_EQ(plugin["ResponseCode"], 0);
  const json& second = list["CommandInvocations"][1];
  EXPECT_EQ(second["Status"], "Pending");

  json plain = Ok("ListCommandInvocations", {{"CommandId", id}});
  EXPECT_TRUE(plain["CommandInvocations"][0]["CommandPlugins"].empty());

  json cmds = Ok("ListCommands", {{"Filters", {{{"key", "Status"}, {"value", "InProgress"}}}}});
  ASSERT_EQ(cmds["Commands"].size(), 1u);
  EXPECT_EQ(cmds["Commands"][0]["CompletedCount"], 1);
  EXPECT_EQ(Reason("ListCommands", {{"Filters", {{{"key", "Bogus"}, {"value", "x"}}}}}),
            "InvalidFilterKey");
  EXPECT_EQ(Reason("ListCommands", {{"Filters", {{{"Key", "Status"}, {"Value", "x"}}}}}),
            "ValidationError");
  EXPECT_EQ(Reason("ListCommands", {{"MaxResults", 0}}), "ValidationError");
}

TEST_F(CommandsApiTest, CancelCommand) {
  const std::string id = Send();
  ASSERT_TRUE(svc_.Acknowledge(kMi1, id, clock_.Now()).has_value());
  EXPECT_EQ(Reason("CancelCommand", json::object()), "ValidationError");
  EXPECT_EQ(Reason("CancelCommand", {{"CommandId", id}, {"InstanceIds", {kMi1, kMi1}}}),
            "DuplicateInstanceId");
  EXPECT_EQ(Ok("CancelCommand", {{"CommandId", id}}), json::object());
  json c = Ok("ListCommands", {{"CommandId", id}})["Commands"][0];
  EXPECT_EQ(c["Status"], "Cancelling");
  json inv = Ok("GetCommandInvocation", {{"CommandId", id}, {"InstanceId", kMi2}});
  EXPECT_EQ(inv["Status"], "Cancelled");
  inv = Ok("GetCommandInvocation", {{"CommandId", id}, {"InstanceId", kMi1}});
  EXPECT_EQ(inv["Status"], "Cancelling");
}

}  // namespace
}  // namespace kw::api
