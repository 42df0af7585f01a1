#pragma once

// The findings model. A rule produces Observations; the AuditService merges them into
// stored Findings keyed by (type, resource), so that a finding seen by many audits is
// one finding with a count, first and last seen times, not many.

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.hpp"

namespace kw::audit {

enum class Severity { kInfo = 0, kLow = 1, kMedium = 2, kHigh = 3, kCritical = 4 };
std::string_view SeverityName(Severity s);                  // "INFO" ... "CRITICAL"
std::optional<Severity> ParseSeverity(std::string_view s);  // case-insensitive

// active: seen by the last audit; suppressed: an operator accepted it (later audits
// update its count but leave it suppressed); resolved: no longer seen (or closed by
// an operator); it becomes active again if a later audit sees it.
enum class FindingState { kActive, kSuppressed, kResolved };
std::string_view FindingStateName(FindingState s);  // "ACTIVE", "SUPPRESSED", "RESOLVED"
std::optional<FindingState> ParseFindingState(std::string_view s);

using Evidence = std::map<std::string, std::string>;

// What one rule saw in one audit.
struct Observation {
  std::string type;  // "AccessKeyTooOld", ... (rules.hpp lists them)
  Severity severity = Severity::kMedium;
  std::string resource;  // access key ID, user ARN or activation ID
  std::string summary;   // one human sentence
  Evidence evidence;     // never a secret
};

struct Finding {
  std::string finding_id;  // "f-" + 16 hex digits of SHA-256(type, resource): stable
  std::string type;
  Severity severity = Severity::kMedium;
  std::string resource;
  std::string summary;
  Evidence evidence;  // from the latest observation
  TimePoint first_seen;
  TimePoint last_seen;
  std::int64_t count = 0;  // audits that observed it
  FindingState state = FindingState::kActive;
  std::string state_reason;  // who/why for suppressed/resolved
  TimePoint updated;         // last change of state
};

std::string FindingId(std::string_view type, std::string_view resource);

}  // namespace kw::audit
