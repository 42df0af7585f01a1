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
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

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

  std::unique_ptr<SqliteKvStore> OpenOrDie(
      const SqliteKvStore::Options& options = SqliteKvStore::Options{}) {
    auto s = SqliteKvStore::Open(path_, options);
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

// Group commit. Many callers at once, a third of whose callbacks write and then fail:
// the failures leave nothing, every success lands exactly once, and the read-modify-write
// of one shared counter loses no update (the callbacks of a batch are serialized).
TEST_F(SqliteKvStoreTest, ConcurrentTransactionsWithFailuresLandExactly) {
  auto s = OpenOrDie();
  ASSERT_TRUE(s);
  constexpr int kThreads = 16;
  constexpr int kPerThread = 30;
  std::atomic<int> ok{0};
  std::atomic<int> failed_as_asked{0};
  std::atomic<int> unexpected{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const bool fail = (t + i) % 3 == 0;
        const std::string key = std::to_string(t) + "/" + std::to_string(i);
        Status st = s->Transact([&](Txn& txn) -> Status {
          KW_ASSIGN_OR_RETURN(auto counter, txn.Get("c", "n"));
          const int n = counter ? std::stoi((*counter).value) : 0;
          KW_RETURN_IF_ERROR(txn.Put("c", "n", std::to_string(n + 1)));
          KW_RETURN_IF_ERROR(txn.Put("t", key, fail ? "bad" : "good"));
          if (fail) return Aborted("asked to fail");
          return OkStatus();
        });
        if (st) {
          ++ok;
        } else if (!fail || st.error().code != ErrorCode::kAborted) {
          ++unexpected;
        } else {
          ++failed_as_asked;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(unexpected, 0);
  int expected_ok = 0;
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) expected_ok += (t + i) % 3 != 0;
  }
  EXPECT_EQ(ok, expected_ok);
  EXPECT_EQ(failed_as_asked, kThreads * kPerThread - expected_ok);

  auto all = s->List("t", ListOptions{});
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(static_cast<int>(all->size()), expected_ok);
  for (const Item& item : *all) EXPECT_EQ(item.value, "good") << item.key;
  auto counter = s->Get("c", "n");
  ASSERT_TRUE(counter && *counter);
  EXPECT_EQ((*counter)->value, std::to_string(expected_ok));

  const auto stats = s->Stats();
  EXPECT_EQ(stats.transactions, expected_ok);
  EXPECT_EQ(stats.failed, kThreads * kPerThread - expected_ok);
  EXPECT_EQ(stats.queued, 0);
}

// Fills a batch on purpose: a first callback holds the batch open (the leader is
// running it) until the others are queued; with a generous time bound they all join
// the same batch.
class BatchFixture {
 public:
  explicit BatchFixture(SqliteKvStore& s) : s_(s) {}

  // Starts the first transaction, which writes `key` and then waits for Release().
  void StartBlocker(const std::string& key) {
    threads_.emplace_back([this, key] {
      blocker_status_ = s_.Transact([&](Txn& txn) -> Status {
        KW_RETURN_IF_ERROR(txn.Put("t", key, "first"));
        running_ = true;
        while (!release_) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        return OkStatus();
      });
    });
    while (!running_) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  // Queues another transaction behind the blocker, in order.
  void Queue(std::function<Status(Txn&)> fn, Status* result) {
    const auto before = s_.Stats().queued;
    threads_.emplace_back([this, fn = std::move(fn), result] {
      // An exception from the callback comes back on this, its caller's, thread.
      try {
        *result = s_.Transact(fn);
      } catch (const std::runtime_error& e) {
        *result = Internal(std::string("caught: ") + e.what());
      }
    });
    while (s_.Stats().queued == before) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  void ReleaseAndJoin() {
    release_ = true;
    for (auto& th : threads_) th.join();
  }

  Status blocker_status_;

 private:
  SqliteKvStore& s_;
  std::atomic<bool> running_{false};
  std::atomic<bool> release_{false};
  std::vector<std::thread> threads_;
};

SqliteKvStore::Options OneBigBatch() {
  SqliteKvStore::Options options;
  options.max_batch_time = std::chrono::seconds(30);
  return options;
}

TEST_F(SqliteKvStoreTest, LaterCallbackInABatchSeesEarlierOnesWrites) {
  auto s = OpenOrDie(OneBigBatch());
  ASSERT_TRUE(s);
  const auto before = s->Stats();
  BatchFixture batch(*s);
  batch.StartBlocker("a");
  std::string seen_by_b;
  Status b_status;
  batch.Queue(
      [&](Txn& txn) -> Status {
        KW_ASSIGN_OR_RETURN(auto a, txn.Get("t", "a"));
        seen_by_b = a ? (*a).value : "<absent>";
        KW_RETURN_IF_ERROR(txn.Put("t", "b", "second"));
        return OkStatus();
      },
      &b_status);
  batch.ReleaseAndJoin();
  ASSERT_TRUE(batch.blocker_status_);
  ASSERT_TRUE(b_status) << b_status.error().message;
  EXPECT_EQ(seen_by_b, "first");
  const auto after = s->Stats();
  EXPECT_EQ(after.transactions - before.transactions, 2);
  EXPECT_EQ(after.commits - before.commits, 1);  // both in one commit
}

TEST_F(SqliteKvStoreTest, FailingCallbackInTheMiddleOfABatchRollsBackOnlyItself) {
  auto s = OpenOrDie(OneBigBatch());
  ASSERT_TRUE(s);
  const auto before = s->Stats();
  BatchFixture batch(*s);
  batch.StartBlocker("a");
  Status b_status;
  Status c_status;
  Status d_status;
  std::string seen_by_c;
  batch.Queue(
      [&](Txn& txn) -> Status {
        KW_RETURN_IF_ERROR(txn.Put("t", "b", "doomed"));
        KW_RETURN_IF_ERROR(txn.Put("t", "a", "overwritten by b"));
        KW_RETURN_IF_ERROR(txn.Delete("t", "a"));
        return AlreadyExists("b fails");
      },
      &b_status);
  batch.Queue(
      [&](Txn& txn) -> Status {
        KW_ASSIGN_OR_RETURN(auto a, txn.Get("t", "a"));
        KW_ASSIGN_OR_RETURN(auto b, txn.Get("t", "b"));
        seen_by_c = (a ? (*a).value : "<absent>") + "," + (b ? (*b).value : "<absent>");
        KW_RETURN_IF_ERROR(txn.Put("t", "c", "third"));
        return OkStatus();
      },
      &c_status);
  batch.Queue(
      [&](Txn& txn) -> Status {
        KW_RETURN_IF_ERROR(txn.Put("t", "d", "fourth"));
        throw std::runtime_error("d throws");
      },
      &d_status);
  batch.ReleaseAndJoin();
  ASSERT_TRUE(batch.blocker_status_);
  ASSERT_FALSE(b_status.has_value());
  EXPECT_EQ(b_status.error().code, ErrorCode::kAlreadyExists);
  ASSERT_TRUE(c_status) << c_status.error().message;
  EXPECT_EQ(seen_by_c, "first,<absent>");
  ASSERT_FALSE(d_status.has_value());
  EXPECT_EQ(d_status.error().message, "caught: d throws");

  auto a = s->Get("t", "a");
  ASSERT_TRUE(a && *a);
  EXPECT_EQ((*a)->value, "first");
  EXPECT_EQ((*a)->revision, 1);
  auto b = s->Get("t", "b");
  ASSERT_TRUE(b.has_value());
  EXPECT_FALSE(b->has_value());
  auto c = s->Get("t", "c");
  ASSERT_TRUE(c && *c);
  EXPECT_EQ((*c)->value, "third");
  auto d = s->Get("t", "d");
  ASSERT_TRUE(d.has_value());
  EXPECT_FALSE(d->has_value());
  const auto after = s->Stats();
  EXPECT_EQ(after.transactions - before.transactions, 2);
  EXPECT_EQ(after.failed - before.failed, 2);
  EXPECT_EQ(after.commits - before.commits, 1);
}

// The group forms: with 32 writers at once, fewer commits (and syncs) than transactions.
TEST_F(SqliteKvStoreTest, ConcurrentWritersShareCommits) {
  auto s = OpenOrDie();  // durable, as the server runs it
  ASSERT_TRUE(s);
  const auto before = s->Stats();
  constexpr int kThreads = 32;
  constexpr int kPerThread = 10;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        if (Put(*s, std::to_string(t) + "/" + std::to_string(i), std::string(200, 'v'))) ++ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(ok, kThreads * kPerThread);
  const auto after = s->Stats();
  const auto transactions = after.transactions - before.transactions;
  const auto commits = after.commits - before.commits;
  EXPECT_EQ(transactions, kThreads * kPerThread);
  EXPECT_GT(commits, 0);
  EXPECT_LT(commits, transactions);
  auto all = s->List("t", ListOptions{});
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(static_cast<int>(all->size()), kThreads * kPerThread);
}

TEST_F(SqliteKvStoreTest, MaxBatchOneCommitsEveryTransactionAlone) {
  SqliteKvStore::Options options;
  options.max_batch = 1;
  options.durable = false;
  auto s = OpenOrDie(options);
  ASSERT_TRUE(s);
  const auto before = s->Stats();
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) (void)Put(*s, std::to_string(t) + "/" + std::to_string(i), "v");
    });
  }
  for (auto& th : threads) th.join();
  const auto after = s->Stats();
  EXPECT_EQ(after.transactions - before.transactions, 80);
  EXPECT_EQ(after.commits - before.commits, 80);
}

