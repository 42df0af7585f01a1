// The event log's writer in isolation (issue 6: the log must cost GetSecretValue at most
// 15% of its throughput, and on a 2-core machine the writer's CPU comes out of the
// request threads). Uses only what the log's public API has had since the index
// (ADR 0013), so that the same file measures the tree before and after a change.
//
//   BM_AppendRaw        EventLog::AppendRaw of 2,000 serialized records with summaries
//                       (blocks, chain, index, memory store), per record
//   BM_RecorderBatch    what the server's writer thread does per event: EventRecorder
//                       (RecordReusing + Flush) of 2,000 GetSecretValue events into a
//                       memory store, process CPU per event (request side included)
//   BM_Deflate/W/M/S    one 512-record block's text through zlib level 1 with window
//                       bits W, memLevel M, strategy S (0 default, 4 Z_FIXED); the
//                       counter `ratio` is text / compressed

#include <benchmark/benchmark.h>
#include <zlib.h>

#include <memory>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/time_format.hpp"
#include "crypto/csprng.hpp"
#include "crypto/digest.hpp"
#include "events/event.hpp"
#include "events/event_log.hpp"
#include "events/event_recorder.hpp"
#include "store/memory/memory_kv_store.hpp"

namespace {

using kw::TimePoint;
using namespace kw::events;

constexpr std::size_t kBatch = 2000;  // RecorderOptions::batch

TimePoint T0() { return *kw::ParseIso8601("2026-11-30T03:00:00Z"); }

// A UUID-shaped string that looks random, as the server's request and event IDs do (they
// are the part of a record that compresses worst).
std::string RandomUuid(std::string_view kind, std::size_t i) {
  std::string hex = kw::crypto::Sha256Hex(std::string(kind) + std::to_string(i));
  hex.resize(32);
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-4" + hex.substr(13, 3) + "-a" +
         hex.substr(17, 3) + "-" + hex.substr(20, 12);
}

// The strings events are filled from, made once so that filling an event costs about what
// the request pipeline's assignments cost.
struct Pools {
  std::vector<std::string> request_ids, principals, arns, keys, names, params, secrets;
  Pools() {
    for (std::size_t i = 0; i < 4096; ++i) request_ids.push_back(RandomUuid("request", i));
    for (std::size_t u = 0; u < 8; ++u) {
      principals.push_back("AIDAEXAMPLE" + std::to_string(100000 + u));
      arns.push_back("arn:aws:iam::123456789012:user/bench-" + std::to_string(u));
      keys.push_back("AKIAEXAMPLE" + std::to_string(100000000 + u));
      names.push_back("bench-" + std::to_string(u));
    }
    for (std::size_t k = 0; k < 1000; ++k) {
      secrets.push_back("bench/secret-" + std::to_string(k));
      params.push_back(R"({"SecretId":")" + secrets.back() + R"("})");
    }
  }
};
const Pools& pools() {
  static const Pools p;
  return p;
}

// A GetSecretValue event as the request pipeline fills it (EventObserver), for one of a
// few users and secrets.
void FillEvent(Event& e, std::size_t i) {
  const Pools& p = pools();
  e.time = T0() + std::chrono::microseconds(i * 50);
  e.event_source.assign("secretsmanager.amazonaws.com");
  e.event_name.assign("GetSecretValue");
  e.region.assign("us-east-1");
  e.source_ip.assign("127.0.0.1");
  e.user_agent.assign("aws-cli/2.15.0 md/Botocore#2.0.0 ua/2.0 os/linux#6.1.0 md/arch#x86_64");
  e.read_only = true;
  e.event_type.assign("AwsApiCall");
  e.event_id.clear();
  e.recipient_account_id.clear();
  e.request_id.assign(p.request_ids[i % p.request_ids.size()]);
  const std::size_t user = i % p.arns.size();
  e.identity.type.assign("IAMUser");
  e.identity.principal_id.assign(p.principals[user]);
  e.identity.arn.assign(p.arns[user]);
  e.identity.account_id.assign("123456789012");
  e.identity.access_key_id.assign(p.keys[user]);
  e.identity.user_name.assign(p.names[user]);
  e.request_parameters = nullptr;
  e.response_elements = nullptr;
  const std::size_t secret = i * 31 % p.secrets.size();
  e.request_parameters_text.assign(p.params[secret]);
  e.response_elements_text.clear();
  e.resources.resize(1);
  e.resources[0].type.assign("AWS::SecretsManager::Secret");
  e.resources[0].name.assign(p.secrets[secret]);
  e.error_code.clear();
  e.error_message.clear();
  e.additional_event_data = nullptr;
}

std::vector<RawRecord> MakeRecords(std::size_t n) {
  std::vector<RawRecord> out;
  for (std::size_t i = 0; i < n; ++i) {
    Event e;
    FillEvent(e, i);
    e.event_id = RandomUuid("event", i);
    e.recipient_account_id = "123456789012";
    RawRecord rec;
    rec.json = RecordJson(e);
    rec.time = e.time;
    rec.summary = SummaryOf(e);
    out.push_back(std::move(rec));
  }
  return out;
}

void BM_AppendRaw(benchmark::State& state) {
  const std::vector<RawRecord> records = MakeRecords(kBatch);
  std::unique_ptr<kw::store::MemoryKvStore> store;
  std::unique_ptr<EventLog> log;
  std::size_t rounds = 0;
  for (auto _ : state) {
    if (rounds++ % 50 == 0) {  // a fresh store now and then bounds the memory used
      state.PauseTiming();
      log.reset();
      store = std::make_unique<kw::store::MemoryKvStore>();
      log = std::move(*EventLog::Open(*store, std::nullopt));
      state.ResumeTiming();
    }
    if (!log->AppendRaw(records)) state.SkipWithError("AppendRaw failed");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBatch));
}
BENCHMARK(BM_AppendRaw)->Unit(benchmark::kMicrosecond);

