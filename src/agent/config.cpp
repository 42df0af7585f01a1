#include "agent/config.hpp"

#include "common/atomic_file.hpp"

namespace kw::agent {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

Result<AgentConfig> ParseConfig(std::string_view text) {
  AgentConfig config;
  int line_no = 0;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    const std::string_view line = Trim(text.substr(0, nl));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    if (line.empty() || line.front() == '#') continue;
    const auto eq = line.find('=');
    const std::string where = "config line " + std::to_string(line_no) + ": ";
    if (eq == std::string_view::npos) return InvalidArgument(where + "expected key = value");
    const std::string key(Trim(line.substr(0, eq)));
    std::string_view value = Trim(line.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    bool known = false;
    for (std::string_view k : kConfigKeys) known = known || k == key;
    if (!known) return InvalidArgument(where + "unknown key '" + key + "'");
    if (!config.emplace(key, std::string(value)).second) {
      return InvalidArgument(where + "duplicate key '" + key + "'");
    }
  }
  return config;
}

Result<AgentConfig> LoadConfig(const std::string& path, bool optional) {
  auto text = ReadFileLimited(path, 64 * 1024);
  if (!text) {
    if (optional && text.error().code == ErrorCode::kNotFound) return AgentConfig{};
    return text.error();
  }
  return ParseConfig(*text);
}

}  // namespace kw::agent
