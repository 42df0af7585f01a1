#include "commands/command_service.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>

#include "commands/limits.hpp"
#include "common/time_format.hpp"
#include "crypto/csprng.hpp"
#include "store/memory/memory_kv_store.hpp"

namespace kw::commands {
namespace {

class FakeResolver final : public DocumentResolver {
 public:
  Result<ResolvedDocument> Resolve(std::string_view name, const std::optional<std::string>& version,
                                   const std::map<std::string, std::vector<std::string>>& params,
                                   std::string_view platform_type) override {
    platforms.push_back(std::string(platform_type));
    if (name != "AWS-RunShellScript" && name != "TwoSteps") {
      return InvalidArgument("The document does not exist.", "InvalidDocument");
    }
    if (version && *version == "9") {
      return InvalidArgument("No such version.", "InvalidDocumentVersion");
    }
    auto it = params.find("commands");
    if (it == params.end() || it->second.empty()) {
      return InvalidArgument("commands is required.", "InvalidParameters");
    }
    ResolvedDocument d;
    d.name = std::string(name);
    d.document_version = "1";
    d.document_hash = "abc";
    d.platform_types = {"Linux"};
    agentproto::Step s;
    s.name = "runShellScript";
    s.action = "aws:runShellScript";
    s.run_command = it->second;
    s.timeout_seconds = 600;
    d.steps.push_back(s);
    if (name == "TwoSteps") {
      s.name = "second";
      d.steps.push_back(s);
    }
    return d;
  }
  std::vector<std::string> platforms;
};

class FakeDirectory final : public fleet::InstanceDirectory {
 public:
  void Add(std::string id, std::map<std::string, std::string> tags = {},
           std::string platform = "Linux") {
    fleet::InstanceSummary s;
    s.instance_id = std::move(id);
    s.platform_type = std::move(platform);
    s.computer_name = "host-" + s.instance_id.substr(s.instance_id.size() - 3);
    s.tags = std::move(tags);
    instances[s.instance_id] = s;
  }
  Result<std::optional<fleet::InstanceSummary>> FindInstance(std::string_view id) override {
    auto it = instances.find(std::string(id));
    if (it == instances.end()) return std::optional<fleet::InstanceSummary>();
    return std::optional<fleet::InstanceSummary>(it->second);
  }
  Result<std::vector<fleet::InstanceSummary>> ListInstances() override {
    std::vector<fleet::InstanceSummary> v;
    for (const auto& [id, s] : instances) v.push_back(s);
    return v;
  }
  std::map<std::string, fleet::InstanceSummary> instances;
};

class RecordingNotifier final : public DeliveryNotifier {
 public:
  void WorkPending(std::string_view id) override {
    std::lock_guard<std::mutex> lock(mu);
    told.push_back(std::string(id));
  }
  std::vector<std::string> Take() {
    std::lock_guard<std::mutex> lock(mu);
    auto v = std::move(told);
    told.clear();
    return v;
  }
  std::mutex mu;
  std::vector<std::string> told;
};

std::string Mi(int n) {
  std::string s = std::to_string(n);
  return "mi-" + std::string(17 - s.size(), '0') + s;
}

class CommandServiceTest : public ::testing::Test {
 protected:
  CommandServiceTest() : clock_(*ParseIso8601("2026-03-01T10:00:00Z")) {
    for (int i = 1; i <= 5; ++i) dir_.Add(Mi(i), {{"Env", i <= 3 ? "prod" : "dev"}});
    Reset();
  }
  void Reset() {
    svc_ = std::make_unique<CommandService>(store_, clock_, random_, account_, docs_, dir_);
    svc_->SetNotifier(&notifier_);
  }

  SendCommandRequest Request(std::vector<std::string> ids) {
    SendCommandRequest r;
    r.instance_ids = std::move(ids);
    r.document_name = "AWS-RunShellScript";
    r.parameters["commands"] = {"echo hi"};
    return r;
  }
  std::string Send(const SendCommandRequest& r) {
    auto id = svc_->SendCommand(r, clock_.Now());
    EXPECT_TRUE(id.has_value()) << (id ? "" : id.error().reason + " " + id.error().message);
    return id ? *id : "";
  }
  std::string Reason(const Result<std::string>& r) { return r ? "OK" : r.error().reason; }
  std::string Reason(const Status& r) { return r ? "OK" : r.error().reason; }

