#include "store/sqlite/detail/sqlite_connection.hpp"

#include <string>

namespace kw::store::sqlite_detail {

Error SqliteError(sqlite3* db, int rc, std::string_view what) {
  std::string message(what);
  message += ": ";
  // sqlite3_errmsg describes the most recent failure on `db`, which is `rc` as long as
  // nothing ran in between; fall back to the generic text otherwise.
  if (db != nullptr && sqlite3_errcode(db) == rc) {
    message += sqlite3_errmsg(db);
  } else {
    message += sqlite3_errstr(rc);
  }
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Unavailable(std::move(message));
    default:
      return Internal(std::move(message));
  }
}

Stmt::~Stmt() {
  if (stmt_ == nullptr) return;  // moved from
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

Status Stmt::BindText(int index, std::string_view text) {
  // A null data pointer would bind SQL NULL; an empty key or bound must stay text.
  const char* data = text.data() != nullptr ? text.data() : "";
  const int rc = sqlite3_bind_text64(stmt_, index, data, text.size(), SQLITE_STATIC, SQLITE_UTF8);
  if (rc != SQLITE_OK) return SqliteError(db_, rc, "bind");
  return OkStatus();
}

Status Stmt::BindBlob(int index, std::string_view bytes) {
  // sqlite3_bind_blob with a null pointer binds NULL, not an empty blob.
  const int rc = bytes.empty()
                     ? sqlite3_bind_zeroblob(stmt_, index, 0)
                     : sqlite3_bind_blob64(stmt_, index, bytes.data(), bytes.size(), SQLITE_STATIC);
  if (rc != SQLITE_OK) return SqliteError(db_, rc, "bind");
  return OkStatus();
}

Status Stmt::BindInt(int index, std::int64_t value) {
  const int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK) return SqliteError(db_, rc, "bind");
  return OkStatus();
}

Result<bool> Stmt::Step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteError(db_, rc, "step");
}

Status Stmt::Run() {
  for (;;) {
    KW_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return OkStatus();
  }
}

std::string Stmt::ColumnText(int column) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  const int n = sqlite3_column_bytes(stmt_, column);  // after the pointer, as documented
  return p == nullptr ? std::string() : std::string(p, static_cast<std::size_t>(n));
}

std::string Stmt::ColumnBlob(int column) const {
  const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, column));
  const int n = sqlite3_column_bytes(stmt_, column);
  return p == nullptr ? std::string() : std::string(p, static_cast<std::size_t>(n));
}

Result<std::unique_ptr<Connection>> Connection::Open(const std::filesystem::path& path,
                                                     std::chrono::milliseconds busy_timeout) {
  sqlite3* raw = nullptr;
  // No SQLITE_OPEN_CREATE: SqliteKvStore creates the file itself with mode 0600.
  const int rc =
      sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  DbPtr db(raw);  // sqlite3_open_v2 returns a handle even on failure; it must be closed
  if (rc != SQLITE_OK) {
    Error e = SqliteError(db.get(), rc, "open database " + path.string());
    if ((rc & 0xff) == SQLITE_CANTOPEN) e.code = ErrorCode::kUnavailable;
    return e;
  }
  sqlite3_extended_result_codes(db.get(), 1);
  sqlite3_busy_timeout(db.get(), static_cast<int>(busy_timeout.count()));
  std::unique_ptr<Connection> conn(new Connection(std::move(db)));
  KW_RETURN_IF_ERROR(conn->Exec("PRAGMA foreign_keys=ON"));
  return conn;
}

Result<Stmt> Connection::Prepare(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* raw = nullptr;
    const int rc = sqlite3_prepare_v3(db_.get(), sql.c_str(), static_cast<int>(sql.size() + 1),
                                      SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    StmtPtr stmt(raw);
    if (rc != SQLITE_OK) return SqliteError(db_.get(), rc, "prepare");
    it = cache_.emplace(sql, std::move(stmt)).first;
  }
  return Stmt(db_.get(), it->second.get());
}

Status Connection::Exec(const char* sql) {
  const int rc = sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return SqliteError(db_.get(), rc, "exec");
  return OkStatus();
}

Result<std::string> Connection::QueryText(const char* sql) {
  sqlite3_stmt* raw = nullptr;
  const int rc = sqlite3_prepare_v2(db_.get(), sql, -1, &raw, nullptr);
  StmtPtr stmt(raw);
  if (rc != SQLITE_OK) return SqliteError(db_.get(), rc, "prepare");
  Stmt s(db_.get(), stmt.get());
  KW_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::string();
  return s.ColumnText(0);
}

}  // namespace kw::store::sqlite_detail
