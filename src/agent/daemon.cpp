#include "agent/daemon.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "agent/api_client.hpp"
#include "agent/backoff.hpp"
#include "agent/command_runner.hpp"
#include "agent/credentials_file.hpp"
#include "agent/fingerprint.hpp"
#include "agent/log.hpp"
#include "agent/seen_commands.hpp"
#include "agent/state_dir.hpp"
#include "agent/transport.hpp"
#include "common/time_format.hpp"
#include "crypto/csprng.hpp"
#include "sigv4/sigv4.hpp"

extern char** environ;

namespace kw::agent {
namespace {

using std::chrono::steady_clock;
using namespace std::chrono_literals;

std::string Seconds(std::chrono::milliseconds d) {
  return std::to_string((d.count() + 999) / 1000) + " s";
}

class Daemon {
 public:
  Daemon(const RunOptions& options, Registration registration, ServerUrl server,
         SecretBytes host_key)
      : options_(options),
        state_(options.state_dir),
        registration_(std::move(registration)),
        server_(std::move(server)),
        host_key_(std::move(host_key)),
        post_(HttpPoster(server_, TlsOptions{options.ca_file}, 30s)),
        seen_(state_.seen_commands_path()) {
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) base_env_.emplace_back(*e);
    CommandRunner::Options runner_options;
    runner_options.max_concurrent = options.max_concurrent_commands;
    runner_options.work_dir = state_.work_dir();
    runner_options.kill_grace = options.kill_grace;
    runner_options.ca_file = options.ca_file;
    runner_ = std::make_unique<CommandRunner>(
        runner_options, clock_, [this] { return ChildEnvironment(); },
        [this](const agentproto::ResultMessage& r) { OnResult(r); });
  }

  ~Daemon() { runner_.reset(); }  // cancels and joins commands before anything else goes

  int Run();

  // From the signal thread.
  void Stop() {
    {
      std::lock_guard lock(stop_mu_);
      stopped_ = true;
    }
    stop_cv_.notify_all();
    std::lock_guard lock(channel_mu_);
    if (channel_ != nullptr) channel_->Close();
  }

 private:
  enum class CredentialOutcome { kOk, kRetry, kHibernate, kDeregistered };
  enum class SessionEnd { kLost, kHibernate, kDeregistered };

  // True if stopped while waiting.
  bool WaitFor(std::chrono::milliseconds d) {
    std::unique_lock lock(stop_mu_);
    return stop_cv_.wait_for(lock, d, [&] { return stopped_; });
  }
  bool stopped() {
    std::lock_guard lock(stop_mu_);
    return stopped_;
  }

  CredentialOutcome RefreshCredentials();
  SessionEnd RunSession(WebSocketChannel& channel);
  Result<std::unique_ptr<WebSocketChannel>> Connect();
  void HandleMessage(std::string_view text);
  void HandleCommand(agentproto::CommandMessage command);
  void OnResult(const agentproto::ResultMessage& result);
  bool SendText(std::string text);
  void SendResult(const agentproto::ResultMessage& result);
  std::vector<std::string> ChildEnvironment();
  template <class F>
  void UpdateStatus(F change);

  const RunOptions& options_;
  StateDir state_;
  Registration registration_;
  ServerUrl server_;
  SecretBytes host_key_;
  PostFn post_;
  SeenCommands seen_;
  SystemClock clock_;
  crypto::Csprng random_;
  std::vector<std::string> base_env_;

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopped_ = false;  // guarded by stop_mu_

  std::mutex creds_mu_;
  std::optional<InstanceCredentials> creds_;  // guarded by creds_mu_
  steady_clock::time_point refresh_at_{};     // guarded by creds_mu_

  std::mutex channel_mu_;
  WebSocketChannel* channel_ = nullptr;  // guarded by channel_mu_: the open connection

  std::mutex status_mu_;
  AgentStatus status_;  // guarded by status_mu_

  // Main thread only.
  std::chrono::milliseconds retry_delay_{0};  // set when RefreshCredentials fails
  Backoff hibernation_{5s, 1h, /*jitter=*/false, random_};
  Backoff reconnect_{1s, 5min, /*jitter=*/true, random_};
  std::unique_ptr<CommandRunner> runner_;  // last: destroyed first
};

template <class F>
void Daemon::UpdateStatus(F change) {
  std::lock_guard lock(status_mu_);
  change(status_);
  status_.pid = ::getpid();
  status_.updated_at =
      std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch()).count();
  if (auto st = state_.WriteStatus(status_); !st) {
    LogWarning("cannot write status.json: " + st.error().message);
  }
}

