#pragma once

// IPv4/IPv6 CIDR blocks for activations bound to a source network. Pure; thread-safe.

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace kw::fleet {

struct CidrBlock {
  bool v6 = false;
  std::array<std::uint8_t, 16> addr{};
  int prefix = 0;
};

// "10.0.0.0/8", "2001:db8::/32", or a bare address (a /32 or /128). An IPv4-mapped
// IPv6 address (::ffff:a.b.c.d) reads as its IPv4 address. nullopt if malformed.
std::optional<CidrBlock> ParseCidrBlock(std::string_view text);

// True if the address `ip` (no prefix) lies in `block`; false for a malformed address.
bool CidrContainsAddress(const CidrBlock& block, std::string_view ip);

}  // namespace kw::fleet