  std::vector<std::string> Deliverable(const std::string& instance) {
    auto w = svc_->PendingWork(instance, clock_.Now());
    EXPECT_TRUE(w.has_value());
    std::vector<std::string> ids;
    if (w) {
      for (const auto& c : w->commands) ids.push_back(c.command_id);
    }
    return ids;
  }
  void Finish(const std::string& instance, const std::string& cmd, const std::string& status,
              std::string out = "out", int rc = 0) {
    agentproto::ResultMessage r;
    r.command_id = cmd;
    r.status = status;
    r.response_code = rc;
    agentproto::StepResult s;
    s.name = "runShellScript";
    s.status = status;
    s.response_code = rc;
    s.standard_output = std::move(out);
    s.standard_error = "warn";
    s.started_at = 1772359200000;
    s.ended_at = 1772359201500;
    r.steps.push_back(s);
    ASSERT_TRUE(svc_->Complete(instance, r, clock_.Now()).has_value());
  }
  CommandInfo Get(const std::string& id) {
    auto c = svc_->GetCommand(id);
    EXPECT_TRUE(c.has_value());
    return c ? *c : CommandInfo{};
  }

  crypto::Csprng random_;
  FakeClock clock_;
  store::MemoryKvStore store_;
  iam::Account account_{"123456789012"};
  FakeResolver docs_;
  FakeDirectory dir_;
  RecordingNotifier notifier_;
  std::unique_ptr<CommandService> svc_;
};

TEST(LimitsTest, PatternsFollowTheModel) {
  for (const char* ok : {"1", "50", "1234567", "1%", "10%", "99%", "100%"}) {
    EXPECT_TRUE(ValidateMaxConcurrency(ok).has_value()) << ok;
  }
  for (const char* bad : {"0", "0%", "01", "101%", "100%%", "12345678", "", "5x", "05%"}) {
    EXPECT_FALSE(ValidateMaxConcurrency(bad).has_value()) << bad;
  }
  for (const char* ok : {"0", "0%", "5%", "10", "100%"}) {
    EXPECT_TRUE(ValidateMaxErrors(ok).has_value()) << ok;
  }
  for (const char* bad : {"00", "-1", "200%", "1.5"}) {
    EXPECT_FALSE(ValidateMaxErrors(bad).has_value()) << bad;
  }
  EXPECT_EQ(ConcurrencyLimit("10%", 5), 1);
  EXPECT_EQ(ConcurrencyLimit("50%", 5), 3);
  EXPECT_EQ(ConcurrencyLimit("7", 5), 7);
  EXPECT_EQ(ErrorLimit("10%", 50), 5);
  EXPECT_EQ(ErrorLimit("10%", 5), 0);
  EXPECT_EQ(ErrorLimit("3", 5), 3);
}

TEST_F(CommandServiceTest, SendPersistsPendingInvocationsAndNotifies) {
  const std::string id = Send(Request({Mi(1), Mi(2)}));
  EXPECT_EQ(id.size(), 36u);
  EXPECT_EQ(id[14], '4');
  auto told = notifier_.Take();
  std::sort(told.begin(), told.end());
  EXPECT_EQ(told, (std::vector<std::string>{Mi(1), Mi(2)}));
  const CommandInfo c = Get(id);
  EXPECT_EQ(c.status, "Pending");
  EXPECT_EQ(c.target_count, 2);
  EXPECT_EQ(c.document_version, "1");
  EXPECT_EQ(c.timeout_seconds, 3600);
  // Delivery deadline plus the step's 600 s.
  EXPECT_EQ(c.expires_after - c.requested, std::chrono::seconds(3600 + 600));
  EXPECT_EQ(Deliverable(Mi(1)), std::vector<std::string>{id});
  EXPECT_TRUE(Deliverable(Mi(3)).empty());

  // Persisted: a fresh service over the same store delivers it too.
  Reset();
  EXPECT_EQ(Deliverable(Mi(2)), std::vector<std::string>{id});
}

TEST_F(CommandServiceTest, SendValidatesInput) {
  EXPECT_EQ(Reason(svc_->SendCommand(Request({Mi(1), Mi(1)}), clock_.Now())),
            "DuplicateInstanceId");
  EXPECT_EQ(Reason(svc_->SendCommand(Request({Mi(9)}), clock_.Now())), "InvalidInstanceId");
  EXPECT_EQ(Reason(svc_->SendCommand(Request({"i-bad"}), clock_.Now())), "InvalidInstanceId");
  EXPECT_EQ(Reason(svc_->SendCommand(Request({}), clock_.Now())), "InvalidParameters");
  auto both = Request({Mi(1)});
  both.targets.push_back({"tag:Env", {"prod"}});
  EXPECT_EQ(Reason(svc_->SendCommand(both, clock_.Now())), "InvalidParameters");
  auto r = Request({Mi(1)});
  r.timeout_seconds = 29;
  EXPECT_EQ(Reason(svc_->SendCommand(r, clock_.Now())), "ValidationError");
  r.timeout_seconds = 2592001;
  EXPECT_EQ(Reason(svc_->SendCommand(r, clock_.Now())), "ValidationError");
  r = Request({Mi(1)});
  r.comment = std::string(101, 'x');
  EXPECT_EQ(Reason(svc_->SendCommand(r, clock_.Now())), "ValidationError");
  r = Request({Mi(1)});
  r.max_concurrency = "0";
  EXPECT_EQ(Reason(svc_->SendCommand(r, clock_.Now())), "ValidationError");
  r = Request({Mi(1)});
  r.max_errors = "101%";
  EXPECT_EQ(Reason(svc_->SendCommand(r, clock_.Now())), "ValidationError");
  r = Request({Mi(1)});
  r.document_name = "No Such";
  EXPECT_EQ(Reason(svc_->SendCommand(r, clock_.Now())), "ValidationError");
  r.document_name = "Unknown";
  EXPECT_EQ(Reason(svc_->SendCommand(r, clock_.Now())), "InvalidDocument");
  r = Request({Mi(1)});
  r.parameters.clear();
  EXPECT_EQ(Reason(svc_->SendCommand(r, clock_.Now())), "InvalidParameters");
  std::vector<std::string> many;
  for (int i = 0; i < 51; ++i) many.push_back(Mi(100 + i));
  EXPECT_EQ(Reason(svc_->SendCommand(Request(many), clock_.Now())), "ValidationError");
  // Nothing was stored by the refusals.
  auto page = svc_->ListCommands({});
  ASSERT_TRUE(page.has_value());
  EXPECT_TRUE(page->commands.empty());
}

TEST_F(CommandServiceTest, TargetsByTagAndAuthorizer) {
  SendCommandRequest r = Request({});
  r.targets.push_back({"tag:Env", {"prod"}});
  const std::string id = Send(r);
  EXPECT_EQ(Get(id).target_count, 3);
  r.targets.push_back({"InstanceIds", {Mi(2), Mi(4)}});  // AND: prod and listed
  EXPECT_EQ(Get(Send(r)).target_count, 1);
  r.targets = {{"tag-key", {"Env"}}};
  EXPECT_EQ(Get(Send(r)).target_count, 5);
  r.targets = {{"InstanceIds", {"*"}}};  // every managed instance
  EXPECT_EQ(Get(Send(r)).target_count, 5);
  r.targets = {{"resource-groups:Name", {"x"}}};
  EXPECT_EQ(Reason(svc_->SendCommand(r, clock_.Now())), "InvalidParameters");

  r.targets = {{"tag:Env", {"prod"}}};
  std::vector<std::string> asked;
  auto refused = svc_->SendCommand(r, clock_.Now(), [&](std::string_view id) -> Status {
    asked.push_back(std::string(id));
    if (id == Mi(2)) return PermissionDenied("no", "AccessDeniedException");
    return OkStatus();
  });
  EXPECT_EQ(Reason(refused), "AccessDeniedException");
  EXPECT_EQ(asked, (std::vector<std::string>{Mi(1), Mi(2)}));
}

TEST_F(CommandServiceTest, LifecycleAndOutputLimits) {
  const std::string id = Send(Request({Mi(1)}));
  ASSERT_TRUE(svc_->Acknowledge(Mi(1), id, clock_.Now()).has_value());
  ASSERT_TRUE(svc_->Acknowledge(Mi(1), id, clock_.Now()).has_value());  // idempotent
  EXPECT_EQ(Reason(svc_->Acknowledge(Mi(2), id, clock_.Now())), "InvalidCommandId");
  EXPECT_EQ(Get(id).status, "InProgress");
  // Acknowledged, not final: still offered (the channel sends it once per connection).
  EXPECT_EQ(Deliverable(Mi(1)), std::vector<std::string>{id});

  auto d = svc_->GetCommandInvocation(id, Mi(1), std::nullopt);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->status, "InProgress");
  EXPECT_EQ(d->response_code, -1);
  EXPECT_EQ(d->execution_start, "2026-03-01T10:00:00.000Z");

