#include "awsclient/secret_credentials.hpp"

#include <gtest/gtest.h>

#include <map>
#include <mutex>

namespace kw::awsclient {
namespace {

// A secret store in memory: name -> current (key id, secret), with read counting.
class FakeReader final : public SecretKeyReader {
 public:
  void Set(const std::string& name, std::string id, std::string secret) {
    current_[name] = {std::move(id), std::move(secret)};
  }
  Result<SecretKeyPair> ReadCurrent(std::string_view name) override {
    ++reads;
    auto it = current_.find(std::string(name));
    if (it == current_.end()) return NotFound("Secrets Manager can't find the specified secret.");
    if (it->second.first.empty()) {
      return FailedPrecondition("the secret is not a key pair", "InvalidSecretFormat");
    }
    return SecretKeyPair{it->second.first, SecretBytes(it->second.second)};
  }
  int reads = 0;

 private:
  std::map<std::string, std::pair<std::string, std::string>> current_;
};

TEST(SecretCredentialProviderTest, ReadsTheCurrentVersionOnEveryCall) {
  FakeReader reader;
  reader.Set("kw-self", "AKIAOLD", "old-secret");
  SecretCredentialProvider provider(reader, "kw-self");
  auto first = provider.Get();
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_EQ(first->credentials.access_key_id, "AKIAOLD");
  EXPECT_EQ(first->credentials.secret_access_key.Reveal(), "old-secret");
  EXPECT_TRUE(first->credentials.session_token.empty());
  EXPECT_FALSE(first->expiration.has_value());
  EXPECT_NE(first->source.find("kw-self"), std::string::npos);
  // A rotation promotes a new version: the very next call signs with it.
  reader.Set("kw-self", "AKIANEW", "new-secret");
  auto second = provider.Get();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->credentials.access_key_id, "AKIANEW");
  EXPECT_EQ(second->credentials.secret_access_key.Reveal(), "new-secret");
  EXPECT_EQ(reader.reads, 2);
}

TEST(SecretCredentialProviderTest, AMissingOrMalformedSecretIsUnauthenticatedAndNamed) {
  FakeReader reader;
  SecretCredentialProvider missing(reader, "nope");
  auto r = missing.Get();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated);
  EXPECT_NE(r.error().message.find("no credentials"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("'nope'"), std::string::npos) << r.error().message;

  reader.Set("bad", "", "do-not-leak");
  SecretCredentialProvider bad(reader, "bad");
  auto b = bad.Get();
  ASSERT_FALSE(b.has_value());
  EXPECT_EQ(b.error().code, ErrorCode::kUnauthenticated);
  EXPECT_NE(b.error().message.find("not a key pair"), std::string::npos) << b.error().message;
  EXPECT_EQ(b.error().message.find("do-not-leak"), std::string::npos);
}

}  // namespace
}  // namespace kw::awsclient
