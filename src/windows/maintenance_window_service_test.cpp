#include "windows/maintenance_window_service.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <memory>

#include "common/time_format.hpp"
#include "crypto/csprng.hpp"
#include "store/memory/memory_kv_store.hpp"

namespace kw::windows {
namespace {

using std::chrono::hours;
using std::chrono::minutes;

class FakeSender : public commands::CommandSender {
 public:
  Result<std::string> SendCommand(const commands::SendCommandRequest& r, TimePoint) override {
    if (on_send) on_send();
    if (fail) return InvalidArgument("no such document", "InvalidDocument");
    sent.push_back(r);
    const std::string id = "cmd-" + std::to_string(sent.size());
    status[id] = "InProgress";
    return id;
  }
  Result<commands::CommandStatusSummary> CommandStatus(std::string_view id) override {
    auto it = status.find(std::string(id));
    if (it == status.end()) return NotFound("no command", "InvalidCommandId");
    commands::CommandStatusSummary s;
    s.command_id = it->first;
    s.status = it->second;
    s.target_count = 1;
    return s;
  }
  std::vector<commands::SendCommandRequest> sent;
  std::map<std::string, std::string> status;
  bool fail = false;
  std::function<void()> on_send;
};

class FakeDirectory : public fleet::InstanceDirectory {
 public:
  Result<std::optional<fleet::InstanceSummary>> FindInstance(std::string_view id) override {
    for (const auto& i : instances) {
      if (i.instance_id == id) return std::optional<fleet::InstanceSummary>(i);
    }
    return std::optional<fleet::InstanceSummary>();
  }
  Result<std::vector<fleet::InstanceSummary>> ListInstances() override { return instances; }
  std::vector<fleet::InstanceSummary> instances;
};

class WindowsTest : public ::testing::Test {
 protected:
  WindowsTest() : clock_(*ParseIso8601("2026-03-01T10:00:00Z")), account_{"123456789012"} {
    directory_.instances = {
        {"mi-00000000000000001", "Online", "Linux", "", "", "", "", {{"env", "prod"}}},
        {"mi-00000000000000002", "Online", "Linux", "", "", "", "", {{"env", "dev"}}},
        {"mi-00000000000000003", "Online", "Linux", "", "", "", "", {{"env", "prod"}}}};
    service_ = NewService();
  }

  std::unique_ptr<MaintenanceWindowService> NewService() {
    return std::make_unique<MaintenanceWindowService>(store_, clock_, random_, account_, sender_,
                                                      directory_);
  }

  std::string Create(const std::string& schedule, int duration = 2, int cutoff = 0,
                     std::optional<std::string> tz = std::nullopt) {
    CreateWindowRequest r;
    r.window.name = "patch-window";
    r.window.schedule = schedule;
    r.window.duration = duration;
    r.window.cutoff = cutoff;
    r.window.schedule_timezone = tz;
    auto id = service_->CreateMaintenanceWindow(r);
    EXPECT_TRUE(id.has_value()) << (id ? "" : id.error().message);
    return id ? *id : "";
  }

  std::string AddTarget(const std::string& window, const std::string& key,
                        std::vector<std::string> values) {
    RegisterTargetRequest r;
    r.target.window_id = window;
    r.target.targets = {{key, std::move(values)}};
    auto id = service_->RegisterTarget(r);
    EXPECT_TRUE(id.has_value()) << (id ? "" : id.error().message);
    return id ? *id : "";
  }

  std::string AddTask(const std::string& window, const std::string& target, int priority,
                      const std::string& doc = "AWS-RunShellScript") {
    RegisterTaskRequest r;
    r.task.window_id = window;
    r.task.task_arn = doc;
    r.task.targets = {{"WindowTargetIds", {target}}};
    r.task.priority = priority;
    r.task.run_command = RunCommandParameters{{{"commands", {"echo hi"}}}, "nightly", 600, {}};
    auto id = service_->RegisterTask(r);
    EXPECT_TRUE(id.has_value()) << (id ? "" : id.error().message);
    return id ? *id : "";
  }

  std::vector<Execution> Executions(const std::string& window) {
    auto page = service_->DescribeExecutions(window, {});
    EXPECT_TRUE(page.has_value());
    return page ? page->items : std::vector<Execution>{};
  }

