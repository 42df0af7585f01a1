#pragma once

// Authenticated encryption for data at rest: AES-256-GCM, and an envelope of a fresh
// data key per value wrapped by a master key from a keyring that can rotate.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/clock.hpp"
#include "common/random.hpp"
#include "common/result.hpp"
#include "common/secret_bytes.hpp"

namespace kw::crypto {

inline constexpr std::size_t kAeadKeySize = 32;

// Returns nonce(12) || ciphertext || tag(16). `key` must be 32 bytes. Thread-safe.
std::string AeadSeal(const SecretBytes& key, std::string_view plaintext, std::string_view aad,
                     Random& random);
// Inverse of AeadSeal. kPermissionDenied with reason "DecryptionFailure" if the
// ciphertext, the key or the associated data does not match; never partial output.
Result<SecretBytes> AeadOpen(const SecretBytes& key, std::string_view sealed, std::string_view aad);

// Master keys by id. `primary` seals; every key opens what names it. Ids are 1 to 64
// characters of [A-Za-z0-9._-] (they appear inside the stored text, between colons).
struct Keyring {
  struct Key {
    std::string id;
    SecretBytes key;  // 32 bytes
  };
  std::vector<Key> keys;
  std::string primary;

  // kInvalidArgument unless: at least one key, ids valid and unique, keys 32 bytes,
  // `primary` names one of them.
  Status Validate() const;
  const Key* Find(std::string_view id) const;
  Keyring Clone() const;
};

// Envelope encryption under a keyring of master keys. The stored form is
// self-describing:
//   "kw2:" key_id ":" base64(wrapped data key) ":" base64(sealed value)
// The data key is fresh per value; it is wrapped under master key `key_id` with
// associated data "dk|" + key_id, and the value is sealed under the data key with the
// caller's `aad`. The wrap deliberately does not cover `aad`: the value itself stays
// bound to it (a ciphertext moved to another row fails to open), and a master-key
// rotation can re-wrap every data key without knowing each value's aad
// (docs/adr/0005-master-key-rotation.md).
//
// Thread-safe. The keyring can be replaced at runtime (Reload, or the `reload` hook that
// Open calls when it meets a key id the keyring lacks), so a server learns a rotated
// keyring without a restart.
class Envelope {
 public:
  using ReloadFn = std::function<Result<Keyring>()>;

  // One key, primary, no reload hook (tests and tools).
  Envelope(std::string key_id, SecretBytes master_key, Random& random);
  // `keyring` must pass Validate() (aborts otherwise: a composition-root bug).
  // `reload` (optional) re-reads the keyring from where it is kept. It is called at
  // most once per `min_reload_interval` of `clock`, by Open when it meets a key id the
  // keyring lacks (then Open retries once) and by Seal (so writes move to a new primary
  // within one interval of a rotation); a valid result replaces the keyring, an error
  // or invalid ring is ignored. `clock` must be set and outlive the Envelope when
  // `reload` is.
  Envelope(Keyring keyring, Random& random, ReloadFn reload = {}, const Clock* clock = nullptr,
           std::chrono::milliseconds min_reload_interval = std::chrono::seconds(1));

  // The primary key's id (what Seal writes).
  std::string key_id() const;
  std::string Seal(std::string_view plaintext, std::string_view aad) const;
  // kPermissionDenied/"DecryptionFailure" on any mismatch or an unknown key id,
  // kInvalidArgument if the text is not an envelope at all.
  Result<SecretBytes> Open(std::string_view stored, std::string_view aad) const;
  // The same envelope with its data key re-wrapped under the primary key; the sealed
  // value is untouched, so it still opens only with its original aad. Returns `stored`
  // unchanged if it already names the primary. Errors as Open.
  Result<std::string> Rewrap(std::string_view stored) const;
  // Replaces the keyring. kInvalidArgument (and no change) if it fails Validate().
  Status Reload(Keyring keyring) const;
  // The key id an envelope names, or kInvalidArgument if `stored` is not an envelope.
  static Result<std::string> KeyIdOf(std::string_view stored);

 private:
  // Unwraps the data key of a parsed envelope, reloading once on an unknown key id.
  Result<SecretBytes> UnwrapDataKey(std::string_view key_id, std::string_view wrapped) const;
  std::shared_ptr<const Keyring> Current() const;
  // Consumes the rate limit; false if a reload ran within the interval.
  bool MayReload() const;
  // Calls reload_ if the rate limit allows and adopts a valid result. reload_mu_ held.
  void TryReloadLocked() const;

  Random& random_;
  const ReloadFn reload_;
  const Clock* const clock_;
  const std::chrono::milliseconds min_reload_interval_;
  mutable std::mutex mu_;
  mutable std::shared_ptr<const Keyring> keyring_;  // guarded by mu_ (swapped whole)
  mutable bool reloaded_once_ = false;              // guarded by mu_
  mutable TimePoint last_reload_{};                 // guarded by mu_
  mutable std::mutex reload_mu_;                    // one reload at a time; before mu_
  // Unwrapped data keys by the envelope's text up to the sealed value ("kw2:" key_id
  // ":" base64(wrapped)), so that opening a value again skips the unwrap (secrets are
  // read far more often than written). Never holds values. Emptied whenever the
  // keyring is replaced, so a key dropped from the ring stops opening anything; the
  // generation keeps an unwrap that raced a replacement out of the cache. Bounded.
  void ForgetDataKeys() const;
  mutable std::mutex data_keys_mu_;
  mutable std::unordered_map<std::string, std::shared_ptr<const SecretBytes>>
      data_keys_;                                   // guarded by data_keys_mu_
  mutable std::uint64_t data_keys_generation_ = 0;  // guarded by data_keys_mu_
};

}  // namespace kw::crypto
