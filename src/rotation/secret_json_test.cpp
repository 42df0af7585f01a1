#include "rotation/secret_json.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace kw::rotation {
namespace {

TEST(SecretJsonTest, ReadsKeyPair) {
  auto pair =
      ReadKeyPair(SecretBytes(R"({"aws_access_key_id":"AKIAX","aws_secret_access_key":"s3"})"));
  ASSERT_TRUE(pair.has_value());
  EXPECT_EQ(pair->access_key_id, "AKIAX");
  EXPECT_EQ(pair->secret_access_key.Reveal(), "s3");
}

TEST(SecretJsonTest, RejectsValuesWithoutBothKeysAndNeverQuotesThem) {
  for (const char* bad : {"not json at all", "[1,2]", R"({"aws_access_key_id":"AKIAX"})",
                          R"({"aws_access_key_id":"AKIAX","aws_secret_access_key":7})",
                          R"({"aws_access_key_id":"","aws_secret_access_key":"hunter2"})"}) {
    auto pair = ReadKeyPair(SecretBytes(bad));
    ASSERT_FALSE(pair.has_value()) << bad;
    EXPECT_EQ(pair.error().code, ErrorCode::kFailedPrecondition);
    EXPECT_EQ(pair.error().reason, "InvalidSecretFormat");
    EXPECT_EQ(pair.error().message.find("hunter2"), std::string::npos);
  }
}

TEST(SecretJsonTest, ReplaceKeepsOtherFields) {
  SecretBytes old(
      R"({"aws_access_key_id":"AKIAOLD","aws_secret_access_key":"old","region":"eu-west-1","n":3})");
  auto next = ReplaceKeyPair(old, "AKIANEW", SecretBytes("new"));
  ASSERT_TRUE(next.has_value());
  auto j = nlohmann::json::parse(next->Reveal());
  EXPECT_EQ(j["aws_access_key_id"], "AKIANEW");
  EXPECT_EQ(j["aws_secret_access_key"], "new");
  EXPECT_EQ(j["region"], "eu-west-1");
  EXPECT_EQ(j["n"], 3);
  EXPECT_FALSE(ReplaceKeyPair(SecretBytes("{}"), "AKIANEW", SecretBytes("new")).has_value());
}

}  // namespace
}  // namespace kw::rotation
