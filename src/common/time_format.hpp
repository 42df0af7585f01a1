#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/clock.hpp"

namespace kw {

// "20150830T123600Z" (SigV4's X-Amz-Date).
std::string FormatAmzDate(TimePoint t);
// "20150830" (SigV4's credential scope date).
std::string FormatAmzDay(TimePoint t);
// "2015-08-30T12:36:00Z" (ISO 8601 as IAM and STS return it).
std::string FormatIso8601(TimePoint t);
// Parses "20150830T123600Z". nullopt if malformed.
std::optional<TimePoint> ParseAmzDate(std::string_view s);
// Parses "2015-08-30T12:36:00Z", with optional fractional seconds and a "+00:00"
// or "Z" zone. nullopt if malformed.
std::optional<TimePoint> ParseIso8601(std::string_view s);
// Seconds since the Unix epoch, as JSON 1.1 protocols carry timestamps.
double ToEpochSeconds(TimePoint t);

}  // namespace kw
