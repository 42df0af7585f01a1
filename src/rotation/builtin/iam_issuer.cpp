#include "rotation/builtin/iam_issuer.hpp"

#include "crypto/digest.hpp"

namespace kw::rotation::builtin {

void KeyAttemptLog::RecordRejected(std::string_view access_key_id, std::string_view source,
                                   TimePoint when) {
  std::lock_guard lock(mu_);
  auto it = latest_.find(access_key_id);
  if (it == latest_.end()) {
    latest_.emplace(std::string(access_key_id), KeyUse{when, std::string(source)});
  } else if (when >= it->second.when) {
    it->second = KeyUse{when, std::string(source)};
  }
}

std::optional<KeyUse> KeyAttemptLog::Latest(std::string_view access_key_id) const {
  std::lock_guard lock(mu_);
  auto it = latest_.find(access_key_id);
  if (it == latest_.end()) return std::nullopt;
  return it->second;
}

IamIssuer::IamIssuer(iam::UserService& users, const Clock& clock, const KeyAttemptLog* attempts)
    : users_(users), clock_(clock), attempts_(attempts) {}

Result<std::vector<IssuedKey>> IamIssuer::ListKeys(std::string_view user) {
  std::vector<IssuedKey> out;
  std::optional<std::string> marker;
  do {
    KW_ASSIGN_OR_RETURN(iam::AccessKeyPage page,
                        users_.ListAccessKeys(user, marker, 1000, nullptr));
    for (const auto& k : page.keys) {
      out.push_back(
          {k.access_key_id,
           k.status == iam::KeyStatus::kActive ? KeyStatus::kActive : KeyStatus::kInactive,
           k.create_date});
    }
    marker = page.is_truncated ? std::optional<std::string>(page.marker) : std::nullopt;
  } while (marker);
  return out;
}

Result<CreatedKey> IamIssuer::CreateKey(std::string_view user) {
  KW_ASSIGN_OR_RETURN(iam::CreatedAccessKey k, users_.CreateAccessKey(user, nullptr));
  return CreatedKey{k.metadata.access_key_id, k.metadata.create_date,
                    std::move(k.secret_access_key)};
}

Status IamIssuer::SetStatus(std::string_view user, std::string_view access_key_id,
                            KeyStatus status) {
  return users_.UpdateAccessKey(
      user, access_key_id,
      status == KeyStatus::kActive ? iam::KeyStatus::kActive : iam::KeyStatus::kInactive, nullptr);
}

Status IamIssuer::DeleteKey(std::string_view user, std::string_view access_key_id) {
  return users_.DeleteAccessKey(user, access_key_id, nullptr);
}

Result<KeyUsage> IamIssuer::Usage(std::string_view access_key_id) {
  KW_ASSIGN_OR_RETURN(iam::AccessKeyLastUsed used, users_.GetAccessKeyLastUsed(access_key_id));
  KeyUsage usage;
  if (used.last_used_date) {
    usage.last_accepted = KeyUse{*used.last_used_date, used.service_name + "/" + used.region};
  }
  if (attempts_ != nullptr) usage.last_rejected = attempts_->Latest(access_key_id);
  return usage;
}

Result<bool> IamIssuer::TestKey(std::string_view access_key_id, const SecretBytes& secret) {
  // The same resolution every signed request goes through: an unknown or Inactive key
  // fails with InvalidClientTokenId.
  auto resolved = users_.Resolve(access_key_id, "", clock_.Now());
  if (!resolved) {
    if (resolved.error().reason == "InvalidClientTokenId") return false;
    return resolved.error();
  }
  return crypto::ConstantTimeEqual(resolved->secret_access_key.Reveal(), secret.Reveal());
}

}  // namespace kw::rotation::builtin
