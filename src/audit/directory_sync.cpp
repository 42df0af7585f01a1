#include "audit/directory_sync.hpp"

namespace kw::audit {

Result<DirectorySyncReport> DirectorySync::Sync() {
  std::lock_guard lock(mu_);
  if (source_ == nullptr) {
    return FailedPrecondition(
        "no directory source is configured (keyward server --directory-source)",
        "InvalidRequestException");
  }
  DirectorySyncReport report;
  report.source = source_->Describe();
  auto snapshot = source_->Fetch();
  if (!snapshot) {
    Error e = snapshot.error();
    e.message = "directory sync from " + report.source +
                " failed; the previous snapshot is kept: " + e.message;
    if (e.reason.empty()) {
      e.reason =
          e.code == ErrorCode::kInvalidArgument ? "ValidationException" : "ServiceUnavailable";
    }
    return e;
  }
  directory::SyncOptions options;
  options.source = report.source;
  auto result = directory_.Sync(*snapshot, options);
  if (!result) {
    Error e = result.error();
    if (e.reason.empty() && e.code == ErrorCode::kFailedPrecondition) {
      e.reason = "InvalidRequestException";
    }
    return e;
  }
  report.result = std::move(*result);
  if (!auto_offboard_) return report;
  for (const directory::Change& c : report.result.changes) {
    if (c.kind != directory::ChangeKind::kDeparted) continue;
    OffboardRequest req;
    req.person = c.person_id;
    req.reason = "directory sync: departed (" + c.from + " -> " + c.to + ")";
    req.actor = "directory-sync";
    KW_ASSIGN_OR_RETURN(OffboardRecord rec, offboarder_.Offboard(req));
    report.offboarded.push_back(std::move(rec));
  }
  return report;
}

}  // namespace kw::audit
