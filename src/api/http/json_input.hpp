#pragma once

// Reading members of a decoded JSON 1.1 request with the errors botocore clients expect:
// a member of the wrong type is a SerializationException; absent or null members read
// as nullopt (or an empty list). Shared by every JSON 1.1 service adapter.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace kw::api {

// "Unexpected value type for member X." (SerializationException)
Error JsonTypeError(std::string_view member);

Result<std::optional<std::string>> OptString(const nlohmann::json& in, const char* name);
Result<std::optional<bool>> OptBool(const nlohmann::json& in, const char* name);
Result<std::optional<std::int64_t>> OptInt(const nlohmann::json& in, const char* name);
// An array of strings; absent or null: empty.
Result<std::vector<std::string>> StringList(const nlohmann::json& in, const char* name);

}  // namespace kw::api
