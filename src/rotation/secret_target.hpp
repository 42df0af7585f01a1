#pragma once

// The seam to the secret that holds a user's access key: keyward's Secrets Manager
// (builtin/secrets_target.hpp). The value is SecretString JSON with at least
// aws_access_key_id and aws_secret_access_key.

#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "common/secret_bytes.hpp"

namespace kw::rotation {

struct SecretVersion {
  std::string version_id;
  SecretBytes secret_string;  // the JSON text, in clear
};

// Thread-safe. Errors: kNotFound for an unknown secret or version; kInvalidArgument
// for a binary secret; kUnavailable for a dependency that is down.
class SecretTarget {
 public:
  virtual ~SecretTarget() = default;

  // The AWSCURRENT version.
  virtual Result<SecretVersion> GetCurrent(std::string_view secret_id) = 0;
  // A version by ID; nullopt if there is no such version.
  virtual Result<std::optional<SecretVersion>> GetVersion(std::string_view secret_id,
                                                          std::string_view version_id) = 0;
  // Stores `value` as a new version labelled AWSPENDING whose ID is `token` (a
  // ClientRequestToken). Idempotent: the same token and value again succeed; the same
  // token with another value is kAlreadyExists.
  virtual Status PutPending(std::string_view secret_id, std::string_view token,
                            const SecretBytes& value) = 0;
  // Moves AWSCURRENT to `version_id` (the previous holder becomes AWSPREVIOUS) and
  // removes AWSPENDING from it. Idempotent.
  virtual Status Promote(std::string_view secret_id, std::string_view version_id) = 0;
};

}  // namespace kw::rotation
