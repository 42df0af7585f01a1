#pragma once

// keyward's Secrets Manager: secrets, their versions and staging labels, tags,
// resource policies, deletion with a recovery window, and the stored rotation
// configuration. The domain behind api/secretsmanager.
//
// Errors carry the AWS exception name in Error::reason, as the botocore model spells
// it: "ResourceNotFoundException" (kNotFound), "ResourceExistsException"
// (kAlreadyExists), "InvalidParameterException" (kInvalidArgument: a semantic problem),
// "ValidationError" (kInvalidArgument: a model length/range constraint, worded as AWS's
// ValidationException, to which api/http maps it), "InvalidRequestException"
// (kFailedPrecondition: the state forbids it, e.g. the secret is scheduled for deletion),
// "LimitExceededException", "MalformedPolicyDocumentException", "PublicPolicyException",
// "InvalidNextTokenException", "DecryptionFailure" (kPermissionDenied: a stored value
// does not open; it is never returned). Messages never hold secret values.
//
// Rotation: RotateSecret only stores the configuration (rules, Lambda ARN) and reports
// RotationEnabled / NextRotationDate; nothing rotates yet (the rotation issue adds
// the rotator). Replication is not supported: the replica operations fail with
// InvalidRequestException.
//
// Storage (KvStore tables; JSON values):
//   sm_secrets   secret id (random, stable) -> metadata, staging labels, version list,
//                resource policy
//   sm_names     secret name -> secret id (one Get per lookup by name or ARN)
//   sm_versions  secret id + "/" + version id -> the value, Envelope-sealed with the
//                associated data "secretsmanager/" + ARN + "/" + version id, so a
//                ciphertext copied to another row fails to open.
// Every multi-record change runs in one Transact.
//
// Performance: GetSecretValue is one Envelope open when the secret's metadata and the
// version's sealed value are cached; one KV Get (the version row) when only the
// metadata is, two more Gets (name index, record) when neither is. The cache holds
// parsed records by name and is invalidated by every write through this service,
// which must be the only writer of these tables (master-key rotation excepted: it only
// re-wraps sealed values, see ciphertexts_). LastAccessedDate is
// written at most once per secret and UTC day. Secrets whose recovery window has
// ended are purged when next looked up, and by PurgeDue (call it periodically).

#include <array>
#include <cstdint>
#include <functional>
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
#include "iam/principal.hpp"
#include "policy/policy.hpp"
#include "store/kv_store.hpp"

