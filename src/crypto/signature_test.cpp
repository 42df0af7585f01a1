#include "crypto/signature.hpp"

#include <gtest/gtest.h>

namespace kw::crypto {
namespace {

TEST(Ed25519, SignsAndVerifies) {
  auto pair = GenerateEd25519();
  ASSERT_TRUE(pair.has_value());
  EXPECT_EQ(pair->public_key.size(), kEd25519PublicKeyBytes);
  auto derived = Ed25519PublicKey(pair->private_key_pem);
  ASSERT_TRUE(derived.has_value());
  EXPECT_EQ(*derived, pair->public_key);
  auto sig = SignEd25519(pair->private_key_pem, "challenge");
  ASSERT_TRUE(sig.has_value());
  EXPECT_TRUE(VerifyEd25519(pair->public_key, "challenge", *sig));
}

TEST(Ed25519, RejectsOtherMessagesKeysAndMangledInput) {
  auto a = GenerateEd25519();
  auto b = GenerateEd25519();
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_NE(a->public_key, b->public_key);
  auto sig = SignEd25519(a->private_key_pem, "challenge");
  ASSERT_TRUE(sig.has_value());
  EXPECT_FALSE(VerifyEd25519(a->public_key, "challengf", *sig));
  EXPECT_FALSE(VerifyEd25519(b->public_key, "challenge", *sig));
  std::string flipped = *sig;
  flipped[10] = static_cast<char>(flipped[10] ^ 1);
  EXPECT_FALSE(VerifyEd25519(a->public_key, "challenge", flipped));
  EXPECT_FALSE(VerifyEd25519(a->public_key, "challenge", sig->substr(1)));
  EXPECT_FALSE(VerifyEd25519(a->public_key.substr(1), "challenge", *sig));
}

TEST(Ed25519, RefusesNonEd25519Pem) {
  EXPECT_FALSE(SignEd25519(SecretBytes(std::string("not a key")), "x").has_value());
  EXPECT_FALSE(Ed25519PublicKey(SecretBytes(std::string(""))).has_value());
}

}  // namespace
}  // namespace kw::crypto
