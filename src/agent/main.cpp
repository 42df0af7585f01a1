// keyward-agent: the host agent. Composition root: parses the command line and the
// optional configuration file, then calls one of agent/actions.hpp or agent/daemon.hpp.
#include <CLI/CLI.hpp>
#include <iostream>
#include <optional>

#include "agent/actions.hpp"
#include "agent/config.hpp"
#include "agent/daemon.hpp"
#include "agent/log.hpp"
#include "agent/secret_sync.hpp"
#include "agent/state_dir.hpp"

namespace {

using kw::agent::AgentConfig;

// The option's value if given on the command line, else the config file's, else `def`.
std::string Pick(const std::string& cli, const AgentConfig& config, std::string_view key,
                 std::string def = {}) {
  if (!cli.empty()) return cli;
  if (auto it = config.find(key); it != config.end()) return it->second;
  return def;
}

std::optional<long> ToNumber(const std::string& text) {
  if (text.empty() || text.size() > 9 ||
      text.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  return std::stol(text);
}

int Fail(const std::string& message, int code = 1) {
  std::cerr << "keyward-agent: " << message << "\n";
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"keyward-agent: keeps a host's keyward credentials and runs its commands"};
  app.set_version_flag("--version", std::string("keyward-agent ") + KW_VERSION);
  app.require_subcommand(0, 1);
  std::string config_path;
  app.add_option("--config", config_path,
                 std::string("configuration file (default ") + kw::agent::kDefaultConfigFile +
                     " if it exists)");
  std::string state_dir;
  std::string ca_file;
  std::string log_level;
  app.add_option("--log-level", log_level, "debug, info, warning or error");

  auto* version = app.add_subcommand("version", "Print the version and exit");

  kw::agent::RegisterOptions reg;
  auto* register_cmd = app.add_subcommand("register", "Register this host with an activation");
  register_cmd->add_option("--endpoint", reg.endpoint, "keyward server URL")->required();
  register_cmd->add_option("--code", reg.activation_code, "activation code")->required();
  register_cmd->add_option("--id", reg.activation_id, "activation ID")->required();
  register_cmd->add_option("--region", reg.region, "region")->required();
  register_cmd->add_option("--state-dir", state_dir, "state directory");
  register_cmd->add_option("--ca-file", ca_file, "PEM CA bundle to verify the server with");
  register_cmd->add_flag("--force", reg.force, "register again over an existing registration");

  std::string credentials_file;
  std::string profile;
  std::string heartbeat;
  std::string max_concurrent;
  auto* run_cmd = app.add_subcommand("run", "Run the agent (the systemd service)");
  run_cmd->add_option("--state-dir", state_dir, "state directory");
  run_cmd->add_option("--credentials-file", credentials_file,
                      "shared-credentials file to keep the instance credentials in");
  run_cmd->add_option("--profile", profile, "the agent's own profile in that file (not default)");
  run_cmd->add_option("--heartbeat", heartbeat, "seconds between heartbeats (default 30)");
  run_cmd->add_option("--max-concurrent-commands", max_concurrent, "default 8");
  run_cmd->add_option("--ca-file", ca_file, "PEM CA bundle to verify the server with");

  auto* process_cmd = app.add_subcommand(
      "credential-process", "Print the instance credentials as AWS credential_process JSON");
  process_cmd->add_option("--state-dir", state_dir, "state directory");
  process_cmd->add_option("--ca-file", ca_file, "PEM CA bundle to verify the server with");
  std::string secret_id;
  process_cmd->add_option("--secret-id", secret_id,
                          "print the key that secret sync installed for this secret (Format "
                          "credential-process) instead of the instance credentials");

  auto* status_cmd = app.add_subcommand("status", "Show registration and connection state");
  status_cmd->add_option("--state-dir", state_dir, "state directory");

  CLI11_PARSE(app, argc, argv);
  if (version->parsed() || app.get_subcommands().empty()) {
    std::cout << "keyward-agent " << KW_VERSION << "\n";
    return 0;
  }

  auto config = kw::agent::LoadConfig(
      config_path.empty() ? kw::agent::kDefaultConfigFile : config_path, config_path.empty());
  if (!config) return Fail("configuration: " + config.error().message);
  log_level = Pick(log_level, *config, "log_level", "info");
  if (log_level == "debug") {
    kw::agent::SetLogLevel(kw::agent::LogLevel::kDebug);
  } else if (log_level == "warning") {
    kw::agent::SetLogLevel(kw::agent::LogLevel::kWarning);
  } else if (log_level == "error") {
    kw::agent::SetLogLevel(kw::agent::LogLevel::kError);
  } else if (log_level != "info") {
    return Fail("unknown log level '" + log_level + "'");
  }
  state_dir = Pick(state_dir, *config, "state_dir", kw::agent::kDefaultStateDir);
  ca_file = Pick(ca_file, *config, "ca_file");
  kw::SystemClock clock;

  if (register_cmd->parsed()) {
    reg.state_dir = state_dir;
    reg.ca_file = ca_file;
    reg.agent_version = KW_VERSION;
    auto id = kw::agent::RegisterHost(reg, clock);
    if (!id) return Fail("registration failed: " + id.error().message);
    std::cout << *id << "\n";
    return 0;
  }
  if (process_cmd->parsed() && !secret_id.empty()) {
    auto out = kw::agent::SyncedCredentialProcessOutput(state_dir, secret_id);
    if (!out) return Fail(out.error().message);
    std::cout << *out << "\n";
    return 0;
  }
  if (process_cmd->parsed()) {
    auto out = kw::agent::CredentialProcessOutput(state_dir, "/", ca_file);
    if (!out) return Fail(out.error().message);
    std::cout << *out << "\n";
    return 0;
  }
  if (status_cmd->parsed()) {
    auto out = kw::agent::StatusReport(state_dir, "/", clock);
    if (!out) return Fail(out.error().message);
    std::cout << *out;
    return 0;
  }

  kw::agent::RunOptions run;
  run.state_dir = state_dir;
  run.ca_file = ca_file;
  run.credentials_file = Pick(credentials_file, *config, "credentials_file");
  run.profile = Pick(profile, *config, "profile");
  run.agent_version = KW_VERSION;
  if (!run.credentials_file.empty() && run.profile.empty()) {
    return Fail("--credentials-file needs --profile (the agent's own profile)");
  }
  const auto hb = ToNumber(Pick(heartbeat, *config, "heartbeat_seconds", "30"));
  if (!hb || *hb < 1 || *hb > 3600) return Fail("the heartbeat must be 1 to 3600 seconds");
  run.heartbeat = std::chrono::seconds(*hb);
  const auto mc = ToNumber(Pick(max_concurrent, *config, "max_concurrent_commands", "8"));
  if (!mc || *mc < 1 || *mc > 256) return Fail("max_concurrent_commands must be 1 to 256");
  run.max_concurrent_commands = static_cast<std::size_t>(*mc);
  const auto grace = ToNumber(Pick({}, *config, "kill_grace_seconds", "5"));
  if (!grace || *grace > 300) return Fail("kill_grace_seconds must be 0 to 300");
  run.kill_grace = std::chrono::seconds(*grace);
  return kw::agent::RunDaemon(run);
}
