#pragma once

// In-memory KvStore: the fake that domain tests use, and the reference behaviour for
// the contract suite. Nothing survives the object.

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/kv_store.hpp"

namespace kw::store {

// Thread-safe. One mutex serialises every transaction and read, which makes every
// transaction trivially serializable. `Transact`'s callback must not call back into
// the same store (it would deadlock); it uses only the Txn it is given.
class MemoryKvStore final : public KvStore {
 public:
  MemoryKvStore() = default;
  MemoryKvStore(const MemoryKvStore&) = delete;
  MemoryKvStore& operator=(const MemoryKvStore&) = delete;

  Status Transact(const std::function<Status(Txn&)>& fn) override;
  Result<std::optional<Item>> Get(std::string_view table, std::string_view key) override;
  Result<std::vector<Item>> List(std::string_view table, const ListOptions& options) override;

 private:
  struct Entry {
    std::string value;
    std::int64_t revision = 0;
  };
  using Table = std::map<std::string, Entry, std::less<>>;
  using Tables = std::map<std::string, Table, std::less<>>;
  class MemoryTxn;

  std::mutex mu_;
  Tables tables_;  // guarded by mu_
};

}  // namespace kw::store
