#pragma once

// Who is making a request, and the seams through which the request pipeline
// (api/http) asks the IAM and STS services about credentials and policies.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"
#include "common/result.hpp"
#include "common/secret_bytes.hpp"
#include "policy/policy.hpp"

namespace kw::iam {

struct Account {
  std::string id;  // 12 digits
  std::string partition = "aws";
  std::string region = "us-east-1";  // the region keyward reports for global services
};

enum class PrincipalType { kUser, kAssumedRole };

struct Principal {
  PrincipalType type = PrincipalType::kUser;
  std::string account_id;
  // kUser: arn:aws:iam::ACCT:user/path/name
  // kAssumedRole: arn:aws:sts::ACCT:assumed-role/RoleName/SessionName
  std::string arn;
  // kUser: AIDA...; kAssumedRole: AROA...:SessionName (as GetCallerIdentity's UserId)
  std::string user_id;
  std::string name;                     // user name, or role name
  std::string session_name;             // kAssumedRole only
  std::string role_arn;                 // kAssumedRole only: arn:aws:iam::ACCT:role/path/RoleName
  std::string access_key_id;            // the key that signed this request
  bool temporary = false;               // signed with ASIA credentials
  std::optional<TimePoint> expiration;  // temporary credentials only
  std::map<std::string, std::string> tags;  // principal tags (aws:PrincipalTag/*)
  // Instance credentials of a managed instance (fleet/): its ID ("mi-..."); the session
  // is the instance role's, named after the instance. Empty for everyone else.
  std::string instance_id;
};

// The secret and identity behind an access key ID.
struct ResolvedKey {
  SecretBytes secret_access_key;
  Principal principal;
};

// Resolves access key IDs for request authentication. Thread-safe, and fast: it is
// called on every request, so implementations cache (and invalidate on change).
class CredentialResolver {
 public:
  virtual ~CredentialResolver() = default;
  // Errors (Error::reason): "InvalidClientTokenId" for an unknown, inactive or
  // deleted key or a session token that does not belong to it; "ExpiredToken" for
  // expired temporary credentials. `session_token` is empty for long-term keys.
  virtual Result<ResolvedKey> Resolve(std::string_view access_key_id,
                                      std::string_view session_token, TimePoint now) = 0;
  // A long-term key that exists but is Inactive, with its secret: the pipeline checks
  // that a refused request was really signed by the key's holder before it reports the
  // use (anyone can present a key ID). kNotFound for every other key. Only called for
  // requests Resolve refused, so it may read the store.
  virtual Result<ResolvedKey> ResolveInactive(std::string_view /*access_key_id*/) {
    return NotFound("not an inactive key");
  }
};

// The identity-based policies that apply to a principal: for a user, its inline and
// attached managed policies (default versions); for an assumed role, the role's.
// Thread-safe; implementations cache parsed policies.
class PolicyResolver {
 public:
  virtual ~PolicyResolver() = default;
  virtual Result<std::vector<std::shared_ptr<const policy::Policy>>> IdentityPolicies(
      const Principal& principal) = 0;
};

// Records that a key signed an accepted request (GetAccessKeyLastUsed). Thread-safe
// and cheap: called on every authenticated request.
class UsageRecorder {
 public:
  virtual ~UsageRecorder() = default;
  virtual void RecordUse(std::string_view access_key_id, std::string_view service,
                         std::string_view region, TimePoint when) = 0;
};

// A user as other services need to see it.
struct UserSummary {
  std::string name;
  std::string user_id;
  std::string arn;
  std::string path;
  TimePoint create_date;
  std::map<std::string, std::string> tags;
};

// Lets the role/policy service check users without owning them. Thread-safe.
class UserDirectory {
 public:
  virtual ~UserDirectory() = default;
  // kNotFound with reason "NoSuchEntity" if there is no such user.
  virtual Result<UserSummary> FindUser(std::string_view name) = 0;
};

// What still hangs off a user and blocks DeleteUser (DeleteConflict): inline and
// attached policies, owned by the policy service. Thread-safe.
class UserDependents {
 public:
  virtual ~UserDependents() = default;
  // Empty if nothing blocks; otherwise a human description such as
  // "Cannot delete entity, must delete policies first."
  virtual Result<std::optional<std::string>> DeleteBlocker(std::string_view user_name) = 0;
};

}  // namespace kw::iam
