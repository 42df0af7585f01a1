#include "store/sqlite/sqlite_kv_store.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <iterator>
#include <string>
#include <utility>

#include "store/kv_names.hpp"
#include "store/sqlite/detail/sqlite_connection.hpp"

namespace kw::store {

using sqlite_detail::Connection;
using sqlite_detail::Stmt;

namespace {

struct Migration {
  int version;
  const char* description;
  const char* sql;
};

// Append only: a released migration is never edited, since databases in the field
// have already applied it. kSchemaVersion must equal the last version.
constexpr Migration kMigrations[] = {
    {1, "kv table",
     "CREATE TABLE kv ("
     " tbl TEXT NOT NULL,"
     " key TEXT NOT NULL,"
     " value BLOB NOT NULL,"
     " revision INTEGER NOT NULL,"
     " PRIMARY KEY (tbl, key)"
     ") WITHOUT ROWID"},
};
static_assert(std::size(kMigrations) == SqliteKvStore::kSchemaVersion);

// Keys are bound as TEXT everywhere: SQLite orders TEXT before BLOB, so mixing the two
// would break ordering and equality. TEXT under the default BINARY collation compares
// with memcmp, which is the byte order the interface promises.
constexpr const char* kGetSql = "SELECT value, revision FROM kv WHERE tbl = ?1 AND key = ?2";
constexpr const char* kPutSql =
    "INSERT INTO kv (tbl, key, value, revision) VALUES (?1, ?2, ?3, 1)"
    " ON CONFLICT (tbl, key) DO UPDATE SET value = excluded.value, revision = kv.revision + 1"
    " RETURNING revision";
constexpr const char* kInsertSql =
    "INSERT INTO kv (tbl, key, value, revision) VALUES (?1, ?2, ?3, 1)"
    " ON CONFLICT (tbl, key) DO NOTHING RETURNING revision";
constexpr const char* kUpdateIfSql =
    "UPDATE kv SET value = ?3, revision = revision + 1"
    " WHERE tbl = ?1 AND key = ?2 AND revision = ?4 RETURNING revision";
constexpr const char* kDeleteSql = "DELETE FROM kv WHERE tbl = ?1 AND key = ?2 RETURNING 1";

// A range scan over the primary key: one lower bound (inclusive prefix, or exclusive
// start_after when that is further) and, when the prefix has one, an exclusive upper
// bound. Not LIKE/GLOB, whose wildcards and case rules would need escaping and would
// not use the index.
std::string ListSql(bool exclusive_lower, bool has_upper) {
  std::string sql = "SELECT key, value, revision FROM kv WHERE tbl = ?1 AND key ";
  sql += exclusive_lower ? "> ?2" : ">= ?2";
  if (has_upper) sql += " AND key < ?3";
  sql += " ORDER BY key LIMIT ?4";
  return sql;
}

// Runs a statement that returns at most one integer (the RETURNING clauses above).
Result<std::optional<std::int64_t>> StepOptionalInt(Stmt& stmt) {
  KW_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::optional<std::int64_t>();
  const std::int64_t v = stmt.ColumnInt(0);
  KW_RETURN_IF_ERROR(stmt.Run());
  return std::optional<std::int64_t>(v);
}

Result<std::optional<Item>> GetOn(Connection& conn, std::string_view table, std::string_view key) {
  KW_RETURN_IF_ERROR(ValidateTableName(table));
  KW_ASSIGN_OR_RETURN(Stmt stmt, conn.Prepare(kGetSql));
  KW_RETURN_IF_ERROR(stmt.BindText(1, table));
  KW_RETURN_IF_ERROR(stmt.BindText(2, key));
  KW_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::optional<Item>();
  return std::optional<Item>(Item{std::string(key), stmt.ColumnBlob(0), stmt.ColumnInt(1)});
}

Result<std::vector<Item>> ListOn(Connection& conn, std::string_view table,
                                 const ListOptions& options) {
  KW_RETURN_IF_ERROR(ValidateTableName(table));
  const bool after = !options.start_after.empty() && options.start_after >= options.prefix;
  const std::optional<std::string> end = PrefixEnd(options.prefix);
  KW_ASSIGN_OR_RETURN(Stmt stmt, conn.Prepare(ListSql(after, end.has_value())));
  KW_RETURN_IF_ERROR(stmt.BindText(1, table));
  KW_RETURN_IF_ERROR(stmt.BindText(2, after ? options.start_after : options.prefix));
  if (end) KW_RETURN_IF_ERROR(stmt.BindText(3, *end));
  KW_RETURN_IF_ERROR(
      stmt.BindInt(4, options.limit == 0 ? -1 : static_cast<std::int64_t>(options.limit)));
  std::vector<Item> items;
  for (;;) {
    KW_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    items.push_back(Item{stmt.ColumnText(0), stmt.ColumnBlob(1), stmt.ColumnInt(2)});
  }
  return items;
}

// Everything a write needs bound: ?1 table, ?2 key, ?3 value.
Result<Stmt> PrepareWrite(Connection& conn, const char* sql, std::string_view table,
                          std::string_view key, std::string_view value) {
  KW_RETURN_IF_ERROR(ValidateTableName(table));
  KW_RETURN_IF_ERROR(ValidateKey(key));
  KW_ASSIGN_OR_RETURN(Stmt stmt, conn.Prepare(sql));
  KW_RETURN_IF_ERROR(stmt.BindText(1, table));
  KW_RETURN_IF_ERROR(stmt.BindText(2, key));
  KW_RETURN_IF_ERROR(stmt.BindBlob(3, value));
  return stmt;
}

class SqliteTxn final : public Txn {
 public:
  explicit SqliteTxn(Connection& conn) : conn_(conn) {}

