#pragma once

// The agent's state directory (default /var/lib/keyward-agent, mode 0700):
//   host.key           Ed25519 private key, PKCS#8 PEM, 0600; never leaves the host
//   registration.json  instance ID, endpoint, region, registered fingerprint (0600)
//   seen-commands      command IDs with their final results (agent/seen_commands.hpp)
//   status.json        what `run` last reported, for `keyward-agent status` (0644)
//   work/              one 0700 script file per running step
// Every write is atomic (temp file, fsync, rename). Thread-safe: no shared state; each
// file has one writer (the `run` process).

#include <cstdint>
#include <filesystem>
#include <string>

#include "agentproto/agent_protocol.hpp"
#include "common/result.hpp"
#include "common/secret_bytes.hpp"

namespace kw::agent {

inline constexpr const char* kDefaultStateDir = "/var/lib/keyward-agent";

struct Registration {
  std::string instance_id;
  std::string endpoint;  // the server URL given to `register`
  std::string region;
  std::string activation_id;
  agentproto::Fingerprint fingerprint;  // as registered
  std::int64_t registered_at = 0;       // Unix seconds
};

// What `run` last knew, for `status`. Holds no secret.
struct AgentStatus {
  std::int64_t pid = 0;
  std::int64_t updated_at = 0;             // Unix seconds
  std::string connection;                  // starting, connecting, connected, hibernating, stopped
  std::string detail;                      // the last error, human-readable
  std::int64_t credential_expiration = 0;  // Unix seconds, 0 if none
  std::string last_command_id;
  std::string last_command_status;
  std::int64_t last_command_at = 0;
};

class StateDir {
 public:
  explicit StateDir(std::filesystem::path root) : root_(std::move(root)) {}

  // Creates the directory and work/ (0700) or tightens their modes. Errors as
  // kw::EnsurePrivateDir.
  Status Ensure() const;

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path host_key_path() const { return root_ / "host.key"; }
  std::filesystem::path registration_path() const { return root_ / "registration.json"; }
  std::filesystem::path seen_commands_path() const { return root_ / "seen-commands"; }
  std::filesystem::path status_path() const { return root_ / "status.json"; }
  std::filesystem::path work_dir() const { return root_ / "work"; }

  // kNotFound when absent; kPermissionDenied when not readable (not root or the agent's
  // user).
  Result<SecretBytes> ReadHostKey() const;
  Status WriteHostKey(const SecretBytes& pem) const;  // 0600

  // kNotFound when the host is not registered; kFailedPrecondition when the file is
  // malformed.
  Result<Registration> ReadRegistration() const;
  Status WriteRegistration(const Registration& r) const;  // 0600

  Result<AgentStatus> ReadStatus() const;
  Status WriteStatus(const AgentStatus& s) const;  // 0644: holds no secret

 private:
  std::filesystem::path root_;
};

}  // namespace kw::agent
