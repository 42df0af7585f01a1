#pragma once

// Ed25519 host keys for keyward-agent: the agent generates a key pair once, keeps the
// private key on the host (PEM, mode 0600) and proves possession by signing server
// challenges; the server keeps only the 32-byte public key. Ed25519 because its keys
// and signatures are small and fixed-size (nothing to negotiate or validate beyond the
// length), and signing needs no randomness. Pure functions over OpenSSL; thread-safe.

#include <string>
#include <string_view>

#include "common/result.hpp"
#include "common/secret_bytes.hpp"

namespace kw::crypto {

inline constexpr std::size_t kEd25519PublicKeyBytes = 32;
inline constexpr std::size_t kEd25519SignatureBytes = 64;

struct Ed25519KeyPair {
  SecretBytes private_key_pem;  // PKCS#8 PEM
  std::string public_key;       // raw 32 bytes
};

// A fresh key pair from OpenSSL's DRBG.
Result<Ed25519KeyPair> GenerateEd25519();

// The raw public key of a PKCS#8 PEM private key. kInvalidArgument if the PEM is not an
// Ed25519 private key.
Result<std::string> Ed25519PublicKey(const SecretBytes& private_key_pem);

// A 64-byte signature of `message`. kInvalidArgument if the PEM is not an Ed25519 key.
Result<std::string> SignEd25519(const SecretBytes& private_key_pem, std::string_view message);

// True only for a valid signature of `message` by `public_key` (raw 32 bytes); false for
// any malformed key or signature.
bool VerifyEd25519(std::string_view public_key, std::string_view message,
                   std::string_view signature);

}  // namespace kw::crypto
