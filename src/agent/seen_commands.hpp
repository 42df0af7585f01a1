#pragma once

// The commands this host has received, persisted so that a command delivered twice (the
// server delivers at least once) is never run twice, even across restarts. One JSON file,
// rewritten atomically on each change (0600: results may hold command output). Bounded:
// at most `max_entries` IDs (the oldest are forgotten) and `max_result_bytes` of stored
// results (older results keep only their status and response code).
//
// Thread-safe: every call locks and works on the file, so nothing stays in memory
// between commands (the agent's idle footprint stays small).

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agentproto/agent_protocol.hpp"
#include "common/result.hpp"

namespace kw::agent {

class SeenCommands {
 public:
  struct Entry {
    std::string command_id;
    // Set once the command finished; its steps may be empty if the output was trimmed.
    std::optional<agentproto::ResultMessage> result;
    bool result_delivered = false;  // the result went out on a connection
  };

  explicit SeenCommands(std::filesystem::path file, std::size_t max_entries = 1000,
                        std::size_t max_result_bytes = 1 << 20);

  // Records `command_id` as received, before the agent acknowledges it. Returns nullopt
  // if it is new (now persisted), or the earlier entry if it was seen before (nothing
  // changes). Errors from the file system.
  Result<std::optional<Entry>> Insert(const std::string& command_id);

  // Stores the final result of a command (inserting its ID if needed), not yet delivered.
  Status RecordResult(const agentproto::ResultMessage& result);

  // Marks the result of `command_id` as sent on a connection.
  Status MarkDelivered(const std::string& command_id);

  // Results recorded but not yet marked delivered, oldest first (for a new connection).
  Result<std::vector<agentproto::ResultMessage>> Undelivered();

 private:
  struct Stored {
    std::string id;
    std::string status;
    int response_code = -1;
    std::string result;  // the encoded ResultMessage, or "" when trimmed / not finished
    bool finished = false;
    bool delivered = false;
  };
  Result<std::vector<Stored>> Load() const;         // requires mu_
  Status Save(std::vector<Stored>& entries) const;  // requires mu_; trims to the bounds
  static Entry ToEntry(const Stored& s);

  std::filesystem::path file_;
  std::size_t max_entries_;
  std::size_t max_result_bytes_;
  std::mutex mu_;  // serialises read-modify-write of file_
};

}  // namespace kw::agent
