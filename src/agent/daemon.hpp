#pragma once

// `keyward-agent run`: the daemon. Obtains instance credentials (refreshed at half
// life), holds the control channel (hello, heartbeats, commands, results), hibernates on
// a refused fingerprint and stops for good on an unknown instance.

#include <chrono>
#include <filesystem>
#include <string>

namespace kw::agent {

struct RunOptions {
  std::filesystem::path state_dir;
  std::filesystem::path identity_root = "/";  // where the fingerprint is read
  std::string credentials_file;               // empty: do not write one
  std::string profile;                        // required with credentials_file
  std::chrono::seconds heartbeat{30};
  std::string ca_file;
  std::size_t max_concurrent_commands = 8;
  std::chrono::seconds kill_grace{5};
  std::string agent_version;
};

// Exit codes of RunDaemon.
inline constexpr int kExitOk = 0;            // stopped by SIGTERM/SIGINT
inline constexpr int kExitSetup = 1;         // state directory, key or options unusable
inline constexpr int kExitDeregistered = 2;  // InvalidInstanceId: re-register the host

// Runs until SIGTERM or SIGINT, or a permanent error (logged with what to do). Blocks
// those signals in every thread it creates and waits for them on one of its own; must
// be called before the process starts other threads.
int RunDaemon(const RunOptions& options);

}  // namespace kw::agent
