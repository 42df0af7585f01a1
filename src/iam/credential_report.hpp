#pragma once

// The IAM credential report: one CSV row per user with the state of its password,
// MFA, access keys and signing certificates, in AWS's column order and spelling.
// Building it is a pure function of the data, so it is tested without a store.
// Thread-safe (no state).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"

namespace kw::iam {

// How long a generated report stays valid (AWS: four hours).
inline constexpr std::chrono::hours kCredentialReportLifetime{4};

// One access key as the report sees it.
struct ReportKey {
  std::string access_key_id;
  bool active = false;
  TimePoint create_date;
  std::optional<TimePoint> last_used;
  std::string last_used_service;  // meaningful only with last_used
  std::string last_used_region;
};

struct ReportUser {
  std::string name;
  std::string arn;
  TimePoint create_date;
  std::vector<ReportKey> keys;  // any order; the report lists the oldest as key 1
};

struct ReportRoot {
  std::string arn;  // arn:aws:iam::ACCT:root
  // AWS reports the account's creation time; keyward has no account record and
  // passes the earliest user's creation time, or nothing ("N/A").
  std::optional<TimePoint> create_date;
};

// The exact column names, in order (22 columns).
const std::vector<std::string>& CredentialReportColumns();

// Header, then the <root_account> row, then one row per user in the given order.
// Rows are separated by '\n' (no trailing newline); fields that contain a comma, a
// quote or a line break are quoted as RFC 4180 says. Dates are ISO 8601 with
// "+00:00", as AWS writes them in the report. keyward has no passwords, MFA devices
// or signing certificates: those columns read as a user without them reads in AWS
// (false / N/A), and a user's third and later keys are not reported (AWS allows two).
std::string BuildCredentialReport(const ReportRoot& root, const std::vector<ReportUser>& users);

// "2015-08-30T12:36:00+00:00".
std::string FormatReportTime(TimePoint t);

}  // namespace kw::iam