  void TickAt(TimePoint t) {
    clock_.Set(t);
    auto st = service_->Tick(t);
    EXPECT_TRUE(st.has_value()) << (st ? "" : st.error().message);
  }

  crypto::Csprng random_;
  FakeClock clock_;
  store::MemoryKvStore store_;
  iam::Account account_;
  FakeSender sender_;
  FakeDirectory directory_;
  std::unique_ptr<MaintenanceWindowService> service_;
};

TEST_F(WindowsTest, CreateValidatesWithModelErrors) {
  CreateWindowRequest r;
  r.window.name = "w1";
  r.window.schedule = "rate(1 hour)";
  r.window.duration = 2;
  EXPECT_EQ(service_->CreateMaintenanceWindow(r).error().reason, "ValidationException");  // name
  r.window.name = "win";
  r.window.schedule = "cron(0 9 * * * *)";
  auto bad = service_->CreateMaintenanceWindow(r);
  EXPECT_EQ(bad.error().reason, "ValidationException");
  EXPECT_NE(bad.error().message.find("schedule"), std::string::npos);
  r.window.schedule = "rate(1 hour)";
  r.window.cutoff = 2;
  EXPECT_EQ(service_->CreateMaintenanceWindow(r).error().reason, "ValidationException");
  r.window.cutoff = 1;
  r.window.schedule_timezone = "Mars/Base";
  EXPECT_EQ(service_->CreateMaintenanceWindow(r).error().reason, "ValidationException");
  r.window.schedule_timezone.reset();
  r.window.schedule_offset = 2;  // cron only
  EXPECT_EQ(service_->CreateMaintenanceWindow(r).error().reason, "ValidationException");
  r.window.schedule_offset.reset();
  r.window.duration = 25;
  EXPECT_EQ(service_->CreateMaintenanceWindow(r).error().reason, "ValidationException");
  r.window.duration = 2;
  auto id = service_->CreateMaintenanceWindow(r);
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->size(), 20u);
  EXPECT_EQ(id->rfind("mw-", 0), 0u);
  EXPECT_EQ(service_->GetMaintenanceWindow("mw-0123456789abcdef0").error().reason,
            "DoesNotExistException");
}

TEST_F(WindowsTest, ClientTokenIsIdempotent) {
  CreateWindowRequest r;
  r.window.name = "win";
  r.window.schedule = "rate(1 hour)";
  r.window.duration = 2;
  r.client_token = "tok-1";
  auto a = service_->CreateMaintenanceWindow(r);
  auto b = service_->CreateMaintenanceWindow(r);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, *b);
  r.window.duration = 3;
  EXPECT_EQ(service_->CreateMaintenanceWindow(r).error().reason, "IdempotentParameterMismatch");
  EXPECT_EQ(service_->DescribeMaintenanceWindows({})->items.size(), 1u);
}

TEST_F(WindowsTest, NextExecutionTimeInZoneAndFilters) {
  const std::string id = Create("cron(0 9 ? * MON *)", 2, 0, "America/New_York");
  auto w = service_->GetMaintenanceWindow(id);
  ASSERT_TRUE(w.has_value());
  // 2026-03-02 is a Monday, still EST.
  EXPECT_EQ(w->next_execution_time.value_or(""), "2026-03-02T09:00-05:00");
  const std::string tokyo = Create("cron(0 9 * * ? *)", 2, 0, "Asia/Tokyo");
  EXPECT_EQ(service_->GetMaintenanceWindow(tokyo)->next_execution_time.value_or(""),
            "2026-03-02T09:00+09:00");
  UpdateWindowRequest u;
  u.window_id = tokyo;
  u.enabled = false;
  auto updated = service_->UpdateMaintenanceWindow(u);
  ASSERT_TRUE(updated.has_value());
  EXPECT_FALSE(updated->enabled);
  EXPECT_FALSE(updated->next_execution_time.has_value());
  PageRequest p;
  p.filters = {{"Enabled", {"true"}}};
  auto page = service_->DescribeMaintenanceWindows(p);
  ASSERT_EQ(page->items.size(), 1u);
  EXPECT_EQ(page->items[0].window_id, id);
  p.filters = {{"Bogus", {"x"}}};
  EXPECT_EQ(service_->DescribeMaintenanceWindows(p).error().reason, "ValidationException");
}

