#include "store/sqlite/sqlite_kv_store.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "store/testing/kv_store_contract.hpp"

namespace kw::store {
namespace {

namespace fs = std::filesystem;

Result<std::unique_ptr<KvStore>> MakeSqliteStore(const fs::path& scratch_dir) {
  KW_ASSIGN_OR_RETURN(auto store, SqliteKvStore::Open(scratch_dir / "kv.db"));
  return std::unique_ptr<KvStore>(std::move(store));
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Sqlite, KvStoreContract, ::testing::Values(&MakeSqliteStore));

namespace {

class SqliteKvStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("kw_sqlite_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = dir_ / "kv.db";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::unique_ptr<SqliteKvStore> OpenOrDie() {
    auto s = SqliteKvStore::Open(path_);
    EXPECT_TRUE(s.has_value()) << s.error().message;
    return s ? std::move(s).value() : nullptr;
  }

  // Runs SQL on the file directly, bypassing the store.
  void RawExec(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
    sqlite3_close(db);
  }

  std::int64_t RawInt(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK);
    std::int64_t v = -1;
    if (sqlite3_step(stmt) == SQLITE_ROW) v = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return v;
  }

  static Status Put(KvStore& s, std::string_view key, std::string_view value) {
    return s.Transact([&](Txn& txn) -> Status {
      KW_RETURN_IF_ERROR(txn.Put("t", key, value));
      return OkStatus();
    });
  }

  fs::path dir_;
  fs::path path_;
};

mode_t ModeOf(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

TEST_F(SqliteKvStoreTest, ReopenKeepsData) {
  {
    auto s = OpenOrDie();
    ASSERT_TRUE(s);
    ASSERT_TRUE(Put(*s, "k", "v"));
    ASSERT_TRUE(Put(*s, "k", "v2"));
  }
  auto s = OpenOrDie();
  ASSERT_TRUE(s);
  auto got = s->Get("t", "k");
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->value, "v2");
  EXPECT_EQ((*got)->revision, 2);
}

TEST_F(SqliteKvStoreTest, RecordsAppliedMigrationsOnce) {
  ASSERT_TRUE(OpenOrDie());
  EXPECT_EQ(RawInt("SELECT max(version) FROM schema_migrations"), SqliteKvStore::kSchemaVersion);
  EXPECT_EQ(RawInt("SELECT count(*) FROM schema_migrations"), SqliteKvStore::kSchemaVersion);
  EXPECT_EQ(RawInt("SELECT count(*) FROM schema_migrations WHERE applied_at LIKE '20%Z'"),
            SqliteKvStore::kSchemaVersion);
  // Reopening applies nothing again (a second CREATE TABLE kv would fail).
  ASSERT_TRUE(OpenOrDie());
  EXPECT_EQ(RawInt("SELECT count(*) FROM schema_migrations"), SqliteKvStore::kSchemaVersion);
}

TEST_F(SqliteKvStoreTest, UsesWalJournal) {
  auto s = OpenOrDie();
  ASSERT_TRUE(s);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "wal");
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

TEST_F(SqliteKvStoreTest, RefusesNewerSchema) {
  ASSERT_TRUE(OpenOrDie());
  RawExec(
      "INSERT INTO schema_migrations (version, description, applied_at)"
      " VALUES (99, 'from the future', '2030-01-01T00:00:00Z')");
  auto s = SqliteKvStore::Open(path_);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(s.error().message.find("schema version 99"), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find(path_.string()), std::string::npos) << s.error().message;
}

TEST_F(SqliteKvStoreTest, RefusesAFileThatIsNotADatabase) {
  {
    std::ofstream f(path_);
    f << "this is not an sqlite database, just some text that is long enough to have a header";
  }
  auto s = SqliteKvStore::Open(path_);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, ErrorCode::kFailedPrecondition) << s.error().message;
}

TEST_F(SqliteKvStoreTest, MissingDirectoryIsAClearError) {
  auto s = SqliteKvStore::Open(dir_ / "no_such_dir" / "kv.db");
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(s.error().message.find("no_such_dir"), std::string::npos);
}

TEST_F(SqliteKvStoreTest, FilesAreOwnerOnlyWhateverTheUmask) {
  const mode_t old = ::umask(0);  // the most permissive umask must not leak through
  auto s = OpenOrDie();
  ::umask(old);
  ASSERT_TRUE(s);
  ASSERT_TRUE(Put(*s, "k", "v"));
  ASSERT_TRUE(s->Get("t", "k"));
  EXPECT_EQ(ModeOf(path_), 0600u);
  ASSERT_TRUE(fs::exists(path_.string() + "-wal"));
  EXPECT_EQ(ModeOf(path_.string() + "-wal"), 0600u);
  ASSERT_TRUE(fs::exists(path_.string() + "-shm"));
  EXPECT_EQ(ModeOf(path_.string() + "-shm"), 0600u);
}

