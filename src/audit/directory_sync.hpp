#pragma once

// A directory sync as the server runs it (docs/adr/0011-directory-sync.md): fetch the
// configured source, store the snapshot and its changes, and, when the policy says
// so, offboard every person the sync saw depart. A source that fails (malformed
// export, unreachable LDAP server) changes nothing: the previous snapshot stays.
// Thread-safe; syncs run one at a time.

#include <mutex>
#include <string>
#include <vector>

#include "audit/offboarding.hpp"
#include "directory/directory.hpp"
#include "directory/directory_service.hpp"

namespace kw::audit {

struct DirectorySyncReport {
  std::string source;
  directory::SyncResult result;
  std::vector<OffboardRecord> offboarded;  // automatic offboardings (policy permitting)
};

class DirectorySync {
 public:
  // `source` may be null (no source configured: Sync fails with kFailedPrecondition).
  DirectorySync(directory::DirectoryService& directory, Offboarder& offboarder,
                directory::DirectorySource* source, bool auto_offboard)
      : directory_(directory),
        offboarder_(offboarder),
        source_(source),
        auto_offboard_(auto_offboard) {}

  // Errors: the source's (kInvalidArgument, kUnavailable, with the source named), the
  // directory's refusal of an empty snapshot (kFailedPrecondition), store errors. An
  // automatic offboarding that fails is reported in its record (status "failed").
  Result<DirectorySyncReport> Sync();

  bool auto_offboard() const { return auto_offboard_; }

 private:
  directory::DirectoryService& directory_;
  Offboarder& offboarder_;
  directory::DirectorySource* source_;
  const bool auto_offboard_;
  std::mutex mu_;
};

}  // namespace kw::audit
