#include "store/memory/memory_kv_store.hpp"

#include <utility>

#include "store/kv_names.hpp"

namespace kw::store {

// Writes go straight into the tables; each first touch of a (table, key) records its
// previous state in an undo log, replayed in reverse when `fn` fails. Cheaper than
// copying all tables per transaction, and reads inside the transaction see its own
// writes for free.
class MemoryKvStore::MemoryTxn final : public Txn {
 public:
  explicit MemoryTxn(Tables& tables) : tables_(tables) {}
  MemoryTxn(const MemoryTxn&) = delete;
  MemoryTxn& operator=(const MemoryTxn&) = delete;
  // Anything not committed is undone, even if `fn` threw.
  ~MemoryTxn() override { Rollback(); }

  void Commit() { undo_.clear(); }

  Result<std::optional<Item>> Get(std::string_view table, std::string_view key) override {
    KW_RETURN_IF_ERROR(ValidateTableName(table));
    return Lookup(tables_, table, key);
  }

  Result<std::vector<Item>> List(std::string_view table, const ListOptions& options) override {
    KW_RETURN_IF_ERROR(ValidateTableName(table));
    return Scan(tables_, table, options);
  }

  Result<std::int64_t> Put(std::string_view table, std::string_view key,
                           std::string_view value) override {
    KW_RETURN_IF_ERROR(ValidateTableName(table));
    KW_RETURN_IF_ERROR(ValidateKey(key));
    return Write(table, key, value);
  }

  Result<std::int64_t> Insert(std::string_view table, std::string_view key,
                              std::string_view value) override {
    KW_RETURN_IF_ERROR(ValidateTableName(table));
    KW_RETURN_IF_ERROR(ValidateKey(key));
    if (Find(table, key) != nullptr) {
      return AlreadyExists("key already exists in table " + std::string(table));
    }
    return Write(table, key, value);
  }

  Result<std::int64_t> CompareAndPut(std::string_view table, std::string_view key,
                                     std::string_view value, std::int64_t expected) override {
    KW_RETURN_IF_ERROR(ValidateTableName(table));
    KW_RETURN_IF_ERROR(ValidateKey(key));
    const Entry* e = Find(table, key);
    const std::int64_t current = e == nullptr ? 0 : e->revision;
    if (current != expected) {
      return Aborted("revision mismatch in table " + std::string(table));
    }
    return Write(table, key, value);
  }

  Status Delete(std::string_view table, std::string_view key) override {
    KW_RETURN_IF_ERROR(ValidateTableName(table));
    auto t = tables_.find(table);
    if (t == tables_.end()) return NotFound("key not found in table " + std::string(table));
    auto it = t->second.find(key);
    if (it == t->second.end()) return NotFound("key not found in table " + std::string(table));
    Remember(table, key, &it->second);
    t->second.erase(it);
    return OkStatus();
  }

  void Rollback() {
    for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) {
      Table& t = tables_[it->table];
      if (it->before) {
        t[it->key] = std::move(*it->before);
      } else {
        t.erase(it->key);
      }
    }
    undo_.clear();
  }

  static Result<std::optional<Item>> Lookup(const Tables& tables, std::string_view table,
                                            std::string_view key) {
    auto t = tables.find(table);
    if (t == tables.end()) return std::optional<Item>();
    auto it = t->second.find(key);
    if (it == t->second.end()) return std::optional<Item>();
    return std::optional<Item>(Item{it->first, it->second.value, it->second.revision});
  }

  static Result<std::vector<Item>> Scan(const Tables& tables, std::string_view table,
                                        const ListOptions& options) {
    std::vector<Item> out;
    auto t = tables.find(table);
    if (t == tables.end()) return out;
    // std::string compares as unsigned bytes (char_traits<char>::compare is memcmp), the
    // same order as SQLite's BINARY collation and PostgreSQL's "C" collation.
    auto it = t->second.lower_bound(options.prefix);
    if (!options.start_after.empty() && options.start_after >= options.prefix) {
      it = t->second.upper_bound(options.start_after);
    }
    for (; it != t->second.end(); ++it) {
      if (it->first.compare(0, options.prefix.size(), options.prefix) != 0) break;
      if (options.limit != 0 && out.size() >= options.limit) break;
      out.push_back(Item{it->first, it->second.value, it->second.revision});
    }
    return out;
  }

 private:
  struct Undo {
    std::string table;
    std::string key;
    std::optional<Entry> before;  // nullopt: the key was absent
  };

  const Entry* Find(std::string_view table, std::string_view key) const {
    auto t = tables_.find(table);
    if (t == tables_.end()) return nullptr;
    auto it = t->second.find(key);
    return it == t->second.end() ? nullptr : &it->second;
  }

  void Remember(std::string_view table, std::string_view key, const Entry* before) {
    undo_.push_back(Undo{std::string(table), std::string(key),
                         before ? std::optional<Entry>(*before) : std::nullopt});
  }

  Result<std::int64_t> Write(std::string_view table, std::string_view key, std::string_view value) {
    auto t = tables_.find(table);
    if (t == tables_.end()) t = tables_.emplace(std::string(table), Table{}).first;
    auto it = t->second.find(key);
    if (it == t->second.end()) {
      Remember(table, key, nullptr);
      it = t->second.emplace(std::string(key), Entry{}).first;
    } else {
      Remember(table, key, &it->second);
    }
    it->second.value.assign(value);
    it->second.revision += 1;
    return it->second.revision;
  }

  Tables& tables_;
  std::vector<Undo> undo_;
};

Status MemoryKvStore::Transact(const std::function<Status(Txn&)>& fn) {
  std::lock_guard<std::mutex> lock(mu_);
  MemoryTxn txn(tables_);
  Status status = fn(txn);
  if (status.has_value()) txn.Commit();
  return status;
}

Result<std::optional<Item>> MemoryKvStore::Get(std::string_view table, std::string_view key) {
  KW_RETURN_IF_ERROR(ValidateTableName(table));
  std::lock_guard<std::mutex> lock(mu_);
  return MemoryTxn::Lookup(tables_, table, key);
}

Result<std::vector<Item>> MemoryKvStore::List(std::string_view table, const ListOptions& options) {
  KW_RETURN_IF_ERROR(ValidateTableName(table));
  std::lock_guard<std::mutex> lock(mu_);
  return MemoryTxn::Scan(tables_, table, options);
}

}  // namespace kw::store