  clock_.Advance(std::chrono::seconds(2));
  Finish(Mi(1), id, "Success", std::string(30000, 'a'));
  // A late duplicate with another status is ignored.
  Finish(Mi(1), id, "Failed", "other", 1);

  d = svc_->GetCommandInvocation(id, Mi(1), std::nullopt);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->status, "Success");
  EXPECT_EQ(d->status_details, "Success");
  EXPECT_EQ(d->plugin_name, "runShellScript");
  EXPECT_EQ(d->response_code, 0);
  EXPECT_EQ(d->standard_output.size(), 24000u);
  EXPECT_EQ(d->standard_error, "warn");
  EXPECT_EQ(d->execution_start, "2026-03-01T10:00:00.000Z");
  EXPECT_EQ(d->execution_end, "2026-03-01T10:00:01.500Z");
  EXPECT_EQ(d->execution_elapsed, "PT1.500S");
  auto no_plugin = svc_->GetCommandInvocation(id, Mi(1), std::string("nope"));
  ASSERT_FALSE(no_plugin.has_value());
  EXPECT_EQ(no_plugin.error().reason, "InvalidPluginName");
  auto missing = svc_->GetCommandInvocation(id, Mi(2), std::nullopt);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().reason, "InvocationDoesNotExist");

  const CommandInfo c = Get(id);
  EXPECT_EQ(c.status, "Success");
  EXPECT_EQ(c.completed_count, 1);
  EXPECT_EQ(c.error_count, 0);

  ListInvocationsRequest lr;
  lr.command_id = id;
  lr.details = true;
  auto inv = svc_->ListCommandInvocations(lr);
  ASSERT_TRUE(inv.has_value());
  ASSERT_EQ(inv->invocations.size(), 1u);
  ASSERT_EQ(inv->invocations[0].plugins.size(), 1u);
  EXPECT_EQ(inv->invocations[0].plugins[0].standard_output.size(), 2500u);
  EXPECT_EQ(inv->invocations[0].instance_name, "host-001");

  // The final state survives a restart.
  Reset();
  EXPECT_EQ(Get(id).status, "Success");
}

