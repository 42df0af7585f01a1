#include "agent/step_runner.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "agent/secret_sync.hpp"
#include "common/atomic_file.hpp"

namespace kw::agent {
namespace {

using std::chrono::steady_clock;

std::int64_t UnixMillis(const Clock& clock) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock.Now().time_since_epoch())
      .count();
}

// Keeps the first `max_bytes` bytes; counts the rest away.
struct Capture {
  std::string data;
  std::size_t max_bytes;
  void Append(const char* p, std::size_t n) {
    if (data.size() < max_bytes) data.append(p, std::min(n, max_bytes - data.size()));
  }
};

// Reads what is available; false at EOF or error.
bool Drain(int fd, Capture& out) {
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      out.Append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    return false;
  }
}

int PidFdOpen(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  return -1;
#endif
}

agentproto::StepResult Fail(agentproto::StepResult r, std::string why, const Clock& clock) {
  r.status = "Failed";
  r.response_code = -1;
  r.standard_error = std::move(why);
  r.ended_at = UnixMillis(clock);
  return r;
}

}  // namespace

CancelFlag::CancelFlag() {
  if (::pipe2(pipe_, O_CLOEXEC | O_NONBLOCK) != 0) pipe_[0] = pipe_[1] = -1;
}

CancelFlag::~CancelFlag() {
  if (pipe_[0] >= 0) ::close(pipe_[0]);
  if (pipe_[1] >= 0) ::close(pipe_[1]);
}

void CancelFlag::Cancel() {
  if (cancelled_.exchange(true)) return;
  if (pipe_[1] >= 0) {
    const char c = 'x';
    [[maybe_unused]] ssize_t n = ::write(pipe_[1], &c, 1);
  }
}

