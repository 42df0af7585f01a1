#include "awsclient/credential_sources.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "awsclient/test_fakes.hpp"
#include "common/time_format.hpp"

namespace kw::awsclient {
namespace {

namespace fs = std::filesystem;
using testing::QueryErrorBody;
using testing::ScriptedTransport;

const TimePoint kNow = TimePoint(std::chrono::seconds(1700000000));

class CredentialSourcesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("kw_credsrc_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / ".aws");
    vars_["HOME"] = dir_.string();
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const std::string& relative, const std::string& text) {
    std::ofstream(dir_ / relative) << text;
  }
  DefaultChainDeps Deps() {
    DefaultChainDeps d;
    d.env = MapEnvironment(vars_);
    d.clock = &clock_;
    d.sts_transport = &sts_;
    d.imds_transport = &imds_;
    d.run_process = [this](const std::string& command,
                           std::chrono::milliseconds) -> Result<std::string> {
      commands_.push_back(command);
      return process_output_;
    };
    return d;
  }

  fs::path dir_;
  std::map<std::string, std::string, std::less<>> vars_;
  FakeClock clock_{kNow};
  ScriptedTransport sts_;
  ScriptedTransport imds_;
  std::vector<std::string> commands_;
  Result<std::string> process_output_ = Unavailable("not scripted");
};

TEST(ProcessCredentialsTest, ParsesVersionOneWithExpiration) {
  auto r = ParseProcessCredentials(
      R"({"Version":1,"AccessKeyId":"ASIAPROC","SecretAccessKey":"procsecret",)"
      R"("SessionToken":"tok","Expiration":"2023-11-14T23:13:20Z"})");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->credentials.access_key_id, "ASIAPROC");
  EXPECT_EQ(r->credentials.secret_access_key.Reveal(), "procsecret");
  EXPECT_EQ(r->credentials.session_token, "tok");
  ASSERT_TRUE(r->expiration.has_value());
  EXPECT_EQ(FormatIso8601(*r->expiration), "2023-11-14T23:13:20Z");
}

TEST(ProcessCredentialsTest, RefusesOtherVersionsAndMissingMembersWithoutQuotingOutput) {
  EXPECT_FALSE(ParseProcessCredentials(R"({"Version":2,"AccessKeyId":"A","SecretAccessKey":"S"})")
                   .has_value());
  auto r = ParseProcessCredentials(R"({"Version":1,"AccessKeyId":"A","SessionToken":"hush"})");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("SecretAccessKey"), std::string::npos);
  EXPECT_EQ(r.error().message.find("hush"), std::string::npos);
  EXPECT_FALSE(ParseProcessCredentials("not json").has_value());
}

TEST(ShellProcessRunnerTest, ReturnsStdoutAndKillsOnTimeout) {
  auto run = ShellProcessRunner();
  auto ok = run("printf '{\"Version\": 1}'; echo oops >&2", std::chrono::seconds(5));
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_EQ(*ok, "{\"Version\": 1}");
  auto failed = run("echo secretish; exit 3", std::chrono::seconds(5));
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().message.find("secretish"), std::string::npos);
  const auto start = std::chrono::steady_clock::now();
  auto slow = run("exec sleep 30", std::chrono::milliseconds(100));
  ASSERT_FALSE(slow.has_value());
  EXPECT_NE(slow.error().message.find("timed out"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_F(CredentialSourcesTest, CredentialProcessOfTheProfileIsUsedAfterTheFiles) {
  Write(".aws/config", "[profile rotator]\ncredential_process = /opt/get-creds --role x\n");
  process_output_ =
      std::string(R"({"Version":1,"AccessKeyId":"ASIAPROC","SecretAccessKey":"procsecret",)"
                  R"("Expiration":"2023-11-14T23:13:20Z"})");
  ChainOptions options;
  options.profile = "rotator";
  DefaultChainProvider chain(options, Deps());
  auto r = chain.Get();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->credentials.access_key_id, "ASIAPROC");
  EXPECT_EQ(r->source, "credential_process (profile 'rotator')");
  ASSERT_EQ(commands_.size(), 1u);
  EXPECT_EQ(commands_[0], "/opt/get-creds --role x");
}

TEST_F(CredentialSourcesTest, StaticKeysOfTheProfileWinOverItsProcess) {
  Write(".aws/credentials", "[rotator]\naws_access_key_id = AKIAFILE\naws_secret_access_key = s\n");
  Write(".aws/config", "[profile rotator]\ncredential_process = /opt/get-creds\n");
  ChainOptions options;
  options.profile = "rotator";
  DefaultChainProvider chain(options, Deps());
  auto r = chain.Get();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->credentials.access_key_id, "AKIAFILE");
  EXPECT_TRUE(commands_.empty());
}

