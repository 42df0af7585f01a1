#pragma once

// keyward's own JSON 1.1 operations on audits, findings, the directory and
// offboarding (`X-Amz-Target: Keyward.*`), appended to the one "keyward" JsonService
// by the composition root. docs/audit.md describes them for operators.
//
//   RunAudit {} -> {Observed, Created, Resolved, AuditDate}
//   ListFindings {State?, MinSeverity?, Type?, MaxResults? (1-1000, 100),
//       NextToken?} -> {Findings, NextToken?}                               (read-only)
//   GetFinding {FindingId} -> {Finding}                                      (read-only)
//   UpdateFindingState {FindingId, State: ACTIVE|SUPPRESSED|RESOLVED, Reason?}
//       -> {Finding}
//   SyncDirectory {} -> {Source, People, Changes, Offboardings}
//   ListDirectoryChanges {MaxResults?, NextToken?} -> {Changes, NextToken?}  (read-only)
//   Offboard {Person, DryRun?, Reason?} -> {Offboarding}
//   ListOffboardings {MaxResults?} -> {Offboardings (newest first)}          (read-only)
//
// A Finding: {FindingId, Type, Severity, Resource, Summary, Evidence {name: text},
// FirstSeen, LastSeen, Count, State, StateReason?, UpdatedDate}. An Offboarding:
// {OffboardingId?, Person, Reason, Actor, DryRun, Status, StartedDate, FinishedDate?,
// Users [{UserName, SessionsRevoked, Error?}], AccessKeys [{UserName, AccessKeyId,
// WasActive, Action, LastUsedDate?, LastUsedService?, Error?}]}. Dates are epoch seconds.
// Never a secret.
//
// Errors: ValidationException, SerializationException, ResourceNotFoundException,
// InvalidNextTokenException, InvalidRequestException (no directory source configured;
// a sync that would empty the directory), ServiceUnavailable (the directory source
// cannot be reached: the previous snapshot is kept).
//
// Authorization resource: arn:aws:keyward:REGION:ACCT:finding/ID for GetFinding and
// UpdateFindingState, "*" for the others.

#include <vector>

#include "api/http/json_protocol.hpp"
#include "audit/audit_service.hpp"
#include "audit/directory_sync.hpp"
#include "audit/offboarding.hpp"
#include "iam/principal.hpp"

namespace kw::api {

struct AuditApiDeps {
  audit::AuditService& audit;
  audit::Offboarder& offboarder;
  audit::DirectorySync& sync;
  directory::DirectoryService& directory;
};

// References must outlive the operations. Thread-safe as the services are.
std::vector<JsonOperation> AuditOperations(AuditApiDeps deps, const iam::Account& account);

}  // namespace kw::api