TEST_F(WindowsTest, PaginatesWindows) {
  for (int i = 0; i < 12; ++i) Create("rate(1 day)");
  PageRequest p;
  p.max_results = 10;
  auto first = service_->DescribeMaintenanceWindows(p);
  ASSERT_EQ(first->items.size(), 10u);
  ASSERT_FALSE(first->next_token.empty());
  p.next_token = first->next_token;
  auto second = service_->DescribeMaintenanceWindows(p);
  EXPECT_EQ(second->items.size(), 2u);
  EXPECT_TRUE(second->next_token.empty());
}

TEST_F(WindowsTest, RateWindowRunsOneIntervalAfterCreationAndRecordsStatus) {
  const TimePoint created = clock_.Now();
  const std::string w = Create("rate(30 minutes)");
  const std::string target = AddTarget(w, "tag:env", {"prod"});
  AddTask(w, target, 1);
  EXPECT_EQ(service_->GetMaintenanceWindow(w)->next_execution_time.value_or(""),
            "2026-03-01T10:30Z");
  TickAt(created + minutes(29));
  EXPECT_TRUE(Executions(w).empty());
  EXPECT_TRUE(sender_.sent.empty());

  TickAt(created + minutes(30));
  auto execs = Executions(w);
  ASSERT_EQ(execs.size(), 1u);
  EXPECT_EQ(execs[0].status, "IN_PROGRESS");
  ASSERT_EQ(sender_.sent.size(), 1u);
  const auto& req = sender_.sent[0];
  EXPECT_EQ(req.document_name, "AWS-RunShellScript");
  EXPECT_EQ(req.instance_ids,
            (std::vector<std::string>{"mi-00000000000000001", "mi-00000000000000003"}));
  EXPECT_EQ(req.parameters.at("commands"), std::vector<std::string>{"echo hi"});
  EXPECT_EQ(req.comment, "nightly");
  EXPECT_EQ(req.window_execution_id, execs[0].window_execution_id);

  sender_.status["cmd-1"] = "Success";
  TickAt(created + minutes(31));
  auto done = service_->GetExecution(execs[0].window_execution_id);
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->status, "SUCCESS");
  ASSERT_TRUE(done->end.has_value());
  ASSERT_EQ(done->task_execution_ids.size(), 1u);
  auto task = service_->GetExecutionTask(done->window_execution_id, done->task_execution_ids[0]);
  ASSERT_TRUE(task.has_value());
  EXPECT_EQ(task->status, "SUCCESS");
  EXPECT_EQ(task->command_id, "cmd-1");
  auto inv = service_->DescribeExecutionTaskInvocations(done->window_execution_id,
                                                        task->task_execution_id, {});
  ASSERT_EQ(inv->items.size(), 1u);
  EXPECT_EQ(inv->items[0].command_id, "cmd-1");
  EXPECT_EQ(service_->GetMaintenanceWindow(w)->next_execution_time.value_or(""),
            "2026-03-01T11:00Z");
}

TEST_F(WindowsTest, RestartNeitherRunsTwiceNorSkips) {
  const TimePoint created = clock_.Now();
  const std::string w = Create("rate(1 hour)");
  AddTask(w, AddTarget(w, "InstanceIds", {"mi-00000000000000002"}), 1);
  TickAt(created + hours(1));
  ASSERT_EQ(sender_.sent.size(), 1u);
  // A new process over the same store, ticking at the same instant: nothing new.
  service_ = NewService();
  TickAt(created + hours(1) + std::chrono::seconds(1));
  EXPECT_EQ(sender_.sent.size(), 1u);
  EXPECT_EQ(Executions(w).size(), 1u);
  sender_.status["cmd-1"] = "Success";
  // The restarted one runs the next slot exactly once.
  TickAt(created + hours(2));
  auto other = NewService();
  ASSERT_TRUE(other->Tick(created + hours(2)).has_value());
  EXPECT_EQ(sender_.sent.size(), 2u);
  EXPECT_EQ(Executions(w).size(), 2u);
}