agentproto::StepResult RunStep(const agentproto::Step& step, const StepOptions& options,
                               const CancelFlag& cancel, const Clock& clock) {
  if (step.action == kSyncSecretAction) {
    SyncContext sync;
    sync.fetch = EnvironmentSecretFetcher(options.environment, options.ca_file, clock);
    sync.state_dir = options.state_dir;
    sync.environment = options.environment;
    sync.hook_script_base = options.script_path;
    sync.kill_grace = options.kill_grace;
    // The lock wait stays within the step's own timeout.
    sync.lock_wait = std::chrono::seconds(std::clamp<std::int64_t>(step.timeout_seconds, 1, 60));
    return RunSecretSync(step, sync, cancel, clock);
  }
  agentproto::StepResult result;
  result.name = step.name;
  result.started_at = UnixMillis(clock);
  if (cancel.cancelled()) {
    result.status = "Cancelled";
    result.ended_at = result.started_at;
    return result;
  }

  std::string script;
  for (const std::string& line : step.run_command) {
    script += line;
    script += '\n';
  }
  if (auto st = WriteFileAtomic(options.script_path, script, 0700); !st) {
    return Fail(std::move(result), "cannot write the step's script: " + st.error().message, clock);
  }

  // Everything the child needs is prepared before fork: after it only async-signal-safe
  // calls are allowed (the agent has other threads).
  const std::string script_path = options.script_path.string();
  const std::string workdir = step.working_directory;
  std::vector<char*> envp;
  for (const std::string& e : options.environment) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  char sh[] = "/bin/sh";
  char* argv[] = {sh, const_cast<char*>(script_path.c_str()), nullptr};

  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    return Fail(std::move(result), std::string("pipe: ") + std::strerror(errno), clock);
  }
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return Fail(std::move(result), std::string("pipe: ") + std::strerror(errno), clock);
  }

  const pid_t pid = ::fork();
  if (pid < 0) {
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) ::close(fd);
    std::filesystem::remove(options.script_path);
    return Fail(std::move(result), std::string("fork: ") + std::strerror(errno), clock);
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    // The agent blocks its stop signals in every thread; the step must not inherit that.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::dup2(err_pipe[1], STDERR_FILENO);
    if (!workdir.empty() && ::chdir(workdir.c_str()) != 0) {
      static const char msg[] = "keyward-agent: cannot change to the working directory\n";
      [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, msg, sizeof msg - 1);
      ::_exit(1);
    }
    ::execve(sh, argv, envp.data());
    static const char msg[] = "keyward-agent: cannot execute /bin/sh\n";
    [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also here, so a kill right away cannot miss the group
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  ::fcntl(out_pipe[0], F_SETFL, O_NONBLOCK);
  ::fcntl(err_pipe[0], F_SETFL, O_NONBLOCK);
  const int pidfd = PidFdOpen(pid);

  Capture out{{}, agentproto::kMaxStdoutChars * 4};  // characters are up to 4 bytes
  Capture err{{}, agentproto::kMaxStderrChars * 4};
  const auto timeout = step.timeout_seconds > 0 ? std::chrono::seconds(step.timeout_seconds)
                                                : options.default_timeout;
  const auto deadline = steady_clock::now() + timeout;
  bool kill_pending = false;  // SIGKILL due at kill_at
  steady_clock::time_point kill_at{};
  std::optional<steady_clock::time_point> drain_until;  // after the shell exited
  const char* ended_by = nullptr;                       // "TimedOut" or "Cancelled"
  bool out_open = true;
  bool err_open = true;
  bool exited = false;
  int wait_status = 0;

  while (true) {
    if (!exited) {
      const pid_t w = ::waitpid(pid, &wait_status, WNOHANG);
      if (w == pid) {
        exited = true;
        // Background children may hold the pipes open; read what is there, briefly.
        drain_until = steady_clock::now() + std::chrono::milliseconds(200);
      }
    }
    const auto now = steady_clock::now();
    const bool reading = out_open || err_open;
    const bool done_reading = exited && (!reading || now >= *drain_until);
    // A timed-out or cancelled step is over when its whole group is gone (or SIGKILLed),
    // not when the shell is: grandchildren may ignore SIGTERM.
    const bool group_gone = ended_by == nullptr || !kill_pending || ::kill(-pid, 0) != 0;
    if (done_reading && group_gone) break;
    if (!exited && ended_by == nullptr && (now >= deadline || cancel.cancelled())) {
      ended_by = cancel.cancelled() ? "Cancelled" : "TimedOut";
      ::kill(-pid, SIGTERM);
      kill_at = now + options.kill_grace;
      kill_pending = true;
    }
    if (kill_pending && now >= kill_at) {
      ::kill(-pid, SIGKILL);
      kill_pending = false;
    }

    pollfd fds[4];
    nfds_t n = 0;
    int out_i = -1, err_i = -1;
    if (out_open) {
      out_i = static_cast<int>(n);
      fds[n++] = {out_pipe[0], POLLIN, 0};
    }
    if (err_open) {
      err_i = static_cast<int>(n);
      fds[n++] = {err_pipe[0], POLLIN, 0};
    }
    if (!exited && pidfd >= 0) fds[n++] = {pidfd, POLLIN, 0};
    if (ended_by == nullptr) fds[n++] = {cancel.wake_fd(), POLLIN, 0};

    steady_clock::time_point wake = exited ? *drain_until : deadline;
    if (done_reading) wake = now + std::chrono::milliseconds(50);  // polling the group
    if (kill_pending) wake = std::min(wake, kill_at);
    if (ended_by != nullptr && !kill_pending && !exited) {
      wake = std::min(wake, now + std::chrono::milliseconds(50));  // reaping a killed group
    }
    if (!exited && pidfd < 0) wake = std::min(wake, now + std::chrono::milliseconds(100));
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(wake - now).count() + 1;
    if (n == 0) {
      ::usleep(static_cast<useconds_t>(std::clamp<std::int64_t>(ms, 0, 60000)) * 1000);
      continue;
    }
    const int r = ::poll(fds, n, static_cast<int>(std::clamp<std::int64_t>(ms, 0, 60000)));
    if (r < 0 && errno != EINTR) break;
    if (r <= 0) continue;
    if (out_i >= 0 && fds[out_i].revents != 0) out_open = Drain(out_pipe[0], out);
    if (err_i >= 0 && fds[err_i].revents != 0) err_open = Drain(err_pipe[0], err);
  }
  if (!exited) {  // defensive: never leave a zombie
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, &wait_status, 0);
  }
  if (pidfd >= 0) ::close(pidfd);
  ::close(out_pipe[0]);
  ::close(err_pipe[0]);
  std::error_code ec;
  std::filesystem::remove(options.script_path, ec);

  result.standard_output = agentproto::TruncateOutput(out.data, agentproto::kMaxStdoutChars);
  result.standard_error = agentproto::TruncateOutput(err.data, agentproto::kMaxStderrChars);
  if (WIFEXITED(wait_status)) {
    result.response_code = WEXITSTATUS(wait_status);
  } else if (WIFSIGNALED(wait_status)) {
    result.response_code = 128 + WTERMSIG(wait_status);
  }
  if (ended_by != nullptr) {
    result.status = ended_by;
  } else {
    result.status = result.response_code == 0 ? "Success" : "Failed";
  }
  result.ended_at = UnixMillis(clock);
  return result;
}

}  // namespace kw::agent
