#include "server/integrations_config.hpp"

#include <gtest/gtest.h>

#include "common/clock.hpp"
#include "crypto/aead.hpp"
#include "crypto/csprng.hpp"
#include "server/integrations.hpp"
#include "store/memory/memory_kv_store.hpp"

namespace kw::server {
namespace {

TEST(IntegrationsConfigTest, ParsesAnAwsIamIssuerWithEveryKey) {
  auto c = ParseIntegrations(R"(
issuers:
  aws-prod:
    type: aws-iam
    endpoint: https://iam.amazonaws.com
    sts_endpoint: https://sts.eu-west-1.amazonaws.com
    region: eu-west-1
    profile: rotator
    calls_per_second: 2.5
    burst: 3
    timeout_seconds: 12
    max_attempts: 4
  moto:
    type: aws-iam
    endpoint: http://127.0.0.1:5000
stores: {}
)",
                             "x.yaml");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  ASSERT_EQ(c->issuers.size(), 2u);
  const AwsIamIssuerEntry& e = c->issuers[0];
  EXPECT_EQ(e.name, "aws-prod");
  EXPECT_EQ(e.endpoint, "https://iam.amazonaws.com");
  EXPECT_EQ(e.sts_endpoint, "https://sts.eu-west-1.amazonaws.com");
  EXPECT_EQ(e.connection.region, "eu-west-1");
  EXPECT_EQ(e.connection.profile, "rotator");
  EXPECT_DOUBLE_EQ(e.connection.calls_per_second, 2.5);
  EXPECT_DOUBLE_EQ(e.connection.burst, 3);
  EXPECT_EQ(e.connection.timeout.count(), 12);
  EXPECT_EQ(e.connection.max_attempts, 4);
  const AwsIamIssuerEntry& m = c->issuers[1];
  EXPECT_EQ(m.endpoint, "http://127.0.0.1:5000");
  EXPECT_TRUE(m.sts_endpoint.empty());
  EXPECT_FALSE(m.connection.profile.has_value());
  EXPECT_DOUBLE_EQ(m.connection.calls_per_second, 10);
  EXPECT_EQ(m.connection.max_attempts, 8);
}

TEST(IntegrationsConfigTest, CloudTrailKeysOfAnIssuer) {
  auto c = ParseIntegrations(R"(
issuers:
  aws:
    type: aws-iam
    cloudtrail_endpoint: http://127.0.0.1:5001
    cloudtrail_region: eu-west-2
    cloudtrail_lookback_seconds: 7200
  plain:
    type: aws-iam
)",
                             "x.yaml");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->issuers[0].cloudtrail_endpoint, "http://127.0.0.1:5001");
  EXPECT_EQ(c->issuers[0].cloudtrail_region, "eu-west-2");
  EXPECT_EQ(c->issuers[0].cloudtrail_lookback.count(), 7200);
  EXPECT_TRUE(c->issuers[1].cloudtrail_endpoint.empty());
  // A region or lookback without an endpoint would silently do nothing.
  auto orphan =
      ParseIntegrations("issuers:\n  a:\n    type: aws-iam\n    cloudtrail_region: x\n", "x.yaml");
  ASSERT_FALSE(orphan.has_value());
  EXPECT_NE(orphan.error().message.find("issuers.a.cloudtrail_region"), std::string::npos);
  auto bad = ParseIntegrations(
      "issuers:\n  a:\n    type: aws-iam\n    cloudtrail_endpoint: ftp://x\n", "x.yaml");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message.find("cloudtrail_endpoint"), std::string::npos);
}

