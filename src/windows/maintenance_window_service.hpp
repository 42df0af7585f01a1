#pragma once

// keyward's Systems Manager maintenance windows: windows with cron()/rate()/at()
// schedules (schedule/), their targets and RUN_COMMAND tasks, and the scheduler that
// starts executions on time and records them. The domain behind api/ssm/windows.
//
// Errors carry the model's exception names in Error::reason: "DoesNotExistException"
// (kNotFound), "IdempotentParameterMismatch" (kAlreadyExists: a ClientToken reused with
// other parameters), "TargetInUseException" (kFailedPrecondition), "FeatureNotAvailableException"
// (kInvalidArgument: a task type other than RUN_COMMAND, RESOURCE_GROUP targets),
// "ResourceLimitExceededException", "ValidationException" (kInvalidArgument: a bad
// schedule, time zone, date, range or combination; what SSM answers for those).
//
// Scheduling (Tick):
//   - Each enabled window persists its next due time (`next_due`) in its own record and
//     in the due index (mw_due). Tick(now) reads the index up to `now` and, per due
//     window, claims the slot in ONE transaction: CompareAndPut of the window record
//     with `next_due` advanced to the first slot after `now`, plus the execution
//     record and its task executions. Whoever's CompareAndPut wins runs the slot; a
//     second server, a retried Tick or a restarted process finds the slot gone. So a
//     slot is never run twice, and a due slot is never lost (it stays in the record
//     until claimed).
//   - Catch-up after downtime: if several slots passed while the server was down, ONE
//     execution runs, for the most recent missed slot, if `now` is still within that
//     slot's Duration; otherwise nothing runs and an execution with status CANCELLED
//     and StatusDetails saying how many slots were missed is recorded, so the operator
//     sees why. Older missed slots are never run.
//   - rate() windows count from their creation (or the last change of their schedule,
//     StartDate or Enabled): the first run is one interval after it, as in AWS.
//     StartDate/EndDate bound the slots; ScheduleOffset (cron only) adds days.
//   - A slot that comes while the previous execution still runs is recorded as
//     SKIPPED_OVERLAPPING, as AWS does.
//   - Executions advance on each Tick: tasks run in ascending Priority (one priority
//     group after the previous finished); each task is one SendCommand to the
//     instances its targets resolve to (InstanceDirectory, at send time). A task is
//     marked as being sent (persisted) before SendCommand and gets its command ID
//     after, so a crash in between never sends it twice: on restart such a task is
//     FAILED ("interrupted"). No task starts after start + Duration - Cutoff (the rest
//     are CANCELLED); tasks still running at start + Duration are TIMED_OUT.
//     Statuses come from CommandSender::CommandStatus.
//
// Storage (KvStore tables, JSON values): mw_windows (window id), mw_due
// (due time + window id), mw_tokens (client tokens), mw_targets and mw_tasks
// (window id + "/" + id), mw_execs (execution id), mw_window_execs (window id + "/" +
// inverted start + execution id, newest first), mw_exec_tasks (execution id + "/" +
// task execution id), mw_active (running execution ids).
//
// Thread-safe: every change is one store transaction; Tick may run concurrently with
// API calls (and with another server's Tick over a shared store).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "commands/send_command.hpp"
#include "common/clock.hpp"
#include "common/random.hpp"
#include "common/result.hpp"
#include "fleet/instance_directory.hpp"
#include "iam/principal.hpp"
#include "schedule/time_zone.hpp"
#include "store/kv_store.hpp"

