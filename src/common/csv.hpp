#pragma once

// An RFC 4180 CSV reader (the IAM credential report, directory exports). Pure;
// thread-safe.

#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace kw {

// Rows of fields. Quoted fields may hold ',', '""' and line breaks; lines end with
// LF or CRLF; a final line break is optional. kInvalidArgument on a stray quote or
// an unterminated quoted field.
Result<std::vector<std::vector<std::string>>> ParseCsv(std::string_view text);

}  // namespace kw
