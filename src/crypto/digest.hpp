#pragma once

// Hashing, HMAC and encodings over OpenSSL. Pure functions, thread-safe.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kw::crypto {

using Sha256Digest = std::array<std::uint8_t, 32>;

Sha256Digest Sha256(std::string_view data);
std::string Sha256Hex(std::string_view data);
Sha256Digest HmacSha256(std::string_view key, std::string_view data);

std::string HexEncode(std::string_view bytes);  // lowercase
std::string HexEncode(const Sha256Digest& d);
std::optional<std::string> HexDecode(std::string_view hex);

std::string Base64Encode(std::string_view bytes);
// Strict standard alphabet with padding; nullopt on any other input.
std::optional<std::string> Base64Decode(std::string_view text);

// Compares in time that depends only on the lengths, never on the contents.
bool ConstantTimeEqual(std::string_view a, std::string_view b);

inline std::string_view AsView(const Sha256Digest& d) {
  return {reinterpret_cast<const char*>(d.data()), d.size()};
}

}  // namespace kw::crypto