std::vector<std::string> Daemon::ChildEnvironment() {
  std::lock_guard lock(creds_mu_);
  if (!creds_) {
    return StepEnvironment(base_env_, "", "", "", registration_.region, server_.text);
  }
  return StepEnvironment(base_env_, creds_->credentials.access_key_id,
                         creds_->credentials.secret_access_key.Reveal(),
                         creds_->credentials.session_token, registration_.region, server_.text);
}

Daemon::CredentialOutcome Daemon::RefreshCredentials() {
  const agentproto::Fingerprint fingerprint = ComputeFingerprint(options_.identity_root);
  auto obtained = ObtainCredentials(post_, registration_.instance_id, host_key_, fingerprint);
  if (!obtained) {
    const Error& e = obtained.error();
    if (e.reason == "InvalidInstanceId") {
      LogError("the server does not know instance " + registration_.instance_id +
               " (deregistered?): stopping. Register this host again with `keyward-agent "
               "register --force`.");
      UpdateStatus([&](AgentStatus& s) {
        s.connection = "stopped";
        s.detail = "InvalidInstanceId: the instance is unknown or deregistered";
      });
      return CredentialOutcome::kDeregistered;
    }
    if (e.reason == "FingerprintMismatch") {
      const auto delay = hibernation_.Next();
      LogError("the server refused this host's fingerprint (FingerprintMismatch) for " +
               registration_.instance_id +
               ": hibernating; an operator can approve the change with `keyward instance "
               "rebind " +
               registration_.instance_id + "`; next attempt in " + Seconds(delay));
      UpdateStatus([&](AgentStatus& s) {
        s.connection = "hibernating";
        s.detail = "FingerprintMismatch: waiting for `keyward instance rebind`";
      });
      retry_delay_ = delay;
      return CredentialOutcome::kHibernate;
    }
    const auto delay = reconnect_.Next();
    LogWarning("cannot obtain instance credentials: " + e.message + "; retrying in " +
               Seconds(delay));
    UpdateStatus([&](AgentStatus& s) { s.detail = e.message; });
    retry_delay_ = delay;
    return CredentialOutcome::kRetry;
  }
  hibernation_.Reset();
  const std::int64_t now_s =
      std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch()).count();
  const std::int64_t lifetime = std::max<std::int64_t>(obtained->expiration - now_s, 0);
  // Refresh at half life, but never sooner than 10 s from now (a clock skew or a very
  // short session must not turn into a tight loop).
  const auto refresh_in = std::chrono::seconds(std::max<std::int64_t>(lifetime / 2, 10));
  if (!options_.credentials_file.empty()) {
    if (auto st = WriteProfileCredentials(options_.credentials_file, options_.profile,
                                          obtained->credentials, obtained->expiration);
        !st) {
      LogError("cannot write the credentials file: " + st.error().message);
    }
  }
  const std::int64_t expiration = obtained->expiration;
  {
    std::lock_guard lock(creds_mu_);
    creds_ = std::move(*obtained);
    refresh_at_ = steady_clock::now() + refresh_in;
  }
  LogInfo("obtained instance credentials for " + registration_.instance_id + ", valid until " +
          FormatIso8601(TimePoint(std::chrono::seconds(expiration))));
  UpdateStatus([&](AgentStatus& s) {
    s.credential_expiration = expiration;
    s.detail.clear();
  });
  return CredentialOutcome::kOk;
}

bool Daemon::SendText(std::string text) {
  std::lock_guard lock(channel_mu_);
  return channel_ != nullptr && channel_->Send(std::move(text));
}

void Daemon::SendResult(const agentproto::ResultMessage& result) {
  if (SendText(agentproto::Encode(result))) {
    if (auto st = seen_.MarkDelivered(result.command_id); !st) {
      LogWarning("cannot update seen-commands: " + st.error().message);
    }
  }
}

void Daemon::OnResult(const agentproto::ResultMessage& result) {
  if (auto st = seen_.RecordResult(result); !st) {
    LogError("cannot record the result of " + result.command_id + ": " + st.error().message);
  }
  LogInfo("command " + result.command_id + " finished: " + result.status + " (code " +
          std::to_string(result.response_code) + ")");
  UpdateStatus([&](AgentStatus& s) {
    s.last_command_id = result.command_id;
    s.last_command_status = result.status;
    s.last_command_at =
        std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch()).count();
  });
  SendResult(result);
}