TEST_F(WindowsTest, CatchUpRunsOnlyTheLatestMissedSlotWithinDuration) {
  const TimePoint created = clock_.Now();
  const std::string w = Create("rate(1 hour)", 2);
  AddTask(w, AddTarget(w, "InstanceIds", {"mi-00000000000000001"}), 1);
  // Down from before the first slot (11:00) until 15:30: slots 11..15 were missed; 15:00
  // is within its 2-hour duration, so it runs once.
  service_ = NewService();
  TickAt(created + hours(5) + minutes(30));
  auto execs = Executions(w);
  ASSERT_EQ(execs.size(), 1u);
  EXPECT_EQ(execs[0].status, "IN_PROGRESS");
  EXPECT_EQ(FormatIso8601(execs[0].scheduled), "2026-03-01T15:00:00Z");
  EXPECT_NE(execs[0].status_details.find("4 earlier slot(s)"), std::string::npos);
  EXPECT_EQ(sender_.sent.size(), 1u);
  EXPECT_EQ(service_->GetMaintenanceWindow(w)->next_execution_time.value_or(""),
            "2026-03-01T16:00Z");
}

TEST_F(WindowsTest, CatchUpPastDurationIsRecordedNotRun) {
  const TimePoint created = clock_.Now();  // 10:00
  const std::string w = Create("cron(0 12 * * ? *)", 1);
  AddTask(w, AddTarget(w, "InstanceIds", {"mi-00000000000000001"}), 1);
  service_ = NewService();
  TickAt(created + hours(4));  // 14:00: the 12:00 slot's hour is over
  auto execs = Executions(w);
  ASSERT_EQ(execs.size(), 1u);
  EXPECT_EQ(execs[0].status, "CANCELLED");
  EXPECT_NE(execs[0].status_details.find("not running"), std::string::npos);
  EXPECT_TRUE(sender_.sent.empty());
  EXPECT_EQ(service_->GetMaintenanceWindow(w)->next_execution_time.value_or(""),
            "2026-03-02T12:00Z");
}

TEST_F(WindowsTest, PrioritiesRunInOrderAndCutoffCancelsTheRest) {
  const TimePoint created = clock_.Now();
  const std::string w = Create("rate(1 hour)", 3, 1);
  const std::string t = AddTarget(w, "InstanceIds", {"mi-00000000000000001"});
  AddTask(w, t, 2, "second-doc");
  AddTask(w, t, 1, "first-doc");
  AddTask(w, t, 3, "third-doc");
  const TimePoint slot = created + hours(1);
  TickAt(slot);
  ASSERT_EQ(sender_.sent.size(), 1u);
  EXPECT_EQ(sender_.sent[0].document_name, "first-doc");
  TickAt(slot + minutes(1));
  EXPECT_EQ(sender_.sent.size(), 1u);  // first still running
  sender_.status["cmd-1"] = "Success";
  TickAt(slot + minutes(2));
  ASSERT_EQ(sender_.sent.size(), 2u);
  EXPECT_EQ(sender_.sent[1].document_name, "second-doc");
  // The second outlives the cutoff (slot + 2h): the third never starts; at the end of
  // the window (slot + 3h) the second times out.
  TickAt(slot + hours(2) + minutes(1));
  EXPECT_EQ(sender_.sent.size(), 2u);
  TickAt(slot + hours(3));
  auto execs = Executions(w);
  ASSERT_GE(execs.size(), 1u);
  const Execution& e = execs.back();
  EXPECT_EQ(e.status, "TIMED_OUT");
  auto tasks = service_->DescribeExecutionTasks(e.window_execution_id, {});
  ASSERT_EQ(tasks->items.size(), 3u);
  std::map<std::string, std::string> by_doc;
  for (const auto& te : tasks->items) by_doc[te.task_arn] = te.status;
  EXPECT_EQ(by_doc["first-doc"], "SUCCESS");
  EXPECT_EQ(by_doc["second-doc"], "TIMED_OUT");
  EXPECT_EQ(by_doc["third-doc"], "CANCELLED");
}