  Result<std::optional<Item>> Get(std::string_view table, std::string_view key) override {
    return GetOn(conn_, table, key);
  }

  Result<std::vector<Item>> List(std::string_view table, const ListOptions& options) override {
    return ListOn(conn_, table, options);
  }

  Result<std::int64_t> Put(std::string_view table, std::string_view key,
                           std::string_view value) override {
    KW_ASSIGN_OR_RETURN(Stmt stmt, PrepareWrite(conn_, kPutSql, table, key, value));
    KW_ASSIGN_OR_RETURN(auto rev, StepOptionalInt(stmt));
    if (!rev) return Internal("upsert returned no revision");
    return *rev;
  }

  Result<std::int64_t> Insert(std::string_view table, std::string_view key,
                              std::string_view value) override {
    KW_ASSIGN_OR_RETURN(Stmt stmt, PrepareWrite(conn_, kInsertSql, table, key, value));
    KW_ASSIGN_OR_RETURN(auto rev, StepOptionalInt(stmt));
    if (!rev) return AlreadyExists("key already exists in table " + std::string(table));
    return *rev;
  }

  Result<std::int64_t> CompareAndPut(std::string_view table, std::string_view key,
                                     std::string_view value, std::int64_t expected) override {
    const char* sql = expected == 0 ? kInsertSql : kUpdateIfSql;
    KW_ASSIGN_OR_RETURN(Stmt stmt, PrepareWrite(conn_, sql, table, key, value));
    if (expected != 0) KW_RETURN_IF_ERROR(stmt.BindInt(4, expected));
    KW_ASSIGN_OR_RETURN(auto rev, StepOptionalInt(stmt));
    if (!rev) return Aborted("revision mismatch in table " + std::string(table));
    return *rev;
  }

  Status Delete(std::string_view table, std::string_view key) override {
    KW_RETURN_IF_ERROR(ValidateTableName(table));
    KW_ASSIGN_OR_RETURN(Stmt stmt, conn_.Prepare(kDeleteSql));
    KW_RETURN_IF_ERROR(stmt.BindText(1, table));
    KW_RETURN_IF_ERROR(stmt.BindText(2, key));
    KW_ASSIGN_OR_RETURN(auto deleted, StepOptionalInt(stmt));
    if (!deleted) return NotFound("key not found in table " + std::string(table));
    return OkStatus();
  }

 private:
  Connection& conn_;
};

// Rolls back an open transaction unless released, so that every early return and
// an exception from the callback leave the writer connection outside a transaction.
class RollbackGuard {
 public:
  explicit RollbackGuard(Connection& conn) : conn_(&conn) {}
  ~RollbackGuard() {
    if (conn_ != nullptr && !sqlite3_get_autocommit(conn_->db())) {
      (void)conn_->Exec("ROLLBACK");
    }
  }
  RollbackGuard(const RollbackGuard&) = delete;
  RollbackGuard& operator=(const RollbackGuard&) = delete;
  void Release() { conn_ = nullptr; }