void Daemon::HandleCommand(agentproto::CommandMessage command) {
  const std::string id = command.command_id;
  auto seen = seen_.Insert(id);
  if (!seen) {
    // Not persisted, so not acknowledged: the server delivers it again later.
    LogError("cannot persist command " + id + ": " + seen.error().message);
    return;
  }
  SendText(agentproto::Encode(agentproto::AckMessage{id}));
  if (seen->has_value()) {
    const SeenCommands::Entry& entry = **seen;
    LogInfo("command " + id + " was delivered again; not running it twice");
    if (entry.result) {
      SendResult(*entry.result);
    } else if (!runner_->IsActive(id)) {
      // Received by an earlier run of the agent that stopped before it finished. It may
      // have had effects, so it is not run again.
      agentproto::ResultMessage r;
      r.command_id = id;
      r.status = "Failed";
      r.response_code = -1;
      agentproto::StepResult step;
      step.name = "keyward-agent";
      step.status = "Failed";
      step.standard_error = "the agent stopped while this command ran; it was not run again";
      r.steps.push_back(std::move(step));
      OnResult(r);
    }
    return;
  }
  LogInfo("running command " + id + " (" + command.document_name + ", " +
          std::to_string(command.steps.size()) + " step(s))");
  UpdateStatus([&](AgentStatus& s) {
    s.last_command_id = id;
    s.last_command_status = "InProgress";
  });
  runner_->Start(std::move(command));
}

void Daemon::HandleMessage(std::string_view text) {
  auto message = agentproto::DecodeControlMessage(text);
  if (!message) {
    LogWarning("ignoring a malformed control message: " + message.error().message);
    return;
  }
  switch (message->type) {
    case agentproto::ControlMessage::Type::kCommand:
      HandleCommand(std::move(message->command));
      break;
    case agentproto::ControlMessage::Type::kCancel:
      if (runner_->Cancel(message->cancel.command_id)) {
        LogInfo("cancelling command " + message->cancel.command_id);
      } else {
        LogInfo("cancel for " + message->cancel.command_id + ", which is not running");
      }
      break;
    default:
      LogWarning("ignoring an unexpected control message type");
  }
}

Daemon::SessionEnd Daemon::RunSession(WebSocketChannel& channel) {
  agentproto::HelloMessage hello;
  hello.agent_version = options_.agent_version;
  hello.platform = ReadPlatform(options_.identity_root);
  hello.computer_name = ComputerName();
  hello.ip_address = PrimaryIpAddress(server_.host);
  channel.Send(agentproto::Encode(hello));
  if (auto pending = seen_.Undelivered(); pending) {
    for (const auto& r : *pending) SendResult(r);
  }
  auto next_heartbeat = steady_clock::now() + options_.heartbeat;
  while (!stopped()) {
    steady_clock::time_point refresh_at;
    {
      std::lock_guard lock(creds_mu_);
      refresh_at = refresh_at_;
    }
    const auto now = steady_clock::now();
    const auto wake = std::min(next_heartbeat, refresh_at);
    auto received = channel.Receive(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::max(wake - now, 0ns)) + 1ms);
    if (!received) {
      if (!stopped()) LogWarning(received.error().message);
      return SessionEnd::kLost;
    }
    if (received->has_value()) HandleMessage(**received);
    const auto after = steady_clock::now();
    if (after >= next_heartbeat) {
      channel.Send(agentproto::Encode(agentproto::HeartbeatMessage{}));
      next_heartbeat = after + options_.heartbeat;
    }
    if (after >= refresh_at) {
      // The channel stays up: it was authenticated once, at the upgrade. Fresh
      // credentials are for the steps' environment and the credentials file.
      switch (RefreshCredentials()) {
        case CredentialOutcome::kOk:
          break;
        case CredentialOutcome::kRetry: {
          std::lock_guard lock(creds_mu_);
          refresh_at_ = steady_clock::now() + retry_delay_;
          break;
        }
        case CredentialOutcome::kHibernate:
          return SessionEnd::kHibernate;
        case CredentialOutcome::kDeregistered:
          return SessionEnd::kDeregistered;
      }
    }
  }
  return SessionEnd::kLost;
}

Result<std::unique_ptr<WebSocketChannel>> Daemon::Connect() {
  const std::string target = server_.base_path + "/v1/control-channel/" + registration_.instance_id;
  HeaderList headers = {{"Host", server_.host_header}};
  sigv4::Credentials signing;
  {
    std::lock_guard lock(creds_mu_);
    if (!creds_) return Unavailable("no instance credentials");
    signing.access_key_id = creds_->credentials.access_key_id;
    signing.secret_access_key = creds_->credentials.secret_access_key.Clone();
    signing.session_token = creds_->credentials.session_token;
  }
  const sigv4::RequestView view{"GET", target, headers, ""};
  sigv4::SigningParams params;
  params.region = registration_.region;
  params.service = "ssm";
  params.time = clock_.Now();
  HeaderList signed_headers = sigv4::Sign(view, signing, params);
  headers.insert(headers.end(), std::make_move_iterator(signed_headers.begin()),
                 std::make_move_iterator(signed_headers.end()));
  WebSocketOptions ws;
  ws.idle_timeout = 3 * options_.heartbeat;
  ws.max_message_bytes = agentproto::kMaxMessageBytes;
  return ConnectWebSocket(server_, target, headers, TlsOptions{options_.ca_file}, ws);
}