TEST_F(CommandServiceTest, MaxConcurrencyQueuesAndReleases) {
  auto r = Request({Mi(1), Mi(2), Mi(3), Mi(4), Mi(5)});
  r.max_concurrency = "2";
  r.max_errors = "5";
  const std::string id = Send(r);
  auto told = notifier_.Take();
  std::sort(told.begin(), told.end());
  EXPECT_EQ(told, (std::vector<std::string>{Mi(1), Mi(2)}));
  EXPECT_TRUE(Deliverable(Mi(3)).empty());
  Finish(Mi(1), id, "Success");
  EXPECT_EQ(notifier_.Take(), std::vector<std::string>{Mi(3)});
  EXPECT_EQ(Deliverable(Mi(3)), std::vector<std::string>{id});
  EXPECT_TRUE(Deliverable(Mi(4)).empty());

  // After a restart the queue is rebuilt: two in flight (mi-2, mi-3), none more.
  Reset();
  EXPECT_EQ(Deliverable(Mi(2)), std::vector<std::string>{id});
  EXPECT_EQ(Deliverable(Mi(3)), std::vector<std::string>{id});
  EXPECT_TRUE(Deliverable(Mi(4)).empty());
  Finish(Mi(2), id, "Failed", "", 1);
  Finish(Mi(3), id, "Success");
  Finish(Mi(4), id, "Success");
  Finish(Mi(5), id, "Success");
  const CommandInfo c = Get(id);
  EXPECT_EQ(c.status, "Success");
  EXPECT_EQ(c.status_details, "Incomplete");
  EXPECT_EQ(c.error_count, 1);
  EXPECT_EQ(c.completed_count, 5);
}

TEST_F(CommandServiceTest, MaxErrorsStopsSendingAndFails) {
  auto r = Request({Mi(1), Mi(2), Mi(3), Mi(4), Mi(5)});
  r.max_concurrency = "2";
  r.max_errors = "0";
  const std::string id = Send(r);
  EXPECT_EQ(Deliverable(Mi(1)), std::vector<std::string>{id});
  EXPECT_EQ(Deliverable(Mi(2)), std::vector<std::string>{id});
  ASSERT_TRUE(svc_->Acknowledge(Mi(2), id, clock_.Now()).has_value());
  notifier_.Take();
  Finish(Mi(1), id, "Failed", "", 1);
  EXPECT_TRUE(notifier_.Take().empty());  // nothing more is released
  EXPECT_TRUE(Deliverable(Mi(3)).empty());
  auto d = svc_->GetCommandInvocation(id, Mi(4), std::nullopt);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->status, "Cancelled");
  EXPECT_EQ(d->status_details, "Terminated");
  // The running one goes on.
  EXPECT_EQ(Get(id).status, "InProgress");
  Finish(Mi(2), id, "Success");
  const CommandInfo c = Get(id);
  EXPECT_EQ(c.status, "Failed");
  EXPECT_EQ(c.error_count, 1);
  EXPECT_EQ(c.completed_count, 5);
}

