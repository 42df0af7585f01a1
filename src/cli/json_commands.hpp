#pragma once

// Helpers shared by the CLI's command groups over JSON 1.1 services (fleet, rotation):
// durations and repeated options as operators type them, every page of a paginated
// call, and dates as the tables show them.

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/aws.hpp"
#include "common/result.hpp"

namespace kw::cli {

// "90s", "30m", "1h", "7d", or combinations such as "1h30m" ("0s" too); at most 10
// years. nullopt if malformed.
std::optional<std::chrono::seconds> ParseDuration(std::string_view text);

// A repeated option's values (CLI11 joins them with newlines); commas separate too.
std::vector<std::string> SplitList(std::string_view text);

// Every page of a NextToken-paginated JSON operation: the members of `list_key`.
// kInternal if the server repeats a token or there are more than 10,000 pages.
Result<std::vector<nlohmann::json>> ListAllJson(const QueryClient& client,
                                                const JsonTarget& service,
                                                std::string_view operation, nlohmann::json input,
                                                std::string_view list_key);

// An epoch-seconds JSON timestamp as ISO 8601; anything else is null.
nlohmann::ordered_json IsoDate(const nlohmann::json& v);

}  // namespace kw::cli
