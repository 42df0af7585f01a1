#include "store/kv_names.hpp"

namespace kw::store {

Status ValidateTableName(std::string_view table) {
  if (table.empty() || table.size() > kMaxTableNameLength) {
    return InvalidArgument("table name must have 1 to 64 characters");
  }
  for (char c : table) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return InvalidArgument("table name must consist of [a-z0-9_]");
  }
  return OkStatus();
}

Status ValidateKey(std::string_view key) {
  if (key.empty()) return InvalidArgument("key must not be empty");
  const auto* p = reinterpret_cast<const unsigned char*>(key.data());
  const auto* end = p + key.size();
  while (p < end) {
    const unsigned char c = *p;
    if (c == 0) return InvalidArgument("key must not contain NUL characters");
    int len = 0;
    char32_t cp = 0;
    if (c < 0x80) {
      ++p;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return InvalidArgument("key must be valid UTF-8");
    }
    if (end - p < len) return InvalidArgument("key must be valid UTF-8");
    for (int i = 1; i < len; ++i) {
      if ((p[i] & 0xc0) != 0x80) return InvalidArgument("key must be valid UTF-8");
      cp = (cp << 6) | (p[i] & 0x3f);
    }
    // Overlong encodings, surrogates and values past U+10FFFF are not UTF-8.
    static constexpr char32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return InvalidArgument("key must be valid UTF-8");
    }
    p += len;
  }
  return OkStatus();
}

std::optional<std::string> PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last != 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::nullopt;
}

}  // namespace kw::store
