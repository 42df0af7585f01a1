#pragma once

// KvStore on an embedded SQLite database (one file plus its -wal and -shm), the
// default backend of a single keyward server.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
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

// Thread-safe. Transactions run on one writer connection (SQLite allows one writer at
// a time anyway), by group commit: concurrent Transact calls queue up, and whichever
// caller finds no batch running becomes the leader. It opens one SQLite transaction
// (BEGIN IMMEDIATE, which takes the write lock up front so that a transaction never
// fails half-way on a lock upgrade), runs the queued callbacks one after another, each
// inside its own SAVEPOINT (a callback that fails is rolled back to its savepoint
// alone), commits once, syncs once, and then answers every caller with its own result.
// The callbacks of a batch are therefore serialized in queue order: each sees the
// effects of the ones before it. A callback runs on the leader's thread, which need not
// be its caller's (its caller waits meanwhile); an exception it throws is rethrown to its
// own caller after its work is rolled back. See docs/adr/0004-durable-group-commit.md.
//
// Plain Get/List run on a small pool of reader connections and, thanks to WAL, do not
// wait for a running transaction: they see the last committed state.
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
    // true (the default, and what the server uses): PRAGMA synchronous=FULL. In WAL mode
    // every commit then fsyncs the WAL before it returns, so a Transact that returned OK
    // survives a power failure or an OS crash. false: synchronous=NORMAL, no fsync per
    // commit; a commit survives a crash of the process, but the newest commits may be
    // lost (never corrupted) on power failure. For tests and throwaway databases.
    bool durable = true;
    // Bounds on one group commit: at most this many callbacks, and no further callback
    // is started once the batch has run this long. Callers beyond the bound wait for
    // the next batch. max_batch = 1 turns group commit off (one commit per Transact).
    int max_batch = 64;
    std::chrono::microseconds max_batch_time{5000};
  };

  // Counters since Open, for monitoring and tests. `commits` less than `transactions`
  // shows that group commit is batching.
  struct Statistics {
    std::int64_t transactions = 0;  // Transact calls answered OK (committed)
    std::int64_t failed = 0;        // Transact calls answered with an error
    std::int64_t commits = 0;       // SQLite COMMITs that succeeded (one sync each if durable)
    std::int64_t queued = 0;        // callers waiting right now for a batch to pick them up
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

  Statistics Stats() const;

  // Names of the tables that hold at least one key, ascending (the last committed
  // state). For whole-database maintenance such as re-wrapping every envelope after a
  // master-key rotation.
  Result<std::vector<std::string>> ListTables();

 private:
  struct Request;  // one waiting Transact call, on its caller's stack

  // Runs one group commit as the leader: takes callers from the queue, runs their
  // callbacks in one SQLite transaction, commits, and answers them. Called and returns
  // with `lock` (on queue_mu_) held; releases it while SQLite works.
  void LeadBatch(std::unique_lock<std::mutex>& lock);
  // Runs one callback inside a savepoint of the open transaction. Returns an error
  // when the batch cannot go on (SQLite rolled the whole transaction back, or the
  // savepoint could not be rolled back).
  Status RunInSavepoint(Request& request);

  SqliteKvStore(std::filesystem::path path, Options options,
                std::unique_ptr<sqlite_detail::Connection> writer);

  // Borrows a reader connection for one call (opening one if the pool has room).
  Result<std::unique_ptr<sqlite_detail::Connection>> AcquireReader();
  void ReleaseReader(std::unique_ptr<sqlite_detail::Connection> conn);

  const std::filesystem::path path_;
  const Options options_;

  mutable std::mutex queue_mu_;
  std::deque<Request*> queue_;  // guarded by queue_mu_; callers not yet in a batch
  bool leader_active_ = false;  // guarded by queue_mu_; a batch is running
  Statistics stats_;            // guarded by queue_mu_ (except `queued`, from queue_)
  // Used only by the current leader; queue_mu_ hands it from one leader to the next.
  std::unique_ptr<sqlite_detail::Connection> writer_;

  std::mutex readers_mu_;
  std::condition_variable reader_free_;
  std::vector<std::unique_ptr<sqlite_detail::Connection>> idle_readers_;  // guarded
  int open_readers_ = 0;  // guarded by readers_mu_; idle and borrowed
};

}  // namespace kw::store
