#include "agent/log.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>

#include "common/time_format.hpp"

namespace kw::agent {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};

std::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

}  // namespace

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }

void Log(LogLevel level, std::string_view message) {
  if (static_cast<int>(level) < g_level.load()) return;
  std::string line = FormatIso8601(std::chrono::system_clock::now());
  line += " keyward-agent ";
  line += LevelName(level);
  line += ": ";
  line += message;
  line += '\n';
  // One write per line so that lines from several threads never interleave.
  std::string_view rest = line;
  while (!rest.empty()) {
    const ssize_t n = ::write(STDERR_FILENO, rest.data(), rest.size());
    if (n <= 0) return;
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace kw::agent
