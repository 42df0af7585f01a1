#pragma once

// IAM roles, inline policies and managed policies (with versions and attachments),
// as the IAM API exposes them; and the policy side of request authorization
// (PolicyResolver) and of DeleteUser (UserDependents).
//
// Names follow AWS: role and policy names are unique case-insensitively (stored
// under lowercase keys) and returned as created. Policy documents are stored and
// returned verbatim (the query adapter URL-encodes them as AWS does).
//
// Errors carry the AWS error code in Error::reason: NoSuchEntity, EntityAlreadyExists,
// DeleteConflict, LimitExceeded, MalformedPolicyDocument, ValidationError, InvalidInput.

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
#include "iam/principal.hpp"
#include "policy/policy.hpp"
#include "store/kv_store.hpp"

namespace kw::iam {

// AWS quotas (IAM and STS quotas page). Inline sizes are the aggregate over all
// inline policies of one entity, counted without whitespace.
inline constexpr std::size_t kMaxUserInlinePolicyChars = 2048;
inline constexpr std::size_t kMaxRoleInlinePolicyChars = 10240;
inline constexpr std::size_t kMaxManagedPolicyChars = 6144;
inline constexpr std::size_t kMaxTrustPolicyChars = 2048;
inline constexpr std::size_t kMaxAttachedPoliciesPerEntity = 10;
inline constexpr std::size_t kMaxPolicyVersions = 5;
inline constexpr std::size_t kMaxRolesPerAccount = 1000;
inline constexpr std::size_t kMaxManagedPoliciesPerAccount = 1500;
inline constexpr std::size_t kMaxTagsPerEntity = 50;
inline constexpr int kDefaultMaxSessionDuration = 3600;

struct Role {
  std::string name;
  std::string role_id;  // AROA...
  std::string arn;
  std::string path = "/";
  TimePoint create_date;
  std::string assume_role_policy_document;  // verbatim
  std::string description;
  int max_session_duration = kDefaultMaxSessionDuration;
  std::map<std::string, std::string> tags;
};

struct CreateRoleRequest {
  std::string role_name;
  std::string path;  // empty: "/"
  std::string assume_role_policy_document;
  std::string description;
  std::optional<long long> max_session_duration;
  std::map<std::string, std::string> tags;
};

struct ManagedPolicy {
  std::string name;
  std::string policy_id;  // ANPA...
  std::string arn;
  std::string path = "/";
  std::string default_version_id = "v1";
  long long attachment_count = 0;
  bool is_attachable = true;
  bool aws_managed = false;
  std::string description;
  TimePoint create_date;
  TimePoint update_date;
  std::map<std::string, std::string> tags;
};

struct CreatePolicyRequest {
  std::string policy_name;
  std::string path;  // empty: "/"
  std::string policy_document;
  std::string description;
  std::map<std::string, std::string> tags;
};

struct PolicyVersion {
  std::string version_id;  // "v3"
  std::string document;    // verbatim
  bool is_default = false;
  TimePoint create_date;
};

struct InlinePolicy {
  std::string entity_name;  // user or role name, as created
  std::string policy_name;
  std::string document;  // verbatim
};

struct AttachedPolicy {
  std::string policy_name;
  std::string policy_arn;
};

struct PolicyEntity {
  std::string name;
  std::string id;  // AIDA... or AROA...
};

struct PolicyEntities {
  std::vector<PolicyEntity> users;
  std::vector<PolicyEntity> roles;
  bool is_truncated = false;
  std::string marker;
};

// One page of a list operation. `marker` is set when is_truncated: pass it back as
// PageRequest::marker to continue.
template <typename T>
struct PolicyServicePage {
  std::vector<T> items;
  bool is_truncated = false;
  std::string marker;
};

struct PageRequest {
  std::string marker;                  // empty: from the start
  std::optional<long long> max_items;  // default 100, 1..1000
};

enum class PolicyScope { kAll, kAws, kLocal };

struct ListPoliciesRequest {
  PolicyScope scope = PolicyScope::kAll;
  bool only_attached = false;
  std::string path_prefix;  // empty: "/"
  PageRequest page;
};

enum class EntityFilter { kAll, kUser, kRole };

// Thread-safe. Every write is one store transaction; every write also invalidates the
// caches behind IdentityPolicies and FindRole, so a change applies to the very next
// request. `users` must outlive the service.
class PolicyService final : public PolicyResolver, public UserDependents {
 public:
  PolicyService(store::KvStore& store, const Clock& clock, Random& random, const Account& account,
                UserDirectory& users);
  PolicyService(const PolicyService&) = delete;
  PolicyService& operator=(const PolicyService&) = delete;

