#include "awsclient/ini.hpp"

#include <cctype>

namespace kw::awsclient {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

Error LineError(int line, std::string_view what) {
  return InvalidArgument("line " + std::to_string(line) + ": " + std::string(what));
}

}  // namespace

Result<IniSections> ParseIni(std::string_view text) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // UTF-8 BOM
  IniSections sections;
  std::map<std::string, std::string>* section = nullptr;
  std::string* last_value = nullptr;  // target of continuation lines
  int line_no = 0;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

    const std::string_view trimmed = Trim(line);
    if (trimmed.empty()) {
      // A blank line ends nothing in configparser's eyes for values, but a value
      // continued after a blank line is rare enough that we keep it simple: blank
      // lines only separate.
      continue;
    }
    if (trimmed.front() == '#' || trimmed.front() == ';') continue;

    const bool indented = line.front() == ' ' || line.front() == '\t';
    if (indented && last_value != nullptr) {
      if (!last_value->empty()) *last_value += '\n';
      *last_value += trimmed;
      continue;
    }
    if (trimmed.front() == '[') {
      if (trimmed.back() != ']') return LineError(line_no, "section header lacks ']'");
      const std::string name(Trim(trimmed.substr(1, trimmed.size() - 2)));
      if (name.empty()) return LineError(line_no, "empty section name");
      auto [it, inserted] = sections.try_emplace(name);
      if (!inserted) return LineError(line_no, "duplicate section '" + name + "'");
      section = &it->second;
      last_value = nullptr;
      continue;
    }
    const auto delim = trimmed.find_first_of("=:");
    if (delim == std::string_view::npos) {
      return LineError(line_no, "expected 'key = value'");
    }
    if (section == nullptr) return LineError(line_no, "setting before any [section]");
    const std::string key = Lower(Trim(trimmed.substr(0, delim)));
    if (key.empty()) return LineError(line_no, "empty key");
    auto [it, inserted] = section->try_emplace(key, std::string(Trim(trimmed.substr(delim + 1))));
    if (!inserted) return LineError(line_no, "duplicate key '" + key + "'");
    last_value = &it->second;
  }
  return sections;
}

}  // namespace kw::awsclient