TEST_F(WindowsTest, OverlappingSlotIsSkipped) {
  const TimePoint created = clock_.Now();
  const std::string w = Create("rate(1 hour)", 2);
  AddTask(w, AddTarget(w, "InstanceIds", {"mi-00000000000000001"}), 1);
  TickAt(created + hours(1));
  TickAt(created + hours(2));  // the first is still running
  auto execs = Executions(w);
  ASSERT_EQ(execs.size(), 2u);
  EXPECT_EQ(execs[0].status, "SKIPPED_OVERLAPPING");  // newest first
  EXPECT_EQ(execs[1].status, "IN_PROGRESS");
  EXPECT_EQ(sender_.sent.size(), 1u);
}

TEST_F(WindowsTest, FailedSendAndEmptyTargetsFailTheTask) {
  const TimePoint created = clock_.Now();
  const std::string w = Create("rate(1 hour)", 2);
  AddTask(w, AddTarget(w, "tag:env", {"staging"}), 1);
  TickAt(created + hours(1));
  auto execs = Executions(w);
  ASSERT_EQ(execs.size(), 1u);
  EXPECT_EQ(execs[0].status, "FAILED");
  auto tasks = service_->DescribeExecutionTasks(execs[0].window_execution_id, {});
  EXPECT_NE(tasks->items[0].status_details.find("No registered instance"), std::string::npos);
}

TEST_F(WindowsTest, TargetsAndTasksRules) {
  const std::string w = Create("rate(1 day)");
  const std::string t = AddTarget(w, "InstanceIds", {"mi-00000000000000001"});
  const std::string task = AddTask(w, t, 1);
  EXPECT_EQ(service_->DeregisterTarget(w, t, true).error().reason, "TargetInUseException");
  RegisterTaskRequest auto_task;
  auto_task.task.window_id = w;
  auto_task.task.task_arn = "arn:aws:lambda:us-east-1:123456789012:function:f";
  auto_task.task.task_type = "LAMBDA";
  auto_task.task.targets = {{"WindowTargetIds", {t}}};
  EXPECT_EQ(service_->RegisterTask(auto_task).error().reason, "FeatureNotAvailableException");
  auto_task.task.task_type = "RUN_COMMAND";
  auto_task.task.targets = {{"WindowTargetIds", {"00000000-0000-4000-8000-000000000000"}}};
  EXPECT_EQ(service_->RegisterTask(auto_task).error().reason, "DoesNotExistException");
  auto_task.task.targets = {{"InstanceIds", {"mi-00000000000000001"}}};  // not allowed
  EXPECT_EQ(service_->RegisterTask(auto_task).error().reason, "ValidationException");

  UpdateTaskRequest u;
  u.window_id = w;
  u.window_task_id = task;
  u.priority = 5;
  auto updated = service_->UpdateTask(u);
  ASSERT_TRUE(updated.has_value());
  EXPECT_EQ(updated->priority, 5);
  EXPECT_EQ(updated->task_arn, "AWS-RunShellScript");
  EXPECT_EQ(service_->GetTask(w, task)->priority, 5);
  ASSERT_TRUE(service_->DeregisterTask(w, task).has_value());
  EXPECT_EQ(service_->GetTask(w, task).error().reason, "DoesNotExistException");
  ASSERT_TRUE(service_->DeregisterTarget(w, t, true).has_value());
  EXPECT_TRUE(service_->DescribeTargets(w, {})->items.empty());
  ASSERT_TRUE(service_->DeleteMaintenanceWindow(w).has_value());
  EXPECT_EQ(service_->GetMaintenanceWindow(w).error().reason, "DoesNotExistException");
}

TEST_F(WindowsTest, DescribeScheduleListsUpcomingSlots) {
  const std::string w = Create("cron(0 9 * * ? *)", 2, 0, "Asia/Tokyo");
  AddTarget(w, "InstanceIds", {"mi-00000000000000001"});
  ScheduleRequest r;
  r.window_id = w;
  r.max_results = 3;
  auto page = service_->DescribeSchedule(r);
  ASSERT_TRUE(page.has_value());
  ASSERT_EQ(page->items.size(), 3u);
  EXPECT_EQ(page->items[0].execution_time, "2026-03-02T09:00+09:00");
  EXPECT_EQ(page->items[2].execution_time, "2026-03-04T09:00+09:00");
  EXPECT_FALSE(page->next_token.empty());
  ScheduleRequest by_target;
  by_target.targets = {{"InstanceIds", {"mi-00000000000000001"}}};
  auto found = service_->DescribeSchedule(by_target);
  ASSERT_TRUE(found.has_value());
  ASSERT_FALSE(found->items.empty());
  EXPECT_EQ(found->items[0].window_id, w);
}