 private:
  Connection* conn_;
};

Error ErrnoError(int err, const std::string& what) {
  std::string message = what + ": " + std::strerror(err);
  switch (err) {
    case EACCES:
    case EPERM:
      return PermissionDenied(std::move(message));
    case ENOENT:
    case ENOTDIR:
    case EISDIR:
      return FailedPrecondition(std::move(message));
    default:
      return Internal(std::move(message));
  }
}

// Narrows an existing file to owner read/write. Missing files are fine.
Status NarrowMode(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return OkStatus();
    return ErrnoError(errno, "stat " + path.string());
  }
  if ((st.st_mode & 0077) != 0 && ::chmod(path.c_str(), 0600) != 0) {
    return ErrnoError(errno, "chmod 0600 " + path.string());
  }
  return OkStatus();
}

Status SyncDirectory(const std::filesystem::path& dir) {
  const std::string name = dir.empty() ? std::string(".") : dir.string();
  const int fd = ::open(name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "open directory " + name);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoError(err, "fsync directory " + name);
  return OkStatus();
}

// Creates the database file ourselves so that it never exists with a wider mode, even
// for an instant and whatever the umask. SQLite then creates -wal and -shm with the
// database file's mode.
Status CreatePrivateFile(const std::filesystem::path& path) {
  const bool existed = ::access(path.c_str(), F_OK) == 0;
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError(errno, "create database " + path.string());
  ::close(fd);
  // A new file's directory entry is not durable until the directory is synced; without
  // this, a power failure could lose the whole database file though every commit in it
  // was synced. (SQLite syncs the directory itself when it creates the WAL.)
  if (!existed) KW_RETURN_IF_ERROR(SyncDirectory(path.parent_path()));
  for (const char* suffix : {"", "-wal", "-shm"}) {
    KW_RETURN_IF_ERROR(NarrowMode(path.string() + suffix));
  }
  return OkStatus();
}

Status Migrate(Connection& conn, const std::filesystem::path& path) {
  KW_RETURN_IF_ERROR(conn.Exec("BEGIN IMMEDIATE"));
  RollbackGuard guard(conn);
  KW_RETURN_IF_ERROR(
      conn.Exec("CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY,"
                " description TEXT NOT NULL,"
                " applied_at TEXT NOT NULL)"));
  std::int64_t current = 0;
  {
    KW_ASSIGN_OR_RETURN(Stmt stmt,
                        conn.Prepare("SELECT coalesce(max(version), 0) FROM schema_migrations"));
    KW_ASSIGN_OR_RETURN(auto v, StepOptionalInt(stmt));
    current = v.value_or(0);
  }
  if (current > SqliteKvStore::kSchemaVersion) {
    return FailedPrecondition("database " + path.string() + " has schema version " +
                              std::to_string(current) + ", newer than version " +
                              std::to_string(SqliteKvStore::kSchemaVersion) +
                              " that this keyward knows; run a newer keyward");
  }
  for (const Migration& m : kMigrations) {
    if (m.version <= current) continue;
    Status applied = conn.Exec(m.sql);
    if (!applied) {
      Error e = std::move(applied).error();
      e.message = "schema migration " + std::to_string(m.version) + " failed: " + e.message;
      return e;
    }
    // The timestamp is bookkeeping for operators, not domain time, so SQLite's clock
    // is good enough here.
    KW_ASSIGN_OR_RETURN(
        Stmt stmt, conn.Prepare("INSERT INTO schema_migrations (version, description, applied_at)"
                                " VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))"));
    KW_RETURN_IF_ERROR(stmt.BindInt(1, m.version));
    KW_RETURN_IF_ERROR(stmt.BindText(2, m.description));
    KW_RETURN_IF_ERROR(stmt.Run());
  }
  KW_RETURN_IF_ERROR(conn.Exec("COMMIT"));
  guard.Release();
  return OkStatus();
}

}  // namespace

Result<std::unique_ptr<SqliteKvStore>> SqliteKvStore::Open(const std::filesystem::path& path) {
  return Open(path, Options{});
}

