#pragma once

// The event log's Ed25519 signing key, kept in its own file apart from the database
// (default DATA_DIR/events-signing.key, beside master.key, mode 0600), with its public
// half in PATH.pub (base64 of the raw 32 bytes) for verifiers that should not hold the
// private key. Thread-compatible (file I/O only).

#include <filesystem>
#include <string>

#include "common/result.hpp"
#include "common/secret_bytes.hpp"

namespace kw::events {

struct SigningKey {
  SecretBytes private_key_pem;
  std::string public_key;  // raw 32 bytes
  bool created = false;
};

// Reads the key at `path`, or creates it (0600) and PATH.pub (0644) if absent. Errors:
// kInvalidArgument if the file is not an Ed25519 private key; kPermissionDenied or
// kInternal if it cannot be read or written.
Result<SigningKey> LoadOrCreateSigningKey(const std::filesystem::path& path);

// The raw public key from `path`: a PEM private key, or a .pub file (base64). kNotFound
// if the file does not exist.
Result<std::string> LoadPublicKey(const std::filesystem::path& path);

}  // namespace kw::events
