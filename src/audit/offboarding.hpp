#pragma once

// Offboarding a person (or team): every access key of every IAM user whose owner tag
// names them is deactivated at once, the users' temporary credentials are revoked,
// and a record says who, why, when and what was done.
//
// Order (write intent before acting): the record is stored "in-progress" with the
// planned keys first; then each key is deactivated, then sessions revoked; then the
// record is stored "completed" or "failed" with the outcome per key. Any failure
// (a key, the session revocation) makes the whole offboarding fail after trying
// everything: fail closed, never "done" with something left working. Repeating an
// offboarding is safe (already-inactive keys are reported as such).
//
// Storage: KvStore table "audit_offboardings", 20-digit epoch ms + "-" + lowercased
// person -> record. Thread-safe.

#include <optional>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/result.hpp"
#include "directory/directory_service.hpp"
#include "iam/user_service.hpp"
#include "store/kv_store.hpp"
#include "sts/sts_service.hpp"

namespace kw::audit {

// Revokes a user's temporary credentials (sts::StsService in the server).
class SessionRevoker {
 public:
  virtual ~SessionRevoker() = default;
  virtual Result<std::size_t> RevokeUserSessions(std::string_view user_name) = 0;
};

class StsSessionRevoker final : public SessionRevoker {
 public:
  explicit StsSessionRevoker(sts::StsService& sts) : sts_(sts) {}
  Result<std::size_t> RevokeUserSessions(std::string_view user_name) override {
    return sts_.RevokeUserSessions(user_name);
  }

 private:
  sts::StsService& sts_;
};

struct OffboardRequest {
  std::string person;  // as in owner tags: a directory ID or email, or a team
  bool dry_run = false;
  std::string reason;
  std::string actor;  // who asked: a principal ARN or "directory-sync"
};

struct OffboardedKey {
  std::string user_name;
  std::string access_key_id;
  bool was_active = false;
  std::optional<TimePoint> last_used;
  std::string last_used_service;
  // "deactivated", "already-inactive", "would-deactivate" (dry run) or "failed".
  std::string action;
  std::string error;  // for "failed"
};

struct OffboardedUser {
  std::string user_name;
  std::size_t sessions_revoked = 0;
  std::string error;  // session revocation failure
};

struct OffboardRecord {
  std::string offboarding_id;  // empty for a dry run (nothing is stored)
  std::string person;
  std::vector<std::string> aliases;  // the owner values matched (ID, email)
  std::string reason;
  std::string actor;
  bool dry_run = false;
  TimePoint started;
  std::optional<TimePoint> finished;
  std::string status;  // "in-progress", "completed", "failed", "dry-run"
  std::vector<OffboardedUser> users;
  std::vector<OffboardedKey> keys;
};

class Offboarder {
 public:
  // References must outlive the service. `directory` resolves a person's email to
  // their ID and back, so an owner tag with either matches.
  Offboarder(store::KvStore& store, const Clock& clock, iam::UserService& users,
             SessionRevoker& sessions, directory::DirectoryService& directory,
             std::string owner_tag);

  // Errors: kInvalidArgument ("ValidationException") for an empty person; store
  // errors before anything was done. Failures while acting are in the returned
  // record: status "failed", with the error on each key or user that failed.
  Result<OffboardRecord> Offboard(const OffboardRequest& request);
  // Newest first.
  Result<std::vector<OffboardRecord>> List(std::size_t max);

 private:
  store::KvStore& store_;
  const Clock& clock_;
  iam::UserService& users_;
  SessionRevoker& sessions_;
  directory::DirectoryService& directory_;
  const std::string owner_tag_;
};

}  // namespace kw::audit
