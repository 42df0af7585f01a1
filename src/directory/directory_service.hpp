#pragma once

// The last directory snapshot keyward accepted, and the history of changes between
// snapshots (who departed or transferred, and when keyward learned of it).
//
// Storage (KvStore tables, JSON values):
//   directory_people   lowercased person ID -> PersonRecord
//   directory_changes  20-digit sequence -> Change
//   directory_meta     "last_sync" -> {time, source, people}
//
// A sync is one transaction: a failed or refused sync leaves the previous snapshot
// and history exactly as they were. People absent from a new snapshot are kept as
// departed (an LDAP entry that is deleted or moved out of the searched subtree is
// how most directories say someone left). Thread-safe.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"
#include "common/result.hpp"
#include "directory/directory.hpp"
#include "store/kv_store.hpp"

namespace kw::directory {

struct PersonRecord {
  Person person;
  TimePoint first_seen;
  TimePoint updated;                     // last change of any field
  std::optional<TimePoint> departed_at;  // when keyward learned of the departure
  std::optional<TimePoint> transferred_at;
  std::string previous_department;  // before the last transfer
  bool absent = false;              // missing from the last snapshot (counted as departed)
};

enum class ChangeKind { kJoined, kDeparted, kTransferred, kReturned };
std::string_view ChangeKindName(ChangeKind k);  // "joined", "departed", ...

struct Change {
  std::string person_id;
  ChangeKind kind = ChangeKind::kJoined;
  std::string from;  // department (transfers) or status before
  std::string to;
  TimePoint at;
};

struct SyncOptions {
  std::string source;  // for the record
  // A snapshot with nobody in it while the stored one has people is refused
  // (kFailedPrecondition): a wrong LDAP base or an empty export would otherwise make
  // everyone a departure and, with automatic offboarding, lock everyone out.
  bool allow_empty = false;
};

struct SyncResult {
  std::vector<Change> changes;
  std::size_t people = 0;  // in the new snapshot
};

struct ChangePage {
  std::vector<Change> changes;  // oldest first
  std::string next_token;
};

class DirectoryService {
 public:
  // References must outlive the service.
  DirectoryService(store::KvStore& store, const Clock& clock) : store_(store), clock_(clock) {}

  // Validates the snapshot (ValidateSnapshot), compares it with the stored one and
  // stores both the new snapshot and the changes, atomically. A person first seen
  // already departed or transferred is recorded as such, with no change entry.
  Result<SyncResult> Sync(const Snapshot& snapshot, const SyncOptions& options);

  // The person whose ID or email is `owner` (case-insensitively); nullopt if none.
  // Reads the whole snapshot for emails: use Load() for many lookups.
  Result<std::optional<PersonRecord>> Find(std::string_view owner);
  // Every stored person, by lowercased ID.
  Result<std::vector<PersonRecord>> Load();
  Result<ChangePage> ListChanges(std::optional<std::string> next_token, int max_results);
  // When the last sync ran; nullopt before the first.
  Result<std::optional<TimePoint>> LastSync();

 private:
  store::KvStore& store_;
  const Clock& clock_;
};

// Looks an owner tag value up in loaded records: by ID, then by email.
class OwnerIndex {
 public:
  explicit OwnerIndex(std::vector<PersonRecord> records);
  const PersonRecord* Find(std::string_view owner) const;
  bool empty() const { return records_.empty(); }

 private:
  std::vector<PersonRecord> records_;
  std::vector<std::pair<std::string, std::size_t>> by_key_;  // sorted lowercased id/email
};

}  // namespace kw::directory
