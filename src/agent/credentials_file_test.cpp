#include "agent/credentials_file.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace kw::agent {
namespace {

sigv4::Credentials Creds(const std::string& id) {
  return sigv4::Credentials{id, SecretBytes("secret-" + id), "token-" + id};
}

constexpr std::int64_t kExp = 1767225600;  // 2026-01-01T00:00:00Z

TEST(CredentialsFile, ReplacesOnlyItsOwnProfileKeepingEverythingElse) {
  const std::string before =
      "# my keys, do not touch\n"
      "[default]\n"
      "aws_access_key_id = AKIAOWNKEY\n"
      "aws_secret_access_key = ownsecret\n"
      "\n"
      "; a comment before ours\n"
      "[keyward-instance]\n"
      "# keep this comment\n"
      "aws_access_key_id = ASIAOLD\n"
      "aws_secret_access_key = oldsecret\n"
      "aws_session_token = oldtoken\n"
      "  continued-old-token\n"
      "region = eu-west-1\n"
      "\n"
      "[profile-after]\n"
      "aws_access_key_id = AKIAAFTER\n";
  auto after = SetProfileCredentials(before, "keyward-instance", Creds("ASIANEW"), kExp);
  ASSERT_TRUE(after.has_value()) << after.error().message;
  EXPECT_EQ(*after,
            "# my keys, do not touch\n"
            "[default]\n"
            "aws_access_key_id = AKIAOWNKEY\n"
            "aws_secret_access_key = ownsecret\n"
            "\n"
            "; a comment before ours\n"
            "[keyward-instance]\n"
            "aws_access_key_id = ASIANEW\n"
            "aws_secret_access_key = secret-ASIANEW\n"
            "aws_session_token = token-ASIANEW\n"
            "x_keyward_expiration = 2026-01-01T00:00:00Z\n"
            "# keep this comment\n"
            "region = eu-west-1\n"
            "\n"
            "[profile-after]\n"
            "aws_access_key_id = AKIAAFTER\n");
  // Applying again is stable.
  auto again = SetProfileCredentials(*after, "keyward-instance", Creds("ASIANEW"), kExp);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, *after);
}

TEST(CredentialsFile, AppendsTheProfileWhenAbsent) {
  auto out = SetProfileCredentials("[default]\naws_access_key_id = A", "agent", Creds("X"), kExp);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(*out,
            "[default]\naws_access_key_id = A\n\n[agent]\naws_access_key_id = X\n"
            "aws_secret_access_key = secret-X\naws_session_token = token-X\n"
            "x_keyward_expiration = 2026-01-01T00:00:00Z\n");
  auto empty = SetProfileCredentials("", "agent", Creds("X"), kExp);
  ASSERT_TRUE(empty.has_value());
  EXPECT_EQ(empty->rfind("[agent]\n", 0), 0u);
}

TEST(CredentialsFile, RefusesDefaultAndOddNames) {
  for (const char* bad : {"default", "DEFAULT", "", "a]b", "x\ny", " lead"}) {
    auto out = SetProfileCredentials("", bad, Creds("X"), kExp);
    ASSERT_FALSE(out.has_value()) << bad;
    EXPECT_EQ(out.error().code, ErrorCode::kInvalidArgument);
  }
  EXPECT_TRUE(ValidateProfileName("keyward").has_value());
}

TEST(CredentialsFile, WritesAtomicallyWithOwnerOnlyMode) {
  char tmpl[] = "/tmp/kw_agent_cf_XXXXXX";
  const std::filesystem::path dir = ::mkdtemp(tmpl);
  const auto path = dir / "credentials";
  std::ofstream(path) << "[default]\naws_access_key_id = KEEP\n";
  ::chmod(path.c_str(), 0644);
  ASSERT_TRUE(WriteProfileCredentials(path, "agent", Creds("ASIA1"), kExp).has_value());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::stringstream text;
  text << std::ifstream(path).rdbuf();
  EXPECT_NE(text.str().find("aws_access_key_id = KEEP"), std::string::npos);
  EXPECT_NE(text.str().find("[agent]\naws_access_key_id = ASIA1"), std::string::npos);
  // A file that does not exist yet is created.
  ASSERT_TRUE(WriteProfileCredentials(dir / "new", "agent", Creds("ASIA2"), kExp).has_value());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kw::agent
