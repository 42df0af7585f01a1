#pragma once

// keyward's Run Command: SendCommand, ListCommands, ListCommandInvocations,
// GetCommandInvocation, CancelCommand, and the queue the control channel delivers
// from. The domain behind api/ssm/commands.
//
// Errors carry the SSM model's exception names in Error::reason: "InvalidInstanceId"
// (unknown or deregistered instance, or not a target of the command),
// "DuplicateInstanceId", "InvalidCommandId", "InvocationDoesNotExist",
// "InvalidPluginName", "InvalidFilterKey", "InvalidFilterValue", "InvalidNextToken",
// "InvalidParameters" (also for a request that names both or neither of InstanceIds and
// Targets, or an unsupported target key), "ValidationError" (a model length, range or
// pattern constraint), and what the DocumentResolver returns (InvalidDocument,
// InvalidDocumentVersion, InvalidParameters) unchanged.
//
// Life of an invocation (one per target instance):
//   Pending -> InProgress (agent acknowledged) -> Success | Failed | TimedOut | Cancelled
//   Pending, never handed out -> Cancelled (CancelCommand, or the MaxErrors stop below)
//   InProgress, or Pending but handed out (returned by PendingWork, not yet
//     acknowledged) -> Cancelling (CancelCommand; PendingWork then carries a cancel for
//     it) -> Cancelled when the agent reports it (or whatever final status it reports
//     instead, if the run ended first)
//   Pending -> DeliveryTimedOut at RequestedDateTime + TimeoutSeconds
//   InProgress / Cancelling -> DeliveryTimedOut / Cancelled at ExpiresAfter =
//     RequestedDateTime + TimeoutSeconds + the sum of the steps' timeoutSeconds (as SSM:
//     an expired command's InProgress invocations become DeliveryTimedOut too).
// On the wire (StatusDetails in brackets): DeliveryTimedOut is Status "TimedOut"
// ["DeliveryTimedOut"]; an execution timeout is "TimedOut" ["ExecutionTimedOut"]; an
// invocation cancelled by the MaxErrors stop is "Cancelled" ["Terminated"].
//
// MaxConcurrency: at most ConcurrencyLimit() invocations are released (deliverable or
// running) at once, in target order; the others stay Pending and are not returned by
// PendingWork until a released one reaches a final status, which releases the next ones
// and notifies their instances.
//
// MaxErrors, as SSM documents it ("the system stops sending the command to additional
// targets"; invocations already running are allowed to complete): errors are Failed
// and (execution) TimedOut invocations; delivery timeouts do not count towards the
// stop. When the error count becomes greater than ErrorLimit(), every Pending
// invocation that has not been handed to its agent yet (never returned by PendingWork)
// becomes Cancelled ["Terminated"]; invocations already handed out or running go on.
//
// Command status. While invocations are open: "Cancelling" if any invocation is
// Cancelling, else "InProgress" once any invocation has left Pending, else "Pending".
// When every invocation is final, the first rule that applies:
//   1. a CancelCommand was made and some invocation ended Cancelled: Cancelled
//   2. errors > ErrorLimit (the stop happened): Failed ["Failed"]
//   3. errors + delivery timeouts > ErrorLimit: TimedOut ["DeliveryTimedOut"]
//      (a delivery timeout counts as an error for the verdict, not for the stop)
//   4. every invocation succeeded (or there was no target): Success ["Success"]
//   5. otherwise: Success ["Incomplete"] (tolerated failures, as SSM's Incomplete)
// CompletedCount counts final invocations of any kind, ErrorCount Failed and TimedOut,
// DeliveryTimedOutCount DeliveryTimedOut.
//
// Storage (KvStore tables, JSON values):
//   cmd_commands     command id -> the command (document, parameters, steps per
//                    platform, limits; final status and counts once complete)
//   cmd_invocations  command id + "/" + instance id -> status, times, plugin results
//                    (output already truncated to 24,000 / 8,000 characters)
//   cmd_open         command id + "/" + instance id -> "" while not final (recovery)
//   cmd_time         inverted requested time + "/" + command id (ListCommands, newest
//                    first)
//   cmd_by_instance  instance id + "/" + inverted time + "/" + command id
// SendCommand writes the command and all its invocations in one transaction before it
// notifies anyone. Later changes (acks, results, timeouts, cancellations) are written
// behind: applied in memory at once (every read sees them), and written in batches of
// up to 1,000 rows at most a second later (by the next change, Tick, Flush or the
// destructor), because one durable commit per result cannot keep up with a command
// fanned out to 10,000 agents. A crash can therefore lose up to a second of them: a
// lost ack only means a redelivery (agents deduplicate by command ID); a lost result
// leaves its invocation InProgress until ExpiresAfter. A failed flush keeps its rows and
// is retried. This service must be the only writer of these tables.
//
// In memory: commands with open invocations (counters, release cursor) and, per
// instance, its open invocations, so PendingWork is O(open invocations of the
// instance) and Complete O(1) plus the invocations it releases. Rebuilt from cmd_open
// on first use after a restart ("released" and "handed out" are not persisted: after a
// restart, releases are recomputed from the invocations already running).
//
// Thread-safe: one mutex serialises every call (store writes happen under it); the
// notifier is called after the mutex is released.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "agentproto/agent_protocol.hpp"
#include "commands/command_queue.hpp"
#include "commands/document_resolver.hpp"
#include "commands/send_command.hpp"
#include "common/clock.hpp"
#include "common/random.hpp"
#include "common/result.hpp"
#include "fleet/instance_directory.hpp"
#include "iam/principal.hpp"
#include "store/kv_store.hpp"