TEST_F(CommandServiceTest, DeliveryTimeoutByTickAndPendingWork) {
  auto r = Request({Mi(1), Mi(2)});
  r.timeout_seconds = 30;
  r.max_errors = "1";
  const std::string id = Send(r);
  ASSERT_TRUE(svc_->Acknowledge(Mi(1), id, clock_.Now()).has_value());
  clock_.Advance(std::chrono::seconds(31));
  // The instance that never connects times out through PendingWork's caller or Tick.
  EXPECT_TRUE(Deliverable(Mi(2)).empty());
  auto d = svc_->GetCommandInvocation(id, Mi(2), std::nullopt);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->status, "TimedOut");
  EXPECT_EQ(d->status_details, "DeliveryTimedOut");
  EXPECT_EQ(Get(id).status, "InProgress");  // mi-1 still runs (until ExpiresAfter)
  clock_.Advance(std::chrono::seconds(600));
  ASSERT_TRUE(svc_->Tick(clock_.Now()).has_value());
  const CommandInfo c = Get(id);
  EXPECT_EQ(c.delivery_timed_out_count, 2);
  EXPECT_EQ(c.error_count, 0);
  EXPECT_EQ(c.status, "TimedOut");
  EXPECT_EQ(c.status_details, "DeliveryTimedOut");
  // A result after the timeout is ignored.
  Finish(Mi(1), id, "Success");
  EXPECT_EQ(Get(id).status, "TimedOut");
}

TEST_F(CommandServiceTest, TickTimesOutInstancesThatNeverConnect) {
  auto r = Request({Mi(1)});
  r.timeout_seconds = 30;
  const std::string id = Send(r);
  clock_.Advance(std::chrono::seconds(29));
  ASSERT_TRUE(svc_->Tick(clock_.Now()).has_value());
  EXPECT_EQ(Get(id).status, "Pending");
  clock_.Advance(std::chrono::seconds(2));
  ASSERT_TRUE(svc_->Tick(clock_.Now()).has_value());
  EXPECT_EQ(Get(id).status, "TimedOut");
  EXPECT_EQ(Get(id).delivery_timed_out_count, 1);
}

TEST_F(CommandServiceTest, CancelPendingAtOnceAndRunningThroughAgent) {
  const std::string id = Send(Request({Mi(1), Mi(2)}));
  ASSERT_TRUE(svc_->Acknowledge(Mi(1), id, clock_.Now()).has_value());
  notifier_.Take();
  EXPECT_EQ(Reason(svc_->CancelCommand(id, {Mi(3)}, clock_.Now())), "InvalidInstanceId");
  EXPECT_EQ(Reason(svc_->CancelCommand(id, {Mi(1), Mi(1)}, clock_.Now())), "DuplicateInstanceId");
  EXPECT_EQ(Reason(svc_->CancelCommand("00000000-0000-4000-8000-000000000000", {}, clock_.Now())),
            "InvalidCommandId");
  ASSERT_TRUE(svc_->CancelCommand(id, {}, clock_.Now()).has_value());
  EXPECT_EQ(notifier_.Take(), std::vector<std::string>{Mi(1)});
  EXPECT_EQ(Get(id).status, "Cancelling");
  auto d = svc_->GetCommandInvocation(id, Mi(2), std::nullopt);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->status, "Cancelled");
  auto w = svc_->PendingWork(Mi(1), clock_.Now());
  ASSERT_TRUE(w.has_value());
  EXPECT_TRUE(w->commands.empty());
  ASSERT_EQ(w->cancels.size(), 1u);
  EXPECT_EQ(w->cancels[0].command_id, id);
  Finish(Mi(1), id, "Cancelled");
  EXPECT_EQ(Get(id).status, "Cancelled");
  EXPECT_TRUE(svc_->CancelCommand(id, {}, clock_.Now()).has_value());  // finished: no-op
}

