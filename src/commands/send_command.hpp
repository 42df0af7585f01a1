#pragma once

// SendCommand's request as the domain sees it, and the seam through which maintenance
// windows (windows/) start Run Command tasks. Implemented by commands::CommandService.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"
#include "common/result.hpp"

namespace kw::commands {

struct Target {
  std::string key;  // "InstanceIds", "tag:Name", "tag-key", "resource-groups:Name"...
  std::vector<std::string> values;
};

struct SendCommandRequest {
  std::vector<std::string> instance_ids;  // or targets, not both
  std::vector<Target> targets;
  std::string document_name;
  std::optional<std::string> document_version;
  std::map<std::string, std::vector<std::string>> parameters;
  std::optional<long long> timeout_seconds;  // delivery timeout, 30..2592000, default 3600
  std::string comment;                       // at most 100 characters
  std::string max_concurrency = "50";        // "10" or "10%"
  std::string max_errors = "0";              // "0", "1", "25%"
  std::string requested_by;                  // caller ARN
  std::string window_execution_id;           // set when a maintenance window sent it
};

struct CommandStatusSummary {
  std::string command_id;
  std::string status;  // Pending, InProgress, Success, Cancelled, Failed, TimedOut, Cancelling
  int target_count = 0;
  int completed_count = 0;
  int error_count = 0;
  int delivery_timed_out_count = 0;
};

// Thread-safe.
class CommandSender {
 public:
  virtual ~CommandSender() = default;
  // Persists the command and its invocations, then notifies the control channel.
  // Returns the new command's ID.
  virtual Result<std::string> SendCommand(const SendCommandRequest& request, TimePoint now) = 0;
  // kNotFound with reason "InvalidCommandId" for an unknown command.
  virtual Result<CommandStatusSummary> CommandStatus(std::string_view command_id) = 0;
};

}  // namespace kw::commands