TEST_F(CredentialSourcesTest, WebIdentityAssumesTheRoleUnsigned) {
  Write("token", "eyJhbGciOi.token\n");
  vars_["AWS_WEB_IDENTITY_TOKEN_FILE"] = (dir_ / "token").string();
  vars_["AWS_ROLE_ARN"] = "arn:aws:iam::123456789012:role/rotator";
  vars_["AWS_ROLE_SESSION_NAME"] = "kw";
  vars_["AWS_ENDPOINT_URL_STS"] = "http://127.0.0.1:9/";
  sts_.Push(200,
            "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>"
            "<AccessKeyId>ASIAWEB</AccessKeyId><SecretAccessKey>websecret</SecretAccessKey>"
            "<SessionToken>wtok</SessionToken><Expiration>2023-11-15T00:00:00Z</Expiration>"
            "</Credentials></AssumeRoleWithWebIdentityResult>"
            "</AssumeRoleWithWebIdentityResponse>");
  DefaultChainProvider chain({}, Deps());
  auto r = chain.Get();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->credentials.access_key_id, "ASIAWEB");
  EXPECT_EQ(r->credentials.session_token, "wtok");
  ASSERT_EQ(sts_.requests.size(), 1u);
  const ClientRequest& req = sts_.requests[0];
  EXPECT_NE(req.body.find("Action=AssumeRoleWithWebIdentity"), std::string::npos);
  // The token file's trailing newline is not part of the token.
  EXPECT_TRUE(req.body.ends_with("&WebIdentityToken=eyJhbGciOi.token")) << req.body;
  EXPECT_NE(req.body.find("RoleSessionName=kw"), std::string::npos);
  for (const auto& h : req.headers) EXPECT_NE(h.name, "Authorization");
}

TEST_F(CredentialSourcesTest, WebIdentityRefusalIsAnErrorNamingTheRole) {
  Write("token", "tok");
  vars_["AWS_WEB_IDENTITY_TOKEN_FILE"] = (dir_ / "token").string();
  vars_["AWS_ROLE_ARN"] = "arn:aws:iam::123456789012:role/rotator";
  sts_.Push(403, QueryErrorBody("AccessDenied"));
  DefaultChainProvider chain({}, Deps());
  auto r = chain.Get();
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("role/rotator"), std::string::npos);
  EXPECT_EQ(r.error().message.find("tok\""), std::string::npos);
}

TEST_F(CredentialSourcesTest, ImdsV2TokenThenRoleCredentials) {
  vars_["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = "http://127.0.0.1:9";
  imds_.Push(200, "imds-token");
  imds_.Push(200, "rotator-role\n");
  imds_.Push(200, R"({"Code":"Success","AccessKeyId":"ASIAIMDS","SecretAccessKey":"is",)"
                  R"("Token":"itok","Expiration":"2023-11-15T00:00:00Z"})");
  DefaultChainProvider chain({}, Deps());
  auto r = chain.Get();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->credentials.access_key_id, "ASIAIMDS");
  EXPECT_EQ(r->source, "instance metadata (role rotator-role)");
  ASSERT_EQ(imds_.requests.size(), 3u);
  EXPECT_EQ(imds_.requests[0].method, "PUT");
  EXPECT_EQ(imds_.requests[0].url, "http://127.0.0.1:9/latest/api/token");
  EXPECT_EQ(imds_.requests[2].url,
            "http://127.0.0.1:9/latest/meta-data/iam/security-credentials/rotator-role");
  bool token_sent = false;
  for (const auto& h : imds_.requests[2].headers) {
    token_sent |= h.name == "X-aws-ec2-metadata-token" && h.value == "imds-token";
  }
  EXPECT_TRUE(token_sent);
}

TEST_F(CredentialSourcesTest, NothingAnywhereNamesEveryProviderTried) {
  imds_.PushError(Unavailable("connect timeout"));
  DefaultChainProvider chain({}, Deps());
  auto r = chain.Get();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated);
  for (const char* p : {"environment", "shared credentials file", "config file", "web identity",
                        "credential_process", "instance metadata"}) {
    EXPECT_NE(r.error().message.find(p), std::string::npos) << p << ": " << r.error().message;
  }
}

