#pragma once

// Runs the rules and keeps their findings. Storage: KvStore table
// "audit_finding_buckets": findings grouped into 4,096 buckets by their ID's hash, each a
// compact binary row (audit_service.cpp says why and how). Findings of the older
// one-JSON-row-per-finding table "audit_findings" are moved into buckets by the next
// audit. An audit merges the observations in ID order, one transaction per range of
// buckets (so that a large audit does not hold the store's writer for long; each
// finding is merged atomically, but a crash between ranges leaves the audit half
// applied):
//   - a finding seen again: last seen, count + 1, the latest evidence and severity;
//     a suppressed one stays suppressed, a resolved one becomes active again;
//   - an active finding not seen any more: resolved ("no longer observed");
//   - a new observation: a new active finding.
// So repeated audits update findings rather than duplicate them. Thread-safe.

#include <algorithm>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "audit/event_rules.hpp"
#include "audit/rules.hpp"
#include "common/result.hpp"
#include "fleet/fleet_service.hpp"
#include "iam/user_service.hpp"
#include "store/kv_store.hpp"

namespace kw::audit {

// Where an audit's data comes from. Thread-safe.
class AuditDataSource {
 public:
  virtual ~AuditDataSource() = default;
  virtual Result<AuditData> Collect(TimePoint now) = 0;
};

// The live data: IAM users and keys (with last use, as the credential report has
// them), the fleet's activations (null fleet: none) and the directory snapshot.
class LiveAuditData final : public AuditDataSource {
 public:
  LiveAuditData(iam::UserService& users, fleet::FleetService* fleet,
                directory::DirectoryService& directory)
      : users_(users), fleet_(fleet), directory_(directory) {}
  Result<AuditData> Collect(TimePoint now) override;

 private:
  iam::UserService& users_;
  fleet::FleetService* fleet_;
  directory::DirectoryService& directory_;
};

struct AuditRun {
  TimePoint time;
  std::size_t observed = 0;       // observations this run (after exemptions)
  std::size_t created = 0;        // new findings
  std::size_t resolved = 0;       // active findings no longer seen
  std::vector<Finding> findings;  // every finding the run observed, by ID
};

struct FindingFilter {
  std::optional<FindingState> state;
  std::optional<Severity> min_severity;
  std::optional<std::string> type;
};

struct FindingPage {
  std::vector<Finding> findings;  // by ID
  std::string next_token;         // empty: last page
};

class AuditService {
 public:
  // References must outlive the service.
  AuditService(store::KvStore& store, const Clock& clock, AuditDataSource& source,
               AuditPolicy policy, std::vector<std::unique_ptr<Rule>> rules = DefaultRules());

  // Collects, evaluates and merges. Audits run one at a time.
  Result<AuditRun> Run();
  // The merge alone, over given data (tests and benchmarks).
  Result<AuditRun> RunOn(const AuditData& data);

  // kInvalidArgument "InvalidNextTokenException" for a bad token.
  Result<FindingPage> List(const FindingFilter& filter, std::optional<std::string> next_token,
                           int max_results);
  // kNotFound "ResourceNotFoundException" for an unknown ID.
  Result<Finding> Get(std::string_view finding_id);
  Result<Finding> UpdateState(std::string_view finding_id, FindingState state, std::string reason);

  const AuditPolicy& policy() const { return policy_; }

  // The event log for the event rules (event_rules.hpp); null (the default): no event
  // findings. Set before the first audit. Each audit reads the events since the previous
  // one (kept in memory: after a restart, the first audit reads first_event_window).
  void set_event_source(const EventSource* source) { event_source_ = source; }

  // About how many findings an audit merges per transaction (the bucket ranges are
  // 1/16, 1/256 or 1/4096 of all buckets, the largest that keeps this bound for the
  // audit's observations); at least 1. Set before the first audit (tests use small
  // chunks to cross range boundaries); not synchronized with a running audit.
  static constexpr std::size_t kDefaultChunkSize = 20000;
  void set_chunk_size(std::size_t n) { chunk_size_ = std::max<std::size_t>(1, n); }

  // Called for each new finding inside the transaction that creates it (so that, e.g.,
  // a notification outbox entry commits with the finding or not at all). It may run
  // again if the transaction is retried, must write only through `txn`, and an error
  // rolls the range back. Set before the first audit; not synchronized with one.
  using NewFindingHook = std::function<Status(store::Txn& txn, std::string_view finding_id,
                                              const Observation& observation, TimePoint now)>;
  void set_new_finding_hook(NewFindingHook hook) { new_finding_hook_ = std::move(hook); }

 private:
  // Moves findings of the format 1 table into buckets (nothing if it is empty).
  Status MoveLegacyFindings();

  store::KvStore& store_;
  const Clock& clock_;
  AuditDataSource& source_;
  const AuditPolicy policy_;
  const std::vector<std::unique_ptr<Rule>> rules_;
  std::mutex run_mu_;  // one audit at a time
  std::size_t chunk_size_ = kDefaultChunkSize;
  NewFindingHook new_finding_hook_;
  const EventSource* event_source_ = nullptr;
  std::mutex event_mu_;  // guards last_event_audit_
  std::optional<TimePoint> last_event_audit_;
};

}  // namespace kw::audit