void BM_RecorderBatch(benchmark::State& state) {
  kw::FakeClock clock(T0());
  kw::crypto::Csprng random;
  std::unique_ptr<kw::store::MemoryKvStore> store;
  std::unique_ptr<EventLog> log;
  std::unique_ptr<EventRecorder> recorder;
  std::unique_ptr<Event> scratch = std::make_unique<Event>();
  std::size_t rounds = 0;
  std::size_t n = 0;
  for (auto _ : state) {
    if (rounds++ % 50 == 0) {
      state.PauseTiming();
      recorder.reset();
      log.reset();
      store = std::make_unique<kw::store::MemoryKvStore>();
      log = std::move(*EventLog::Open(*store, std::nullopt));
      RecorderOptions options;
      options.account_id = "123456789012";
      options.flush_interval = std::chrono::milliseconds(1000);
      options.max_queue = 4 * kBatch;
      recorder = std::make_unique<EventRecorder>(*log, clock, random, options);
      state.ResumeTiming();
    }
    for (std::size_t i = 0; i < kBatch; ++i) {
      if (!scratch) scratch = std::make_unique<Event>();
      FillEvent(*scratch, n++);
      recorder->RecordReusing(scratch);
    }
    recorder->Flush();
  }
  if (recorder && recorder->dropped() != 0) state.SkipWithError("events dropped");
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBatch));
}
BENCHMARK(BM_RecorderBatch)->MeasureProcessCPUTime()->Unit(benchmark::kMicrosecond);

std::string BlockText() {
  const std::vector<RawRecord> records = MakeRecords(kBlockRecords);
  std::string text;
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (i > 0) text.push_back('\n');
    // A stored line: the record, then hash, prev and sequence (64 hex digits each).
    text += R"({"event":)" + records[i].json + R"(,"hash":")" +
            kw::crypto::Sha256Hex(std::to_string(i + 1)) + R"(","prev":")" +
            kw::crypto::Sha256Hex(std::to_string(i)) + R"(","seq":)" + std::to_string(1000000 + i) +
            "}";
  }
  return text;
}

// Deflates BlockText() once per iteration through `zs` (set up by the caller, which
// ends it); `reset` restores its parameters before each run.
template <class Reset>
void RunDeflate(benchmark::State& state, z_stream& zs, Reset&& reset) {
  const std::string text = BlockText();
  std::string out(deflateBound(&zs, text.size()), '\0');
  std::size_t compressed = 0;
  for (auto _ : state) {
    reset();
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
    zs.avail_in = static_cast<uInt>(text.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END) state.SkipWithError("deflate");
    compressed = zs.total_out;
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
  state.counters["ratio"] = static_cast<double>(text.size()) / static_cast<double>(compressed);
  state.counters["per_record"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kBlockRecords),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_Deflate(benchmark::State& state) {
  z_stream zs{};
  if (deflateInit2(&zs, 1, Z_DEFLATED, static_cast<int>(state.range(0)),
                   static_cast<int>(state.range(1)), static_cast<int>(state.range(2))) != Z_OK) {
    state.SkipWithError("deflateInit2");
    return;
  }
  RunDeflate(state, zs, [&] { deflateReset(&zs); });
  deflateEnd(&zs);
}
BENCHMARK(BM_Deflate)
    ->Args({15, 8, Z_DEFAULT_STRATEGY})
    ->Args({15, 9, Z_DEFAULT_STRATEGY})
    ->Args({15, 7, Z_DEFAULT_STRATEGY})
    ->Args({15, 6, Z_DEFAULT_STRATEGY})
    ->Args({13, 8, Z_DEFAULT_STRATEGY})
    ->Args({12, 7, Z_DEFAULT_STRATEGY})
    ->Args({15, 8, Z_FIXED})
    ->Unit(benchmark::kMicrosecond);

// Level 1 with deflateTune(good, lazy, nice, chain): level 1 is {4, 4, 8, 4}. A shorter
// chain gives up sooner on the records' random parts (IDs, hashes).
void BM_DeflateTune(benchmark::State& state) {
  z_stream zs{};
  if (deflateInit(&zs, 1) != Z_OK) {
    state.SkipWithError("deflateInit");
    return;
  }
  RunDeflate(state, zs, [&] {
    deflateReset(&zs);  // resets the level's parameters: tune after it
    deflateTune(&zs, 4, static_cast<int>(state.range(0)), static_cast<int>(state.range(1)),
                static_cast<int>(state.range(2)));
  });
  deflateEnd(&zs);
}
BENCHMARK(BM_DeflateTune)
    ->Args({4, 8, 4})
    ->Args({4, 8, 2})
    ->Args({4, 8, 1})
    ->Args({4, 16, 1})
    ->Args({8, 32, 1})
    ->Args({2, 8, 1})
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