TEST(IntegrationsConfigTest, MistakesNameTheFileEntryAndKey) {
  struct Case {
    const char* yaml;
    const char* expect;
  };
  const Case cases[] = {
      {"issuers:\n  a:\n    type: aws-iam\n    calls_per_secnd: 3\n", "issuers.a.calls_per_secnd"},
      {"issuers:\n  a:\n    endpoint: https://x\n", "issuers.a.type"},
      {"issuers:\n  a:\n    type: gcp\n", "unknown issuer type"},
      {"issuers:\n  a:\n    type: aws-iam\n    endpoint: ftp://x\n", "issuers.a.endpoint"},
      {"issuers:\n  a:\n    type: aws-iam\n    max_attempts: 0\n", "issuers.a.max_attempts"},
      {"issuers:\n  a:\n    type: aws-iam\n    calls_per_second: fast\n", "calls_per_second"},
      {"issuers:\n  builtin:\n    type: aws-iam\n", "not 'builtin'"},
      {"issuers:\n  bad name:\n    type: aws-iam\n", "issuers.bad name"},
      {"isuers: {}\n", "unknown section"},
      {"stores:\n  s:\n    type: aws-ssm\n", "stores.s.type"},
      {"deliveries:\n  d:\n    type: aws-ssm\n    documnet: x\n", "deliveries.d.documnet"},
      {"issuers: [1, 2]\n", "must be a map"},
      {"issuers: {a: {type: aws-iam}\n", "x.yaml"},
      {"issuers:\n  a:\n    type: aws-iam\n    profile: p\n    credentials_secret: s\n",
       "not both"},
      {"stores:\n  s:\n    type: aws-secretsmanager\n    credentials_secret: 'a b'\n",
       "stores.s.credentials_secret"},
  };
  for (const Case& c : cases) {
    auto r = ParseIntegrations(c.yaml, "x.yaml");
    ASSERT_FALSE(r.has_value()) << c.yaml;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find(c.expect), std::string::npos)
        << c.yaml << " -> " << r.error().message;
    EXPECT_NE(r.error().message.find("x.yaml"), std::string::npos) << r.error().message;
  }
}

TEST(IntegrationsConfigTest, StoresAndDeliveriesReadTheirEndpointAndConnection) {
  auto r = ParseIntegrations(
      "stores:\n  sm:\n    type: aws-secretsmanager\n    endpoint: http://127.0.0.1:5000\n"
      "    region: eu-west-1\ndeliveries:\n  ssm:\n    type: aws-ssm\n    max_attempts: 3\n",
      "x.yaml");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_EQ(r->stores.size(), 1u);
  EXPECT_EQ(r->stores[0].name, "sm");
  EXPECT_EQ(r->stores[0].endpoint, "http://127.0.0.1:5000");
  EXPECT_EQ(r->stores[0].connection.region, "eu-west-1");
  ASSERT_EQ(r->deliveries.size(), 1u);
  EXPECT_EQ(r->deliveries[0].endpoint, "");
  EXPECT_EQ(r->deliveries[0].connection.max_attempts, 3);
}

TEST(IntegrationsConfigTest, CredentialsSecretReplacesTheProfile) {
  auto r = ParseIntegrations(
      "issuers:\n  self:\n    type: aws-iam\n    credentials_secret: keyward/own-key\n"
      "  chain:\n    type: aws-iam\n    profile: p\n",
      "x.yaml");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_EQ(r->issuers.size(), 2u);
  EXPECT_EQ(r->issuers[0].connection.credentials_secret, "keyward/own-key");
  EXPECT_FALSE(r->issuers[0].connection.profile.has_value());
  EXPECT_FALSE(r->issuers[1].connection.credentials_secret.has_value());
}

TEST(IntegrationsConfigTest, EmptyFileDeclaresNothing) {
  auto r = ParseIntegrations("", "x.yaml");
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->issuers.empty());
}

class NoRandom final : public Random {
 public:
  void Fill(std::uint8_t* out, std::size_t n) override { std::fill(out, out + n, 0); }
};

TEST(ExternalIntegrationsTest, BuildsOneIssuerPerEntryWithoutResolvingCredentials) {
  auto c = ParseIntegrations(
      "issuers:\n  a:\n    type: aws-iam\n    endpoint: http://127.0.0.1:1\n"
      "  b:\n    type: aws-iam\n    region: eu-west-1\n",
      "x.yaml");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  SystemClock clock;
  NoRandom random;
  // No credentials anywhere: building still works; the issuers fail when called.
  auto built = ExternalIntegrations::Build(*c, clock, random,
                                           awsclient::MapEnvironment({{"HOME", "/nonexistent"}}));
  ASSERT_TRUE(built.has_value()) << built.error().message;
  EXPECT_EQ((*built)->issuer_count(), 2u);
}

