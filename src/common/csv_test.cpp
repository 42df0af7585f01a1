#include "common/csv.hpp"

#include <gtest/gtest.h>

namespace kw {
namespace {

using Rows = std::vector<std::vector<std::string>>;

TEST(CsvTest, CredentialReportShape) {
  auto rows = ParseCsv(
      "user,arn,password_enabled\r\n"
      "<root_account>,arn:aws:iam::1:root,not_supported\r\n"
      "alice,arn:aws:iam::1:user/alice,false\r\n");
  ASSERT_TRUE(rows.has_value()) << rows.error().message;
  EXPECT_EQ(*rows, (Rows{{"user", "arn", "password_enabled"},
                         {"<root_account>", "arn:aws:iam::1:root", "not_supported"},
                         {"alice", "arn:aws:iam::1:user/alice", "false"}}));
}

TEST(CsvTest, QuotedFieldsAndEmptyFields) {
  auto rows = ParseCsv("a,\"b,c\",\"d \"\"e\"\"\",\n\"multi\nline\",,\"\"");
  ASSERT_TRUE(rows.has_value()) << rows.error().message;
  EXPECT_EQ(*rows, (Rows{{"a", "b,c", "d \"e\"", ""}, {"multi\nline", "", ""}}));
}

TEST(CsvTest, BlankLinesAreNotRows) {
  auto rows = ParseCsv("a\n\nb\n\n");
  ASSERT_TRUE(rows.has_value());
  EXPECT_EQ(*rows, (Rows{{"a"}, {"b"}}));
}

TEST(CsvTest, Malformed) {
  EXPECT_FALSE(ParseCsv("a\"b\n").has_value());
  EXPECT_FALSE(ParseCsv("\"open\n").has_value());
  EXPECT_FALSE(ParseCsv("\"x\"y\n").has_value());
}

}  // namespace
}  // namespace kw