TEST_F(CommandServiceTest, AcknowledgedCommandsAreOfferedAgainUntilFinal) {
  const std::string id = Send(Request({Mi(1)}));
  ASSERT_EQ(Deliverable(Mi(1)), std::vector<std::string>{id});
  ASSERT_TRUE(svc_->Acknowledge(Mi(1), id, clock_.Now()).has_value());
  // The agent has it; a new connection offers it again, so an agent that finished it
  // re-sends its stored result (one the server may have lost).
  EXPECT_EQ(Deliverable(Mi(1)), std::vector<std::string>{id});
  ASSERT_TRUE(svc_->Flush().has_value());
  // A restarted server (a new service over the same store) still offers it.
  svc_ = std::make_unique<CommandService>(store_, clock_, random_, account_, docs_, dir_);
  EXPECT_EQ(Deliverable(Mi(1)), std::vector<std::string>{id});
  Finish(Mi(1), id, "Success");
  EXPECT_TRUE(Deliverable(Mi(1)).empty());
  EXPECT_EQ(Get(id).status, "Success");
}

TEST_F(CommandServiceTest, CancelOfHandedOutButUnackedGoesThroughTheAgent) {
  const std::string id = Send(Request({Mi(1), Mi(2), Mi(3)}));
  // Mi(1) and Mi(2) were handed the command but have not acknowledged it; Mi(3) never
  // asked.
  ASSERT_EQ(Deliverable(Mi(1)), std::vector<std::string>{id});
  ASSERT_EQ(Deliverable(Mi(2)), std::vector<std::string>{id});
  notifier_.Take();
  ASSERT_TRUE(svc_->CancelCommand(id, {}, clock_.Now()).has_value());
  std::vector<std::string> told = notifier_.Take();
  std::sort(told.begin(), told.end());
  EXPECT_EQ(told, (std::vector<std::string>{Mi(1), Mi(2)}));
  EXPECT_EQ(Get(id).status, "Cancelling");
  auto never = svc_->GetCommandInvocation(id, Mi(3), std::nullopt);
  ASSERT_TRUE(never.has_value());
  EXPECT_EQ(never->status, "Cancelled");
  for (const std::string& mi : {Mi(1), Mi(2)}) {
    auto d = svc_->GetCommandInvocation(id, mi, std::nullopt);
    ASSERT_TRUE(d.has_value());
    EXPECT_NE(d->status, "Cancelled") << mi;  // only the agent can say so
    auto w = svc_->PendingWork(mi, clock_.Now());
    ASSERT_TRUE(w.has_value());
    EXPECT_TRUE(w->commands.empty()) << mi;  // not redelivered once cancelled
    ASSERT_EQ(w->cancels.size(), 1u) << mi;
    EXPECT_EQ(w->cancels[0].command_id, id);
  }
  // A late ack does not drop the cancel.
  ASSERT_TRUE(svc_->Acknowledge(Mi(1), id, clock_.Now()).has_value());
  auto w1 = svc_->PendingWork(Mi(1), clock_.Now());
  ASSERT_TRUE(w1.has_value());
  ASSERT_EQ(w1->cancels.size(), 1u);
  // Mi(2) had already run it: its stored result wins; Mi(1) answers the cancel.
  Finish(Mi(2), id, "Success");
  Finish(Mi(1), id, "Cancelled");
  auto ran = svc_->GetCommandInvocation(id, Mi(2), std::nullopt);
  ASSERT_TRUE(ran.has_value());
  EXPECT_EQ(ran->status, "Success");
  auto cancelled = svc_->GetCommandInvocation(id, Mi(1), std::nullopt);
  ASSERT_TRUE(cancelled.has_value());
  EXPECT_EQ(cancelled->status, "Cancelled");
  EXPECT_EQ(Get(id).status, "Cancelled");
  auto after = svc_->PendingWork(Mi(1), clock_.Now());
  ASSERT_TRUE(after.has_value());
  EXPECT_TRUE(after->cancels.empty());
}

TEST_F(CommandServiceTest, CancelOfHandedOutCommandTimesOutToCancelledWithoutAnAnswer) {
  SendCommandRequest r = Request({Mi(1)});
  r.timeout_seconds = 60;
  const std::string id = Send(r);
  ASSERT_EQ(Deliverable(Mi(1)), std::vector<std::string>{id});
  ASSERT_TRUE(svc_->CancelCommand(id, {Mi(1)}, clock_.Now()).has_value());
  EXPECT_EQ(Get(id).status, "Cancelling");
  // Past the delivery deadline it is not a delivery timeout: the cancel was asked for.
  clock_.Advance(std::chrono::hours(24));
  ASSERT_TRUE(svc_->Tick(clock_.Now()).has_value());
  auto d = svc_->GetCommandInvocation(id, Mi(1), std::nullopt);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->status, "Cancelled");
  EXPECT_EQ(Get(id).status, "Cancelled");
}