namespace kw::secrets {

inline constexpr std::size_t kMaxNameLength = 512;
inline constexpr std::size_t kMaxSecretBytes = 65536;
inline constexpr std::size_t kMaxDescriptionLength = 2048;
inline constexpr std::size_t kMaxTags = 50;
inline constexpr std::size_t kMaxVersions = 100;  // AWS prunes deprecated versions beyond
inline constexpr std::size_t kMaxStagesPerVersion = 20;
inline constexpr std::size_t kMaxPolicyLength = 20480;
inline constexpr const char* kCurrent = "AWSCURRENT";
inline constexpr const char* kPrevious = "AWSPREVIOUS";
inline constexpr const char* kPending = "AWSPENDING";

struct Tag {
  std::string key;
  std::string value;
};

struct RotationRules {
  std::optional<std::int64_t> automatically_after_days;  // 1..1000
  std::optional<std::string> schedule_expression;        // rate(...) / cron(...)
  std::optional<std::string> duration;                   // "3h"
};

// A secret value in clear: only GetSecretValue returns one.
struct SecretValueInput {
  bool binary = false;  // SecretBinary (raw bytes) rather than SecretString
  SecretBytes bytes;
};

struct VersionInfo {
  std::string version_id;
  std::vector<std::string> stages;  // empty: deprecated
  TimePoint created;
  std::optional<TimePoint> last_accessed;  // midnight UTC of the day
};

// What DescribeSecret and ListSecrets report.
struct SecretDescription {
  std::string arn;
  std::string name;
  std::optional<std::string> description;
  std::optional<std::string> kms_key_id;
  bool rotation_enabled = false;
  std::optional<std::string> rotation_lambda_arn;
  std::optional<RotationRules> rotation_rules;
  std::optional<TimePoint> last_rotated;
  std::optional<TimePoint> last_changed;
  std::optional<TimePoint> last_accessed;  // midnight UTC
  std::optional<TimePoint> deleted_date;   // set while scheduled for deletion
  std::optional<TimePoint> next_rotation;
  TimePoint created;
  std::vector<Tag> tags;
  // Versions that carry labels, version id -> labels.
  std::map<std::string, std::vector<std::string>> version_stages;
  std::string primary_region;
};

struct SecretValue {
  std::string arn;
  std::string name;
  std::string version_id;
  bool binary = false;
  SecretBytes bytes;
  std::vector<std::string> stages;
  TimePoint created;
};

// The answer of Create/Put/Update/Rotate: which version (empty if none was made).
struct VersionRef {
  std::string arn;
  std::string name;
  std::string version_id;
  std::vector<std::string> stages;
};

struct CreateSecretRequest {
  std::string name;
  std::optional<std::string> client_request_token;  // a UUID is generated when absent
  std::optional<std::string> description;
  std::optional<std::string> kms_key_id;
  std::optional<SecretValueInput> value;  // none: a secret without versions
  std::vector<Tag> tags;
};

struct PutSecretValueRequest {
  std::string secret_id;
  std::optional<std::string> client_request_token;
  std::optional<SecretValueInput> value;           // required
  std::optional<std::vector<std::string>> stages;  // default: AWSCURRENT
};

struct UpdateSecretRequest {
  std::string secret_id;
  std::optional<std::string> client_request_token;
  std::optional<std::string> description;
  std::optional<std::string> kms_key_id;
  std::optional<SecretValueInput> value;  // a new AWSCURRENT version when given
};

struct Filter {
  std::string key;  // description, name, tag-key, tag-value, primary-region, owning-service, all
  std::vector<std::string> values;  // "!" prefix negates
};

struct ListSecretsRequest {
  std::vector<Filter> filters;
  std::optional<std::string> sort_order;  // asc (default) / desc
  std::optional<std::string> sort_by;     // created-date (default), name, last-changed-date,
                                          // last-accessed-date
  std::optional<int> max_results;         // 1..100 (default 100)
  std::optional<std::string> next_token;
  bool include_planned_deletion = false;
};

struct SecretPage {
  std::vector<SecretDescription> secrets;
  std::string next_token;  // empty: last page
};

struct VersionPage {
  std::string arn;
  std::string name;
  std::vector<VersionInfo> versions;  // newest first
  std::string next_token;
};

struct UpdateStageRequest {
  std::string secret_id;
  std::string stage;
  std::optional<std::string> move_to_version_id;
  std::optional<std::string> remove_from_version_id;
};

struct DeleteSecretRequest {
  std::string secret_id;
  std::optional<std::int64_t> recovery_window_days;  // 7..30, default 30
  bool force_delete_without_recovery = false;
};

struct DeletedSecret {
  std::string arn;
  std::string name;
  TimePoint deletion_date;
};

struct RotateSecretRequest {
  std::string secret_id;
  std::optional<std::string> client_request_token;
  std::optional<std::string> rotation_lambda_arn;
  std::optional<RotationRules> rules;
  bool rotate_immediately = true;
};

struct PasswordRequest {
  std::int64_t length = 32;  // 1..4096
  std::string exclude_characters;
  bool exclude_numbers = false;
  bool exclude_punctuation = false;
  bool exclude_uppercase = false;
  bool exclude_lowercase = false;
  bool include_space = false;
  bool require_each_included_type = true;
};

struct PolicyValidation {
  bool passed = true;
  std::vector<std::string> errors;  // messages; empty when passed
};

struct SecretPolicy {
  std::string arn;
  std::string name;
  std::optional<std::string> policy;  // the document as stored
};

// Thread-safe. Writes are serialised by one mutex (the store transaction does the
// real isolation; the mutex keeps the metadata cache coherent); reads run in
// parallel and take the cache mutex only briefly.
class SecretService {
  struct Record;

 public:
  // All references must outlive the service.
  SecretService(store::KvStore& store, const crypto::Envelope& envelope, const Clock& clock,
                Random& random, const iam::Account& account);

