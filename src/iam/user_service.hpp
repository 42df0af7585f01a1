#pragma once

// IAM users and their long-term access keys (AKIA...): the domain behind CreateUser,
// CreateAccessKey & co., the resolver that authenticates every request signed with
// an access key, the last-used tracking, and the credential report.
//
// Errors carry the AWS error code in Error::reason: "NoSuchEntity" (kNotFound),
// "EntityAlreadyExists" (kAlreadyExists), "DeleteConflict" and "LimitExceeded"
// (kFailedPrecondition), "ValidationError" (kInvalidArgument: a parameter breaks
// the model's length/pattern/range constraints), "InvalidInput" (kInvalidArgument:
// a semantic problem, such as duplicate tag keys), "ReportNotPresent" and
// "ReportExpired" (kFailedPrecondition). Store failures pass through unchanged.
//
// User names are unique case-insensitively and looked up case-insensitively, as in
// AWS; responses carry the name as it was created (or last renamed).
//
// Storage (KvStore tables, JSON values):
//   iam_users              lowercased user name -> user
//   iam_access_keys        access key ID -> key (secret only as Envelope ciphertext,
//                          associated data "iam/access-key/" + key ID)
//   iam_user_keys          lowercased user name + "/" + key ID -> "" (index)
//   iam_key_usage          access key ID -> last use (flushed from memory)
//   iam_credential_report  "current" -> the last generated report

#include <cstdint>
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
#include "iam/principal.hpp"
#include "store/kv_store.hpp"

namespace kw::iam {

inline constexpr std::size_t kMaxAccessKeysPerUser = 2;
inline constexpr std::size_t kMaxTagsPerUser = 50;
inline constexpr int kDefaultMaxItems = 100;

struct Tag {
  std::string key;
  std::string value;
};

struct User {
  std::string name;
  std::string user_id;  // AIDA...
  std::string arn;      // arn:aws:iam::ACCT:user{path}{name}
  std::string path;     // "/" or "/a/b/"
  TimePoint create_date;
  std::vector<Tag> tags;  // in the order they were first added
};

struct CreateUserRequest {
  std::string user_name;
  std::optional<std::string> path;  // "/" when absent
  std::vector<Tag> tags;
};

struct ListUsersRequest {
  std::optional<std::string> path_prefix;
  std::optional<std::string> marker;  // from a previous truncated page
  std::optional<int> max_items;       // 1..1000, default 100
};

struct UserPage {
  std::vector<User> users;  // sorted by name (case-insensitively)
  bool is_truncated = false;
  std::string marker;  // set when truncated
};

struct UpdateUserRequest {
  std::string user_name;
  std::optional<std::string> new_user_name;
  std::optional<std::string> new_path;
};

struct TagPage {
  std::vector<Tag> tags;
  bool is_truncated = false;
  std::string marker;
};

enum class KeyStatus { kActive, kInactive };
std::string_view KeyStatusName(KeyStatus status);  // "Active" / "Inactive"

struct AccessKeyMetadata {
  std::string user_name;
  std::string access_key_id;  // AKIA + 16
  KeyStatus status = KeyStatus::kActive;
  TimePoint create_date;
};

// The only place a secret access key leaves the service in clear (besides Resolve).
struct CreatedAccessKey {
  AccessKeyMetadata metadata;
  SecretBytes secret_access_key;  // 40 characters
};

struct AccessKeyPage {
  std::vector<AccessKeyMetadata> keys;  // sorted by access key ID
  bool is_truncated = false;
  std::string marker;
};

struct AccessKeyLastUsed {
  std::string user_name;
  std::optional<TimePoint> last_used_date;  // absent if never used
  std::string service_name;                 // "N/A" if never used
  std::string region;                       // "N/A" if never used
};

struct ReportGeneration {
  std::string state;        // "STARTED" or "COMPLETE"
  std::string description;  // human text, as AWS's Description
};

struct CredentialReportContent {
  std::string csv;
  TimePoint generated_time;
};

// Thread-safe. Every multi-record change runs in one KvStore transaction; the
// resolver cache and the usage buffer have their own mutexes and are never held
// while the store is called.
//
// `caller` parameters: the authenticated principal, or nullptr for calls made by
// the server itself (bootstrap). Operations whose UserName is optional act on the
// calling user when it is omitted; omitting it with an assumed-role caller is
// "ValidationError" ("Must specify userName when calling with non-User
// credentials"), and with no caller at all too.
class UserService final : public CredentialResolver, public UsageRecorder, public UserDirectory {
 public:
  // All references must outlive the service.
  UserService(store::KvStore& store, const crypto::Envelope& envelope, const Clock& clock,
              Random& random, const Account& account);

  // The policy service, which owns what else blocks DeleteUser. Set once by the
  // composition root before serving; may stay null (then nothing else blocks).
  void SetDependents(UserDependents* dependents);