namespace kw::commands {

inline constexpr std::size_t kMaxInstanceIds = 50;
inline constexpr std::size_t kMaxTargets = 5;
inline constexpr std::size_t kMaxTargetValues = 50;
inline constexpr std::size_t kMaxCommentLength = 100;
inline constexpr long long kMinTimeoutSeconds = 30;
inline constexpr long long kMaxTimeoutSeconds = 2592000;
inline constexpr long long kDefaultTimeoutSeconds = 3600;
inline constexpr std::size_t kMaxListOutputChars = 2500;  // CommandPlugin.Output
inline constexpr int kMaxListResults = 50;

// One step's result, as CommandPlugin / GetCommandInvocation report it.
struct PluginInfo {
  std::string name;
  std::string status;          // Pending, InProgress, Success, TimedOut, Cancelled, Failed
  std::string status_details;  // as the invocation's, for the step
  int response_code = -1;
  std::optional<TimePoint> started;
  std::optional<TimePoint> finished;
  std::string standard_output;  // at most 24,000 characters
  std::string standard_error;   // at most 8,000 characters
};

// The Command shape.
struct CommandInfo {
  std::string command_id;
  std::string document_name;
  std::string document_version;
  std::string comment;
  TimePoint requested;
  TimePoint expires_after;
  std::map<std::string, std::vector<std::string>> parameters;
  std::vector<std::string> instance_ids;  // as requested (empty with Targets)
  std::vector<Target> targets;
  std::string status;
  std::string status_details;
  std::string max_concurrency;
  std::string max_errors;
  int target_count = 0;
  int completed_count = 0;
  int error_count = 0;
  int delivery_timed_out_count = 0;
  long long timeout_seconds = kDefaultTimeoutSeconds;
};

// The CommandInvocation shape (plugins filled only when asked for details).
struct InvocationInfo {
  std::string command_id;
  std::string instance_id;
  std::string instance_name;
  std::string comment;
  std::string document_name;
  std::string document_version;
  TimePoint requested;
  std::string status;  // wire status (see the header comment)
  std::string status_details;
  int response_code = -1;
  std::vector<PluginInfo> plugins;
};

// GetCommandInvocation's answer.
struct InvocationDetail {
  std::string command_id;
  std::string instance_id;
  std::string comment;
  std::string document_name;
  std::string document_version;
  std::string plugin_name;  // empty when the request named none and there are several
  int response_code = -1;
  std::string execution_start;    // ISO 8601 with milliseconds, "" if not started
  std::string execution_elapsed;  // "PT1.234S", "" if not started
  std::string execution_end;      // "" if not finished
  std::string status;
  std::string status_details;
  std::string standard_output;  // at most 24,000 characters
  std::string standard_error;   // at most 8,000 characters
};

struct CommandFilter {
  std::string key;  // InvokedAfter, InvokedBefore, Status, ExecutionStage, DocumentName
  std::string value;
};

struct ListCommandsRequest {
  std::optional<std::string> command_id;
  std::optional<std::string> instance_id;
  std::vector<CommandFilter> filters;
  std::optional<int> max_results;  // 1..50, default 50
  std::optional<std::string> next_token;
};

struct CommandPage {
  std::vector<CommandInfo> commands;
  std::string next_token;  // empty: last page
};

struct ListInvocationsRequest {
  std::optional<std::string> command_id;
  std::optional<std::string> instance_id;
  std::vector<CommandFilter> filters;
  std::optional<int> max_results;
  std::optional<std::string> next_token;
  bool details = false;  // plugins, with Output cut to 2,500 characters
};

struct InvocationPage {
  std::vector<InvocationInfo> invocations;
  std::string next_token;
};

// Asked for every instance a SendCommand resolves to, before anything is persisted;
// an error refuses the whole request (the API adapter checks ssm:SendCommand on the
// instance's ARN with it).
using InstanceAuthorizer = std::function<Status(std::string_view instance_id)>;

class CommandService final : public CommandSender, public CommandQueue {
 public:
  // All references must outlive the service.
  CommandService(store::KvStore& store, const Clock& clock, Random& random,
                 const iam::Account& account, DocumentResolver& documents,
                 fleet::InstanceDirectory& instances);
  ~CommandService() override;
  CommandService(const CommandService&) = delete;
  CommandService& operator=(const CommandService&) = delete;

