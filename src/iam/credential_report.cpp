#include "iam/credential_report.hpp"

#include <algorithm>

#include "common/strings.hpp"
#include "common/time_format.hpp"

namespace kw::iam {
namespace {

constexpr std::string_view kNA = "N/A";

void AppendRow(std::string& out, const std::vector<std::string>& fields) {
  if (!out.empty()) out += '\n';
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) out += ',';
    out += CsvField(fields[i]);
  }
}

// The five access_key_N_* columns.
void AppendKey(std::vector<std::string>& row, const ReportKey* key) {
  if (key == nullptr) {
    row.insert(row.end(),
               {"false", std::string(kNA), std::string(kNA), std::string(kNA), std::string(kNA)});
    return;
  }
  row.push_back(key->active ? "true" : "false");
  row.push_back(FormatReportTime(key->create_date));
  if (key->last_used) {
    row.push_back(FormatReportTime(*key->last_used));
    row.push_back(key->last_used_region.empty() ? std::string(kNA) : key->last_used_region);
    row.push_back(key->last_used_service.empty() ? std::string(kNA) : key->last_used_service);
  } else {
    row.insert(row.end(), {std::string(kNA), std::string(kNA), std::string(kNA)});
  }
}

void AppendNoCertificates(std::vector<std::string>& row) {
  row.insert(row.end(), {"false", std::string(kNA), "false", std::string(kNA)});
}

}  // namespace

const std::vector<std::string>& CredentialReportColumns() {
  static const auto* columns = new std::vector<std::string>{
      "user",
      "arn",
      "user_creation_time",
      "password_enabled",
      "password_last_used",
      "password_last_changed",
      "password_next_rotation",
      "mfa_active",
      "access_key_1_active",
      "access_key_1_last_rotated",
      "access_key_1_last_used_date",
      "access_key_1_last_used_region",
      "access_key_1_last_used_service",
      "access_key_2_active",
      "access_key_2_last_rotated",
      "access_key_2_last_used_date",
      "access_key_2_last_used_region",
      "access_key_2_last_used_service",
      "cert_1_active",
      "cert_1_last_rotated",
      "cert_2_active",
      "cert_2_last_rotated",
  };
  return *columns;
}

std::string FormatReportTime(TimePoint t) {
  std::string s = FormatIso8601(t);  // "...Z"
  if (!s.empty() && s.back() == 'Z') {
    s.pop_back();
    s += "+00:00";
  }
  return s;
}

std::string BuildCredentialReport(const ReportRoot& root, const std::vector<ReportUser>& users) {
  std::string out;
  AppendRow(out, CredentialReportColumns());

  // The root row: AWS writes "not_supported" for the password columns that do not
  // apply to the root user. keyward has no root password or root access keys.
  std::vector<std::string> row = {
      "<root_account>",
      root.arn,
      root.create_date ? FormatReportTime(*root.create_date) : std::string(kNA),
      "not_supported",
      std::string(kNA),
      "not_supported",
      "not_supported",
      "false",
  };
  AppendKey(row, nullptr);
  AppendKey(row, nullptr);
  AppendNoCertificates(row);
  AppendRow(out, row);

  for (const ReportUser& user : users) {
    std::vector<const ReportKey*> keys;
    for (const ReportKey& k : user.keys) keys.push_back(&k);
    // Key 1 is the older key; ties by ID keep the order stable.
    std::sort(keys.begin(), keys.end(), [](const ReportKey* a, const ReportKey* b) {
      if (a->create_date != b->create_date) return a->create_date < b->create_date;
      return a->access_key_id < b->access_key_id;
    });
    row = {
        user.name,        user.arn,         FormatReportTime(user.create_date),
        "false",  // password_enabled: keyward users have no console password
        std::string(kNA), std::string(kNA), std::string(kNA),
        "false",  // mfa_active
    };
    AppendKey(row, keys.size() > 0 ? keys[0] : nullptr);
    AppendKey(row, keys.size() > 1 ? keys[1] : nullptr);
    AppendNoCertificates(row);
    AppendRow(out, row);
  }
  return out;
}

}  // namespace kw::iam
