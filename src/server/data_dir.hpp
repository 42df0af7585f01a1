#pragma once

// The server's data directory: created 0700 on first start; holds the master keyring
// (0600), the SQLite database and the administrator's credentials (0600).

#include <filesystem>
#include <string>
#include <string_view>

#include "common/random.hpp"
#include "common/result.hpp"
#include "common/secret_bytes.hpp"
#include "crypto/aead.hpp"

namespace kw::server {

inline constexpr const char* kMasterKeyEnv = "KEYWARD_MASTER_KEY";
inline constexpr const char* kKeyringFileName = "master.key";

// The id that names a master key in envelopes: "mk-" + 8 hex digits of its SHA-256.
std::string MasterKeyId(const SecretBytes& key);

struct LoadedKeyring {
  crypto::Keyring keyring;
  bool created = false;   // the file was written just now (first start)
  bool from_env = false;  // $KEYWARD_MASTER_KEY: one key, no file, not rotatable here
};

// The keyring file DIR/master.key: one line per key, "id base64(32 bytes)", and the
// primary key's line ends with " primary". Blank lines are ignored.
std::string KeyringFileText(const crypto::Keyring& keyring);
// Parses KeyringFileText's format. kInvalidArgument (naming the line, never its
// content) if malformed or the keyring fails Validate().
Result<crypto::Keyring> ParseKeyringText(std::string_view text);

// Reads DIR/master.key. kNotFound if absent; kPermissionDenied if it is readable by
// group or others (chmod 600 it); kInvalidArgument if malformed.
Result<crypto::Keyring> ReadKeyringFile(const std::filesystem::path& data_dir);
// Replaces DIR/master.key atomically with mode 0600.
Status WriteKeyringFile(const std::filesystem::path& data_dir, const crypto::Keyring& keyring);

// The keyring from $KEYWARD_MASTER_KEY (base64 of 32 bytes, the only and primary key) if
// set, else from DIR/master.key, which is created with one random primary key when
// absent.
Result<LoadedKeyring> LoadOrCreateKeyring(const std::filesystem::path& data_dir, Random& random);

// An exclusive, non-blocking flock on a file of the data directory, held for the
// object's lifetime (released by the kernel if the process dies).
class FileLock {
 public:
  // kFailedPrecondition with `busy_message` if another process holds it;
  // kPermissionDenied if the file cannot be opened.
  static Result<FileLock> Take(const std::filesystem::path& path, std::string_view busy_message);
  FileLock(FileLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  FileLock& operator=(FileLock&&) = delete;
  FileLock(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

// The rotation engine's lock: one Tick runner per data directory (the server, or
// `keyward rotate --once` when no server runs there).
inline constexpr const char* kRotationLockFileName = "rotation.lock";

// AWS shared-credentials text for one profile.
std::string SharedCredentialsText(std::string_view profile, std::string_view access_key_id,
                                  const SecretBytes& secret);

}  // namespace kw::server
