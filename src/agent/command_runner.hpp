#pragma once

// Runs commands from the control channel, each on a thread of its own, at most
// `max_concurrent` at a time (later ones wait in order). Steps run in order and stop
// after the first step that does not succeed, as SSM does; the command's status is that
// step's (or Success), its response code the last step's.
//
// Thread-safe. The destructor cancels everything still queued or running and joins.

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/step_runner.hpp"
#include "agentproto/agent_protocol.hpp"
#include "common/clock.hpp"

namespace kw::agent {

class CommandRunner {
 public:
  struct Options {
    std::size_t max_concurrent = 8;
    std::filesystem::path work_dir;  // script files go here
    std::chrono::milliseconds kill_grace = std::chrono::seconds(5);
    std::string ca_file;  // for secret sync steps' calls to the server
  };
  // The child environment for a step about to start ("NAME=value" each): called on the
  // command's thread, so it can hand out the credentials current at that moment.
  using EnvironmentFn = std::function<std::vector<std::string>()>;
  // Called once per command with its final result, on the command's thread.
  using ResultFn = std::function<void(const agentproto::ResultMessage&)>;

  CommandRunner(Options options, const Clock& clock, EnvironmentFn environment, ResultFn on_result);
  ~CommandRunner();
  CommandRunner(const CommandRunner&) = delete;
  CommandRunner& operator=(const CommandRunner&) = delete;

  // Queues `command`. Ignored if a command with that ID is already queued or running.
  void Start(agentproto::CommandMessage command);
  // Cancels a queued or running command: the current step's process group is killed and
  // the result is Cancelled. False if the ID is not queued or running.
  bool Cancel(const std::string& command_id);
  bool IsActive(const std::string& command_id) const;
  std::size_t active_count() const;

  // The whole command, synchronously (what each thread runs). Exposed for tests.
  static agentproto::ResultMessage Execute(const agentproto::CommandMessage& command,
                                           const Options& options, const CancelFlag& cancel,
                                           const std::vector<std::string>& environment,
                                           const Clock& clock);

 private:
  struct Job {
    agentproto::CommandMessage command;
    CancelFlag cancel;
    bool started = false;
  };
  void StartReadyLocked();  // requires mu_
  void RunJob(std::shared_ptr<Job> job);

  Options options_;
  const Clock& clock_;
  EnvironmentFn environment_;
  ResultFn on_result_;

  mutable std::mutex mu_;
  std::condition_variable done_cv_;
  std::map<std::string, std::shared_ptr<Job>> jobs_;  // guarded by mu_: queued or running
  std::deque<std::shared_ptr<Job>> queue_;            // guarded by mu_: not started yet
  std::size_t running_ = 0;                           // guarded by mu_
  bool stopping_ = false;                             // guarded by mu_
};

// The child environment: `base` ("NAME=value" each, normally the agent's own) without
// any AWS_* credential or endpoint variable, plus the instance credentials, the region
// and the server endpoint (AWS_ENDPOINT_URL and KEYWARD_ENDPOINT), so that a document's
// script can call `aws secretsmanager get-secret-value` with no key of its own.
std::vector<std::string> StepEnvironment(const std::vector<std::string>& base,
                                         const std::string& access_key_id,
                                         std::string_view secret_access_key,
                                         const std::string& session_token,
                                         const std::string& region, const std::string& endpoint);

}  // namespace kw::agent