TEST_F(CommandServiceTest, ListCommandsFiltersAndPages) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(Send(Request({Mi(1 + i % 2)})));
    clock_.Advance(std::chrono::seconds(10));
  }
  Finish(Mi(1), ids[0], "Success");
  ListCommandsRequest req;
  req.max_results = 2;
  std::vector<std::string> seen;
  for (int guard = 0; guard < 10; ++guard) {
    auto page = svc_->ListCommands(req);
    ASSERT_TRUE(page.has_value());
    for (const auto& c : page->commands) seen.push_back(c.command_id);
    if (page->next_token.empty()) break;
    req.next_token = page->next_token;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{ids[4], ids[3], ids[2], ids[1], ids[0]}));

  ListCommandsRequest by_inst;
  by_inst.instance_id = Mi(2);
  auto p = svc_->ListCommands(by_inst);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->commands.size(), 2u);

  ListCommandsRequest status;
  status.filters = {{"Status", "Success"}};
  p = svc_->ListCommands(status);
  ASSERT_TRUE(p.has_value());
  ASSERT_EQ(p->commands.size(), 1u);
  EXPECT_EQ(p->commands[0].command_id, ids[0]);

  ListCommandsRequest stage;
  stage.filters = {{"ExecutionStage", "Executing"},
                   {"InvokedAfter", FormatIso8601(clock_.Now() - std::chrono::seconds(25))}};
  p = svc_->ListCommands(stage);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->commands.size(), 2u);

  ListCommandsRequest bad;
  bad.filters = {{"Colour", "x"}};
  EXPECT_EQ(svc_->ListCommands(bad).error().reason, "InvalidFilterKey");
  bad.filters = {{"InvokedAfter", "yesterday"}};
  EXPECT_EQ(svc_->ListCommands(bad).error().reason, "InvalidFilterValue");
  ListCommandsRequest tok;
  tok.next_token = "garbage";
  EXPECT_EQ(svc_->ListCommands(tok).error().reason, "InvalidNextToken");
  ListCommandsRequest unknown;
  unknown.command_id = "00000000-0000-4000-8000-000000000000";
  EXPECT_EQ(svc_->ListCommands(unknown).error().reason, "InvalidCommandId");
  ListCommandsRequest too_many;
  too_many.max_results = 51;
  EXPECT_EQ(svc_->ListCommands(too_many).error().reason, "ValidationError");
}

TEST_F(CommandServiceTest, ListInvocationsPagesAcrossCommands) {
  const std::string a = Send(Request({Mi(1), Mi(2), Mi(3)}));
  clock_.Advance(std::chrono::seconds(1));
  const std::string b = Send(Request({Mi(4), Mi(5)}));
  ListInvocationsRequest req;
  req.max_results = 2;
  std::vector<std::string> seen;
  for (int guard = 0; guard < 10; ++guard) {
    auto page = svc_->ListCommandInvocations(req);
    ASSERT_TRUE(page.has_value());
    for (const auto& i : page->invocations)
      seen.push_back(i.command_id.substr(0, 4) + i.instance_id);
    if (page->next_token.empty()) break;
    req.next_token = page->next_token;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{b.substr(0, 4) + Mi(4), b.substr(0, 4) + Mi(5),
                                            a.substr(0, 4) + Mi(1), a.substr(0, 4) + Mi(2),
                                            a.substr(0, 4) + Mi(3)}));
  ListInvocationsRequest one;
  one.command_id = a;
  one.max_results = 2;
  auto p = svc_->ListCommandInvocations(one);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->invocations.size(), 2u);
  ASSERT_FALSE(p->next_token.empty());
  one.next_token = p->next_token;
  p = svc_->ListCommandInvocations(one);
  ASSERT_TRUE(p.has_value());
  ASSERT_EQ(p->invocations.size(), 1u);
  EXPECT_EQ(p->invocations[0].instance_id, Mi(3));
  EXPECT_TRUE(p->next_token.empty());
  EXPECT_TRUE(p->invocations[0].plugins.empty());  // no Details

  ListInvocationsRequest inst;
  inst.instance_id = Mi(4);
  p = svc_->ListCommandInvocations(inst);
  ASSERT_TRUE(p.has_value());
  ASSERT_EQ(p->invocations.size(), 1u);
  EXPECT_EQ(p->invocations[0].command_id, b);
}

