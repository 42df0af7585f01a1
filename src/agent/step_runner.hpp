#pragma once

// Runs one aws:runShellScript step as SSM does: the runCommand lines, joined by newlines,
// are written to a script file (0700) and run with /bin/sh in a process group of its
// own, in the step's working directory, with stdin from /dev/null. stdout and stderr are
// read through pipes until the shell exits, keeping at most SSM's limits (24,000 and
// 8,000 characters) while draining the rest so the child never blocks on a full pipe.
//
// Exit 0 is Success, any other exit Failed (killed by a signal: 128 + signal, as shells
// report it). On timeout the whole group gets SIGTERM and, `kill_grace` later, SIGKILL:
// TimedOut. On cancel the same: Cancelled. Grandchildren in the group die with it; those
// that left the group (setsid) are out of reach, as with SSM.

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "agentproto/agent_protocol.hpp"
#include "common/clock.hpp"

namespace kw::agent {

// A cancel request that wakes a step waiting in poll(). Thread-safe.
class CancelFlag {
 public:
  CancelFlag();
  ~CancelFlag();
  CancelFlag(const CancelFlag&) = delete;
  CancelFlag& operator=(const CancelFlag&) = delete;

  void Cancel();
  bool cancelled() const { return cancelled_.load(); }
  int wake_fd() const { return pipe_[0]; }  // readable once cancelled

 private:
  std::atomic<bool> cancelled_{false};
  int pipe_[2] = {-1, -1};
};

struct StepOptions {
  std::filesystem::path script_path;     // where to write the script (removed afterwards)
  std::vector<std::string> environment;  // "NAME=value" each: the child's whole environment
  std::chrono::milliseconds kill_grace = std::chrono::seconds(5);
  // Applied when the step has none (or a non-positive one).
  std::chrono::seconds default_timeout = std::chrono::seconds(3600);
  // For keyward:syncSecret steps (agent/secret_sync.hpp): the agent's state directory
  // (credential-process files go beside it) and the CA bundle to reach the server with.
  std::filesystem::path state_dir;
  std::string ca_file;
};

// Runs `step` to completion; a keyward:syncSecret step goes to RunSecretSync
// (agent/secret_sync.hpp), anything else runs as a shell script. Never throws; a step that cannot
// start (script not writable, fork failure) is Failed with the reason in standard_error. `clock`
// stamps started_at and ended_at. Safe to call from several threads at once.
agentproto::StepResult RunStep(const agentproto::Step& step, const StepOptions& options,
                               const CancelFlag& cancel, const Clock& clock);

}  // namespace kw::agent