namespace kw::windows {

struct Tag {
  std::string key;
  std::string value;
};

inline constexpr std::size_t kMaxResourceTags = 50;  // SSM's tags per resource (AddTags)

using commands::Target;  // key: "InstanceIds", "tag:Name", "tag-key", "WindowTargetIds"

struct Filter {
  std::string key;
  std::vector<std::string> values;
};

struct PageRequest {
  std::vector<Filter> filters;
  std::optional<int> max_results;  // default 50 (the API checks the model's range)
  std::optional<std::string> next_token;
};

template <typename T>
struct Page {
  std::vector<T> items;
  std::string next_token;  // empty: last page
};

struct Window {
  std::string window_id;
  std::string name;
  std::optional<std::string> description;
  std::optional<std::string> start_date;  // as given (ISO-8601)
  std::optional<std::string> end_date;
  std::string schedule;
  std::optional<std::string> schedule_timezone;
  std::optional<int> schedule_offset;
  int duration = 1;
  int cutoff = 0;
  bool allow_unassociated_targets = false;
  bool enabled = true;
  TimePoint created;
  TimePoint modified;
  std::optional<std::string> next_execution_time;  // ISO-8601, in the window's zone
  std::vector<Tag> tags;
};

struct CreateWindowRequest {
  Window window;  // window_id, enabled, dates of record and next_execution_time ignored
  std::optional<std::string> client_token;
};

// Absent members keep their value; with `replace`, absent optional members are cleared
// (required ones must be given).
struct UpdateWindowRequest {
  std::string window_id;
  std::optional<std::string> name, description, start_date, end_date, schedule, schedule_timezone;
  std::optional<int> schedule_offset, duration, cutoff;
  std::optional<bool> allow_unassociated_targets, enabled;
  bool replace = false;
};

struct WindowTarget {
  std::string window_id;
  std::string window_target_id;
  std::string resource_type = "INSTANCE";
  std::vector<Target> targets;
  std::optional<std::string> owner_information, name, description;
};

struct RegisterTargetRequest {
  WindowTarget target;  // window_target_id ignored
  std::optional<std::string> client_token;
};

struct UpdateTargetRequest {
  std::string window_id, window_target_id;
  std::optional<std::vector<Target>> targets;
  std::optional<std::string> owner_information, name, description;
  bool replace = false;
};

struct RunCommandParameters {
  std::map<std::string, std::vector<std::string>> parameters;
  std::optional<std::string> comment;
  std::optional<std::int64_t> timeout_seconds;
  std::optional<std::string> document_version;
};

struct WindowTask {
  std::string window_id;
  std::string window_task_id;
  std::string task_arn;  // the document name
  std::string task_type = "RUN_COMMAND";
  std::vector<Target> targets;
  int priority = 1;
  std::optional<std::string> max_concurrency, max_errors, name, description, service_role_arn,
      cutoff_behavior;
  std::optional<RunCommandParameters> run_command;
};

struct RegisterTaskRequest {
  WindowTask task;  // window_task_id ignored
  std::optional<std::string> client_token;
};

struct UpdateTaskRequest {
  std::string window_id, window_task_id;
  std::optional<std::vector<Target>> targets;
  std::optional<std::string> task_arn, max_concurrency, max_errors, name, description,
      service_role_arn, cutoff_behavior;
  std::optional<int> priority;
  std::optional<RunCommandParameters> run_command;
  bool replace = false;
};

struct Execution {
  std::string window_id;
  std::string window_execution_id;
  std::string status;  // PENDING IN_PROGRESS SUCCESS FAILED TIMED_OUT CANCELLED SKIPPED_OVERLAPPING
  std::string status_details;
  TimePoint start;
  std::optional<TimePoint> end;
  TimePoint scheduled;  // the slot it runs
  std::vector<std::string> task_execution_ids;
};

struct TaskExecution {
  std::string window_execution_id;
  std::string task_execution_id;
  std::string window_task_id;
  std::string task_arn;
  std::string task_type = "RUN_COMMAND";
  int priority = 1;
  std::string max_concurrency, max_errors;
  std::string status;
  std::string status_details;
  std::optional<TimePoint> start, end;
  std::vector<Target> targets;
  RunCommandParameters run_command;
  std::string command_id;     // the Run Command ID once sent
  std::string invocation_id;  // one invocation per task execution
  std::string window_target_id;
};

struct ScheduledExecution {
  std::string window_id;
  std::string name;
  std::string execution_time;
};

struct ScheduleRequest {
  std::optional<std::string> window_id;
  std::vector<Target> targets;  // windows with a registered target naming the same
  std::optional<int> max_results;
  std::optional<std::string> next_token;
};

class MaintenanceWindowService {
 public:
  // All references must outlive the service. `zones` defaults to the process-wide cache.
  MaintenanceWindowService(store::KvStore& store, const Clock& clock, Random& random,
                           const iam::Account& account, commands::CommandSender& commands,
                           fleet::InstanceDirectory& instances,
                           schedule::TimeZoneCache* zones = nullptr);

