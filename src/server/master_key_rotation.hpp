#pragma once

// `keyward master-key rotate`: a new primary master key, and every envelope in the
// database re-wrapped under it, while a server may keep running on the same data
// directory. See docs/adr/0005-master-key-rotation.md.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/random.hpp"
#include "common/result.hpp"
#include "crypto/aead.hpp"
#include "store/kv_store.hpp"

namespace kw::server {

struct RewrapStats {
  std::int64_t values = 0;     // rows rewritten
  std::int64_t envelopes = 0;  // envelopes re-wrapped inside them
  // Strings that name another key but could not be re-wrapped (their key is not in the
  // keyring, or they are damaged). Left as they were; normally 0.
  std::int64_t unopenable = 0;
  std::int64_t conflicts = 0;  // rows a concurrent writer changed first (then retried)
};

// The value with every envelope that names a key other than the primary re-wrapped:
// either the whole value is an envelope (sm_versions rows), or it is JSON whose string
// members (at any depth) may be envelopes. nullopt if nothing changed. Strings that
// merely start with "kw2:" but do not parse as envelopes are left alone.
std::optional<std::string> RewrapValue(std::string_view value, const crypto::Envelope& envelope,
                                       RewrapStats& stats);

struct RewrapOptions {
  std::size_t batch = 100;  // rows read and written per transaction
  int max_attempts = 10;    // per row, against concurrent writers
};

// Walks `tables` of `store` in batches and rewrites every row RewrapValue changes, by
// CompareAndPut on the revision it read, so a concurrent write is never lost: a row
// that changed meanwhile is read again and re-wrapped again. Errors: a store error, or
// kAborted if one row kept changing for max_attempts rounds. Safe to run again (rows
// already on the primary are skipped).
Result<RewrapStats> RewrapTables(store::KvStore& store, const std::vector<std::string>& tables,
                                 const crypto::Envelope& envelope,
                                 const RewrapOptions& options = {});

// A keyring with a new random primary key added (fresh id), the old keys kept.
Result<crypto::Keyring> AddPrimaryKey(const crypto::Keyring& keyring, Random& random);

struct RotateOptions {
  // How long to wait between writing the keyring and re-wrapping: longer than a running
  // server's reload interval (1 s), so that by then every Seal of that server uses the
  // new primary and no value sealed under an old key appears behind the walk.
  std::chrono::milliseconds settle{2500};
  RewrapOptions rewrap;
};

// The whole command, on DIR: refuses when $KEYWARD_MASTER_KEY is set (that key is
// rotated by the operator, not in a file); takes DIR/master-key.lock (one rotation at a
// time, or two could each add a key and one be lost); writes DIR/master.key with a new
// primary; waits `settle`; re-wraps every table of DIR/keyward.db. Prints the new key's
// id and the counts to `out` (never key material). Returns the process exit code.
int RunMasterKeyRotate(const std::filesystem::path& data_dir, std::ostream& out, std::ostream& err,
                       const RotateOptions& options = {});

}  // namespace kw::server