  // Creates the AWS-managed policies keyward provides (AdministratorAccess,
  // ReadOnlyAccess) if absent. Idempotent; the composition root calls it at start.
  Status EnsureAwsManagedPolicies();

  // --- Roles ---
  Result<Role> CreateRole(const CreateRoleRequest& request);
  Result<Role> GetRole(std::string_view role_name);
  Result<PolicyServicePage<Role>> ListRoles(std::string_view path_prefix, const PageRequest& page);
  // Only the fields that are set change.
  Status UpdateRole(std::string_view role_name, const std::optional<std::string>& description,
                    std::optional<long long> max_session_duration);
  Status UpdateAssumeRolePolicy(std::string_view role_name, std::string_view document);
  // DeleteConflict while the role has inline or attached policies.
  Status DeleteRole(std::string_view role_name);
  Status TagRole(std::string_view role_name, const std::map<std::string, std::string>& tags);
  Status UntagRole(std::string_view role_name, const std::vector<std::string>& keys);
  Result<PolicyServicePage<std::pair<std::string, std::string>>> ListRoleTags(
      std::string_view role_name, const PageRequest& page);
  // Like GetRole, served from a cache (the STS credential resolver calls it on every
  // request signed by a role session). nullopt if there is no such role.
  Result<std::optional<Role>> FindRole(std::string_view role_name);

  // --- Inline policies ---
  Status PutUserPolicy(std::string_view user_name, std::string_view policy_name,
                       std::string_view document);
  Result<InlinePolicy> GetUserPolicy(std::string_view user_name, std::string_view policy_name);
  Result<PolicyServicePage<std::string>> ListUserPolicies(std::string_view user_name,
                                                          const PageRequest& page);
  Status DeleteUserPolicy(std::string_view user_name, std::string_view policy_name);
  Status PutRolePolicy(std::string_view role_name, std::string_view policy_name,
                       std::string_view document);
  Result<InlinePolicy> GetRolePolicy(std::string_view role_name, std::string_view policy_name);
  Result<PolicyServicePage<std::string>> ListRolePolicies(std::string_view role_name,
                                                          const PageRequest& page);
  Status DeleteRolePolicy(std::string_view role_name, std::string_view policy_name);

  // --- Managed policies ---
  Result<ManagedPolicy> CreatePolicy(const CreatePolicyRequest& request);
  Result<ManagedPolicy> GetPolicy(std::string_view policy_arn);
  Result<PolicyServicePage<ManagedPolicy>> ListPolicies(const ListPoliciesRequest& request);
  // DeleteConflict while attached or while it has versions besides the default.
  Status DeletePolicy(std::string_view policy_arn);
  // LimitExceeded when the policy already has 5 versions.
  Result<PolicyVersion> CreatePolicyVersion(std::string_view policy_arn, std::string_view document,
                                            bool set_as_default);
  Result<PolicyVersion> GetPolicyVersion(std::string_view policy_arn, std::string_view version_id);
  // Newest first, as AWS lists them.
  Result<PolicyServicePage<PolicyVersion>> ListPolicyVersions(std::string_view policy_arn,
                                                              const PageRequest& page);
  // DeleteConflict for the default version.
  Status DeletePolicyVersion(std::string_view policy_arn, std::string_view version_id);
  Status SetDefaultPolicyVersion(std::string_view policy_arn, std::string_view version_id);

