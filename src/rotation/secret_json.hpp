#pragma once

// The secret value a rotation rewrites: SecretString JSON holding the key pair,
// {"aws_access_key_id": "...", "aws_secret_access_key": "...", ...other fields}.
// Pure functions. Error messages never quote the value.

#include <string>
#include <string_view>

#include "common/result.hpp"
#include "common/secret_bytes.hpp"

namespace kw::rotation {

inline constexpr const char* kAccessKeyIdField = "aws_access_key_id";
inline constexpr const char* kSecretAccessKeyField = "aws_secret_access_key";

struct KeyPair {
  std::string access_key_id;
  SecretBytes secret_access_key;
};

// kFailedPrecondition (reason "InvalidSecretFormat") unless `json` is a JSON object
// whose two key fields are non-empty strings.
Result<KeyPair> ReadKeyPair(const SecretBytes& json);

// `old_json` with the two key fields replaced and every other member kept as it was.
// Same errors as ReadKeyPair for `old_json`.
Result<SecretBytes> ReplaceKeyPair(const SecretBytes& old_json, std::string_view access_key_id,
                                   const SecretBytes& secret_access_key);

}  // namespace kw::rotation
