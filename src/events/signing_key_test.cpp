#include "events/signing_key.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace kw::events {
namespace {

TEST(SigningKeyTest, CreatedPrivateWithItsPublicHalfAndReloadedUnchanged) {
  char tmpl[] = "/tmp/kw-signing-key-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::filesystem::path dir(tmpl);
  const auto path = dir / "events-signing.key";
  auto created = LoadOrCreateSigningKey(path);
  ASSERT_TRUE(created.has_value());
  EXPECT_TRUE(created->created);
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto again = LoadOrCreateSigningKey(path);
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->public_key, created->public_key);
  auto pub = LoadPublicKey(dir / "events-signing.key.pub");
  ASSERT_TRUE(pub.has_value());
  EXPECT_EQ(*pub, created->public_key);
  std::ofstream(dir / "bad.pub") << "not base64!\n";
  EXPECT_FALSE(LoadPublicKey(dir / "bad.pub").has_value());
  EXPECT_EQ(LoadPublicKey(dir / "missing").error().code, ErrorCode::kNotFound);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kw::events
