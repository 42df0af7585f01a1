#include "server/data_dir.hpp"

#include <sys/stat.h>

#include <cstdlib>

#include "common/atomic_file.hpp"
#include "crypto/aead.hpp"
#include "crypto/digest.hpp"

namespace kw::server {
namespace {

Result<MasterKey> FromBase64(std::string_view text, std::string_view where) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.remove_suffix(1);
  }
  auto raw = crypto::Base64Decode(text);
  if (!raw || raw->size() != crypto::kAeadKeySize) {
    return InvalidArgument(std::string(where) + " must hold the base64 of 32 bytes");
  }
  MasterKey mk;
  mk.id = "mk-" + crypto::Sha256Hex(*raw).substr(0, 8);
  mk.key = SecretBytes(std::move(*raw));
  return mk;
}

}  // namespace

Result<MasterKey> LoadOrCreateMasterKey(const std::filesystem::path& data_dir, Random& random) {
  if (const char* env = std::getenv("KEYWARD_MASTER_KEY"); env != nullptr && *env != '\0') {
    return FromBase64(env, "KEYWARD_MASTER_KEY");
  }
  const auto path = data_dir / "master.key";
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if ((st.st_mode & 077) != 0) {
      return PermissionDenied(path.string() + " is readable by group or others; chmod 600 it");
    }
    KW_ASSIGN_OR_RETURN(std::string text, ReadFileLimited(path, 1024));
    SecretBytes guard(std::move(text));
    return FromBase64(guard.Reveal(), path.string());
  }
  SecretBytes key(random.Bytes(crypto::kAeadKeySize));
  const SecretBytes encoded_guard(crypto::Base64Encode(key.Reveal()) + "\n");
  KW_RETURN_IF_ERROR(WriteFileAtomic(path, encoded_guard.Reveal(), 0600));
  KW_ASSIGN_OR_RETURN(MasterKey mk, FromBase64(encoded_guard.Reveal(), path.string()));
  mk.created = true;
  return mk;
}

std::string SharedCredentialsText(std::string_view profile, std::string_view access_key_id,
                                  const SecretBytes& secret) {
  std::string out = "[" + std::string(profile) + "]\n";
  out += "aws_access_key_id = " + std::string(access_key_id) + "\n";
  out += "aws_secret_access_key = " + std::string(secret.Reveal()) + "\n";
  return out;
}

}  // namespace kw::server
