#include "agent/command_runner.hpp"

#include <unistd.h>

#include <atomic>

namespace kw::agent {
namespace {

// A file name safe for any command ID (IDs come from the server, still not trusted).
std::string SafeName(std::string_view id) {
  std::string out;
  for (char c : id.substr(0, 64)) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    out += ok ? c : '_';
  }
  return out;
}

std::atomic<std::uint64_t> g_script_seq{0};

}  // namespace

CommandRunner::CommandRunner(Options options, const Clock& clock, EnvironmentFn environment,
                             ResultFn on_result)
    : options_(std::move(options)),
      clock_(clock),
      environment_(std::move(environment)),
      on_result_(std::move(on_result)) {
  if (options_.max_concurrent == 0) options_.max_concurrent = 1;
}

CommandRunner::~CommandRunner() {
  std::unique_lock lock(mu_);
  stopping_ = true;
  for (auto& [id, job] : jobs_) job->cancel.Cancel();
  queue_.clear();
  done_cv_.wait(lock, [&] { return running_ == 0; });
}

void CommandRunner::Start(agentproto::CommandMessage command) {
  std::lock_guard lock(mu_);
  if (stopping_ || jobs_.count(command.command_id) != 0) return;
  auto job = std::make_shared<Job>();
  job->command = std::move(command);
  jobs_[job->command.command_id] = job;
  queue_.push_back(job);
  StartReadyLocked();
}

void CommandRunner::StartReadyLocked() {
  while (running_ < options_.max_concurrent && !queue_.empty()) {
    auto job = queue_.front();
    queue_.pop_front();
    job->started = true;
    ++running_;
    // Detached: the destructor waits for running_ to reach zero instead of joining, so a
    // finished thread cleans up after itself without a registry of handles.
    std::thread([this, job] { RunJob(job); }).detach();
  }
}

bool CommandRunner::Cancel(const std::string& command_id) {
  std::shared_ptr<Job> job;
  {
    std::lock_guard lock(mu_);
    auto it = jobs_.find(command_id);
    if (it == jobs_.end()) return false;
    job = it->second;
    job->cancel.Cancel();
    if (job->started) return true;
    // Still queued: it never runs; report it Cancelled from here.
    for (auto q = queue_.begin(); q != queue_.end(); ++q) {
      if (*q == job) {
        queue_.erase(q);
        break;
      }
    }
    jobs_.erase(it);
  }
  agentproto::ResultMessage r;
  r.command_id = command_id;
  r.status = "Cancelled";
  on_result_(r);
  return true;
}

bool CommandRunner::IsActive(const std::string& command_id) const {
  std::lock_guard lock(mu_);
  return jobs_.count(command_id) != 0;
}

std::size_t CommandRunner::active_count() const {
  std::lock_guard lock(mu_);
  return jobs_.size();
}

void CommandRunner::RunJob(std::shared_ptr<Job> job) {
  const agentproto::ResultMessage result =
      Execute(job->command, options_, job->cancel, environment_(), clock_);
  on_result_(result);
  std::lock_guard lock(mu_);
  jobs_.erase(job->command.command_id);
  --running_;
  if (!stopping_) StartReadyLocked();
  done_cv_.notify_all();
}

agentproto::ResultMessage CommandRunner::Execute(const agentproto::CommandMessage& command,
                                                 const Options& options, const CancelFlag& cancel,
                                                 const std::vector<std::string>& environment,
                                                 const Clock& clock) {
  agentproto::ResultMessage result;
  result.command_id = command.command_id;
  result.status = "Success";
  result.response_code = 0;
  StepOptions step_options;
  step_options.environment = environment;
  step_options.kill_grace = options.kill_grace;
  step_options.state_dir = options.work_dir.parent_path();  // work/ is in the state dir
  step_options.ca_file = options.ca_file;
  for (std::size_t i = 0; i < command.steps.size(); ++i) {
    step_options.script_path =
        options.work_dir /
        (SafeName(command.command_id) + "-" + std::to_string(i) + "-" + std::to_string(::getpid()) +
         "-" + std::to_string(g_script_seq.fetch_add(1)) + ".sh");
    agentproto::StepResult step = RunStep(command.steps[i], step_options, cancel, clock);
    result.response_code = step.response_code;
    const bool ok = step.status == "Success";
    if (!ok) result.status = step.status;
    result.steps.push_back(std::move(step));
    if (!ok) break;
  }
  if (command.steps.empty() && cancel.cancelled()) result.status = "Cancelled";
  return result;
}

std::vector<std::string> StepEnvironment(const std::vector<std::string>& base,
                                         const std::string& access_key_id,
                                         std::string_view secret_access_key,
                                         const std::string& session_token,
                                         const std::string& region, const std::string& endpoint) {
  static constexpr std::string_view kReplaced[] = {
      "AWS_ACCESS_KEY_ID=",  "AWS_SECRET_ACCESS_KEY=", "AWS_SESSION_TOKEN=",
      "AWS_SECURITY_TOKEN=", "AWS_DEFAULT_REGION=",    "AWS_REGION=",
      "AWS_ENDPOINT_URL=",   "KEYWARD_ENDPOINT=",      "AWS_PROFILE="};
  std::vector<std::string> env;
  env.reserve(base.size() + 8);
  for (const std::string& e : base) {
    bool replaced = false;
    for (std::string_view prefix : kReplaced) {
      if (e.rfind(prefix, 0) == 0) replaced = true;
    }
    if (!replaced) env.push_back(e);
  }
  if (!access_key_id.empty()) {
    env.push_back("AWS_ACCESS_KEY_ID=" + access_key_id);
    env.push_back("AWS_SECRET_ACCESS_KEY=" + std::string(secret_access_key));
    env.push_back("AWS_SESSION_TOKEN=" + session_token);
  }
  env.push_back("AWS_DEFAULT_REGION=" + region);
  env.push_back("AWS_REGION=" + region);
  env.push_back("AWS_ENDPOINT_URL=" + endpoint);
  env.push_back("KEYWARD_ENDPOINT=" + endpoint);
  return env;
}

}  // namespace kw::agent