  Result<VersionRef> CreateSecret(const CreateSecretRequest& request);
  // Default stage AWSCURRENT when neither is given.
  Result<SecretValue> GetSecretValue(std::string_view secret_id,
                                     std::optional<std::string_view> version_id,
                                     std::optional<std::string_view> version_stage);
  Result<VersionRef> PutSecretValue(const PutSecretValueRequest& request);
  Result<VersionRef> UpdateSecret(const UpdateSecretRequest& request);
  Result<SecretDescription> DescribeSecret(std::string_view secret_id);
  Result<SecretPage> ListSecrets(const ListSecretsRequest& request);
  Result<VersionPage> ListSecretVersionIds(std::string_view secret_id, bool include_deprecated,
                                           std::optional<int> max_results,
                                           std::optional<std::string> next_token);
  Result<VersionRef> UpdateSecretVersionStage(const UpdateStageRequest& request);
  Result<DeletedSecret> DeleteSecret(const DeleteSecretRequest& request);
  Result<VersionRef> RestoreSecret(std::string_view secret_id);
  Status TagResource(std::string_view secret_id, const std::vector<Tag>& tags);
  Status UntagResource(std::string_view secret_id, const std::vector<std::string>& keys);
  Result<SecretBytes> GetRandomPassword(const PasswordRequest& request);

  Result<VersionRef> RotateSecret(const RotateSecretRequest& request);
  Result<VersionRef> CancelRotateSecret(std::string_view secret_id);

  // Parses with PolicyKind::kResource. "MalformedPolicyDocumentException" for a
  // document that is not JSON or breaks the grammar; with `block_public_policy`,
  // "PublicPolicyException" for an Allow to Principal "*" without a Condition.
  Result<SecretPolicy> PutResourcePolicy(std::string_view secret_id, std::string_view policy,
                                         bool block_public_policy);
  Result<SecretPolicy> GetResourcePolicy(std::string_view secret_id);
  Result<SecretPolicy> DeleteResourcePolicy(std::string_view secret_id);
  // "MalformedPolicyDocumentException" only for text that is not JSON; grammar
  // problems come back as a failed validation. `secret_id` may be empty.
  Result<PolicyValidation> ValidateResourcePolicy(std::optional<std::string_view> secret_id,
                                                  std::string_view policy);

  // For authorization, which happens before the handler runs: the secret's full ARN
  // if it exists (by name, full or partial ARN), else
  // "arn:PARTITION:secretsmanager:REGION:ACCT:secret:" + id (or `id` itself if it is
  // already an ARN). Never fails.
  std::string ResourceArn(std::string_view secret_id);
  // The secret's parsed resource policy (cached), or null. Never fails.
  std::shared_ptr<const policy::Policy> ResourcePolicy(std::string_view secret_id);

  // One lookup of a secret serving a whole request: the authorization resource and
  // resource policy (as ResourceArn and ResourcePolicy give them) and the record the
  // handler reads, so that GetSecretValue looks the secret up once instead of three
  // times. A snapshot: a write after Resolve is not seen by what uses it.
  class Resolved {
   public:
    const std::string& arn() const { return arn_; }
    const std::shared_ptr<const policy::Policy>& policy() const { return policy_; }

   private:
    friend class SecretService;
    std::string arn_;
    std::shared_ptr<const policy::Policy> policy_;
    std::shared_ptr<const Record> record_;  // null: `error_` says why
    Error error_;
  };
  // Never fails; a missing secret gives the ARN ResourceArn gives and no policy.
  Resolved Resolve(std::string_view secret_id);
  // GetSecretValue of a secret resolved earlier in the same request (same errors).
  Result<SecretValue> GetSecretValue(const Resolved& secret,
                                     std::optional<std::string_view> version_id,
                                     std::optional<std::string_view> version_stage);

  // Purges secrets whose recovery window ended before `now`. Secrets are also purged
  // lazily when they are looked up. Returns how many were purged.
  Result<std::size_t> PurgeDue(TimePoint now);

  const iam::Account& account() const { return account_; }

 private:
  using RecordPtr = std::shared_ptr<const Record>;

