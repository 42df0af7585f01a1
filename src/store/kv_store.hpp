#pragma once

// Durable storage for the domain, as ordered key-value tables with transactions.
// Every backend (memory, SQLite, PostgreSQL) passes the contract suite in
// store/testing/kv_store_contract.hpp. Values are opaque strings (the domain stores
// JSON; secret material is already ciphertext when it reaches the store).
// See docs/adr/0001-key-value-store.md for why one generic interface.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace kw::store {

// Keys are non-empty UTF-8 without NUL characters, ordered by their bytes (code point
// order); writes of other keys fail with kInvalidArgument (store/kv_names.hpp). Values
// are any bytes, including empty and NUL.
struct Item {
  std::string key;
  std::string value;
  // Increases on every write of this key; starts at 1. Per key, not global: a key that
  // is deleted and created again starts at 1 again, so a revision read before such a
  // delete can match a CompareAndPut afterwards. Keep a tombstone (or a generation
  // inside the value) where that matters.
  std::int64_t revision = 0;
};

struct ListOptions {
  std::string prefix;       // only keys starting with this
  std::string start_after;  // only keys strictly greater than this (pagination)
  std::size_t limit = 0;    // 0: no limit
};

// Reads and writes inside one transaction. Valid only within Transact's callback, and
// only on the thread that runs it. Reads see the transaction's own earlier writes. An
// error from one operation leaves the transaction usable: the callback may handle it
// and go on, or return it to roll everything back.
class Txn {
 public:
  virtual ~Txn() = default;
  virtual Result<std::optional<Item>> Get(std::string_view table, std::string_view key) = 0;
  // Ascending key order.
  virtual Result<std::vector<Item>> List(std::string_view table, const ListOptions& options) = 0;
  // Inserts or replaces. Returns the new revision.
  virtual Result<std::int64_t> Put(std::string_view table, std::string_view key,
                                   std::string_view value) = 0;
  // kAlreadyExists if the key is present.
  virtual Result<std::int64_t> Insert(std::string_view table, std::string_view key,
                                      std::string_view value) = 0;
  // kAborted if the key's revision is not `expected` (0: must be absent).
  virtual Result<std::int64_t> CompareAndPut(std::string_view table, std::string_view key,
                                             std::string_view value, std::int64_t expected) = 0;
  // kNotFound if absent.
  virtual Status Delete(std::string_view table, std::string_view key) = 0;
};

// Thread-safe. Tables need no declaration: any name of 1 to 64 characters of [a-z0-9_]
// works; other names fail with kInvalidArgument. A missing table reads as empty.
// Backend errors: kUnavailable when the database is busy or unreachable (retry),
// kInternal otherwise; messages never contain values.
class KvStore {
 public:
  virtual ~KvStore() = default;

  // Runs `fn` in one serializable transaction: commits if it returns OK, rolls back
  // if it returns an error (which Transact returns). A backend may run `fn` again
  // after a serialization conflict, so `fn` must have no effects outside `txn`. `fn`
  // must not call this store itself (backends may hold a lock while it runs).
  virtual Status Transact(const std::function<Status(Txn&)>& fn) = 0;

  // Single reads outside a transaction (consistent per call).
  virtual Result<std::optional<Item>> Get(std::string_view table, std::string_view key) = 0;
  virtual Result<std::vector<Item>> List(std::string_view table, const ListOptions& options) = 0;
};

}  // namespace kw::store
