#include "server/data_dir.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "common/atomic_file.hpp"
#include "crypto/digest.hpp"

namespace kw::server {
namespace {

// Generous for a keyring that keeps every old key (about 70 bytes a line).
constexpr std::size_t kMaxKeyringBytes = 1 << 20;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) {
    s.remove_suffix(1);
  }
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  return s;
}

Result<SecretBytes> DecodeKey(std::string_view text, std::string_view where) {
  auto raw = crypto::Base64Decode(Trim(text));
  if (!raw || raw->size() != crypto::kAeadKeySize) {
    if (raw) SecretBytes wipe(std::move(*raw));
    return InvalidArgument(std::string(where) + " must hold the base64 of 32 bytes");
  }
  return SecretBytes(std::move(*raw));
}

}  // namespace

std::string MasterKeyId(const SecretBytes& key) {
  return "mk-" + crypto::Sha256Hex(key.Reveal()).substr(0, 8);
}

std::string KeyringFileText(const crypto::Keyring& keyring) {
  std::string out;
  for (const auto& k : keyring.keys) {
    out += k.id + " " + crypto::Base64Encode(k.key.Reveal());
    if (k.id == keyring.primary) out += " primary";
    out += "\n";
  }
  return out;
}

Result<crypto::Keyring> ParseKeyringText(std::string_view text) {
  crypto::Keyring ring;
  int line_no = 0;
  int primaries = 0;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = Trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (line.empty()) continue;
    const std::string where = "line " + std::to_string(line_no) + " of the keyring";
    const auto sp = line.find(' ');
    if (sp == std::string_view::npos)
      return InvalidArgument(where + " is not \"id key [primary]\"");
    std::string id(line.substr(0, sp));
    std::string_view rest = Trim(line.substr(sp + 1));
    bool primary = false;
    if (const auto sp2 = rest.find(' '); sp2 != std::string_view::npos) {
      if (Trim(rest.substr(sp2 + 1)) != "primary") {
        return InvalidArgument(where + " is not \"id key [primary]\"");
      }
      rest = rest.substr(0, sp2);
      primary = true;
    }
    KW_ASSIGN_OR_RETURN(SecretBytes key, DecodeKey(rest, where));
    if (primary) {
      ++primaries;
      ring.primary = id;
    }
    ring.keys.push_back({std::move(id), std::move(key)});
  }
  if (primaries != 1) return InvalidArgument("the keyring must mark exactly one key primary");
  KW_RETURN_IF_ERROR(ring.Validate());
  return ring;
}

Result<crypto::Keyring> ReadKeyringFile(const std::filesystem::path& data_dir) {
  const auto path = data_dir / kKeyringFileName;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return NotFound(path.string() + " does not exist");
  if ((st.st_mode & 077) != 0) {
    return PermissionDenied(path.string() + " is readable by group or others; chmod 600 it");
  }
  KW_ASSIGN_OR_RETURN(std::string text, ReadFileLimited(path, kMaxKeyringBytes));
  const SecretBytes guard(std::move(text));
  auto ring = ParseKeyringText(guard.Reveal());
  if (!ring) return InvalidArgument(path.string() + ": " + ring.error().message);
  return ring;
}

Status WriteKeyringFile(const std::filesystem::path& data_dir, const crypto::Keyring& keyring) {
  KW_RETURN_IF_ERROR(keyring.Validate());
  const SecretBytes text(KeyringFileText(keyring));
  return WriteFileAtomic(data_dir / kKeyringFileName, text.Reveal(), 0600);
}

Result<LoadedKeyring> LoadOrCreateKeyring(const std::filesystem::path& data_dir, Random& random) {
  LoadedKeyring out;
  if (const char* env = std::getenv(kMasterKeyEnv); env != nullptr && *env != '\0') {
    KW_ASSIGN_OR_RETURN(SecretBytes key, DecodeKey(env, kMasterKeyEnv));
    out.keyring.primary = MasterKeyId(key);
    out.keyring.keys.push_back({out.keyring.primary, std::move(key)});
    out.from_env = true;
    return out;
  }
  auto existing = ReadKeyringFile(data_dir);
  if (existing) {
    out.keyring = std::move(*existing);
    return out;
  }
  if (existing.error().code != ErrorCode::kNotFound) return existing.error();
  SecretBytes key(random.Bytes(crypto::kAeadKeySize));
  out.keyring.primary = MasterKeyId(key);
  out.keyring.keys.push_back({out.keyring.primary, std::move(key)});
  KW_RETURN_IF_ERROR(WriteKeyringFile(data_dir, out.keyring));
  out.created = true;
  return out;
}

std::string SharedCredentialsText(std::string_view profile, std::string_view access_key_id,
                                  const SecretBytes& secret) {
  std::string out = "[" + std::string(profile) + "]\n";
  out += "aws_access_key_id = " + std::string(access_key_id) + "\n";
  out += "aws_secret_access_key = " + std::string(secret.Reveal()) + "\n";
  return out;
}

Result<FileLock> FileLock::Take(const std::filesystem::path& path, std::string_view busy_message) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return PermissionDenied("cannot open " + path.string());
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return FailedPrecondition(std::string(busy_message));
  }
  return FileLock(fd);
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace kw::server
