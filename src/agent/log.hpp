#pragma once

// The agent's log: one line per event on stderr, which systemd sends to the journal.
// Deliberately tiny instead of spdlog, to keep the agent's binary and memory small.
// Thread-safe (one write(2) per line). Never pass secret material.

#include <string_view>

namespace kw::agent {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// Lines below this level are dropped. Default kInfo.
void SetLogLevel(LogLevel level);
void Log(LogLevel level, std::string_view message);

inline void LogInfo(std::string_view m) { Log(LogLevel::kInfo, m); }
inline void LogWarning(std::string_view m) { Log(LogLevel::kWarning, m); }
inline void LogError(std::string_view m) { Log(LogLevel::kError, m); }
inline void LogDebug(std::string_view m) { Log(LogLevel::kDebug, m); }

}  // namespace kw::agent
