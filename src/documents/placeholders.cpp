#include "documents/placeholders.hpp"

namespace kw::documents {
namespace {

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == ':' || c == '/' || c == '-';
}

}  // namespace

std::vector<Placeholder> FindPlaceholders(std::string_view text) {
  std::vector<Placeholder> out;
  std::size_t pos = 0;
  while (true) {
    std::size_t open = text.find("{{", pos);
    if (open == std::string_view::npos) break;
    std::size_t i = open + 2;
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    std::size_t name_begin = i;
    while (i < text.size() && IsNameChar(text[i])) ++i;
    std::size_t name_end = i;
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    if (name_end > name_begin && i + 1 < text.size() && text[i] == '}' && text[i + 1] == '}') {
      out.push_back({open, i + 2, std::string(text.substr(name_begin, name_end - name_begin))});
      pos = i + 2;
    } else {
      pos = open + 1;
    }
  }
  return out;
}

bool IsParameterName(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) {
      return false;
    }
  }
  return true;
}

}  // namespace kw::documents