TEST_F(CommandServiceTest, PlatformsResolvedSeparately) {
  dir_.Add(Mi(7), {}, "Windows");
  const std::string id = Send(Request({Mi(1), Mi(7), Mi(2)}));
  std::sort(docs_.platforms.begin(), docs_.platforms.end());
  EXPECT_EQ(docs_.platforms, (std::vector<std::string>{"Linux", "Windows"}));
  auto w = svc_->PendingWork(Mi(7), clock_.Now());
  ASSERT_TRUE(w.has_value());
  ASSERT_EQ(w->commands.size(), 1u);
  EXPECT_EQ(w->commands[0].steps.size(), 1u);
  EXPECT_EQ(w->commands[0].document_name, "AWS-RunShellScript");
  EXPECT_EQ(Get(id).target_count, 3);
}

TEST_F(CommandServiceTest, FanOutToManyInstancesStaysPerInstance) {
  constexpr int kN = 2000;
  for (int i = 0; i < kN; ++i) dir_.Add(Mi(1000 + i), {{"Fleet", "big"}});
  SendCommandRequest r = Request({});
  r.targets = {{"tag:Fleet", {"big"}}};
  r.max_concurrency = "100%";
  r.max_errors = "100%";
  const std::string id = Send(r);
  EXPECT_EQ(notifier_.Take().size(), static_cast<std::size_t>(kN));
  for (int i = 0; i < kN; ++i) {
    ASSERT_EQ(Deliverable(Mi(1000 + i)).size(), 1u);
    ASSERT_TRUE(svc_->Acknowledge(Mi(1000 + i), id, clock_.Now()).has_value());
    Finish(Mi(1000 + i), id, i % 10 == 0 ? "Failed" : "Success");
  }
  const CommandInfo c = Get(id);
  EXPECT_EQ(c.completed_count, kN);
  EXPECT_EQ(c.error_count, kN / 10);
  EXPECT_EQ(c.status, "Success");
  EXPECT_EQ(c.status_details, "Incomplete");
}

TEST_F(CommandServiceTest, NoTargetsSucceedsAtOnce) {
  SendCommandRequest r = Request({});
  r.targets = {{"tag:Env", {"nowhere"}}};
  const std::string id = Send(r);
  const CommandInfo c = Get(id);
  EXPECT_EQ(c.target_count, 0);
  EXPECT_EQ(c.status, "Success");
}

TEST_F(CommandServiceTest, CommandStatusSummary) {
  const std::string id = Send(Request({Mi(1)}));
  Finish(Mi(1), id, "TimedOut", "", 124);
  auto s = svc_->CommandStatus(id);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->status, "Failed");
  EXPECT_EQ(s->error_count, 1);
  auto d = svc_->GetCommandInvocation(id, Mi(1), std::nullopt);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->status, "TimedOut");
  EXPECT_EQ(d->response_code, 124);
  EXPECT_EQ(svc_->CommandStatus("00000000-0000-4000-8000-000000000000").error().reason,
            "InvalidCommandId");
}

TEST_F(CommandServiceTest, ResultsReachTheStoreByTickOrFlush) {
  const std::string id = Send(Request({Mi(1)}));
  Finish(Mi(1), id, "Success");
  EXPECT_EQ(Get(id).status, "Success");  // memory: at once
  {
    // Another service over the same store sees only what was written: the send.
    CommandService other(store_, clock_, random_, account_, docs_, dir_);
    auto c = other.GetCommand(id);
    ASSERT_TRUE(c.has_value());
    EXPECT_EQ(c->status, "Pending");
  }
  ASSERT_TRUE(svc_->Tick(clock_.Now()).has_value());
  CommandService after(store_, clock_, random_, account_, docs_, dir_);
  auto c = after.GetCommand(id);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->status, "Success");
  auto d = after.GetCommandInvocation(id, Mi(1), std::nullopt);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->standard_output, "out");
}

TEST_F(CommandServiceTest, WritesBehindAtMostASecond) {
  const std::string id = Send(Request({Mi(1), Mi(2)}));
  Finish(Mi(1), id, "Success");
  clock_.Advance(std::chrono::milliseconds(1500));
  Finish(Mi(2), id, "Success");  // the older change is due: this one flushes both
  CommandService after(store_, clock_, random_, account_, docs_, dir_);
  auto c = after.GetCommand(id);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->status, "Success");
  EXPECT_EQ(c->completed_count, 2);
}

}  // namespace
}  // namespace kw::commands
