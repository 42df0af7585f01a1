#include "common/uuid.hpp"

#include <cstddef>

namespace kw {

std::string FormatUuidV4(std::array<unsigned char, 16> b) {
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  // 8-4-4-4-12 hex digits, without snprintf (it showed in the request profile).
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 0x0f]);
  }
  return out;
}

std::string NewUuid(Random& random) {
  std::array<unsigned char, 16> b{};
  random.Fill(b.data(), b.size());
  return FormatUuidV4(b);
}

}  // namespace kw
