#pragma once

// Authenticated encryption for data at rest: AES-256-GCM, and an envelope of a fresh
// data key per value wrapped by a master key. Thread-safe (no shared state).

#include <string>
#include <string_view>

#include "common/random.hpp"
#include "common/result.hpp"
#include "common/secret_bytes.hpp"

namespace kw::crypto {

inline constexpr std::size_t kAeadKeySize = 32;

// Returns nonce(12) || ciphertext || tag(16). `key` must be 32 bytes.
std::string AeadSeal(const SecretBytes& key, std::string_view plaintext, std::string_view aad,
                     Random& random);
// Inverse of AeadSeal. kPermissionDenied with reason "DecryptionFailure" if the
// ciphertext, the key or the associated data does not match; never partial output.
Result<SecretBytes> AeadOpen(const SecretBytes& key, std::string_view sealed, std::string_view aad);

// Envelope encryption under a master key. The stored form is self-describing:
//   "kw1:" base64(wrapped data key) ":" base64(sealed value)
// where the data key is sealed under the master key with aad "dk|" + key_id + "|" + aad
// and the value under the data key with `aad`. `key_id` names the master key so that
// a later master-key rotation can find what to re-wrap.
class Envelope {
 public:
  Envelope(std::string key_id, SecretBytes master_key, Random& random)
      : key_id_(std::move(key_id)), master_(std::move(master_key)), random_(random) {}

  const std::string& key_id() const { return key_id_; }
  std::string Seal(std::string_view plaintext, std::string_view aad) const;
  // kPermissionDenied/"DecryptionFailure" on any mismatch, kInvalidArgument if the
  // text is not an envelope at all.
  Result<SecretBytes> Open(std::string_view stored, std::string_view aad) const;

 private:
  std::string key_id_;
  SecretBytes master_;
  Random& random_;
};

}  // namespace kw::crypto
