#include "awsclient/credential_chain.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace kw::awsclient {
namespace {

namespace fs = std::filesystem;

ChainOptions Profile(std::string p) {
  ChainOptions o;
  o.profile = std::move(p);
  return o;
}
ChainOptions Region(std::string r) {
  ChainOptions o;
  o.region = std::move(r);
  return o;
}

class CredentialChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("kw_cred_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / ".aws");
    vars_["HOME"] = dir_.string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Write(const std::string& relative, const std::string& text) {
    std::ofstream(dir_ / relative) << text;
  }
  Result<ResolvedCredentials> Resolve(ChainOptions options = {}) {
    return ResolveCredentials(options, MapEnvironment(vars_));
  }

  fs::path dir_;
  std::map<std::string, std::string, std::less<>> vars_;
};

TEST_F(CredentialChainTest, EnvironmentBeatsFile) {
  Write(".aws/credentials",
        "[default]\naws_access_key_id = AKIAFILE\naws_secret_access_key = filesecret\n");
  vars_["AWS_ACCESS_KEY_ID"] = "AKIAENV";
  vars_["AWS_SECRET_ACCESS_KEY"] = "envsecret";
  vars_["AWS_SESSION_TOKEN"] = "token";
  auto r = Resolve();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->credentials.access_key_id, "AKIAENV");
  EXPECT_EQ(r->credentials.secret_access_key.Reveal(), "envsecret");
  EXPECT_EQ(r->credentials.session_token, "token");
  EXPECT_EQ(r->source, "environment");
}

TEST_F(CredentialChainTest, FileUsedWhenEnvironmentEmpty) {
  Write(".aws/credentials",
        "[default]\naws_access_key_id = AKIAFILE\naws_secret_access_key = filesecret\n");
  vars_["AWS_ACCESS_KEY_ID"] = "";  // empty counts as unset
  auto r = Resolve();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->credentials.access_key_id, "AKIAFILE");
  EXPECT_EQ(r->credentials.secret_access_key.Reveal(), "filesecret");
  EXPECT_EQ(r->credentials.session_token, "");
  EXPECT_EQ(r->profile, "default");
  EXPECT_EQ(r->source, "shared credentials file " + (dir_ / ".aws/credentials").string());
}

TEST_F(CredentialChainTest, ExplicitProfileSkipsEnvironment) {
  Write(".aws/credentials",
        "[dev]\naws_access_key_id = AKIADEV\naws_secret_access_key = devsecret\n");
  vars_["AWS_ACCESS_KEY_ID"] = "AKIAENV";
  vars_["AWS_SECRET_ACCESS_KEY"] = "envsecret";
  auto r = Resolve(Profile("dev"));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->credentials.access_key_id, "AKIADEV");
}

TEST_F(CredentialChainTest, ProfileFromAwsProfileVariable) {
  Write(".aws/credentials",
        "[default]\naws_access_key_id = AKIADEF\naws_secret_access_key = s1\n"
        "[ops]\naws_access_key_id = AKIAOPS\naws_secret_access_key = s2\n");
  vars_["AWS_PROFILE"] = "ops";
  auto r = Resolve();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->credentials.access_key_id, "AKIAOPS");
  EXPECT_EQ(r->profile, "ops");
  // --profile beats AWS_PROFILE.
  auto r2 = Resolve(Profile("default"));
  ASSERT_TRUE(r2.has_value());
  EXPECT_EQ(r2->credentials.access_key_id, "AKIADEF");
}

TEST_F(CredentialChainTest, SharedCredentialsFileVariableAndTilde) {
  Write("elsewhere", "[default]\naws_access_key_id = AKIAELSE\naws_secret_access_key = s\n");
  vars_["AWS_SHARED_CREDENTIALS_FILE"] = "~/elsewhere";
  auto r = Resolve();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->credentials.access_key_id, "AKIAELSE");
}

