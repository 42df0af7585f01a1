#pragma once

// rotation::Issuer over keyward's own IAM (iam::UserService). Usage is exact: the
// request pipeline records every authenticated request (UsageRecorder), and
// GetAccessKeyLastUsed sees uses not yet flushed. Requests signed with an Inactive key
// never authenticate, so they are seen only through a KeyAttemptLog that the request
// pipeline feeds (optional; without it the issuer does not observe rejected uses).

#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "common/clock.hpp"
#include "iam/user_service.hpp"
#include "rotation/issuer.hpp"

namespace kw::rotation::builtin {

// Requests signed with a known but Inactive access key: the "use during grace" signal.
// Keeps the latest attempt per key, in memory (lost on restart: a consumer still using
// the key tries again soon). Thread-safe, cheap enough for the authentication path.
class KeyAttemptLog {
 public:
  // `source`: the client's address and, for instance credentials, its instance ID.
  void RecordRejected(std::string_view access_key_id, std::string_view source, TimePoint when);
  std::optional<KeyUse> Latest(std::string_view access_key_id) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, KeyUse, std::less<>> latest_;  // guarded by mu_
};

// Thread-safe (UserService is).
class IamIssuer final : public Issuer {
 public:
  // References must outlive the issuer; `attempts` may be null.
  IamIssuer(iam::UserService& users, const Clock& clock, const KeyAttemptLog* attempts);

  bool exact_usage() const override { return true; }
  bool observes_rejected() const override { return attempts_ != nullptr; }
  std::size_t max_keys_per_user() const override { return iam::kMaxAccessKeysPerUser; }

  Result<std::vector<IssuedKey>> ListKeys(std::string_view user) override;
  Result<CreatedKey> CreateKey(std::string_view user) override;
  Status SetStatus(std::string_view user, std::string_view access_key_id,
                   KeyStatus status) override;
  Status DeleteKey(std::string_view user, std::string_view access_key_id) override;
  Result<KeyUsage> Usage(std::string_view access_key_id) override;
  Result<bool> TestKey(std::string_view access_key_id, const SecretBytes& secret) override;

 private:
  iam::UserService& users_;
  const Clock& clock_;
  const KeyAttemptLog* attempts_;
};

}  // namespace kw::rotation::builtin
