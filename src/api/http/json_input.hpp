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

// "1 validation error detected: Value null at 'M' failed to satisfy constraint: Member
// must not be null", as AWS words a missing required member. `reason` defaults to
// ValidationError (sent as ValidationException on JSON 1.1).
Error NullMemberError(std::string_view member, std::string reason = "ValidationError");

// A required string member: absent or null is NullMemberError(`model_name`, or `name`
// when empty: some services name the member in lowerCamelCase in their messages).
Result<std::string> ReqString(const nlohmann::json& in, const char* name,
                              std::string_view model_name = {});

// The member if it is a string, else "". For the operations' resource functions, which
// run before the handler has validated the input.
std::string StringMember(const nlohmann::json& in, const char* name);

Result<std::optional<std::string>> OptString(const nlohmann::json& in, const char* name);
Result<std::optional<bool>> OptBool(const nlohmann::json& in, const char* name);
Result<std::optional<std::int64_t>> OptInt(const nlohmann::json& in, const char* name);
// An array of strings; absent or null: empty.
Result<std::vector<std::string>> StringList(const nlohmann::json& in, const char* name);

}  // namespace kw::api