  // LimitExceeded beyond 10 attached policies per user or role. Attaching twice is a
  // no-op, as in AWS.
  Status AttachUserPolicy(std::string_view user_name, std::string_view policy_arn);
  Status DetachUserPolicy(std::string_view user_name, std::string_view policy_arn);
  Status AttachRolePolicy(std::string_view role_name, std::string_view policy_arn);
  Status DetachRolePolicy(std::string_view role_name, std::string_view policy_arn);
  Result<PolicyServicePage<AttachedPolicy>> ListAttachedUserPolicies(std::string_view user_name,
                                                                     std::string_view path_prefix,
                                                                     const PageRequest& page);
  Result<PolicyServicePage<AttachedPolicy>> ListAttachedRolePolicies(std::string_view role_name,
                                                                     std::string_view path_prefix,
                                                                     const PageRequest& page);
  Result<PolicyEntities> ListEntitiesForPolicy(std::string_view policy_arn, EntityFilter filter,
                                               std::string_view path_prefix,
                                               const PageRequest& page);

  // PolicyResolver: a user's inline and attached policies, or for an assumed role
  // the role's. Cached per principal until the next write. A principal whose user or
  // role no longer exists gets no policies (everything is implicitly denied).
  Result<std::vector<std::shared_ptr<const policy::Policy>>> IdentityPolicies(
      const Principal& principal) override;

  // UserDependents.
  Result<std::optional<std::string>> DeleteBlocker(std::string_view user_name) override;

  UserDirectory& users() { return users_; }
  const Account& account() const { return account_; }

 private:
  using PolicyList = std::vector<std::shared_ptr<const policy::Policy>>;
  struct CacheEntry {
    std::uint64_t generation = 0;
    PolicyList policies;
  };
  struct RoleCacheEntry {
    std::uint64_t generation = 0;
    std::optional<Role> role;
  };

  // Where a user's or role's policies are stored: under the user's ID (stable across
  // renames, and new for a user deleted and created again, so nothing is inherited)
  // or the role's lowercase name (roles cannot be renamed).
  struct EntityRef {
    std::string key;
    std::string name;  // as created (users: as the directory reports it now)
    std::string id;    // users only
    std::string path;  // users only
  };
  Result<UserSummary> RequireUser(std::string_view user_name);
  Result<EntityRef> ResolveEntity(bool is_user, std::string_view entity);
  Status PutInline(bool is_user, std::string_view entity, std::string_view policy_name,
                   std::string_view document);
  Result<InlinePolicy> GetInline(bool is_user, std::string_view entity,
                                 std::string_view policy_name);
  Result<PolicyServicePage<std::string>> ListInline(bool is_user, std::string_view entity,
                                                    const PageRequest& page);
  Status DeleteInline(bool is_user, std::string_view entity, std::string_view policy_name);
  Status Attach(bool is_user, std::string_view entity, std::string_view policy_arn);
  Status Detach(bool is_user, std::string_view entity, std::string_view policy_arn);
  Result<PolicyServicePage<AttachedPolicy>> ListAttached(bool is_user, std::string_view entity,
                                                         std::string_view path_prefix,
                                                         const PageRequest& page);
  // Loads and parses the policies of a user or role (by EntityRef::key).
  Result<PolicyList> LoadPolicies(bool is_user, std::string_view entity_key);
  // Ends every cached answer; called after each committed write.
  void Invalidate() { generation_.fetch_add(1, std::memory_order_acq_rel); }

  store::KvStore& store_;
  const Clock& clock_;
  Random& random_;
  const Account account_;
  UserDirectory& users_;

  std::atomic<std::uint64_t> generation_{1};
  std::mutex cache_mu_;
  std::unordered_map<std::string, CacheEntry> policy_cache_;    // guarded by cache_mu_
  std::unordered_map<std::string, RoleCacheEntry> role_cache_;  // guarded by cache_mu_
};

}  // namespace kw::iam
