#pragma once

// The server's data directory: created 0700 on first start; holds the master key
// (0600), the SQLite database and the administrator's credentials (0600).

#include <filesystem>
#include <string>

#include "common/random.hpp"
#include "common/result.hpp"
#include "common/secret_bytes.hpp"

namespace kw::server {

struct MasterKey {
  std::string id;   // names the key in envelopes: "mk-" + 8 hex digits of its hash
  SecretBytes key;  // 32 bytes
  bool created = false;
};

// The master key from $KEYWARD_MASTER_KEY (base64 of 32 bytes) if set, else from
// DIR/master.key, which is created (32 random bytes, base64, mode 0600) when absent.
// A key file readable by group or others is refused.
Result<MasterKey> LoadOrCreateMasterKey(const std::filesystem::path& data_dir, Random& random);

// AWS shared-credentials text for one profile.
std::string SharedCredentialsText(std::string_view profile, std::string_view access_key_id,
                                  const SecretBytes& secret);

}  // namespace kw::server
