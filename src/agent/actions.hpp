#pragma once

// The one-shot subcommands of keyward-agent: register, credential-process, status.
// Each returns what to print on stdout, or an Error whose message is for the operator.

#include <filesystem>
#include <string>

#include "agent/api_client.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"

namespace kw::agent {

struct RegisterOptions {
  std::filesystem::path state_dir;
  std::filesystem::path identity_root = "/";
  std::string endpoint;
  std::string activation_code;
  std::string activation_id;
  std::string region;
  std::string ca_file;
  bool force = false;
  std::string agent_version;
};

// Generates the host key (written first, 0600: if the answer is lost the operator
// re-registers with --force instead of the server holding an instance whose key is
// gone), computes the fingerprint, registers and stores registration.json. Returns the
// instance ID. kAlreadyExists when already registered and not `force`. `post` defaults to
// HTTP(S) to `endpoint`.
Result<std::string> RegisterHost(const RegisterOptions& options, const Clock& clock,
                                 PostFn post = nullptr);

// AWS credential_process output (Version 1) for the host's instance credentials,
// obtained now with the host key (so the caller must be able to read host.key: root or
// the agent's user).
Result<std::string> CredentialProcessOutput(const std::filesystem::path& state_dir,
                                            const std::filesystem::path& identity_root,
                                            const std::string& ca_file, PostFn post = nullptr);

// A human-readable report: instance, server, connection state and credential expiry from
// status.json, fingerprint match computed now against the registered one, last command.
Result<std::string> StatusReport(const std::filesystem::path& state_dir,
                                 const std::filesystem::path& identity_root, const Clock& clock);

}  // namespace kw::agent
