#include "fleet/cidr.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>
#include <string>

namespace kw::fleet {

std::optional<CidrBlock> ParseCidrBlock(std::string_view text) {
  std::string_view addr = text;
  std::optional<int> prefix;
  const std::size_t slash = text.find('/');
  if (slash != std::string_view::npos) {
    addr = text.substr(0, slash);
    const std::string_view p = text.substr(slash + 1);
    int n = 0;
    const auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), n);
    if (p.empty() || p.size() > 3 || ec != std::errc() || ptr != p.data() + p.size()) {
      return std::nullopt;
    }
    prefix = n;
  }
  if (addr.empty() || addr.size() > 45) return std::nullopt;
  const std::string buf(addr);
  CidrBlock b;
  if (buf.find(':') == std::string::npos) {
    if (inet_pton(AF_INET, buf.c_str(), b.addr.data()) != 1) return std::nullopt;
    b.prefix = prefix.value_or(32);
    if (b.prefix < 0 || b.prefix > 32) return std::nullopt;
    return b;
  }
  if (inet_pton(AF_INET6, buf.c_str(), b.addr.data()) != 1) return std::nullopt;
  b.v6 = true;
  b.prefix = prefix.value_or(128);
  if (b.prefix < 0 || b.prefix > 128) return std::nullopt;
  static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (b.prefix >= 96 && std::memcmp(b.addr.data(), kMapped, 12) == 0) {
    std::memmove(b.addr.data(), b.addr.data() + 12, 4);
    std::memset(b.addr.data() + 4, 0, 12);
    b.v6 = false;
    b.prefix -= 96;
  }
  return b;
}

bool CidrContainsAddress(const CidrBlock& block, std::string_view ip) {
  if (ip.find('/') != std::string_view::npos) return false;
  const std::optional<CidrBlock> a = ParseCidrBlock(ip);
  if (!a || a->v6 != block.v6) return false;
  const int full = block.prefix / 8;
  if (std::memcmp(block.addr.data(), a->addr.data(), full) != 0) return false;
  const int rest = block.prefix % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (block.addr[full] & mask) == (a->addr[full] & mask);
}

}  // namespace kw::fleet