TEST_F(WindowsTest, CrashWhileSendingNeverSendsTwice) {
  const TimePoint created = clock_.Now();
  const std::string w = Create("rate(1 hour)", 2);
  AddTask(w, AddTarget(w, "InstanceIds", {"mi-00000000000000001"}), 1);
  // The intent is on disk before the command is sent; keep that state as a crash would.
  std::vector<store::Item> at_send;
  sender_.on_send = [&] { at_send = *store_.List("mw_exec_tasks", {}); };
  TickAt(created + hours(1));
  ASSERT_EQ(sender_.sent.size(), 1u);
  ASSERT_EQ(at_send.size(), 1u);
  EXPECT_NE(at_send[0].value.find("\"SENDING\""), std::string::npos);
  ASSERT_TRUE(store_
                  .Transact([&](store::Txn& txn) -> Status {
                    return txn.Put("mw_exec_tasks", at_send[0].key, at_send[0].value).has_value()
                               ? OkStatus()
                               : Status(Internal("put"));
                  })
                  .has_value());
  service_ = NewService();
  TickAt(created + hours(1) + minutes(2));
  EXPECT_EQ(sender_.sent.size(), 1u);
  auto execs = Executions(w);
  ASSERT_EQ(execs.size(), 1u);
  EXPECT_EQ(execs[0].status, "FAILED");
  auto tasks = service_->DescribeExecutionTasks(execs[0].window_execution_id, {});
  EXPECT_NE(tasks->items[0].status_details.find("Interrupted"), std::string::npos);
}

TEST_F(WindowsTest, TagsAddReplaceRemoveAndKeepTheSchedule) {
  CreateWindowRequest r;
  r.window.name = "tagged";
  r.window.schedule = "rate(1 hour)";
  r.window.duration = 2;
  r.window.tags = {{"team", "blue"}};
  auto created = service_->CreateMaintenanceWindow(r);
  ASSERT_TRUE(created.has_value());
  const std::string id = *created;
  auto reason = [](const Status& s) { return s ? std::string("OK") : s.error().reason; };
  auto before = service_->GetMaintenanceWindow(id);
  ASSERT_TRUE(before.has_value());

  auto tags = service_->ListTags(id);
  ASSERT_TRUE(tags.has_value());
  ASSERT_EQ(tags->size(), 1u);  // CreateMaintenanceWindow's tags are readable
  EXPECT_EQ((*tags)[0].value, "blue");
  EXPECT_EQ(reason(service_->AddTags(id, {{"team", "red"}, {"tier", "web"}})), "OK");
  EXPECT_EQ(reason(service_->RemoveTags(id, {"tier"})), "OK");
  tags = NewService()->ListTags(id);
  ASSERT_TRUE(tags.has_value());
  ASSERT_EQ(tags->size(), 1u);
  EXPECT_EQ((*tags)[0].key, "team");
  EXPECT_EQ((*tags)[0].value, "red");

  std::vector<Tag> many;
  for (int i = 0; i < 50; ++i) many.push_back({"k" + std::to_string(i), "v"});
  EXPECT_EQ(reason(service_->AddTags(id, many)), "TooManyTagsError");
  EXPECT_EQ(service_->ListTags(id)->size(), 1u);

  auto after = service_->GetMaintenanceWindow(id);
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->next_execution_time, before->next_execution_time);
  EXPECT_EQ(after->schedule, "rate(1 hour)");

  EXPECT_EQ(reason(service_->AddTags("mw-00000000000000000", {{"a", "b"}})), "InvalidResourceId");
  EXPECT_EQ(service_->ListTags("mw-00000000000000000").error().reason, "InvalidResourceId");
}

}  // namespace
}  // namespace kw::windows
