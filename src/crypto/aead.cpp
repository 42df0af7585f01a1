#include "crypto/aead.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
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

// Fetched once: OpenSSL 3 looks EVP_aes_256_gcm() up in the provider on every init
// otherwise, which costs more than decrypting a small secret.
const EVP_CIPHER* Aes256Gcm() {
  static EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  if (cipher == nullptr) std::abort();
  return cipher;
}

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
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), Aes256Gcm(), nullptr, U(key.Reveal()), o) != 1 ||
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
      EVP_DecryptInit_ex(ctx.get(), Aes256Gcm(), nullptr, U(key.Reveal()), U(sealed)) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, U(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), p, &len, U(sealed) + kNonce, static_cast<int>(n)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTag, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), p + len, &len) != 1) {
    SecretBytes wipe(std::move(plain));
    return DecryptionFailure();
  }
  return SecretBytes(std::move(plain));
}

Status Keyring::Validate() const {
  if (keys.empty()) return InvalidArgument("the keyring holds no key");
  bool has_primary = false;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const auto& id = keys[i].id;
    if (id.empty() || id.size() > 64 || !std::all_of(id.begin(), id.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' ||
                 c == '-';
        })) {
      return InvalidArgument("invalid master key id");
    }
    if (keys[i].key.size() != kAeadKeySize) {
      return InvalidArgument("master key " + id + " is not 32 bytes");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (keys[j].id == id) return InvalidArgument("duplicate master key id " + id);
    }
    if (id == primary) has_primary = true;
  }
  if (!has_primary) return InvalidArgument("the keyring names no primary key it holds");
  return OkStatus();
}

const Keyring::Key* Keyring::Find(std::string_view id) const {
  for (const auto& k : keys) {
    if (k.id == id) return &k;
  }
  return nullptr;
}

Keyring Keyring::Clone() const {
  Keyring copy;
  copy.primary = primary;
  for (const auto& k : keys) copy.keys.push_back({k.id, k.key.Clone()});
  return copy;
}

namespace {

struct Parsed {
  std::string_view key_id;
  std::string wrapped;
  std::string sealed;
};

Result<Parsed> Parse(std::string_view stored) {
  const auto bad = [] { return InvalidArgument("not an envelope"); };
  if (stored.substr(0, 4) != "kw2:") return bad();
  stored.remove_prefix(4);
  const auto c1 = stored.find(':');
  if (c1 == std::string_view::npos || c1 == 0) return bad();
  const auto c2 = stored.find(':', c1 + 1);
  if (c2 == std::string_view::npos) return bad();
  auto wrapped = Base64Decode(stored.substr(c1 + 1, c2 - c1 - 1));
  auto sealed = Base64Decode(stored.substr(c2 + 1));
  if (!wrapped || !sealed) return bad();
  return Parsed{stored.substr(0, c1), std::move(*wrapped), std::move(*sealed)};
}

std::string WrapAad(std::string_view key_id) { return "dk|" + std::string(key_id); }

std::string Format(std::string_view key_id, std::string_view wrapped, std::string_view sealed) {
  return "kw2:" + std::string(key_id) + ":" + Base64Encode(wrapped) + ":" + Base64Encode(sealed);
}

Keyring SingleKey(std::string key_id, SecretBytes master_key) {
  Keyring ring;
  ring.primary = key_id;
  ring.keys.push_back({std::move(key_id), std::move(master_key)});
  return ring;
}

}  // namespace

Envelope::Envelope(std::string key_id, SecretBytes master_key, Random& random)
    : Envelope(SingleKey(std::move(key_id), std::move(master_key)), random) {}

Envelope::Envelope(Keyring keyring, Random& random, ReloadFn reload, const Clock* clock,
                   std::chrono::milliseconds min_reload_interval)
    : random_(random),
      reload_(std::move(reload)),
      clock_(clock),
      min_reload_interval_(min_reload_interval) {
  if (!keyring.Validate()) std::abort();
  if (reload_ && clock_ == nullptr) std::abort();
  keyring_ = std::make_shared<const Keyring>(std::move(keyring));
}

std::shared_ptr<const Keyring> Envelope::Current() const {
  std::lock_guard lock(mu_);
  return keyring_;
}

std::string Envelope::key_id() const { return Current()->primary; }

std::string Envelope::Seal(std::string_view plaintext, std::string_view aad) const {
  if (reload_) {
    // Writes must move to a new primary soon after a rotation even if no read meets
    // its key id, so the rotation's walk is not followed by values under the old key.
    // try_lock: a Seal never queues behind another thread's file read.
    std::unique_lock reload_lock(reload_mu_, std::try_to_lock);
    if (reload_lock.owns_lock()) TryReloadLocked();
  }
  const auto ring = Current();
  const Keyring::Key* master = ring->Find(ring->primary);
  SecretBytes data_key(random_.Bytes(kAeadKeySize));
  const std::string wrapped =
      AeadSeal(master->key, data_key.Reveal(), WrapAad(master->id), random_);
  const std::string sealed = AeadSeal(data_key, plaintext, aad, random_);
  return Format(master->id, wrapped, sealed);
}