TEST_F(SqliteKvStoreTest, NarrowsAnExistingWorldReadableDatabase) {
  ASSERT_TRUE(OpenOrDie());
  ASSERT_EQ(::chmod(path_.c_str(), 0644), 0);
  auto s = OpenOrDie();
  ASSERT_TRUE(s);
  EXPECT_EQ(ModeOf(path_), 0600u);
}

// A child process commits and dies without closing anything (no destructors, no
// checkpoint), like a crash. The committed write must be there on the next open.
TEST_F(SqliteKvStoreTest, CommittedDataSurvivesACrash) {
  ASSERT_TRUE(OpenOrDie());  // create the schema before forking
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto s = SqliteKvStore::Open(path_);
    if (!s) ::_exit(2);
    if (!Put(**s, "committed", "yes")) ::_exit(3);
    // Started but never committed: must vanish.
    (void)(*s)->Transact([](Txn& txn) -> Status {
      (void)txn.Put("t", "uncommitted", "no");
      ::_exit(0);
    });
    ::_exit(4);
  }
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  ASSERT_TRUE(WIFEXITED(wstatus));
  ASSERT_EQ(WEXITSTATUS(wstatus), 0);
  // The child never checkpointed, so the commit lives only in the WAL.
  ASSERT_TRUE(fs::exists(path_.string() + "-wal"));
  EXPECT_GT(fs::file_size(path_.string() + "-wal"), 0u);

  auto s = OpenOrDie();
  ASSERT_TRUE(s);
  auto got = s->Get("t", "committed");
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->value, "yes");
  auto lost = s->Get("t", "uncommitted");
  ASSERT_TRUE(lost.has_value());
  EXPECT_FALSE(lost->has_value());
}

// Plain reads use their own connections, so they proceed while a transaction holds the
// write lock, and they see the last committed state.
TEST_F(SqliteKvStoreTest, ReadsDoNotWaitForARunningTransaction) {
  auto s = OpenOrDie();
  ASSERT_TRUE(s);
  ASSERT_TRUE(Put(*s, "k", "committed"));
  std::atomic<bool> in_txn{false};
  std::atomic<bool> release{false};
  std::thread writer([&] {
    (void)s->Transact([&](Txn& txn) -> Status {
      KW_RETURN_IF_ERROR(txn.Put("t", "k", "pending"));
      in_txn = true;
      while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      return OkStatus();
    });
  });
  while (!in_txn) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const auto start = std::chrono::steady_clock::now();
  auto got = s->Get("t", "k");
  const auto took = std::chrono::steady_clock::now() - start;
  release = true;
  writer.join();
  ASSERT_TRUE(got && *got) << (got ? "" : got.error().message);
  EXPECT_EQ((*got)->value, "committed");
  EXPECT_LT(took, std::chrono::seconds(1));
  auto after = s->Get("t", "k");
  ASSERT_TRUE(after && *after);
  EXPECT_EQ((*after)->value, "pending");
}

// Another process holding the write lock past the busy timeout: kUnavailable, and the
// store is usable once the lock is gone.
TEST_F(SqliteKvStoreTest, LockedDatabaseIsUnavailable) {
  SqliteKvStore::Options options;
  options.busy_timeout = std::chrono::milliseconds(50);
  auto opened = SqliteKvStore::Open(path_, options);
  ASSERT_TRUE(opened.has_value());
  auto& s = *opened;
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  Status st = Put(*s, "k", "v");
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code, ErrorCode::kUnavailable) << st.error().message;
  ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  EXPECT_TRUE(Put(*s, "k", "v"));
}

TEST_F(SqliteKvStoreTest, ReadsWorkWithOneReaderConnection) {
  SqliteKvStore::Options options;
  options.max_readers = 1;
  auto opened = SqliteKvStore::Open(path_, options);
  ASSERT_TRUE(opened.has_value());
  auto& s = *opened;
  ASSERT_TRUE(Put(*s, "k", "v"));
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        auto g = s->Get("t", "k");
        if (g && *g && (*g)->value == "v") ++ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok, 200);
}

}  // namespace
}  // namespace kw::store