TEST(ExternalIntegrationsTest, CredentialsSecretNeedsAReaderOfOwnSecrets) {
  auto c = ParseIntegrations("issuers:\n  self:\n    type: aws-iam\n    credentials_secret: k\n",
                             "x.yaml");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  SystemClock clock;
  NoRandom random;
  auto env = awsclient::MapEnvironment({{"HOME", "/nonexistent"}});
  auto without = ExternalIntegrations::Build(*c, clock, random, env);
  ASSERT_FALSE(without.has_value());
  EXPECT_NE(without.error().message.find("issuer self"), std::string::npos);
  EXPECT_NE(without.error().message.find("credentials_secret"), std::string::npos);
}

class SecretServiceKeyReaderTest : public ::testing::Test {
 protected:
  SecretServiceKeyReaderTest()
      : envelope_("test-master", SecretBytes(random_.Bytes(32)), random_),
        secrets_(store_, envelope_, clock_, random_, iam::Account{"123456789012"}) {}

  std::string Create(const std::string& name, const std::string& value) {
    secrets::CreateSecretRequest cs;
    cs.name = name;
    cs.value = secrets::SecretValueInput{false, SecretBytes(value)};
    auto created = secrets_.CreateSecret(cs);
    EXPECT_TRUE(created.has_value()) << created.error().message;
    return created ? created->arn : "";
  }

  crypto::Csprng random_;
  FakeClock clock_{std::chrono::system_clock::now()};
  store::MemoryKvStore store_;
  crypto::Envelope envelope_;
  secrets::SecretService secrets_;
};

TEST_F(SecretServiceKeyReaderTest, ReadsAwsCurrentAfreshAfterEachPromotion) {
  Create("own", R"({"aws_access_key_id": "AKIAOLD", "aws_secret_access_key": "s1", "x": 1})");
  SecretServiceKeyReader reader(secrets_);
  awsclient::SecretCredentialProvider provider(reader, "own");
  auto first = provider.Get();
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_EQ(first->credentials.access_key_id, "AKIAOLD");
  EXPECT_EQ(first->credentials.secret_access_key.Reveal(), "s1");
  // A pending version is not used; once it becomes AWSCURRENT it is.
  secrets::PutSecretValueRequest put;
  put.secret_id = "own";
  put.value = secrets::SecretValueInput{
      false, SecretBytes(R"({"aws_access_key_id": "AKIANEW", "aws_secret_access_key": "s2"})")};
  put.stages = std::vector<std::string>{"AWSPENDING"};
  ASSERT_TRUE(secrets_.PutSecretValue(put).has_value());
  EXPECT_EQ(provider.Get()->credentials.access_key_id, "AKIAOLD");
  put.stages = std::nullopt;
  ASSERT_TRUE(secrets_.PutSecretValue(put).has_value());
  auto second = provider.Get();
  ASSERT_TRUE(second.has_value()) << second.error().message;
  EXPECT_EQ(second->credentials.access_key_id, "AKIANEW");
  EXPECT_EQ(second->credentials.secret_access_key.Reveal(), "s2");
}

TEST_F(SecretServiceKeyReaderTest, MissingOrMalformedSecretsFailWithoutQuotingTheValue) {
  SecretServiceKeyReader reader(secrets_);
  auto missing = reader.ReadCurrent("absent");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  Create("plain", R"({"password": "hunter2-do-not-leak"})");
  auto bad = reader.ReadCurrent("plain");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().reason, "InvalidSecretFormat");
  EXPECT_EQ(bad.error().message.find("hunter2"), std::string::npos);
}

}  // namespace
}  // namespace kw::server