void Envelope::TryReloadLocked() const {
  if (!MayReload()) return;
  auto fresh = reload_();
  if (!fresh.has_value() || !fresh->Validate()) return;
  auto next = std::make_shared<const Keyring>(std::move(*fresh));
  {
    std::lock_guard lock(mu_);
    keyring_ = std::move(next);
  }
  ForgetDataKeys();
}

bool Envelope::MayReload() const {
  if (!reload_) return false;
  std::lock_guard lock(mu_);
  const TimePoint now = clock_->Now();
  // A clock that stepped back does not block reloads until it catches up.
  if (reloaded_once_ && now >= last_reload_ && now - last_reload_ < min_reload_interval_) {
    return false;
  }
  reloaded_once_ = true;
  last_reload_ = now;
  return true;
}

Result<SecretBytes> Envelope::UnwrapDataKey(std::string_view key_id,
                                            std::string_view wrapped) const {
  auto ring = Current();
  const Keyring::Key* master = ring->Find(key_id);
  if (master == nullptr) {
    // A key id we do not know: another process (master-key rotate) may have added it.
    // Re-read the keyring, rate-limited so that garbage ids cannot make every request
    // read a file. (Rotation waits longer than the interval before it writes values
    // under the new key, so the next such read is always allowed to reload.)
    std::lock_guard reload_lock(reload_mu_);
    ring = Current();
    master = ring->Find(key_id);
    if (master == nullptr) {
      TryReloadLocked();
      ring = Current();
      master = ring->Find(key_id);
    }
    if (master == nullptr) return DecryptionFailure();
  }
  return AeadOpen(master->key, wrapped, WrapAad(master->id));
}

void Envelope::ForgetDataKeys() const {
  std::lock_guard lock(data_keys_mu_);
  ++data_keys_generation_;
  data_keys_.clear();
}

Result<SecretBytes> Envelope::Open(std::string_view stored, std::string_view aad) const {
  // The cache key: the text before the last ':' ("kw2:" key_id ":" wrapped).
  const auto last = stored.rfind(':');
  const std::string_view head = last == std::string_view::npos ? stored : stored.substr(0, last);
  std::shared_ptr<const SecretBytes> data_key;
  std::uint64_t generation;
  {
    std::lock_guard lock(data_keys_mu_);
    generation = data_keys_generation_;
    if (auto it = data_keys_.find(std::string(head)); it != data_keys_.end()) {
      data_key = it->second;
    }
  }
  if (data_key != nullptr) {
    // Same text as a parsed envelope had: only the sealed part needs decoding.
    auto sealed = Base64Decode(stored.substr(last + 1));
    if (!sealed) return InvalidArgument("not an envelope");
    return AeadOpen(*data_key, *sealed, aad);
  }
  KW_ASSIGN_OR_RETURN(Parsed p, Parse(stored));
  KW_ASSIGN_OR_RETURN(SecretBytes unwrapped, UnwrapDataKey(p.key_id, p.wrapped));
  if (unwrapped.size() != kAeadKeySize) return DecryptionFailure();
  data_key = std::make_shared<const SecretBytes>(std::move(unwrapped));
  {
    std::lock_guard lock(data_keys_mu_);
    if (generation == data_keys_generation_) {
      if (data_keys_.size() >= 65536) data_keys_.clear();  // bound memory; refills on demand
      data_keys_.emplace(std::string(head), data_key);
    }
  }
  return AeadOpen(*data_key, p.sealed, aad);
}

Result<std::string> Envelope::Rewrap(std::string_view stored) const {
  KW_ASSIGN_OR_RETURN(Parsed p, Parse(stored));
  const auto ring = Current();
  if (p.key_id == ring->primary) return std::string(stored);
  KW_ASSIGN_OR_RETURN(SecretBytes data_key, UnwrapDataKey(p.key_id, p.wrapped));
  if (data_key.size() != kAeadKeySize) return DecryptionFailure();
  const Keyring::Key* master = ring->Find(ring->primary);
  const std::string wrapped =
      AeadSeal(master->key, data_key.Reveal(), WrapAad(master->id), random_);
  return Format(master->id, wrapped, p.sealed);
}

Status Envelope::Reload(Keyring keyring) const {
  KW_RETURN_IF_ERROR(keyring.Validate());
  auto next = std::make_shared<const Keyring>(std::move(keyring));
  {
    std::lock_guard lock(mu_);
    keyring_ = std::move(next);
  }
  ForgetDataKeys();
  return OkStatus();
}

Result<std::string> Envelope::KeyIdOf(std::string_view stored) {
  KW_ASSIGN_OR_RETURN(Parsed p, Parse(stored));
  return std::string(p.key_id);
}

}  // namespace kw::crypto