Result<std::unique_ptr<SqliteKvStore>> SqliteKvStore::Open(const std::filesystem::path& path,
                                                           const Options& options) {
  KW_RETURN_IF_ERROR(CreatePrivateFile(path));
  KW_ASSIGN_OR_RETURN(auto writer, Connection::Open(path, options.busy_timeout));
  // The first statement reads the header, so this is where a file that is not a
  // database shows.
  auto journal = writer->QueryText("PRAGMA journal_mode=WAL");
  if (!journal) {
    if (sqlite3_errcode(writer->db()) == SQLITE_NOTADB) {
      return FailedPrecondition(path.string() + " is not a SQLite database");
    }
    return std::move(journal).error();
  }
  // WAL is what lets readers run beside the writer; without it (e.g. a file system
  // without shared memory) every read would queue behind transactions.
  if (*journal != "wal") {
    return FailedPrecondition("cannot enable WAL journal mode on " + path.string());
  }
  // In WAL mode, FULL syncs the WAL at every commit (that is what makes a commit
  // durable); NORMAL syncs it only before a checkpoint.
  KW_RETURN_IF_ERROR(
      writer->Exec(options.durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"));
  KW_RETURN_IF_ERROR(Migrate(*writer, path));
  return std::unique_ptr<SqliteKvStore>(new SqliteKvStore(path, options, std::move(writer)));
}

SqliteKvStore::SqliteKvStore(std::filesystem::path path, Options options,
                             std::unique_ptr<Connection> writer)
    : path_(std::move(path)), options_(options), writer_(std::move(writer)) {}

SqliteKvStore::~SqliteKvStore() = default;

struct SqliteKvStore::Request {
  explicit Request(const std::function<Status(Txn&)>& f) : fn(f) {}
  const std::function<Status(Txn&)>& fn;
  // Written by the leader; read by the caller once `done`.
  Status result;
  std::exception_ptr exception;
  bool done = false;           // guarded by queue_mu_
  std::condition_variable cv;  // signalled when done, or when this caller should lead
};

Status SqliteKvStore::Transact(const std::function<Status(Txn&)>& fn) {
  Request request(fn);
  std::unique_lock<std::mutex> lock(queue_mu_);
  queue_.push_back(&request);
  while (!request.done) {
    if (leader_active_) {
      request.cv.wait(lock);
      continue;
    }
    leader_active_ = true;
    LeadBatch(lock);
    leader_active_ = false;
    // If our own request did not fit in the batch, we lead the next one ourselves (the
    // loop); otherwise the oldest waiter takes over.
    if (request.done && !queue_.empty()) queue_.front()->cv.notify_one();
  }
  lock.unlock();
  if (request.exception) std::rethrow_exception(request.exception);
  return std::move(request.result);
}

void SqliteKvStore::LeadBatch(std::unique_lock<std::mutex>& lock) {
  const std::size_t max_batch = static_cast<std::size_t>(std::max(1, options_.max_batch));
  std::vector<Request*> batch;
  batch.reserve(max_batch);

  lock.unlock();
  // IMMEDIATE takes the write lock now. A DEFERRED transaction would take it at its
  // first write and could then fail with SQLITE_BUSY after its reads, half-way through
  // a callback, when another process writes.
  Status batch_status = writer_->Exec("BEGIN IMMEDIATE");
  lock.lock();
  if (!batch_status) {
    // Another process holds the lock past busy_timeout. Everyone waiting would wait as
    // long again for the same lock, so a batch's worth of them get the error now.
    while (!queue_.empty() && batch.size() < max_batch) {
      batch.push_back(queue_.front());
      queue_.pop_front();
    }
  } else {
    // The batch takes whoever is queued, including callers that arrive while earlier
    // callbacks run, up to the bounds; the rest wait for the next batch.
    const auto start = std::chrono::steady_clock::now();
    while (!queue_.empty() && batch.size() < max_batch &&
           (batch.empty() || std::chrono::steady_clock::now() - start < options_.max_batch_time)) {
      Request* r = queue_.front();
      queue_.pop_front();
      batch.push_back(r);
      lock.unlock();
      batch_status = RunInSavepoint(*r);
      lock.lock();
      if (!batch_status) break;
    }
  }
  lock.unlock();

  const bool any_ok = std::any_of(batch.begin(), batch.end(), [](const Request* r) {
    return r->result.has_value() && r->exception == nullptr;
  });
  bool committed = false;
  if (batch_status && any_ok) {
    // With synchronous=FULL this fsyncs the WAL before it returns: one sync for the
    // whole batch, and no caller is answered before it.
    batch_status = writer_->Exec("COMMIT");
    committed = batch_status.has_value();
  }
  // Nothing to keep (every callback failed), or the batch failed: leave the connection
  // outside any transaction for the next leader. After a failed COMMIT (e.g. an I/O
  // error while syncing) SQLite may or may not have rolled back already.
  if (!committed && !sqlite3_get_autocommit(writer_->db())) (void)writer_->Exec("ROLLBACK");

  lock.lock();
  if (committed) ++stats_.commits;
  for (Request* r : batch) {
    const bool ok = r->result.has_value() && r->exception == nullptr;
    // A callback that succeeded shares the fate of the commit: if the batch failed, its
    // work is gone too, and it gets the batch's error. A failed one keeps its own error.
    if (ok && !batch_status) r->result = batch_status.error();
    if (ok && batch_status) {
      ++stats_.transactions;
    } else {
      ++stats_.failed;
    }
    r->done = true;
    r->cv.notify_one();
  }
}

Status SqliteKvStore::RunInSavepoint(Request& request) {
  Status begun = writer_->Exec("SAVEPOINT kw_txn");
  if (!begun) {
    request.result = begun;
    return begun;
  }
  SqliteTxn txn(*writer_);
  try {
    request.result = request.fn(txn);
  } catch (...) {
    // Not ours to handle: rolled back below, and rethrown to the caller in Transact.
    request.exception = std::current_exception();
  }
  // Some errors (I/O, disk full) make SQLite roll back the whole transaction on its
  // own, taking the earlier callbacks' work with it; the callback may even have carried
  // on regardless. The batch cannot commit.
  if (sqlite3_get_autocommit(writer_->db())) {
    return Unavailable("the database rolled back the transaction after an error");
  }
  if (!request.result.has_value() || request.exception != nullptr) {
    // Undoes this callback's writes only; the savepoint stays open until RELEASE.
    KW_RETURN_IF_ERROR(writer_->Exec("ROLLBACK TO kw_txn"));
  }
  return writer_->Exec("RELEASE kw_txn");
}

SqliteKvStore::Statistics SqliteKvStore::Stats() const {
  std::lock_guard<std::mutex> lock(queue_mu_);
  Statistics s = stats_;
  s.queued = static_cast<std::int64_t>(queue_.size());
  return s;
}

Result<std::unique_ptr<Connection>> SqliteKvStore::AcquireReader() {
  std::unique_lock<std::mutex> lock(readers_mu_);
  for (;;) {
    if (!idle_readers_.empty()) {
      auto conn = std::move(idle_readers_.back());
      idle_readers_.pop_back();
      return conn;
    }
    if (open_readers_ < std::max(1, options_.max_readers)) {
      ++open_readers_;
      lock.unlock();
      auto conn = Connection::Open(path_, options_.busy_timeout);
      // A reader that writes would be a bug; make SQLite refuse it.
      Status ro = conn ? (*conn)->Exec("PRAGMA query_only=ON") : Status(conn.error());
      if (!ro) {
        lock.lock();
        --open_readers_;
        reader_free_.notify_one();
        return std::move(ro).error();
      }
      return conn;
    }
    reader_free_.wait(lock);
  }
}

void SqliteKvStore::ReleaseReader(std::unique_ptr<Connection> conn) {
  {
    std::lock_guard<std::mutex> lock(readers_mu_);
    idle_readers_.push_back(std::move(conn));
  }
  reader_free_.notify_one();
}

Result<std::optional<Item>> SqliteKvStore::Get(std::string_view table, std::string_view key) {
  KW_RETURN_IF_ERROR(ValidateTableName(table));
  KW_ASSIGN_OR_RETURN(auto conn, AcquireReader());
  auto result = GetOn(*conn, table, key);
  ReleaseReader(std::move(conn));
  return result;
}

Result<std::vector<Item>> SqliteKvStore::List(std::string_view table, const ListOptions& options) {
  KW_RETURN_IF_ERROR(ValidateTableName(table));
  KW_ASSIGN_OR_RETURN(auto conn, AcquireReader());
  auto result = ListOn(*conn, table, options);
  ReleaseReader(std::move(conn));
  return result;
}

Result<std::vector<std::string>> SqliteKvStore::ListTables() {
  KW_ASSIGN_OR_RETURN(auto conn, AcquireReader());
  auto result = [&conn]() -> Result<std::vector<std::string>> {
    KW_ASSIGN_OR_RETURN(Stmt stmt, conn->Prepare("SELECT DISTINCT tbl FROM kv ORDER BY tbl"));
    std::vector<std::string> tables;
    for (;;) {
      KW_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      tables.push_back(stmt.ColumnText(0));
    }
    return tables;
  }();
  ReleaseReader(std::move(conn));
  return result;
}

}  // namespace kw::store