int Daemon::Run() {
  UpdateStatus([&](AgentStatus& s) {
    s = AgentStatus{};
    s.connection = "starting";
  });
  LogInfo("starting for instance " + registration_.instance_id + " at " + server_.text);
  bool need_credentials = true;
  while (!stopped()) {
    if (need_credentials) {
      const CredentialOutcome outcome = RefreshCredentials();
      if (outcome == CredentialOutcome::kDeregistered) return kExitDeregistered;
      if (outcome != CredentialOutcome::kOk) {
        if (WaitFor(retry_delay_)) break;
        continue;
      }
      need_credentials = false;
    }
    UpdateStatus([&](AgentStatus& s) { s.connection = "connecting"; });
    auto channel = Connect();
    if (!channel) {
      const auto delay = reconnect_.Next();
      LogWarning("cannot open the control channel: " + channel.error().message + "; retrying in " +
                 Seconds(delay));
      UpdateStatus([&](AgentStatus& s) { s.detail = channel.error().message; });
      // Refused credentials (expired, rotated by a rebind...): get fresh ones first.
      if (channel.error().code == ErrorCode::kPermissionDenied) need_credentials = true;
      if (WaitFor(delay)) break;
      continue;
    }
    {
      std::lock_guard lock(channel_mu_);
      channel_ = channel->get();
    }
    if (stopped()) (*channel)->Close();
    LogInfo("control channel open");
    UpdateStatus([&](AgentStatus& s) {
      s.connection = "connected";
      s.detail.clear();
    });
    const auto opened_at = steady_clock::now();
    const SessionEnd end = RunSession(**channel);
    {
      std::lock_guard lock(channel_mu_);
      channel_ = nullptr;
    }
    channel->reset();
    if (end == SessionEnd::kDeregistered) return kExitDeregistered;
    if (end == SessionEnd::kHibernate) {
      need_credentials = true;
      if (WaitFor(retry_delay_)) break;
      continue;
    }
    if (stopped()) break;
    if (steady_clock::now() - opened_at > 1min) reconnect_.Reset();
    const auto delay = reconnect_.Next();
    LogInfo("control channel closed; reconnecting in " + Seconds(delay));
    UpdateStatus([&](AgentStatus& s) { s.connection = "connecting"; });
    if (WaitFor(delay)) break;
    std::lock_guard lock(creds_mu_);
    need_credentials = steady_clock::now() >= refresh_at_;
  }
  LogInfo("stopping");
  UpdateStatus([&](AgentStatus& s) { s.connection = "stopped"; });
  return kExitOk;
}

}  // namespace

int RunDaemon(const RunOptions& options) {
  if (!options.credentials_file.empty()) {
    if (auto st = ValidateProfileName(options.profile); !st) {
      LogError("--profile: " + st.error().message);
      return kExitSetup;
    }
  }
  if (options.heartbeat < 1s) {
    LogError("the heartbeat interval must be at least one second");
    return kExitSetup;
  }
  const StateDir state(options.state_dir);
  if (auto st = state.Ensure(); !st) {
    LogError("state directory: " + st.error().message);
    return kExitSetup;
  }
  auto registration = state.ReadRegistration();
  if (!registration) {
    LogError(registration.error().code == ErrorCode::kNotFound
                 ? "this host is not registered: run `keyward-agent register` first"
                 : "cannot read the registration: " + registration.error().message);
    return kExitSetup;
  }
  auto key = state.ReadHostKey();
  if (!key) {
    LogError("cannot read the host key: " + key.error().message);
    return kExitSetup;
  }
  auto server = ParseServerUrl(registration->endpoint);
  if (!server) {
    LogError("registration.json: " + server.error().message);
    return kExitSetup;
  }

  // Stop signals are handled by one thread with sigwait; every other thread, including
  // those created below, inherits the blocked mask (steps reset it before exec).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGHUP);
  ::pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  Daemon daemon(options, std::move(*registration), std::move(*server), std::move(*key));
  std::thread([&daemon, stop_signals] {
    int sig = 0;
    while (::sigwait(&stop_signals, &sig) == 0) {
      if (sig == SIGHUP) continue;  // no configuration to reload yet
      daemon.Stop();
      return;
    }
  }).detach();
  return daemon.Run();
}

}  // namespace kw::agent
