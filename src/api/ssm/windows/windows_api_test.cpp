#include "api/ssm/windows/windows_api.hpp"

#include <gtest/gtest.h>

#include <set>

#include "common/time_format.hpp"
#include "crypto/csprng.hpp"
#include "store/memory/memory_kv_store.hpp"

namespace kw::api {
namespace {

using nlohmann::json;

class NoCommands : public commands::CommandSender {
 public:
  Result<std::string> SendCommand(const commands::SendCommandRequest&, TimePoint) override {
    ++sent;
    return std::string("cmd-1");
  }
  Result<commands::CommandStatusSummary> CommandStatus(std::string_view id) override {
    commands::CommandStatusSummary s;
    s.command_id = std::string(id);
    s.status = "Success";
    return s;
  }
  int sent = 0;
};

class OneInstance : public fleet::InstanceDirectory {
 public:
  Result<std::optional<fleet::InstanceSummary>> FindInstance(std::string_view id) override {
    fleet::InstanceSummary s;
    s.instance_id = std::string(id);
    return std::optional<fleet::InstanceSummary>(s);
  }
  Result<std::vector<fleet::InstanceSummary>> ListInstances() override {
    return std::vector<fleet::InstanceSummary>{};
  }
};

class WindowsApiTest : public ::testing::Test {
 protected:
  WindowsApiTest()
      : clock_(*ParseIso8601("2026-03-01T10:00:00Z")),
        account_{"123456789012", "aws", "eu-west-1"},
        service_(store_, clock_, random_, account_, commands_, instances_),
        ops_(WindowOperations(service_, account_)) {
    caller_.account_id = account_.id;
    caller_.arn = "arn:aws:iam::123456789012:user/admin";
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
    JsonCall call{input, caller_, "req-1", "127.0.0.1", clock_.Now(), authorize_};
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
  iam::Account account_;
  NoCommands commands_;
  OneInstance instances_;
  windows::MaintenanceWindowService service_;
  std::vector<JsonOperation> ops_;
  iam::Principal caller_;
  CallAuthorizer authorize_ = [](std::string_view, std::string_view, const policy::Policy*) {
    return OkStatus();
  };
};

TEST_F(WindowsApiTest, RegistersTheOperations) {
  std::set<std::string> names;
  for (const auto& op : ops_) names.insert(op.name);
  const std::set<std::string> expected = {"CreateMaintenanceWindow",
                                          "GetMaintenanceWindow",
                                          "UpdateMaintenanceWindow",
                                          "DeleteMaintenanceWindow",
                                          "DescribeMaintenanceWindows",
                                          "RegisterTargetWithMaintenanceWindow",
                                          "UpdateMaintenanceWindowTarget",
                                          "DeregisterTargetFromMaintenanceWindow",
                                          "DescribeMaintenanceWindowTargets",
                                          "RegisterTaskWithMaintenanceWindow",
                                          "UpdateMaintenanceWindowTask",
                                          "DeregisterTaskFromMaintenanceWindow",
                                          "GetMaintenanceWindowTask",
                                          "DescribeMaintenanceWindowTasks",
                                          "DescribeMaintenanceWindowExecutions",
                                          "GetMaintenanceWindowExecution",
                                          "DescribeMaintenanceWindowExecutionTasks",
                                          "GetMaintenanceWindowExecutionTask",
                                          "DescribeMaintenanceWindowExecutionTaskInvocations",
                                          "DescribeMaintenanceWindowSchedule"};
  EXPECT_EQ(names, expected);
}

TEST_F(WindowsApiTest, WindowLifecycleShapes) {
  json created = Ok("CreateMaintenanceWindow", {{"Name", "nightly"},
                                                {"Schedule", "rate(1 hour)"},
                                                {"Duration", 2},
                                                {"Cutoff", 1},
                                                {"AllowUnassociatedTargets", false},
                                                {"Tags", {{{"Key", "team"}, {"Value", "ops"}}}}});
  const std::string id = created["WindowId"];
  EXPECT_EQ(Find("GetMaintenanceWindow").resource({{"WindowId", id}}, caller_),
            "arn:aws:ssm:eu-west-1:123456789012:maintenancewindow/" + id);
  json got = Ok("GetMaintenanceWindow", {{"WindowId", id}});
  EXPECT_EQ(got["Name"], "nightly");
  EXPECT_EQ(got["Duration"], 2);
  EXPECT_EQ(got["Cutoff"], 1);
  EXPECT_EQ(got["Enabled"], true);
  EXPECT_EQ(got["AllowUnassociatedTargets"], false);
  EXPECT_EQ(got["NextExecutionTime"], "2026-03-01T11:00Z");
  ASSERT_TRUE(got["CreatedDate"].is_number());

  json updated = Ok("UpdateMaintenanceWindow", {{"WindowId", id}, {"Enabled", false}});
  EXPECT_EQ(updated["Enabled"], false);
  EXPECT_EQ(updated["Schedule"], "rate(1 hour)");
  json listed =
      Ok("DescribeMaintenanceWindows", {{"Filters", {{{"Key", "Name"}, {"Values", {"nightly"}}}}}});
  ASSERT_EQ(listed["WindowIdentities"].size(), 1u);
  EXPECT_EQ(listed["WindowIdentities"][0]["WindowId"], id);
  EXPECT_EQ(Reason("DescribeMaintenanceWindows", {{"MaxResults", 5}}), "ValidationError");
  EXPECT_EQ(Ok("DeleteMaintenanceWindow", {{"WindowId", id}})["WindowId"], id);
  EXPECT_EQ(Reason("GetMaintenanceWindow", {{"WindowId", id}}), "DoesNotExistException");
}

TEST_F(WindowsApiTest, BadInputGetsModelErrors) {
  json base = {{"Name", "nightly"},
               {"Schedule", "cron(0 9 * * * *)"},
               {"Duration", 2},
               {"Cutoff", 0},
               {"AllowUnassociatedTargets", true}};
  EXPECT_EQ(Reason("CreateMaintenanceWindow", base), "ValidationException");
  base["Schedule"] = "rate(1 day)";
  base["Duration"] = "2";
  EXPECT_EQ(Reason("CreateMaintenanceWindow", base), "SerializationException");
  base.erase("Duration");
  EXPECT_EQ(Reason("CreateMaintenanceWindow", base), "ValidationError");
}

TEST_F(WindowsApiTest, TargetsTasksAndAnExecution) {
  const std::string id =
      Ok("CreateMaintenanceWindow", {{"Name", "nightly"},
                                     {"Schedule", "rate(1 hour)"},
                                     {"Duration", 2},
                                     {"Cutoff", 0},
                                     {"AllowUnassociatedTargets", false}})["WindowId"];
  const std::string target =
      Ok("RegisterTargetWithMaintenanceWindow",
         {{"WindowId", id},
          {"ResourceType", "INSTANCE"},
          {"Targets", {{{"Key", "InstanceIds"}, {"Values", {"mi-00000000000000001"}}}}},
          {"OwnerInformation", "ops"}})["WindowTargetId"];
  json targets = Ok("DescribeMaintenanceWindowTargets", {{"WindowId", id}});
  ASSERT_EQ(targets["Targets"].size(), 1u);
  EXPECT_EQ(targets["Targets"][0]["OwnerInformation"], "ops");
  EXPECT_EQ(targets["Targets"][0]["ResourceType"], "INSTANCE");

  json task_in = {
      {"WindowId", id},
      {"TaskArn", "AWS-RunShellScript"},
      {"TaskType", "RUN_COMMAND"},
      {"Targets", {{{"Key", "WindowTargetIds"}, {"Values", {target}}}}},
      {"Priority", 1},
      {"MaxConcurrency", "2"},
      {"MaxErrors", "1"},
      {"TaskInvocationParameters",
       {{"RunCommand", {{"Parameters", {{"commands", {"uptime"}}}}, {"TimeoutSeconds", 600}}}}}};
  const std::string task = Ok("RegisterTaskWithMaintenanceWindow", task_in)["WindowTaskId"];
  json got = Ok("GetMaintenanceWindowTask", {{"WindowId", id}, {"WindowTaskId", task}});
  EXPECT_EQ(got["TaskType"], "RUN_COMMAND");
  EXPECT_EQ(got["TaskInvocationParameters"]["RunCommand"]["Parameters"]["commands"][0], "uptime");
  EXPECT_EQ(got["MaxConcurrency"], "2");
  json described = Ok("DescribeMaintenanceWindowTasks", {{"WindowId", id}});
  ASSERT_EQ(described["Tasks"].size(), 1u);
  EXPECT_EQ(described["Tasks"][0]["Type"], "RUN_COMMAND");
  task_in["TaskType"] = "AUTOMATION";
  EXPECT_EQ(Reason("RegisterTaskWithMaintenanceWindow", task_in), "FeatureNotAvailableException");
  EXPECT_EQ(Reason("DeregisterTargetFromMaintenanceWindow",
                   {{"WindowId", id}, {"WindowTargetId", target}, {"Safe", true}}),
            "TargetInUseException");

  clock_.Advance(std::chrono::hours(1));
  ASSERT_TRUE(service_.Tick(clock_.Now()).has_value());
  ASSERT_TRUE(service_.Tick(clock_.Now()).has_value());
  EXPECT_EQ(commands_.sent, 1);
  json execs = Ok("DescribeMaintenanceWindowExecutions", {{"WindowId", id}});
  ASSERT_EQ(execs["WindowExecutions"].size(), 1u);
  EXPECT_EQ(execs["WindowExecutions"][0]["Status"], "SUCCESS");
  const std::string exec = execs["WindowExecutions"][0]["WindowExecutionId"];
  json e = Ok("GetMaintenanceWindowExecution", {{"WindowExecutionId", exec}});
  ASSERT_EQ(e["TaskIds"].size(), 1u);
  const std::string te = e["TaskIds"][0];
  json tasks = Ok("DescribeMaintenanceWindowExecutionTasks", {{"WindowExecutionId", exec}});
  EXPECT_EQ(tasks["WindowExecutionTaskIdentities"][0]["TaskArn"], "AWS-RunShellScript");
  json t = Ok("GetMaintenanceWindowExecutionTask", {{"WindowExecutionId", exec}, {"TaskId", te}});
  EXPECT_EQ(t["Type"], "RUN_COMMAND");
  EXPECT_EQ(t["MaxErrors"], "1");
  json inv = Ok("DescribeMaintenanceWindowExecutionTaskInvocations",
                {{"WindowExecutionId", exec}, {"TaskId", te}});
  ASSERT_EQ(inv["WindowExecutionTaskInvocationIdentities"].size(), 1u);
  EXPECT_EQ(inv["WindowExecutionTaskInvocationIdentities"][0]["ExecutionId"], "cmd-1");
  EXPECT_EQ(inv["WindowExecutionTaskInvocationIdentities"][0]["WindowTargetId"], target);
  json sched = Ok("DescribeMaintenanceWindowSchedule", {{"WindowId", id}, {"MaxResults", 2}});
  ASSERT_EQ(sched["ScheduledWindowExecutions"].size(), 2u);
  EXPECT_EQ(sched["ScheduledWindowExecutions"][0]["ExecutionTime"], "2026-03-01T12:00Z");
  EXPECT_TRUE(sched.contains("NextToken"));
}

}  // namespace
}  // namespace kw::api
