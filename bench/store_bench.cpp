// Durable write throughput of the SQLite store (docs/adr/0004-durable-group-commit.md).
//
// Each iteration is one Transact that puts a distinct ~200-byte value under a distinct
// key, as PutSecretValue does; items_per_second is committed transactions per second
// across all threads (UseRealTime, so wall clock). The database goes to
// $KW_BENCH_DB_DIR (default ./store_bench_data), which must be on a real disk for the
// durable figures to mean anything: on tmpfs an fsync costs nothing.
//
//   KW_BENCH_DB_DIR=/work/... store_bench --benchmark_repetitions=3 \
//       --benchmark_report_aggregates_only=true
//
// The counter txn_per_commit shows how many transactions shared one commit (and so one
// fsync of the WAL). Set KW_BENCH_COLD=1 to skip the warm-up below and measure a
// brand-new database, whose growing WAL makes every sync dearer.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>

#include "store/sqlite/sqlite_kv_store.hpp"

namespace {

namespace fs = std::filesystem;
using kw::Status;
using kw::store::SqliteKvStore;
using kw::store::Txn;

fs::path DataDir() {
  const char* dir = std::getenv("KW_BENCH_DB_DIR");
  return dir != nullptr && *dir != '\0' ? fs::path(dir) : fs::path("store_bench_data");
}

// Shared by the threads of one run. Thread 0 opens it before the timed loop and closes
// it after; Google Benchmark holds every thread at the start and the end of the loop,
// so no other thread touches it meanwhile.
std::unique_ptr<SqliteKvStore> g_store;

// Brings a new database to the state of one that has been running for a while. A new
// WAL file grows with every commit, and syncing a file whose size changed also costs an
// update of the file system's journal; once the WAL has passed the auto-checkpoint size
// (1000 pages), SQLite checkpoints and then rewrites the WAL from its start, in place,
// so a steady-state commit syncs data only. One untimed commit of over 1,000 pages
// gets there at the cost of one sync.
Status WarmUp(SqliteKvStore& store) {
  return store.Transact([](Txn& txn) -> Status {
    const std::string filler(4000, 'w');
    for (int i = 0; i < 1100; ++i) {
      KW_RETURN_IF_ERROR(txn.Put("warmup", std::to_string(i), filler));
    }
    return kw::OkStatus();
  });
}

void RunPuts(benchmark::State& state, const SqliteKvStore::Options& options) {
  if (state.thread_index() == 0) {
    const fs::path dir = DataDir() / "run";
    std::error_code ec;
    fs::remove_all(dir, ec);
    fs::create_directories(dir);
    auto opened = SqliteKvStore::Open(dir / "bench.db", options);
    const char* cold = std::getenv("KW_BENCH_COLD");
    const bool warm_up = cold == nullptr || std::string(cold) != "1";
    Status warm = !opened ? Status(opened.error()) : warm_up ? WarmUp(**opened) : kw::OkStatus();
    if (!warm) {
      state.SkipWithError(warm.error().message.c_str());
    } else {
      g_store = std::move(opened).value();
    }
  }
  const std::string prefix = "t" + std::to_string(state.thread_index()) + "/";
  std::string value(200, 'v');
  std::int64_t n = 0;
  for (auto _ : state) {
    if (!g_store) break;  // open failed (reported by thread 0)
    const std::string key = prefix + std::to_string(n++);
    value.replace(0, key.size(), key);  // distinct content per write
    Status st = g_store->Transact([&](Txn& txn) -> Status {
      KW_RETURN_IF_ERROR(txn.Put("secret_versions", key, value));
      return kw::OkStatus();
    });
    if (!st) {
      state.SkipWithError(st.error().message.c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0 && g_store) {
    const auto stats = g_store->Stats();
    if (stats.commits > 0) {
      state.counters["txn_per_commit"] =
          static_cast<double>(stats.transactions) / static_cast<double>(stats.commits);
    }
    g_store.reset();
  }
}

// The server's configuration: durable, group commit.
void BM_DurableTransact(benchmark::State& state) { RunPuts(state, SqliteKvStore::Options{}); }

// For comparison: durable, but one commit (one fsync) per transaction.
void BM_DurableTransactNoGroupCommit(benchmark::State& state) {
  SqliteKvStore::Options options;
  options.max_batch = 1;
  RunPuts(state, options);
}

// For comparison: group commit without fsync (synchronous=NORMAL).
void BM_NonDurableTransact(benchmark::State& state) {
  SqliteKvStore::Options options;
  options.durable = false;
  RunPuts(state, options);
}

BENCHMARK(BM_DurableTransact)->Threads(1)->Threads(8)->Threads(64)->UseRealTime();
BENCHMARK(BM_DurableTransactNoGroupCommit)->Threads(1)->Threads(64)->UseRealTime();
BENCHMARK(BM_NonDurableTransact)->Threads(1)->Threads(64)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
