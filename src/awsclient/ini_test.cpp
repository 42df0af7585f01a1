#include "awsclient/ini.hpp"

#include <gtest/gtest.h>

namespace kw::awsclient {
namespace {

TEST(IniTest, SectionsKeysAndComments) {
  auto ini = ParseIni(
      "# leading comment\n"
      "[default]\n"
      "aws_access_key_id = AKIADEFAULT\n"
      "; another comment\n"
      "Region=eu-west-1\n"
      "\n"
      "[profile dev]\n"
      "output: json\n"
      "empty =\n");
  ASSERT_TRUE(ini.has_value()) << ini.error().message;
  ASSERT_EQ(ini->size(), 2u);
  EXPECT_EQ(ini->at("default").at("aws_access_key_id"), "AKIADEFAULT");
  EXPECT_EQ(ini->at("default").at("region"), "eu-west-1");  // keys are lower-cased
  EXPECT_EQ(ini->at("profile dev").at("output"), "json");
  EXPECT_EQ(ini->at("profile dev").at("empty"), "");
}

TEST(IniTest, TrimsAndKeepsInlineHashInValue) {
  auto ini = ParseIni("[ a ]\n  \tk\t=  v # not a comment  \r\n");
  ASSERT_TRUE(ini.has_value()) << ini.error().message;
  EXPECT_EQ(ini->at("a").at("k"), "v # not a comment");
}

TEST(IniTest, ValueMayContainEqualsSign) {
  auto ini = ParseIni("[a]\nsecret = abc/def+ghi==\n");
  ASSERT_TRUE(ini.has_value());
  EXPECT_EQ(ini->at("a").at("secret"), "abc/def+ghi==");
}

TEST(IniTest, ContinuationLinesAppendToPreviousValue) {
  auto ini = ParseIni(
      "[profile x]\ns3 =\n  max_concurrent_requests = 10\n  addressing = path\nregion = r\n");
  ASSERT_TRUE(ini.has_value()) << ini.error().message;
  EXPECT_EQ(ini->at("profile x").at("s3"), "max_concurrent_requests = 10\naddressing = path");
  EXPECT_EQ(ini->at("profile x").at("region"), "r");
}

TEST(IniTest, CrlfBomAndNoFinalNewline) {
  auto ini = ParseIni("\xEF\xBB\xBF[a]\r\nk = v");
  ASSERT_TRUE(ini.has_value());
  EXPECT_EQ(ini->at("a").at("k"), "v");
}

TEST(IniTest, EmptyInputHasNoSections) {
  auto ini = ParseIni("");
  ASSERT_TRUE(ini.has_value());
  EXPECT_TRUE(ini->empty());
}

TEST(IniTest, Malformed) {
  const char* bad[] = {
      "k = v\n",              // before any section
      "[a\nk = v\n",          // unterminated header
      "[]\n",                 // empty section name
      "[a]\njust words\n",    // no delimiter
      "[a]\n = v\n",          // empty key
      "[a]\nk = 1\n[a]\n",    // duplicate section
      "[a]\nk = 1\nK = 2\n",  // duplicate key (case-insensitive)
  };
  for (const char* text : bad) {
    auto ini = ParseIni(text);
    EXPECT_FALSE(ini.has_value()) << text;
    if (!ini) {
      EXPECT_EQ(ini.error().code, ErrorCode::kInvalidArgument);
      EXPECT_NE(ini.error().message.find("line "), std::string::npos);
    }
  }
}

TEST(IniTest, ErrorNamesLineButNotItsContent) {
  auto ini = ParseIni("[a]\nk = 1\nwJalrXUtnFEMI/SECRET\n");
  ASSERT_FALSE(ini.has_value());
  EXPECT_NE(ini.error().message.find("line 3"), std::string::npos);
  EXPECT_EQ(ini.error().message.find("SECRET"), std::string::npos);
}

}  // namespace
}  // namespace kw::awsclient
