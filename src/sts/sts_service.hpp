#pragma once

// STS: temporary credentials (AssumeRole, GetSessionToken), caller identity, and the
// CredentialResolver for the ASIA keys it issues.
//
// A session is stored in table "sts_sessions" under its access key ID: the secret
// access key as an Envelope ciphertext bound to "sts/session/" + key ID, the session
// token only as its SHA-256 (compared in constant time), the expiration and who the
// session speaks for. Sessions are immutable; a session whose role has since been
// deleted (or deleted and re-created) is refused.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/clock.hpp"
#include "common/random.hpp"
#include "common/result.hpp"
#include "common/secret_bytes.hpp"
#include "crypto/aead.hpp"
#include "iam/policy_service.hpp"
#include "iam/principal.hpp"
#include "policy/policy.hpp"
#include "store/kv_store.hpp"

namespace kw::sts {

inline constexpr long long kMinDurationSeconds = 900;
inline constexpr long long kDefaultAssumeRoleSeconds = 3600;
inline constexpr long long kRoleChainingMaxSeconds = 3600;
inline constexpr long long kDefaultSessionTokenSeconds = 43200;
inline constexpr long long kMaxSessionTokenSeconds = 129600;
inline constexpr std::size_t kMaxSessionTags = 50;

struct TemporaryCredentials {
  std::string access_key_id;  // ASIA...
  SecretBytes secret_access_key;
  SecretBytes session_token;
  TimePoint expiration;
};

struct AssumeRoleRequest {
  std::string role_arn;
  std::string role_session_name;
  std::optional<long long> duration_seconds;
  // Session tags become the session's principal tags (aws:PrincipalTag/...).
  std::map<std::string, std::string> tags;
  std::optional<std::string> external_id;      // sts:ExternalId in the trust policy
  std::optional<std::string> source_identity;  // sts:SourceIdentity in the trust policy
  // Session policies (Policy, PolicyArns) are refused: they narrow a session, and
  // keyward's policy resolution has no way to intersect, so ignoring them would grant
  // more than the caller asked for.
  bool has_session_policy = false;
  // Extra condition keys of the request (aws:sourceip, aws:currenttime, ...),
  // lowercase, used when evaluating the trust and identity policies.
  std::map<std::string, std::vector<std::string>> condition_keys;
};

struct AssumeRoleResult {
  TemporaryCredentials credentials;
  std::string assumed_role_id;  // AROA...:session
  std::string arn;              // arn:aws:sts::ACCT:assumed-role/Role/session
  std::optional<std::string> source_identity;
};

// Tells STS whether a managed instance (fleet/) is still registered, so that the
// credentials of a deregistered instance stop working at once rather than at their
// expiry. Implemented by fleet::FleetService. Thread-safe and cheap: Resolve calls it
// for every request signed with instance credentials.
class InstanceChecker {
 public:
  virtual ~InstanceChecker() = default;
  virtual bool IsRegistered(std::string_view instance_id) = 0;
};

struct CallerIdentity {
  std::string user_id;
  std::string account;
  std::string arn;
};

// Thread-safe. `policies` must outlive the service.
class StsService final : public iam::CredentialResolver {
 public:
  StsService(store::KvStore& store, const crypto::Envelope& envelope, const Clock& clock,
             Random& random, const iam::Account& account, iam::PolicyService& policies);
  StsService(const StsService&) = delete;
  StsService& operator=(const StsService&) = delete;

  // Authorizes and issues role credentials, as AWS does within one account: the
  // role's trust policy must allow sts:AssumeRole for the caller. If it names the
  // caller (its ARN, or "*") that suffices; if it only trusts the account, the
  // caller's identity policies (`caller_policies`, from PolicyResolver) must allow
  // sts:AssumeRole on the role ARN too. An explicit Deny in either refuses.
  // Errors: AccessDenied (also for a role that does not exist, as AWS does),
  // ValidationError (session name, duration beyond the role's MaxSessionDuration,
  // session policies, tags).
  Result<AssumeRoleResult> AssumeRole(
      const iam::Principal& caller, const AssumeRoleRequest& request,
      const std::vector<std::shared_ptr<const policy::Policy>>& caller_policies);

  // Temporary credentials for a user's own identity. Only long-term user credentials
  // may call it (AccessDenied otherwise). Duration 900..129600 s, default 43200.
  Result<TemporaryCredentials> GetSessionToken(const iam::Principal& caller,
                                               std::optional<long long> duration_seconds);

  static CallerIdentity GetCallerIdentity(const iam::Principal& caller);

  // Instance credentials for managed instance `instance_id`: a session of role
  // `role_name` named after the instance (arn:aws:sts::ACCT:assumed-role/ROLE/mi-...),
  // valid `duration_seconds` from `now`. The caller (fleet/) has already proven the
  // instance's identity; no trust policy is evaluated. Resolve fills
  // Principal::instance_id and refuses the session (InvalidClientTokenId) once the
  // InstanceChecker says the instance is no longer registered. Errors: NoSuchEntity
  // (kNotFound) for a role that does not exist, ValidationError for a duration outside
  // 900..the role's MaxSessionDuration.
  Result<AssumeRoleResult> IssueInstanceCredentials(std::string_view role_name,
                                                    std::string_view instance_id, TimePoint now,
                                                    long long duration_seconds = 3600);

  // Installs the checker consulted for instance sessions (nullptr: none). Until one is
  // set, instance sessions are refused: failing closed. `checker` must outlive the
  // service or be reset first.
  void SetInstanceChecker(InstanceChecker* checker) { instance_checker_.store(checker); }

  // CredentialResolver for ASIA keys. InvalidClientTokenId for an unknown key, a
  // wrong or missing token, or a session whose user or role is gone; ExpiredToken
  // once expired.
  Result<iam::ResolvedKey> Resolve(std::string_view access_key_id, std::string_view session_token,
                                   TimePoint now) override;

  // Deletes sessions that expired before `now` from the store and the cache, so the
  // table does not grow without bound. Returns how many. The composition root calls
  // it periodically; resolution never depends on it.
  Result<std::size_t> PurgeExpiredSessions(TimePoint now);

  // Offboarding: deletes every session of IAM user `user_name` (GetSessionToken) and
  // every role session that user assumed, so their credentials stop working at once
  // (InvalidClientTokenId), not at their expiry. Returns how many were revoked. On a
  // store error nothing is revoked and the error is returned (callers fail closed).
  Result<std::size_t> RevokeUserSessions(std::string_view user_name);

 private:
  struct Session;  // decoded record, cached
  Result<std::shared_ptr<const Session>> LoadSession(std::string_view access_key_id);
  Result<TemporaryCredentials> Issue(Session session, TimePoint now);

  store::KvStore& store_;
  const crypto::Envelope& envelope_;
  const Clock& clock_;
  Random& random_;
  const iam::Account account_;
  iam::PolicyService& policies_;

  std::atomic<InstanceChecker*> instance_checker_{nullptr};

  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<const Session>> cache_;  // guarded by mu_
  // Bumped by every revocation, so that a LoadSession that read the store before a
  // revocation does not cache what it read afterwards. Guarded by mu_.
  std::uint64_t cache_generation_ = 0;
};

}  // namespace kw::sts
