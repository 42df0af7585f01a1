#include "server/master_key_rotation.hpp"

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <ostream>
#include <thread>

#include "crypto/csprng.hpp"
#include "server/data_dir.hpp"
#include "store/sqlite/sqlite_kv_store.hpp"

namespace kw::server {
namespace {

using nlohmann::json;

constexpr std::string_view kPrefix = "kw2:";

// Re-wraps `text` if it is an envelope under a non-primary key. true if it changed.
bool RewrapString(std::string& text, const crypto::Envelope& envelope, const std::string& primary,
                  RewrapStats& stats) {
  if (text.compare(0, kPrefix.size(), kPrefix) != 0) return false;
  auto id = crypto::Envelope::KeyIdOf(text);
  if (!id || *id == primary) return false;  // not an envelope, or already done
  auto rewrapped = envelope.Rewrap(text);
  if (!rewrapped) {
    if (rewrapped.error().code != ErrorCode::kInvalidArgument) ++stats.unopenable;
    return false;
  }
  text = std::move(*rewrapped);
  ++stats.envelopes;
  return true;
}

bool WalkJson(json& j, const crypto::Envelope& envelope, const std::string& primary,
              RewrapStats& stats) {
  bool changed = false;
  if (j.is_string()) {
    changed = RewrapString(j.get_ref<std::string&>(), envelope, primary, stats);
  } else if (j.is_structured()) {
    for (auto& child : j) changed = WalkJson(child, envelope, primary, stats) || changed;
  }
  return changed;
}

struct Pending {
  std::string key;
  std::string value;  // the rewritten value
  std::int64_t revision = 0;
  std::int64_t envelopes = 0;  // re-wrapped in this value
};

}  // namespace

std::optional<std::string> RewrapValue(std::string_view value, const crypto::Envelope& envelope,
                                       RewrapStats& stats) {
  if (value.find(kPrefix) == std::string_view::npos) return std::nullopt;
  const std::string primary = envelope.key_id();
  if (value.substr(0, kPrefix.size()) == kPrefix) {
    std::string text(value);
    if (!RewrapString(text, envelope, primary, stats)) return std::nullopt;
    return text;
  }
  json doc = json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return std::nullopt;
  if (!WalkJson(doc, envelope, primary, stats)) return std::nullopt;
  // The domain writes compact JSON; a re-dump keeps its meaning (members, values).
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<RewrapStats> RewrapTables(store::KvStore& store, const std::vector<std::string>& tables,
                                 const crypto::Envelope& envelope, const RewrapOptions& options) {
  RewrapStats stats;
  for (const auto& table : tables) {
    std::string after;
    for (;;) {
      store::ListOptions list;
      list.start_after = after;
      list.limit = options.batch;
      KW_ASSIGN_OR_RETURN(std::vector<store::Item> items, store.List(table, list));
      if (items.empty()) break;
      after = items.back().key;
      const bool last_page = items.size() < options.batch;

      for (int attempt = 0; !items.empty(); ++attempt) {
        if (attempt == options.max_attempts) {
          return Aborted("rows of table " + table + " kept changing; run the rotation again");
        }
        // Crypto outside the transaction, which then only compares and writes.
        std::vector<Pending> pending;
        for (auto& item : items) {
          RewrapStats row;
          if (auto v = RewrapValue(item.value, envelope, row)) {
            pending.push_back({std::move(item.key), std::move(*v), item.revision, row.envelopes});
          }
          stats.unopenable += row.unopenable;
        }
        std::vector<std::string> conflicted;
        RewrapStats done;
        KW_RETURN_IF_ERROR(store.Transact([&](store::Txn& txn) -> Status {
          conflicted.clear();  // the store may run this again
          done = RewrapStats{};
          for (const auto& p : pending) {
            auto rev = txn.CompareAndPut(table, p.key, p.value, p.revision);
            if (rev) {
              ++done.values;
              done.envelopes += p.envelopes;
            } else if (rev.error().code == ErrorCode::kAborted) {
              conflicted.push_back(p.key);  // a concurrent write won: read it again
            } else {
              return rev.error();
            }
          }
          return OkStatus();
        }));
        stats.values += done.values;
        stats.envelopes += done.envelopes;
        stats.conflicts += static_cast<std::int64_t>(conflicted.size());
        items.clear();
        for (const auto& key : conflicted) {
          KW_ASSIGN_OR_RETURN(std::optional<store::Item> fresh, store.Get(table, key));
          if (fresh) items.push_back(std::move(*fresh));  // deleted meanwhile: nothing to do
        }
      }
      if (last_page) break;
    }
  }
  return stats;
}

Result<crypto::Keyring> AddPrimaryKey(const crypto::Keyring& keyring, Random& random) {
  crypto::Keyring next = keyring.Clone();
  for (;;) {
    SecretBytes key(random.Bytes(crypto::kAeadKeySize));
    std::string id = MasterKeyId(key);
    if (next.Find(id) != nullptr) continue;  // a 32-bit id collision: draw again
    next.primary = id;
    next.keys.push_back({std::move(id), std::move(key)});
    break;
  }
  KW_RETURN_IF_ERROR(next.Validate());
  return next;
}

namespace {

Status Rotate(const std::filesystem::path& data_dir, std::ostream& out,
              const RotateOptions& options) {
  if (const char* env = std::getenv(kMasterKeyEnv); env != nullptr && *env != '\0') {
    return FailedPrecondition(std::string(kMasterKeyEnv) +
                              " is set: a master key from the environment is rotated by the "
                              "operator (set a new key there), not by master-key rotate");
  }
  KW_ASSIGN_OR_RETURN(
      FileLock lock,
      FileLock::Take(data_dir / "master-key.lock",
                     "another master-key rotation is running on this data directory"));
  auto current = ReadKeyringFile(data_dir);
  if (!current && current.error().code == ErrorCode::kNotFound) {
    return FailedPrecondition("no keyring in " + data_dir.string() +
                              " (start the server once to create it)");
  }
  if (!current) return current.error();
  crypto::Csprng random;
  KW_ASSIGN_OR_RETURN(crypto::Keyring next, AddPrimaryKey(*current, random));
  // Persist the key before any value uses it: a crash after this line leaves a keyring
  // that opens everything, old and new.
  KW_RETURN_IF_ERROR(WriteKeyringFile(data_dir, next));
  out << "keyward: master key " << next.primary << " is now primary (" << next.keys.size() - 1
      << " older key(s) kept in " << (data_dir / kKeyringFileName).string() << ")\n"
      << std::flush;

  const auto db = data_dir / "keyward.db";
  if (!std::filesystem::exists(db)) {
    out << "keyward: no database yet; nothing to re-wrap\n";
    return OkStatus();
  }
  std::this_thread::sleep_for(options.settle);
  const crypto::Envelope envelope(std::move(next), random);
  KW_ASSIGN_OR_RETURN(auto store, store::SqliteKvStore::Open(db));
  KW_ASSIGN_OR_RETURN(std::vector<std::string> tables, store->ListTables());
  KW_ASSIGN_OR_RETURN(RewrapStats stats, RewrapTables(*store, tables, envelope, options.rewrap));
  out << "keyward: re-wrapped " << stats.envelopes << " data key(s) in " << stats.values
      << " value(s) across " << tables.size() << " table(s)\n";
  if (stats.unopenable > 0) {
    out << "keyward: warning: " << stats.unopenable
        << " envelope(s) name a key not in the keyring or are damaged; left unchanged\n";
  }
  return OkStatus();
}

}  // namespace

int RunMasterKeyRotate(const std::filesystem::path& data_dir, std::ostream& out, std::ostream& err,
                       const RotateOptions& options) {
  if (Status s = Rotate(data_dir, out, options); !s) {
    err << "keyward: error: " << s.error().message << '\n';
    return 1;
  }
  return 0;
}

}  // namespace kw::server