// What the server does (AwsConnection: the chain behind the cache): credentials that a
// provider hands out already expired are refused with the provider's name, never used.
TEST_F(CredentialSourcesTest, ExpiredCredentialsFromTheChainNameTheirProvider) {
  Write(".aws/config", "[profile rotator]\ncredential_process = /opt/get-creds\n");
  process_output_ =
      std::string(R"({"Version":1,"AccessKeyId":"ASIASTALE","SecretAccessKey":"stalesecret",)"
                  R"("SessionToken":"staletok","Expiration":"2023-11-14T22:00:00Z"})");
  ChainOptions options;
  options.profile = "rotator";
  DefaultChainProvider chain(options, Deps());
  CachingCredentialProvider cache(chain, clock_);
  auto r = cache.Get();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated);
  EXPECT_NE(r.error().message.find("credential_process (profile 'rotator')"), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("expired at 2023-11-14T22:00:00Z"), std::string::npos)
      << r.error().message;
  for (const char* secret : {"stalesecret", "staletok"}) {
    EXPECT_EQ(r.error().message.find(secret), std::string::npos) << secret;
  }
  // Asked again (the helper may have been fixed meanwhile), not served from a cache.
  EXPECT_FALSE(cache.Get().has_value());
  EXPECT_EQ(commands_.size(), 2u);

  // The same for an instance role whose credentials IMDS serves stale.
  Write(".aws/config", "");
  vars_["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = "http://127.0.0.1:9";
  imds_.Push(200, "imds-token");
  imds_.Push(200, "rotator-role\n");
  imds_.Push(200, R"({"Code":"Success","AccessKeyId":"ASIAIMDS","SecretAccessKey":"is",)"
                  R"("Token":"itok","Expiration":"2023-11-14T22:13:19Z"})");
  DefaultChainProvider imds_chain({}, Deps());
  CachingCredentialProvider imds_cache(imds_chain, clock_);
  auto i = imds_cache.Get();
  ASSERT_FALSE(i.has_value());
  EXPECT_EQ(i.error().code, ErrorCode::kUnauthenticated);
  EXPECT_NE(i.error().message.find("instance metadata (role rotator-role)"), std::string::npos)
      << i.error().message;
  EXPECT_NE(i.error().message.find("expired"), std::string::npos) << i.error().message;
}

class CountingProvider final : public CredentialProvider {
 public:
  Result<ProvidedCredentials> Get() override {
    ++calls;
    if (fail) return Unavailable("helper down");
    return ProvidedCredentials{
        sigv4::Credentials{"ASIA" + std::to_string(calls), SecretBytes("s"), "t"}, expiration,
        "counting"};
  }
  int calls = 0;
  bool fail = false;
  std::optional<TimePoint> expiration;
};

TEST(CachingCredentialProviderTest, RenewsBeforeExpiryAndKeepsValidOnesWhenRenewalFails) {
  FakeClock clock(kNow);
  CountingProvider inner;
  inner.expiration = kNow + std::chrono::minutes(60);
  CachingCredentialProvider cache(inner, clock, std::chrono::minutes(5));
  EXPECT_EQ(cache.Get()->credentials.access_key_id, "ASIA1");
  clock.Advance(std::chrono::minutes(54));
  EXPECT_EQ(cache.Get()->credentials.access_key_id, "ASIA1");
  EXPECT_EQ(inner.calls, 1);
  clock.Advance(std::chrono::minutes(2));  // inside the 5-minute window: renew
  inner.expiration = clock.Now() + std::chrono::minutes(60);
  EXPECT_EQ(cache.Get()->credentials.access_key_id, "ASIA2");
  // Renewal fails: the cached ones are still valid, so they are used...
  clock.Advance(std::chrono::minutes(57));
  inner.fail = true;
  auto still = cache.Get();
  ASSERT_TRUE(still.has_value());
  EXPECT_EQ(still->credentials.access_key_id, "ASIA2");
  // ...until they expire.
  clock.Advance(std::chrono::minutes(4));
  EXPECT_FALSE(cache.Get().has_value());
}

TEST(CachingCredentialProviderTest, AlreadyExpiredCredentialsAreAnError) {
  FakeClock clock(kNow);
  CountingProvider inner;
  inner.expiration = kNow - std::chrono::seconds(1);
  CachingCredentialProvider cache(inner, clock);
  auto r = cache.Get();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated);
  EXPECT_NE(r.error().message.find("expired"), std::string::npos);
  EXPECT_NE(r.error().message.find("counting"), std::string::npos);
}

}  // namespace
}  // namespace kw::awsclient
