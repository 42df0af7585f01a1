#include "crypto/signature.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>

namespace kw::crypto {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

Result<PkeyPtr> LoadPrivate(const SecretBytes& pem) {
  const std::string_view text = pem.Reveal();
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  if (!bio) return Internal("cannot allocate a BIO");
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key || EVP_PKEY_get_id(key.get()) != EVP_PKEY_ED25519) {
    return InvalidArgument("not an Ed25519 private key");
  }
  return key;
}

Result<std::string> RawPublic(EVP_PKEY* key) {
  std::string out(kEd25519PublicKeyBytes, '\0');
  std::size_t len = out.size();
  if (EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(out.data()), &len) != 1 ||
      len != kEd25519PublicKeyBytes) {
    return Internal("cannot read the Ed25519 public key");
  }
  return out;
}

}  // namespace

Result<Ed25519KeyPair> GenerateEd25519() {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!key) return Internal("cannot generate an Ed25519 key");
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PKCS8PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr,
                                            nullptr) != 1) {
    return Internal("cannot encode the Ed25519 key");
  }
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  Ed25519KeyPair pair;
  pair.private_key_pem = SecretBytes(std::string(data, static_cast<std::size_t>(n)));
  // The BIO's buffer held the private key: clear it before it is freed.
  OPENSSL_cleanse(data, static_cast<std::size_t>(n));
  KW_ASSIGN_OR_RETURN(pair.public_key, RawPublic(key.get()));
  return pair;
}

Result<std::string> Ed25519PublicKey(const SecretBytes& private_key_pem) {
  KW_ASSIGN_OR_RETURN(PkeyPtr key, LoadPrivate(private_key_pem));
  return RawPublic(key.get());
}

Result<std::string> SignEd25519(const SecretBytes& private_key_pem, std::string_view message) {
  KW_ASSIGN_OR_RETURN(PkeyPtr key, LoadPrivate(private_key_pem));
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  std::string sig(kEd25519SignatureBytes, '\0');
  std::size_t len = sig.size();
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1 ||
      len != kEd25519SignatureBytes) {
    return Internal("cannot sign with the Ed25519 key");
  }
  return sig;
}

bool VerifyEd25519(std::string_view public_key, std::string_view message,
                   std::string_view signature) {
  if (public_key.size() != kEd25519PublicKeyBytes || signature.size() != kEd25519SignatureBytes) {
    return false;
  }
  PkeyPtr key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                          reinterpret_cast<const unsigned char*>(public_key.data()),
                                          public_key.size()));
  if (!key) return false;
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  return ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) == 1 &&
         EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(), reinterpret_cast<const unsigned char*>(message.data()),
                          message.size()) == 1;
}

}  // namespace kw::crypto
