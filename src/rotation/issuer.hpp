#pragma once

// The seam to whoever issues access keys for an IAM user: keyward's own IAM
// (builtin/iam_issuer.hpp) or an external AWS-compatible IAM endpoint.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"
#include "common/result.hpp"
#include "common/secret_bytes.hpp"

namespace kw::rotation {

enum class KeyStatus { kActive, kInactive };

struct IssuedKey {
  std::string access_key_id;
  KeyStatus status = KeyStatus::kActive;
  TimePoint create_date;
};

// The only place a new secret access key appears in clear. The engine hands it to the
// secret target at once and never stores or logs it.
struct CreatedKey {
  std::string access_key_id;
  TimePoint create_date;
  SecretBytes secret_access_key;
};

struct KeyUse {
  TimePoint when;
  // Where the use came from, as precisely as the issuer knows it: a source address,
  // an instance ID, or "service/region" (AWS's GetAccessKeyLastUsed). Never secret.
  std::string source;
};

struct KeyUsage {
  std::optional<KeyUse> last_accepted;  // the latest request the key signed successfully
  // The latest request signed with the key while it was Inactive (rejected). Only
  // issuers with `observes_rejected` report these.
  std::optional<KeyUse> last_rejected;
};

// Thread-safe. Errors: kNotFound (reason "NoSuchEntity") for an unknown user or key;
// kFailedPrecondition (reason "LimitExceeded") when the user has no free key slot;
// kUnavailable for a dependency that is down (retry). Messages never hold secrets.
class Issuer {
 public:
  virtual ~Issuer() = default;

  // True when every authenticated request is recorded as it happens (keyward's own
  // IAM), so "unused since T" is exact; false for GetAccessKeyLastUsed-style reporting,
  // which lags by hours.
  virtual bool exact_usage() const = 0;
  // True when requests signed with an Inactive key are reported (KeyUsage::last_rejected).
  virtual bool observes_rejected() const = 0;
  // AWS allows two access keys per user.
  virtual std::size_t max_keys_per_user() const = 0;

  // Every key of the user (all pages).
  virtual Result<std::vector<IssuedKey>> ListKeys(std::string_view user) = 0;
  virtual Result<CreatedKey> CreateKey(std::string_view user) = 0;
  // Idempotent: setting the status a key already has succeeds.
  virtual Status SetStatus(std::string_view user, std::string_view access_key_id,
                           KeyStatus status) = 0;
  // kNotFound if the key is already gone (the engine treats that as done).
  virtual Status DeleteKey(std::string_view user, std::string_view access_key_id) = 0;
  virtual Result<KeyUsage> Usage(std::string_view access_key_id) = 0;
  // Whether a request signed with this key would be accepted now. false (not an error)
  // while an eventually consistent issuer has not yet propagated a new key.
  virtual Result<bool> TestKey(std::string_view access_key_id, const SecretBytes& secret) = 0;
};

}  // namespace kw::rotation