TEST_F(CredentialChainTest, ConfigFileProfileSections) {
  Write(".aws/config",
        "[default]\nregion = ap-northeast-1\naws_access_key_id = AKIACFGDEF\n"
        "aws_secret_access_key = cfgdef\n"
        "[profile dev]\nregion = eu-central-1\naws_access_key_id = AKIACFGDEV\n"
        "aws_secret_access_key = cfgdev\naws_session_token = tok\n"
        "[dev]\naws_access_key_id = AKIANOTTHIS\naws_secret_access_key = x\n");
  auto r = Resolve(Profile("dev"));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->credentials.access_key_id, "AKIACFGDEV");  // [profile dev], not [dev]
  EXPECT_EQ(r->credentials.session_token, "tok");
  EXPECT_EQ(r->region, "eu-central-1");
  EXPECT_EQ(r->source, "config file " + (dir_ / ".aws/config").string());

  auto d = Resolve();
  ASSERT_TRUE(d.has_value()) << d.error().message;
  EXPECT_EQ(d->credentials.access_key_id, "AKIACFGDEF");  // [default] in the config file
  EXPECT_EQ(d->region, "ap-northeast-1");
}

TEST_F(CredentialChainTest, CredentialsFileBeatsConfigFile) {
  Write(".aws/credentials", "[default]\naws_access_key_id = AKIACRED\naws_secret_access_key = a\n");
  Write(".aws/config", "[default]\naws_access_key_id = AKIACFG\naws_secret_access_key = b\n");
  auto r = Resolve();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->credentials.access_key_id, "AKIACRED");
}

TEST_F(CredentialChainTest, RegionPrecedence) {
  Write(".aws/credentials", "[default]\naws_access_key_id = A\naws_secret_access_key = s\n");
  Write(".aws/config", "[default]\nregion = from-config\n");
  EXPECT_EQ(Resolve()->region, "from-config");
  vars_["AWS_DEFAULT_REGION"] = "from-default-region";
  EXPECT_EQ(Resolve()->region, "from-default-region");
  vars_["AWS_REGION"] = "from-region";
  EXPECT_EQ(Resolve()->region, "from-region");
  EXPECT_EQ(Resolve(Region("from-flag"))->region, "from-flag");
}

TEST_F(CredentialChainTest, RegionDefaultsToUsEast1) {
  vars_["AWS_ACCESS_KEY_ID"] = "A";
  vars_["AWS_SECRET_ACCESS_KEY"] = "s";
  EXPECT_EQ(Resolve()->region, "us-east-1");
}

TEST_F(CredentialChainTest, MissingProfileErrorNamesProvidersAndNoSecret) {
  Write(".aws/credentials",
        "[default]\naws_access_key_id = AKIAFILE\naws_secret_access_key = topsecretvalue\n");
  Write(".aws/config",
        "[profile other]\naws_secret_access_key = othersecret\naws_access_key_id = B\n");
  auto r = Resolve(Profile("x"));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated);
  const std::string& m = r.error().message;
  EXPECT_EQ(m.rfind("no credentials: tried ", 0), 0u) << m;
  EXPECT_NE(m.find("environment (skipped: --profile given)"), std::string::npos) << m;
  EXPECT_NE(m.find("shared credentials file " + (dir_ / ".aws/credentials").string() +
                   " (profile 'x' not found)"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("config file " + (dir_ / ".aws/config").string() + " (profile 'x' not found)"),
            std::string::npos)
      << m;
  EXPECT_EQ(m.find("topsecretvalue"), std::string::npos);
  EXPECT_EQ(m.find("othersecret"), std::string::npos);
}

TEST_F(CredentialChainTest, NothingAnywhere) {
  auto r = Resolve();
  ASSERT_FALSE(r.has_value());
  const std::string& m = r.error().message;
  EXPECT_NE(m.find("environment (AWS_ACCESS_KEY_ID unset)"), std::string::npos) << m;
  EXPECT_NE(m.find("(file not found)"), std::string::npos) << m;
}

TEST_F(CredentialChainTest, HalfSetEnvironmentIsAnErrorWithoutTheSecret) {
  vars_["AWS_SECRET_ACCESS_KEY"] = "lonelysecret";
  auto r = Resolve();
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("AWS_ACCESS_KEY_ID is not"), std::string::npos);
  EXPECT_EQ(r.error().message.find("lonelysecret"), std::string::npos);
}

TEST_F(CredentialChainTest, HalfSetProfileIsAnError) {
  Write(".aws/credentials", "[default]\naws_access_key_id = AKIAONLY\n");
  auto r = Resolve();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("not aws_secret_access_key"), std::string::npos)
      << r.error().message;
}

TEST_F(CredentialChainTest, MalformedFileNamesFileAndLine) {
  Write(".aws/credentials", "[default]\naws_secret_access_key\n");
  auto r = Resolve();
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find(".aws/credentials: line 2"), std::string::npos)
      << r.error().message;
}

}  // namespace
}  // namespace kw::awsclient
