#pragma once

// People as a directory knows them, and the sources that export them. An IAM user's
// owner (its `owner` tag) names one Person by ID or email.
//
// Export formats (docs/audit.md has examples):
//   CSV: a header row, then one row per person. Columns by name, in any order:
//     id (required), status (required: active | departed | transferred),
//     kind (person | team; default person), name, email, department.
//     Unknown columns are ignored, so an HR export can be used as it is.
//   JSON: {"people": [{"id", "status", "kind"?, "name"?, "email"?, "department"?}]}
//     or the array alone.
// A malformed export (bad CSV, a missing id or status, an unknown status, a duplicate
// id) is kInvalidArgument naming the row; nothing is partially accepted.
//
// Pure functions and interfaces; thread-safe.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace kw::directory {

enum class PersonStatus { kActive, kDeparted, kTransferred };
std::string_view PersonStatusName(PersonStatus s);  // "active", "departed", "transferred"
std::optional<PersonStatus> ParsePersonStatus(std::string_view s);  // case-insensitive

struct Person {
  std::string id;               // uid, employee number or team name; unique case-insensitively
  std::string kind = "person";  // "person" or "team"
  std::string name;
  std::string email;
  std::string department;
  PersonStatus status = PersonStatus::kActive;
};

struct Snapshot {
  std::vector<Person> people;
};

Result<Snapshot> ParseCsvExport(std::string_view text);
Result<Snapshot> ParseJsonExport(std::string_view text);

// Where a sync reads people from. Implementations: FileSource (below) and
// LdapSource (directory/ldap/). Each Fetch reads the whole directory afresh.
class DirectorySource {
 public:
  virtual ~DirectorySource() = default;
  // kInvalidArgument for a malformed export, kUnavailable for a server or file that
  // cannot be reached or read now (retry later).
  virtual Result<Snapshot> Fetch() = 0;
  // For messages: "file /x/people.csv", "ldap://host:389/...". Never a password.
  virtual std::string Describe() const = 0;
};

// A CSV (.csv) or JSON (anything else) export file, read on every Fetch.
class FileSource final : public DirectorySource {
 public:
  explicit FileSource(std::string path) : path_(std::move(path)) {}
  Result<Snapshot> Fetch() override;
  std::string Describe() const override { return "file " + path_; }

 private:
  std::string path_;
};

// Checks a snapshot: ids present and unique (case-insensitively), kinds known.
Status ValidateSnapshot(const Snapshot& snapshot);

}  // namespace kw::directory