  // Looks the secret up by name, ARN or partial ARN; purges it if its window ended.
  // `allow_deleted`: a secret scheduled for deletion is returned, else refused.
  Result<RecordPtr> Find(std::string_view secret_id, bool allow_deleted, bool allow_retry = true);
  Result<RecordPtr> LoadByName(std::string_view name);
  Result<RecordPtr> LoadById(std::string_view id);
  // GetSecretValue's work on a found, not deleted secret.
  Result<SecretValue> ReadValue(const RecordPtr& rec, std::optional<std::string_view> version_id,
                                std::optional<std::string_view> version_stage);
  // The stored (sealed) value of a version: from ciphertexts_, else the store. Null if
  // the row does not exist.
  Result<std::shared_ptr<const std::string>> SealedValue(const std::string& row_key,
                                                         bool from_cache);
  // Read-modify-write of one secret's record inside a transaction, then cache update.
  Result<RecordPtr> Mutate(std::string_view secret_id, bool allow_deleted,
                           const std::function<Status(Record&, store::Txn&)>& change);
  // Deletes the secret, its name and its versions. With `only_if_due_at`, only if the
  // stored secret is still scheduled for deletion by then (else kAborted).
  Status Purge(const Record& record, std::optional<TimePoint> only_if_due_at);
  Status PruneDeprecated(store::Txn& txn, Record& rec);
  SecretDescription Describe(const Record& rec) const;
  bool Matches(const Record& rec, const std::vector<Filter>& filters) const;
  Result<VersionRef> AddVersion(store::Txn& txn, Record& rec, std::optional<std::string> token,
                                const SecretValueInput& value,
                                std::optional<std::vector<std::string>> stages);
  std::string Aad(const Record& rec, std::string_view version_id) const;
  void Invalidate(const std::string& name);
  void Cache(const RecordPtr& rec, std::uint64_t generation);

  store::KvStore& store_;
  const crypto::Envelope& envelope_;
  const Clock& clock_;
  Random& random_;
  const iam::Account account_;

  // Serialises the writes to one secret, by name: a write reads the record, changes it
  // and commits; two writes of one secret must not interleave. Writes of different
  // secrets run side by side, so that a durable commit (an fsync) carries the writes of
  // every writer waiting for it (group commit) instead of one at a time. Striped: a
  // name maps to one of these; two names may share one, which only serialises them.
  // Recursive: a write that looks its secret up may purge it (an expired recovery
  // window) on the way. Every write of a secret's rows holds its name's lock, and no
  // thread waits for a second name's lock while holding one (Find only tries).
  static constexpr std::size_t kNameLocks = 64;
  std::array<std::recursive_mutex, kNameLocks> name_locks_;
  std::recursive_mutex& NameLock(std::string_view name);

  // Secrets scheduled for deletion, id -> end of the recovery window, so that PurgeDue
  // does not read and parse every record every few seconds (at 100,000 secrets that
  // scan cost a fifth of a core and slowed reads). Kept up to date by Mutate and
  // Purge (under the secret's name lock); filled from one full scan on PurgeDue's
  // first call and merged with a new scan once an hour. Entries may be stale: Purge
  // checks the stored record.
  std::mutex schedule_mu_;
  std::map<std::string, TimePoint> deletion_schedule_;  // guarded by schedule_mu_
  std::optional<TimePoint> schedule_scanned_;           // guarded by schedule_mu_
  void Schedule(const Record& rec);                     // takes schedule_mu_

  std::mutex cache_mu_;
  std::uint64_t generation_ = 0;  // guarded by cache_mu_
  // Parsed records (with their parsed resource policy) by name.
  std::unordered_map<std::string, RecordPtr> by_name_;  // guarded by cache_mu_
  // Sealed values (ciphertext only, never plaintext) by sm_versions key, so a read of a
  // cached secret does not touch the store. Version rows are never rewritten by this
  // service (a new version gets a new key; a deleted one is no longer named by any
  // record), so entries need no invalidation; a master-key rotation rewrites them from
  // another process, so a cached value that fails to open is read again from the store.
  std::unordered_map<std::string, std::shared_ptr<const std::string>>
      ciphertexts_;                   // guarded by cache_mu_
  std::size_t ciphertext_bytes_ = 0;  // guarded by cache_mu_
};

// "arn:aws:secretsmanager:REGION:ACCT:secret:" for the account.
std::string SecretArnPrefix(const iam::Account& account);

}  // namespace kw::secrets