// Concurrent writers in a child process get OK, and the child then dies without
// closing anything or checkpointing. Every write that was answered OK must be there.
// This shows that OK means committed, not that it was synced: a process crash leaves
// the OS page cache intact, so it cannot tell fsync from no fsync. The fsync shows in
// the code (synchronous=FULL, one COMMIT per batch before anyone is answered) and in
// bench/store_bench.cpp's numbers.
TEST_F(SqliteKvStoreTest, GroupCommittedDataSurvivesACrash) {
  ASSERT_TRUE(OpenOrDie());
  constexpr int kThreads = 8;
  constexpr int kPerThread = 20;
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto s = SqliteKvStore::Open(path_);
    if (!s) ::_exit(2);
    std::atomic<bool> all_ok{true};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          if (!Put(**s, std::to_string(t) + "/" + std::to_string(i), "yes")) all_ok = false;
        }
      });
    }
    for (auto& th : threads) th.join();
    if (!all_ok) ::_exit(3);
    ::_exit(0);
  }
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  ASSERT_TRUE(WIFEXITED(wstatus));
  ASSERT_EQ(WEXITSTATUS(wstatus), 0);
  auto s = OpenOrDie();
  ASSERT_TRUE(s);
  auto all = s->List("t", ListOptions{});
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(static_cast<int>(all->size()), kThreads * kPerThread);
}

TEST_F(SqliteKvStoreTest, DurableIsTheDefault) {
  // The server opens its store with default options; they must be the durable ones.
  EXPECT_TRUE(SqliteKvStore::Options{}.durable);
  auto s = OpenOrDie();
  ASSERT_TRUE(s);
  ASSERT_TRUE(Put(*s, "k", "v"));
  const auto stats = s->Stats();
  EXPECT_EQ(stats.commits, 1);
  EXPECT_EQ(stats.transactions, 1);
}

}  // namespace
}  // namespace kw::store