  // --- Users -------------------------------------------------------------------
  Result<User> CreateUser(const CreateUserRequest& request);
  // Without `user_name`: the caller.
  Result<User> GetUser(std::optional<std::string_view> user_name, const Principal* caller);
  Result<UserPage> ListUsers(const ListUsersRequest& request);
  // Renaming keeps the user ID and the access keys; the ARN follows the new path/name.
  Status UpdateUser(const UpdateUserRequest& request);
  // "DeleteConflict" while the user has access keys, or while the dependents hook
  // reports a blocker (policies).
  Status DeleteUser(std::string_view user_name);
  // Adds or replaces tags (keys compare case-insensitively). "LimitExceeded" if the
  // user would have more than 50.
  Status TagUser(std::string_view user_name, const std::vector<Tag>& tags);
  // Keys that the user does not have are ignored, as in AWS.
  Status UntagUser(std::string_view user_name, const std::vector<std::string>& tag_keys);
  Result<TagPage> ListUserTags(std::string_view user_name, std::optional<std::string> marker,
                               std::optional<int> max_items);

  // --- Access keys -------------------------------------------------------------
  // "LimitExceeded" ("Cannot exceed quota for AccessKeysPerUser: 2") for a third key.
  Result<CreatedAccessKey> CreateAccessKey(std::optional<std::string_view> user_name,
                                           const Principal* caller);
  Result<AccessKeyPage> ListAccessKeys(std::optional<std::string_view> user_name,
                                       std::optional<std::string> marker,
                                       std::optional<int> max_items, const Principal* caller);
  // "NoSuchEntity" if the key does not belong to the (given or calling) user.
  Status UpdateAccessKey(std::optional<std::string_view> user_name, std::string_view access_key_id,
                         KeyStatus status, const Principal* caller);
  Status DeleteAccessKey(std::optional<std::string_view> user_name, std::string_view access_key_id,
                         const Principal* caller);
  // Sees uses not yet flushed to the store.
  Result<AccessKeyLastUsed> GetAccessKeyLastUsed(std::string_view access_key_id);
  // The key's metadata (for authorization: whose key is it). "NoSuchEntity".
  Result<AccessKeyMetadata> FindAccessKey(std::string_view access_key_id);

  // --- Credential report ---------------------------------------------------------
  // Generates synchronously when there is no report or it is older than four hours
  // ("STARTED"); otherwise reports "COMPLETE" and keeps the current one.
  Result<ReportGeneration> GenerateCredentialReport();
  // "ReportNotPresent" if never generated, "ReportExpired" if older than 4 hours.
  Result<CredentialReportContent> GetCredentialReport();

  // --- Usage -------------------------------------------------------------------
  // Writes buffered RecordUse calls to iam_key_usage. The server calls it every few
  // seconds and at shutdown. On failure the uses stay buffered for the next call.
  Status FlushUsage();

  // CredentialResolver: long-term keys only. A non-empty session token, an unknown,
  // inactive or deleted key, or a key whose user is gone is "InvalidClientTokenId".
  // Served from a cache of decrypted secrets that every change to the key or its
  // user invalidates before the change returns.
  Result<ResolvedKey> Resolve(std::string_view access_key_id, std::string_view session_token,
                              TimePoint now) override;
  Result<ResolvedKey> ResolveInactive(std::string_view access_key_id) override;
  // UsageRecorder: buffers in memory (keeps the latest use per key).
  void RecordUse(std::string_view access_key_id, std::string_view service, std::string_view region,
                 TimePoint when) override;
  // UserDirectory.
  Result<UserSummary> FindUser(std::string_view name) override;

 private:
  struct CachedKey {
    SecretBytes secret;
    Principal principal;
    bool active = false;
    std::string user_key;  // lowercased user name, for invalidation by user
  };
  struct Usage {
    TimePoint when;
    std::string service;
    std::string region;
  };

  Result<std::string> TargetUser(std::optional<std::string_view> user_name,
                                 const Principal* caller) const;
  std::string UserArn(std::string_view path, std::string_view name) const;
  std::optional<Usage> BufferedUsage(std::string_view access_key_id);
  void InvalidateKey(std::string_view access_key_id);
  void InvalidateUser(std::string_view user_key);

  store::KvStore& store_;
  const crypto::Envelope& envelope_;
  const Clock& clock_;
  Random& random_;
  const Account account_;

  std::mutex dependents_mu_;
  UserDependents* dependents_ = nullptr;  // guarded by dependents_mu_

  std::mutex cache_mu_;
  std::unordered_map<std::string, CachedKey> cache_;  // guarded by cache_mu_
  // Bumped by every invalidation, so that a Resolve that read the store before an
  // invalidation does not insert what it read afterwards. Guarded by cache_mu_.
  std::uint64_t cache_generation_ = 0;

  std::mutex flush_mu_;  // one FlushUsage at a time
  std::mutex usage_mu_;
  std::unordered_map<std::string, Usage> pending_usage_;   // guarded by usage_mu_
  std::unordered_map<std::string, Usage> flushing_usage_;  // guarded by usage_mu_
};

}  // namespace kw::iam
