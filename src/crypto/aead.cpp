#include "crypto/aead.hpp"

#include <openssl/evp.h>

#include <cstdlib>
#include <memory>

#include "crypto/digest.hpp"

namespace kw::crypto {
namespace {

constexpr std::size_t kNonce = 12;
constexpr std::size_t kTag = 16;

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CtxFree>;

const unsigned char* U(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

Error DecryptionFailure() {
  return PermissionDenied("The ciphertext could not be decrypted.", "DecryptionFailure");
}

}  // namespace

std::string AeadSeal(const SecretBytes& key, std::string_view plaintext, std::string_view aad,
                     Random& random) {
  if (key.size() != kAeadKeySize) std::abort();
  std::string out(kNonce + plaintext.size() + kTag, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  random.Fill(o, kNonce);
  CtxPtr ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, U(key.Reveal()), o) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, U(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), o + kNonce, &len, U(plaintext),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), o + kNonce + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTag, o + kNonce + plaintext.size()) !=
          1) {
    std::abort();
  }
  return out;
}

Result<SecretBytes> AeadOpen(const SecretBytes& key, std::string_view sealed,
                             std::string_view aad) {
  if (key.size() != kAeadKeySize || sealed.size() < kNonce + kTag) return DecryptionFailure();
  const std::size_t n = sealed.size() - kNonce - kTag;
  std::string plain(n, '\0');
  CtxPtr ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  auto* p = reinterpret_cast<unsigned char*>(plain.data());
  std::string tag(sealed.substr(kNonce + n));
  if (!ctx ||
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, U(key.Reveal()), U(sealed)) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, U(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), p, &len, U(sealed) + kNonce, static_cast<int>(n)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTag, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), p + len, &len) != 1) {
    SecretBytes wipe(std::move(plain));
    return DecryptionFailure();
  }
  return SecretBytes(std::move(plain));
}

std::string Envelope::Seal(std::string_view plaintext, std::string_view aad) const {
  SecretBytes data_key(random_.Bytes(kAeadKeySize));
  const std::string wrap_aad = "dk|" + key_id_ + "|" + std::string(aad);
  const std::string wrapped = AeadSeal(master_, data_key.Reveal(), wrap_aad, random_);
  const std::string sealed = AeadSeal(data_key, plaintext, aad, random_);
  return "kw1:" + Base64Encode(wrapped) + ":" + Base64Encode(sealed);
}

Result<SecretBytes> Envelope::Open(std::string_view stored, std::string_view aad) const {
  if (stored.substr(0, 4) != "kw1:") return InvalidArgument("not an envelope");
  stored.remove_prefix(4);
  const auto colon = stored.find(':');
  if (colon == std::string_view::npos) return InvalidArgument("not an envelope");
  auto wrapped = Base64Decode(stored.substr(0, colon));
  auto sealed = Base64Decode(stored.substr(colon + 1));
  if (!wrapped || !sealed) return InvalidArgument("not an envelope");
  const std::string wrap_aad = "dk|" + key_id_ + "|" + std::string(aad);
  KW_ASSIGN_OR_RETURN(SecretBytes data_key, AeadOpen(master_, *wrapped, wrap_aad));
  return AeadOpen(data_key, *sealed, aad);
}

}  // namespace kw::crypto