  // The control channel's notifier (may be null: nobody is told). Call before serving.
  void SetNotifier(DeliveryNotifier* notifier);

  // CommandSender.
  Result<std::string> SendCommand(const SendCommandRequest& request, TimePoint now) override;
  Result<CommandStatusSummary> CommandStatus(std::string_view command_id) override;

  // SendCommand with a check of every resolved instance.
  Result<std::string> SendCommand(const SendCommandRequest& request, TimePoint now,
                                  const InstanceAuthorizer& authorize);

  // kNotFound "InvalidCommandId" for an unknown command.
  Result<CommandInfo> GetCommand(std::string_view command_id);
  Result<CommandPage> ListCommands(const ListCommandsRequest& request);
  Result<InvocationPage> ListCommandInvocations(const ListInvocationsRequest& request);
  // "InvocationDoesNotExist" when the command has no invocation on the instance;
  // "InvalidPluginName" for a step the document does not have.
  Result<InvocationDetail> GetCommandInvocation(std::string_view command_id,
                                                std::string_view instance_id,
                                                const std::optional<std::string>& plugin_name);
  // Empty `instance_ids`: every invocation of the command. Final invocations are left
  // as they are; cancelling a finished command is OK and changes nothing.
  Status CancelCommand(std::string_view command_id, const std::vector<std::string>& instance_ids,
                       TimePoint now);

  // Times out deliveries and expired runs of every open command (instances that never
  // connect included), releases what that frees, and flushes changes not yet written.
  // Call about once a second; an error (a failed flush) is worth logging and the work
  // is retried by the next call.
  Status Tick(TimePoint now);

  // Writes every change not yet written (also done by Tick and the destructor).
  Status Flush();

  // CommandQueue.
  Result<Work> PendingWork(std::string_view instance_id, TimePoint now) override;
  Status Acknowledge(std::string_view instance_id, std::string_view command_id,
                     TimePoint now) override;
  Status Complete(std::string_view instance_id, const agentproto::ResultMessage& result,
                  TimePoint now) override;

 private:
  struct OpenCommand;
  struct OpenInvocation;
  struct StoredCommand;

  Status EnsureLoaded();  // requires mu_
  Result<std::shared_ptr<const StoredCommand>> LoadCommand(std::string_view command_id);
  Result<CommandInfo> Info(std::string_view command_id);  // requires mu_
  CommandInfo InfoOf(const StoredCommand& c) const;
  // Stages the given invocations' rows (and the command's row when `with_command`) for
  // the next flush, flushing when the write-behind bounds are reached. Requires mu_.
  Status Persist(OpenCommand& cmd, const std::vector<std::size_t>& seqs, bool with_command);
  Status FlushLocked();  // requires mu_
  // An invocation row, unflushed changes first. Requires mu_.
  Result<std::optional<std::string>> Row(std::string_view command_id, std::string_view instance_id);
  // Moves an invocation to a new status in memory (counters, indexes). Requires mu_.
  void Transition(OpenCommand& cmd, std::size_t seq, int status);
  // Releases queued invocations up to the limit; returns their instances.
  std::vector<std::string> Release(OpenCommand& cmd);
  // The MaxErrors stop: cancels what has not been handed out. Returns changed seqs.
  std::vector<std::size_t> StopSending(OpenCommand& cmd);
  // Timeouts due at `now`, persisted; appends instances to notify.
  Status Expire(OpenCommand& cmd, TimePoint now, std::vector<std::string>& notify);
  // After changes: releases, finalises, persists the command row if needed.
  Status Settle(OpenCommand& cmd, std::vector<std::size_t>& changed, bool command_changed,
                std::vector<std::string>& notify);
  void Notify(const std::vector<std::string>& instances);

  store::KvStore& store_;
  const Clock& clock_;
  Random& random_;
  const iam::Account account_;
  DocumentResolver& documents_;
  fleet::InstanceDirectory& instances_;
  std::atomic<DeliveryNotifier*> notifier_{nullptr};

  std::mutex mu_;
  bool loaded_ = false;  // guarded by mu_
  // Commands with open invocations, by command ID.  // guarded by mu_
  std::map<std::string, std::shared_ptr<OpenCommand>, std::less<>> open_;
  // Per instance: (requested ms, command ID) of its open invocations.  // guarded by mu_
  std::unordered_map<std::string, std::set<std::pair<std::int64_t, std::string>>> by_instance_;
  // Write-behind: invocation rows (and whether they are open) and command rows changed
  // in memory but not yet in the store. Reads look here first.
  struct DirtyRow {
    std::string value;
    bool open = false;
  };
  std::map<std::string, DirtyRow> dirty_rows_;                      // guarded by mu_
  std::map<std::string, std::string, std::less<>> dirty_commands_;  // guarded by mu_
  std::optional<TimePoint> dirty_since_;                            // guarded by mu_
};

}  // namespace kw::commands
