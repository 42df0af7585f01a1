#pragma once

// Small ASCII string helpers shared by the modules. Pure functions; thread-safe.
// Case folding is ASCII only, as in the AWS protocols (header names, IAM names,
// condition keys): bytes outside 'A'..'Z' are left as they are.

#include <string>
#include <string_view>

namespace kw {

// 'A'..'Z' to 'a'..'z'; every other byte unchanged. Inline: glob matching calls it
// for every character.
constexpr char ToLowerAscii(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// `s` with ToLowerAscii applied to every byte.
std::string ToLowerAscii(std::string_view s);

// `value` as one CSV field (RFC 4180): quoted, with quotes doubled, when it holds a
// comma, quote or line break; as it is otherwise.
std::string CsvField(std::string_view value);

// Equal after ToLowerAscii.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

}  // namespace kw
