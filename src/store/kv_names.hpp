#pragma once

// Helpers every KvStore backend shares, so they agree on what is valid and on
// key ranges. Pure functions; thread-safe.

#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace kw::store {

inline constexpr std::size_t kMaxTableNameLength = 64;

// OK for 1..kMaxTableNameLength characters of [a-z0-9_]; kInvalidArgument otherwise.
// Backends check every call, so a name that works on one backend works on all.
Status ValidateTableName(std::string_view table);

// OK for non-empty valid UTF-8 without NUL characters; kInvalidArgument otherwise.
// (Not empty because ListOptions::start_after uses "" for "from the beginning".) Keys are compared
// as bytes, which for UTF-8 is code point order; the restriction keeps every key storable as TEXT
// in SQLite and PostgreSQL.
Status ValidateKey(std::string_view key);

// The smallest key greater than every key that starts with `prefix`, for a range scan
// `key >= prefix AND key < PrefixEnd(prefix)`: drops trailing 0xff bytes and increments
// the last remaining byte. nullopt when there is no such key (empty prefix or all
// 0xff), i.e. the range is unbounded above.
std::optional<std::string> PrefixEnd(std::string_view prefix);

}  // namespace kw::store
