#include "iam/credential_report.hpp"

#include <gtest/gtest.h>

#include <sstream>

#include "common/time_format.hpp"

namespace kw::iam {
namespace {

TimePoint At(const char* iso) { return *ParseIso8601(iso); }

std::vector<std::string> Lines(const std::string& csv) {
  std::vector<std::string> lines;
  std::stringstream in(csv);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

constexpr const char* kHeader =
    "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
    "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,"
    "access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,"
    "access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,"
    "access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,"
    "cert_1_last_rotated,cert_2_active,cert_2_last_rotated";

ReportRoot Root() {
  return ReportRoot{"arn:aws:iam::123456789012:root", At("2026-01-01T00:00:00Z")};
}

TEST(CredentialReport, HeaderHasAwsColumnsInOrder) {
  EXPECT_EQ(CredentialReportColumns().size(), 22u);
  const auto lines = Lines(BuildCredentialReport(Root(), {}));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], kHeader);
}

TEST(CredentialReport, RootRow) {
  const auto lines = Lines(BuildCredentialReport(Root(), {}));
  EXPECT_EQ(lines[1],
            "<root_account>,arn:aws:iam::123456789012:root,2026-01-01T00:00:00+00:00,"
            "not_supported,N/A,not_supported,not_supported,false,"
            "false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A");
  ReportRoot no_date{"arn:aws:iam::123456789012:root", std::nullopt};
  EXPECT_EQ(Lines(BuildCredentialReport(no_date, {}))[1].rfind(
                "<root_account>,arn:aws:iam::123456789012:root,N/A,not_supported,", 0),
            0u);
}

TEST(CredentialReport, UserWithoutKeys) {
  ReportUser alice{"alice", "arn:aws:iam::123456789012:user/alice", At("2026-02-03T04:05:06Z"), {}};
  const auto lines = Lines(BuildCredentialReport(Root(), {alice}));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[2],
            "alice,arn:aws:iam::123456789012:user/alice,2026-02-03T04:05:06+00:00,"
            "false,N/A,N/A,N/A,false,"
            "false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A");
}

TEST(CredentialReport, KeysOldestFirstWithUsage) {
  ReportKey newer{"AKIANEWER00000000000", false, At("2026-03-01T00:00:00Z"), std::nullopt, "", ""};
  ReportKey older{"AKIAOLDER00000000000",     true,
                  At("2026-02-01T00:00:00Z"), At("2026-03-02T10:00:00Z"),
                  "secretsmanager",           "eu-west-1"};
  ReportUser bob{
      "bob", "arn:aws:iam::123456789012:user/team/bob", At("2026-01-15T00:00:00Z"), {newer, older}};
  const auto lines = Lines(BuildCredentialReport(Root(), {bob}));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[2],
            "bob,arn:aws:iam::123456789012:user/team/bob,2026-01-15T00:00:00+00:00,"
            "false,N/A,N/A,N/A,false,"
            "true,2026-02-01T00:00:00+00:00,2026-03-02T10:00:00+00:00,eu-west-1,secretsmanager,"
            "false,2026-03-01T00:00:00+00:00,N/A,N/A,N/A,"
            "false,N/A,false,N/A");
}

TEST(CredentialReport, EveryRowHas22Fields) {
  ReportUser u{"u",
               "arn:aws:iam::123456789012:user/u",
               At("2026-01-15T00:00:00Z"),
               {ReportKey{"AKIA1", true, At("2026-01-16T00:00:00Z"), std::nullopt, "", ""}}};
  for (const std::string& line : Lines(BuildCredentialReport(Root(), {u, u}))) {
    EXPECT_EQ(std::count(line.begin(), line.end(), ','), 21) << line;
  }
}

TEST(CredentialReport, QuotesFieldsWithCommas) {
  // User names may contain commas ([\w+=,.@-]+).
  ReportUser u{"a,b", "arn:aws:iam::123456789012:user/a,b", At("2026-01-15T00:00:00Z"), {}};
  const auto lines = Lines(BuildCredentialReport(Root(), {u}));
  EXPECT_EQ(lines[2].rfind("\"a,b\",\"arn:aws:iam::123456789012:user/a,b\",", 0), 0u);
}

TEST(CredentialReport, UsersKeepGivenOrderAndNoTrailingNewline) {
  ReportUser a{"a", "arn:a", At("2026-01-15T00:00:00Z"), {}};
  ReportUser b{"b", "arn:b", At("2026-01-14T00:00:00Z"), {}};
  const std::string csv = BuildCredentialReport(Root(), {a, b});
  EXPECT_NE(csv.back(), '\n');
  const auto lines = Lines(csv);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[2].substr(0, 2), "a,");
  EXPECT_EQ(lines[3].substr(0, 2), "b,");
}

TEST(CredentialReport, FormatReportTime) {
  EXPECT_EQ(FormatReportTime(At("2015-08-30T12:36:00Z")), "2015-08-30T12:36:00+00:00");
}

}  // namespace
}  // namespace kw::iam
