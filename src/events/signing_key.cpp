#include "events/signing_key.hpp"

#include <system_error>

#include "common/atomic_file.hpp"
#include "crypto/digest.hpp"
#include "crypto/signature.hpp"

namespace kw::events {
namespace {

constexpr std::size_t kMaxKeyFileBytes = 64 * 1024;

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

Result<SigningKey> LoadOrCreateSigningKey(const std::filesystem::path& path) {
  std::error_code ec;
  SigningKey key;
  if (std::filesystem::exists(path, ec)) {
    KW_ASSIGN_OR_RETURN(std::string pem, ReadFileLimited(path, kMaxKeyFileBytes));
    key.private_key_pem = SecretBytes(std::move(pem));
    auto pub = crypto::Ed25519PublicKey(key.private_key_pem);
    if (!pub) return InvalidArgument(path.string() + " is not an Ed25519 private key (PEM)");
    key.public_key = std::move(*pub);
  } else {
    KW_ASSIGN_OR_RETURN(crypto::Ed25519KeyPair pair, crypto::GenerateEd25519());
    KW_RETURN_IF_ERROR(WriteFileAtomic(path, pair.private_key_pem.Reveal(), 0600));
    key.private_key_pem = std::move(pair.private_key_pem);
    key.public_key = std::move(pair.public_key);
    key.created = true;
  }
  // The public half is rewritten when missing, so verifiers can be handed it alone.
  std::filesystem::path pub_path = path;
  pub_path += ".pub";
  if (!std::filesystem::exists(pub_path, ec)) {
    KW_RETURN_IF_ERROR(
        WriteFileAtomic(pub_path, crypto::Base64Encode(key.public_key) + "\n", 0644));
  }
  return key;
}

Result<std::string> LoadPublicKey(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return NotFound(path.string() + " does not exist");
  KW_ASSIGN_OR_RETURN(std::string text, ReadFileLimited(path, kMaxKeyFileBytes));
  if (text.find("PRIVATE KEY") != std::string::npos) {
    SecretBytes pem(std::move(text));
    auto pub = crypto::Ed25519PublicKey(pem);
    if (!pub) return InvalidArgument(path.string() + " is not an Ed25519 private key (PEM)");
    return *pub;
  }
  auto raw = crypto::Base64Decode(Trim(std::move(text)));
  if (!raw || raw->size() != crypto::kEd25519PublicKeyBytes) {
    return InvalidArgument(path.string() + " is not an Ed25519 public key (base64 of 32 bytes)");
  }
  return *raw;
}

}  // namespace kw::events
