#pragma once

// KvStore on an embedded SQLite database (one file plus its -wal and -shm), the
// default backend of a single keyward server.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "store/kv_store.hpp"

namespace kw::store {

namespace sqlite_detail {
class Connection;
}  // namespace sqlite_detail

// Thread-safe. Transactions are serialised on one writer connection (SQLite allows one
// writer at a time anyway; BEGIN IMMEDIATE takes the write lock up front, so a
// transaction never fails half-way on a lock upgrade). Plain Get/List run on a small
// pool of reader connections and, thanks to WAL, do not wait for a running
// transaction: they see the last committed state.
//
// Another process may open the same file; it then competes for the write lock, and a
// transaction that cannot get it within `busy_timeout` fails with kUnavailable.
class SqliteKvStore final : public KvStore {
 public:
  struct Options {
    // How long a statement waits for a lock held by another connection or process.
    std::chrono::milliseconds busy_timeout{5000};
    // Reader connections opened on demand; more concurrent readers wait for one.
    int max_readers = 4;
    // false: PRAGMA synchronous=NORMAL. In WAL mode a commit is then durable against a
    // crash of the process but the newest commits may be lost on power failure or an
    // OS crash (never corrupted: the database stays consistent). keyward's rotation
    // records intent first and repeats idempotent steps, so losing the last
    // transactions is like crashing just before them; in exchange a commit needs no
    // fsync. true: synchronous=FULL, one fsync of the WAL per commit.
    bool sync_every_commit = false;
  };

  // The schema version this code creates and understands.
  static constexpr int kSchemaVersion = 1;

  // Opens or creates the database at `path` (the parent directory must exist) and
  // applies pending schema migrations. A new file is created with mode 0600, and an
  // existing one with group or other permissions is narrowed to 0600; SQLite gives the
  // -wal and -shm files the database file's mode. Errors: kFailedPrecondition if the
  // database was written by a newer keyward (schema version above kSchemaVersion), the
  // file is not a SQLite database, WAL cannot be enabled or the parent directory is
  // missing; kPermissionDenied if the file cannot be created or narrowed; kUnavailable
  // if it is locked; kInternal otherwise.
  static Result<std::unique_ptr<SqliteKvStore>> Open(const std::filesystem::path& path);
  static Result<std::unique_ptr<SqliteKvStore>> Open(const std::filesystem::path& path,
                                                     const Options& options);

  ~SqliteKvStore() override;
  SqliteKvStore(const SqliteKvStore&) = delete;
  SqliteKvStore& operator=(const SqliteKvStore&) = delete;

  Status Transact(const std::function<Status(Txn&)>& fn) override;
  Result<std::optional<Item>> Get(std::string_view table, std::string_view key) override;
  Result<std::vector<Item>> List(std::string_view table, const ListOptions& options) override;

 private:
  SqliteKvStore(std::filesystem::path path, Options options,
                std::unique_ptr<sqlite_detail::Connection> writer);

  // Borrows a reader connection for one call (opening one if the pool has room).
  Result<std::unique_ptr<sqlite_detail::Connection>> AcquireReader();
  void ReleaseReader(std::unique_ptr<sqlite_detail::Connection> conn);

  const std::filesystem::path path_;
  const Options options_;

  std::mutex write_mu_;                                // held for a whole transaction
  std::unique_ptr<sqlite_detail::Connection> writer_;  // guarded by write_mu_

  std::mutex readers_mu_;
  std::condition_variable reader_free_;
  std::vector<std::unique_ptr<sqlite_detail::Connection>> idle_readers_;  // guarded
  int open_readers_ = 0;  // guarded by readers_mu_; idle and borrowed
};

}  // namespace kw::store