  Result<std::string> CreateMaintenanceWindow(const CreateWindowRequest& request);
  Result<Window> GetMaintenanceWindow(std::string_view window_id);
  Result<Window> UpdateMaintenanceWindow(const UpdateWindowRequest& request);
  // Deleting an unknown window succeeds (as in AWS). Executions are kept.
  Status DeleteMaintenanceWindow(std::string_view window_id);
  // Filters: Name, Enabled.
  Result<Page<Window>> DescribeMaintenanceWindows(const PageRequest& request);

  Result<std::string> RegisterTarget(const RegisterTargetRequest& request);
  Result<WindowTarget> UpdateTarget(const UpdateTargetRequest& request);
  // `safe`: refuse (TargetInUseException) when a task still names the target.
  Status DeregisterTarget(std::string_view window_id, std::string_view target_id, bool safe);
  // Filters: Type (resource type), WindowTargetId, OwnerInformation.
  Result<Page<WindowTarget>> DescribeTargets(std::string_view window_id,
                                             const PageRequest& request);

  Result<std::string> RegisterTask(const RegisterTaskRequest& request);
  Result<WindowTask> UpdateTask(const UpdateTaskRequest& request);
  Status DeregisterTask(std::string_view window_id, std::string_view task_id);
  Result<WindowTask> GetTask(std::string_view window_id, std::string_view task_id);
  // Filters: WindowTaskId, TaskArn, Priority, TaskType.
  Result<Page<WindowTask>> DescribeTasks(std::string_view window_id, const PageRequest& request);

  // Newest first. Filters: ExecutionStatus, StartedBefore, StartedAfter (ISO-8601).
  Result<Page<Execution>> DescribeExecutions(std::string_view window_id,
                                             const PageRequest& request);
  Result<Execution> GetExecution(std::string_view execution_id);
  // Filters: Status.
  Result<Page<TaskExecution>> DescribeExecutionTasks(std::string_view execution_id,
                                                     const PageRequest& request);
  Result<TaskExecution> GetExecutionTask(std::string_view execution_id, std::string_view task_id);
  // The invocations of one task execution (one per task execution here).
  Result<Page<TaskExecution>> DescribeExecutionTaskInvocations(std::string_view execution_id,
                                                               std::string_view task_id,
                                                               const PageRequest& request);
  // Upcoming slots, soonest first (at most 50 per window when no MaxResults).
  Result<Page<ScheduledExecution>> DescribeSchedule(const ScheduleRequest& request);

  // Tags of a window (AddTagsToResource & co. with ResourceType "MaintenanceWindow";
  // GetMaintenanceWindow does not return them, as in the model). "InvalidResourceId"
  // (kNotFound) for an unknown window; AddTags replaces the value of a key already there
  // and keeps at most kMaxResourceTags ("TooManyTagsError"). The caller checks each key
  // and value. A tag change does not touch the schedule.
  Result<std::vector<Tag>> ListTags(std::string_view window_id);
  Status AddTags(std::string_view window_id, const std::vector<Tag>& tags);
  Status RemoveTags(std::string_view window_id, const std::vector<std::string>& keys);

  // Starts due executions and advances running ones. Call about once a second.
  // Returns the first error met (after trying every window); later ticks retry.
  Status Tick(TimePoint now);

  const iam::Account& account() const { return account_; }
  // "arn:aws:ssm:REGION:ACCT:maintenancewindow/" + id.
  std::string WindowArn(std::string_view window_id) const;

 private:
  struct Impl;
  Status AdvanceAll(TimePoint now);
  Status StartDue(TimePoint now);
  Status ClaimSlot(const std::string& window_id, std::int64_t expected_due, TimePoint now);
  Status Advance(const std::string& execution_id, TimePoint now);

  store::KvStore& store_;
  const Clock& clock_;
  Random& random_;
  const iam::Account account_;
  commands::CommandSender& commands_;
  fleet::InstanceDirectory& instances_;
  schedule::TimeZoneCache& zones_;
};

}  // namespace kw::windows
