#pragma once

// AWS-shaped identifiers and ARNs.

#include <string>
#include <string_view>

#include "common/random.hpp"

namespace kw::iam {

// Unique IDs: a four-letter prefix and 17 characters of [A-Z2-7] (21 in all), as AWS
// mints them: "AIDA" users, "AROA" roles, "ANPA" managed policies.
std::string NewUniqueId(std::string_view prefix, Random& random);
// Access key IDs: "AKIA" (long-term) or "ASIA" (temporary) and 16 characters (20).
std::string NewAccessKeyId(std::string_view prefix, Random& random);
// 40 characters of base64's alphabet, as AWS secret access keys.
std::string NewSecretAccessKey(Random& random);
// A 12-digit account ID that does not start with 0.
std::string NewAccountId(Random& random);

// "arn:aws:iam::123456789012:user/path/name" for kind "user", path "/path/".
std::string IamArn(std::string_view partition, std::string_view account, std::string_view kind,
                   std::string_view path, std::string_view name);

}  // namespace kw::iam
