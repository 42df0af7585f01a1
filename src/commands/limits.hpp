#pragma once

// SendCommand's MaxConcurrency and MaxErrors: validation against the SSM model's
// patterns, and their absolute values for a command's target count. Pure functions;
// thread-safe.

#include <string_view>

#include "common/result.hpp"

namespace kw::commands {

// The model's MaxConcurrency: ^([1-9][0-9]*|[1-9][0-9]%|[1-9]%|100%)$, 1..7 characters.
// kInvalidArgument with reason "ValidationError" otherwise.
Status ValidateMaxConcurrency(std::string_view value);
// The model's MaxErrors: ^([1-9][0-9]*|[0]|[1-9][0-9]%|[0-9]%|100%)$, 1..7 characters.
Status ValidateMaxErrors(std::string_view value);

// How many invocations may be in flight at once: the number, or the percentage of
// `target_count` rounded up; never less than 1. `value` must be valid.
int ConcurrencyLimit(std::string_view value, int target_count);

// How many errors are tolerated: the number, or the percentage of `target_count`
// rounded down (SSM: 10% of 50 targets stops at the sixth error). The command stops
// sending once its error count is greater than this. `value` must be valid.
int ErrorLimit(std::string_view value, int target_count);

}  // namespace kw::commands
