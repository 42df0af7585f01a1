#pragma once

// The optional configuration file (default /etc/keyward-agent.conf; see
// packaging/keyward-agent.conf.sample): `key = value` lines, '#' comments, blank lines.
// Command-line options override it. Pure parsing; thread-safe.

#include <map>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace kw::agent {

inline constexpr const char* kDefaultConfigFile = "/etc/keyward-agent.conf";

// The keys the agent knows.
inline constexpr std::string_view kConfigKeys[] = {
    "state_dir",          "credentials_file", "profile",
    "heartbeat_seconds",  "ca_file",          "max_concurrent_commands",
    "kill_grace_seconds", "log_level"};

using AgentConfig = std::map<std::string, std::string, std::less<>>;

// kInvalidArgument naming the line for a malformed line, an unknown key or a duplicate.
// Values are trimmed; surrounding double quotes are removed.
Result<AgentConfig> ParseConfig(std::string_view text);

// Reads and parses `path`. A missing file yields an empty config when `optional`.
Result<AgentConfig> LoadConfig(const std::string& path, bool optional);

}  // namespace kw::agent
