#pragma once

// Small RAII layer over the sqlite3 C API for SqliteKvStore. Not a general wrapper:
// just what the store needs, with every failure turned into kw::Error.

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "common/result.hpp"

namespace kw::store::sqlite_detail {

struct CloseDb {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct FinalizeStmt {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using DbPtr = std::unique_ptr<sqlite3, CloseDb>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, FinalizeStmt>;

// Maps a failed result code to an Error: SQLITE_BUSY and SQLITE_LOCKED become
// kUnavailable, anything else kInternal. `what` names the operation; the message adds
// SQLite's text, which names tables and columns but never bound values.
Error SqliteError(sqlite3* db, int rc, std::string_view what);

// A cached prepared statement borrowed for one use: reset and unbound when this goes
// out of scope, so the next user starts clean. Bound string_views must outlive it.
class Stmt {
 public:
  Stmt(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Stmt();
  Stmt(Stmt&& other) noexcept : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)) {}
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt& operator=(Stmt&&) = delete;

  // Parameters are 1-based, as in SQLite.
  Status BindText(int index, std::string_view text);
  Status BindBlob(int index, std::string_view bytes);
  Status BindInt(int index, std::int64_t value);

  // Advances: true when a row is ready, false when done.
  Result<bool> Step();
  // Runs to completion, ignoring rows.
  Status Run();

  std::string ColumnText(int column) const;
  std::string ColumnBlob(int column) const;
  std::int64_t ColumnInt(int column) const { return sqlite3_column_int64(stmt_, column); }

  sqlite3* db() const { return db_; }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

// One database connection and its statement cache. Not thread-safe: one user at a time
// (the store hands connections out under its own locks), which is why connections are
// opened with SQLITE_OPEN_NOMUTEX.
class Connection {
 public:
  // Opens an existing database file for reading and writing and applies the pragmas
  // every connection needs (busy timeout, foreign keys).
  static Result<std::unique_ptr<Connection>> Open(const std::filesystem::path& path,
                                                  std::chrono::milliseconds busy_timeout);

  // Returns the cached statement for `sql`, preparing it on first use.
  Result<Stmt> Prepare(const std::string& sql);
  // Runs one or more statements without results (DDL, BEGIN/COMMIT, pragmas).
  Status Exec(const char* sql);
  // Runs a statement that yields one text value (e.g. PRAGMA journal_mode=WAL).
  Result<std::string> QueryText(const char* sql);

  sqlite3* db() const { return db_.get(); }

 private:
  explicit Connection(DbPtr db) : db_(std::move(db)) {}

  // db_ comes first so that the cached statements, destroyed in reverse order, are
  // finalized before the connection closes.
  DbPtr db_;
  std::unordered_map<std::string, StmtPtr> cache_;
};

}  // namespace kw::store::sqlite_detail
