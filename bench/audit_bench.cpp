// An audit over 100,000 IAM users (issue 6): the rules and the merge of their findings
// into the store, as Keyward.RunAudit does after collecting the data. One shot, wall
// clock; prints one line per phase. The users look like a real account: 1 or 2 keys,
// ages spread over a year, some idle, a tenth without an owner, owners among 10,000
// people of whom 5% departed and 5% transferred.
//
//   audit_bench [USERS] [DB_DIR]   (default 100000, ./audit_bench_data; SQLite store)
//
// The first audit creates every finding, the second updates them all (the steady
// state of a daily audit); then every active finding is listed page by page, as the CLI
// does after an audit. Collection from the IAM service is measured separately in
// "collect" over the same number of users in a memory store. Each line gives wall clock
// and the process's CPU time (user + system) for the phase: the machine is shared, and
// CPU time is the steadier figure when others load it.
//
//   KW_BENCH_EVENTS=N audit_bench [USERS] [DB_DIR]   (events phase only; ADR 0013)
//
// writes N events (GetSecretValue-like CloudTrail records of the users' keys, spread over
// the audit's first window of 24 hours) through EventLog::AppendRaw in batches of 2,000
// as the recorder's writer does ("ingest"), into the same SQLite store as the findings;
// then one audit over them: CollectEventData (every event of the window streamed once
// through the event rules' accumulators, then the history scans) and AuditService::RunOn
// (all rules, event rules included, and the merge into the store).

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "audit/audit_service.hpp"
#include "audit/event_log_source.hpp"
#include "audit/event_rules.hpp"
#include "crypto/csprng.hpp"
#include "events/event_log.hpp"
#include "iam/user_service.hpp"
#include "store/memory/memory_kv_store.hpp"
#include "store/sqlite/sqlite_kv_store.hpp"

namespace {

using namespace kw;
using Wall = std::chrono::steady_clock;

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto secs = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

// A phase's start: wall clock and CPU time.
struct Mark {
  Wall::time_point wall = Wall::now();
  double cpu = CpuSeconds();
};

double Since(Wall::time_point t) { return std::chrono::duration<double>(Wall::now() - t).count(); }

// "  12.345 s (cpu  10.000 s)"
std::string Took(const Mark& m) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%8.3f s (cpu %7.3f s)", Since(m.wall), CpuSeconds() - m.cpu);
  return buf;
}

audit::AuditData MakeData(int users, TimePoint now) {
  using std::chrono::hours;
  audit::AuditData d;
  d.now = now;
  std::vector<directory::PersonRecord> people;
  for (int i = 0; i < 10000; ++i) {
    directory::PersonRecord r;
    r.person.id = "p" + std::to_string(i);
    r.person.email = r.person.id + "@example.org";
    r.person.status = i % 20 == 0   ? directory::PersonStatus::kDeparted
                      : i % 20 == 1 ? directory::PersonStatus::kTransferred
                                    : directory::PersonStatus::kActive;
    people.push_back(std::move(r));
  }
  d.directory = std::make_shared<directory::OwnerIndex>(std::move(people));
  for (int i = 0; i < users; ++i) {
    audit::UserView u;
    u.name = "user-" + std::to_string(i);
    u.arn = "arn:aws:iam::123456789012:user/" + u.name;
    u.created = now - hours(24 * (i % 400));
    if (i % 10 != 0) u.tags["owner"] = "p" + std::to_string(i % 10000);
    const int nkeys = i % 7 == 0 ? 2 : 1;
    for (int k = 0; k < nkeys; ++k) {
      audit::KeyView key;
      key.access_key_id = "AKIA" + std::to_string(1000000000 + i) + std::to_string(k);
      key.active = true;
      key.created = now - hours(24 * ((i * 13 + k) % 365));
      if (i % 11 != 0) key.last_used = now - hours(24 * ((i * 7) % 120));
      u.keys.push_back(std::move(key));
    }
    d.users.push_back(std::move(u));
  }
  return d;
}

struct NoSource final : audit::AuditDataSource {
  Result<audit::AuditData> Collect(TimePoint) override { return Internal("unused"); }
};

std::uint64_t Next(std::uint64_t& x) {  // xorshift64*: reproducible, cheap
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  return x * 2685821657736338717ULL;
}

std::string Ip(std::uint64_t n, int first) {
  return std::to_string(first) + "." + std::to_string(n >> 16 & 255) + "." +
         std::to_string(n >> 8 & 255) + "." + std::to_string(n & 255);
}

// The events phase (see the header). Returns the process exit code.
int RunEvents(audit::AuditData& data, std::int64_t count, store::KvStore& store, FakeClock& clock) {
  struct KeyInfo {
    const audit::UserView* user;
    std::string key;
  };
  std::vector<KeyInfo> keys;
  for (const auto& u : data.users) {
    for (const auto& k : u.keys) keys.push_back({&u, k.access_key_id});
  }
  struct Instance {
    std::string id, key, ip;
  };
  std::vector<Instance> instances;
  for (int i = 0; i < 1000; ++i) {
    char id[32], key[32];
    std::snprintf(id, sizeof id, "mi-%017x", 0xabc000 + i);
    std::snprintf(key, sizeof key, "ASIA%016d", i);
    instances.push_back({id, key, Ip(static_cast<std::uint64_t>(i), 172)});
    data.instance_ips[id] = instances.back().ip;
  }
  auto log = events::EventLog::Open(store, std::nullopt);
  if (!log) {
    std::fprintf(stderr, "event log: %s\n", log.error().message.c_str());
    return 1;
  }
  const TimePoint now = clock.Now();
  const TimePoint since = now - audit::AuditPolicy{}.first_event_window;
  const auto span_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - since).count();
  std::uint64_t rng = 0x9e3779b97f4a7c15ULL;
  std::int64_t failures = 0, inactive = 0, unusual = 0, on_instances = 0, off_instance = 0;
  Mark t;
  constexpr std::size_t kBatch = 2000;  // RecorderOptions::batch
  std::vector<events::RawRecord> batch;
  batch.reserve(kBatch);
  // KW_BENCH_KEEP (for profiling the audit): a log already written is audited as it is.
  if ((*log)->last_sequence() > 0) count = 0;
  for (std::int64_t j = 0; j < count; ++j) {
    events::Event e;
    e.time = since + std::chrono::milliseconds(1000 + j * (span_ms - 2000) / count);
    e.event_source = "secretsmanager.amazonaws.com";
    e.event_name = "GetSecretValue";
    e.region = "us-east-1";
    e.user_agent = "aws-cli/2.15.0 Python/3.11.6 Linux/6.1.0-18-amd64 exe/x86_64.debian.12";
    e.read_only = true;
    e.event_type = "AwsApiCall";
    e.recipient_account_id = "123456789012";
    e.identity.account_id = "123456789012";
    char id[48];
    std::snprintf(id, sizeof id, "%08llx-0000-4000-8000-%012llx",
                  static_cast<unsigned long long>(j), static_cast<unsigned long long>(j * 7919));
    e.event_id = id;
    e.request_id = id;
    const std::uint64_t r = Next(rng) % 10000;
    if (r < 500) {  // 5%: a managed instance's session, from its own address but rarely
      const Instance& in = instances[Next(rng) % instances.size()];
      e.identity.type = "AssumedRole";
      e.identity.principal_id = "AROAFLEET:" + in.id;
      e.identity.arn = "arn:aws:sts::123456789012:assumed-role/Fleet/" + in.id;
      e.identity.access_key_id = in.key;
      e.identity.instance_id = in.id;
      e.identity.session_issuer_arn = "arn:aws:iam::123456789012:role/Fleet";
      e.identity.session_issuer_name = "Fleet";
      e.identity.session_issuer_principal_id = "AROAFLEET";
      e.source_ip = in.ip;
      ++on_instances;
      if (r < 1) e.source_ip = Ip(Next(rng) % 256, 203), ++off_instance;
      e.request_parameters = {{"SecretId", "fleet/" + in.id}};
    } else {
      const std::uint64_t k = Next(rng) % keys.size();
      const KeyInfo& key = keys[k];
      e.identity.type = "IAMUser";
      e.identity.principal_id = "AIDA" + key.user->name;
      e.identity.arn = key.user->arn;
      e.identity.access_key_id = key.key;
      e.identity.user_name = key.user->name;
      // Each key's usual consumers: 1 to 3 addresses of its own.
      e.source_ip = Ip(k * 3 + Next(rng) % (1 + k % 3), 10);
      e.request_parameters = {{"SecretId", "app/" + key.user->name + "/credentials"}};
      if (r < 600) {  // 1%: refused signatures
        e.error_code = r % 2 ? "SignatureDoesNotMatch" : "InvalidSignatureException";
        e.error_message = "The request signature we calculated does not match";
        ++failures;
      } else if (r < 610) {  // 0.1%: a deactivated key, validly signed
        e.error_code = "InvalidClientTokenId";
        e.error_message = "The security token included in the request is invalid";
        e.additional_event_data = {{"keyInactive", true}};
        ++inactive;
      } else if (r < 630) {  // 0.2%: from an address that is none of the key's
        e.source_ip = Ip(Next(rng) % 65536, 198);
        ++unusual;
      } else {
        e.response_elements = nullptr;
      }
    }
    e.resources = events::ResourcesOf(e.event_source, e.request_parameters);
    batch.push_back({events::RecordJson(e), e.time, events::SummaryOf(e)});
    if (batch.size() == kBatch || j + 1 == count) {
      if (auto s = (*log)->AppendRaw(batch); !s) {
        std::fprintf(stderr, "append: %s\n", s.error().message.c_str());
        return 1;
      }
      batch.clear();
    }
  }
  std::printf(
      "ingest events     %s  (%lld events; %lld refused signatures, %lld inactive key, "
      "%lld unusual address, %lld instance of which %lld off-instance)\n",
      Took(t).c_str(), static_cast<long long>(count), static_cast<long long>(failures),
      static_cast<long long>(inactive), static_cast<long long>(unusual),
      static_cast<long long>(on_instances), static_cast<long long>(off_instance));

  NoSource none;
  audit::AuditService service(store, clock, none, audit::AuditPolicy{});
  audit::EventLogSource source(**log, nullptr);
  // KW_BENCH_COMPARE (with KW_BENCH_KEEP): the active findings a previous run (say, of an
  // older build) left in the store, to compare with this run's, evidence included.
  std::map<std::string, std::pair<std::string, audit::Evidence>> stored;
  if (std::getenv("KW_BENCH_COMPARE") != nullptr) {
    std::optional<std::string> token;
    audit::FindingFilter active;
    active.state = audit::FindingState::kActive;
    do {
      auto page = service.List(active, token, 1000);
      if (!page) return 1;
      for (auto& f : page->findings) stored[f.finding_id] = {f.type, std::move(f.evidence)};
      token = page->next_token.empty() ? std::nullopt : std::optional(page->next_token);
    } while (token);
  }
  const Mark audit_start;
  t = Mark();
  if (auto s = audit::CollectEventData(source, audit::AuditPolicy{}, since, data); !s) {
    std::fprintf(stderr, "collect events: %s\n", s.error().message.c_str());
    return 1;
  }
  std::printf("collect events    %s  (%llu events in the window, %zu keys with history)\n",
              Took(t).c_str(), static_cast<unsigned long long>(data.event_facts.events),
              data.key_history.size());
  if (std::getenv("KW_BENCH_SPLIT") != nullptr) {  // diagnostics: the event rules alone
    std::vector<std::unique_ptr<audit::Rule>> event_rules;
    audit::AppendEventRules(event_rules);
    for (const auto& rule : event_rules) {
      t = Mark();
      std::vector<audit::Observation> out;
      rule->Evaluate(data, audit::AuditPolicy{}, out);
      std::printf("  %-32s %s  (%zu)\n", std::string(rule->Name()).c_str(), Took(t).c_str(),
                  out.size());
    }
  }
  t = Mark();
  auto r = service.RunOn(data);
  if (!r) {
    std::fprintf(stderr, "audit: %s\n", r.error().message.c_str());
    return 1;
  }
  std::map<std::string, int> by_type;
  for (const auto& f : r->findings) ++by_type[f.type];
  std::printf("rules + merge     %s  (%zu findings)\n", Took(t).c_str(), r->findings.size());
  std::printf("audit with events %s\n", Took(audit_start).c_str());
  for (const auto& [type, n] : by_type) std::printf("  %-32s %d\n", type.c_str(), n);
  if (!stored.empty()) {
    std::size_t same = 0, differ = 0, missing = 0;
    for (const auto& f : r->findings) {
      auto it = stored.find(f.finding_id);
      if (it == stored.end()) {
        ++missing;
      } else if (it->second.first == f.type && it->second.second == f.evidence) {
        ++same;
      } else {
        ++differ;
        if (differ <= 5) std::printf("  differs: %s %s\n", f.type.c_str(), f.resource.c_str());
      }
    }
    std::printf(
        "compare with the stored findings: %zu same, %zu differ, %zu not stored, "
        "%zu stored not seen (resolved %zu)\n",
        same, differ, missing, stored.size() - same - differ, r->resolved);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const int users = argc > 1 ? std::atoi(argv[1]) : 100000;
  const std::filesystem::path dir = argc > 2 ? argv[2] : "audit_bench_data";
  const bool keep = std::getenv("KW_BENCH_KEEP") != nullptr;
  if (!keep) std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  FakeClock clock(TimePoint(std::chrono::seconds(1800000000)));

  Mark t;
  audit::AuditData data = MakeData(users, clock.Now());
  std::printf("build data        %s  (%d users)\n", Took(t).c_str(), users);

  auto store = store::SqliteKvStore::Open(dir / "audit.db");
  if (!store) {
    std::fprintf(stderr, "open: %s\n", store.error().message.c_str());
    return 1;
  }
  if (const char* n = std::getenv("KW_BENCH_EVENTS")) {
    const int rc = RunEvents(data, std::atoll(n), **store, clock);
    if (!keep) std::filesystem::remove_all(dir);
    return rc;
  }
  NoSource none;
  audit::AuditService service(**store, clock, none, audit::AuditPolicy{});
  // KW_BENCH_CHUNK: findings per transaction (default: the service's own).
  if (const char* c = std::getenv("KW_BENCH_CHUNK")) service.set_chunk_size(std::atoi(c));
  t = Mark();
  auto rules = audit::Evaluate(audit::DefaultRules(), data, audit::AuditPolicy{});
  std::printf("rules only        %s  (%zu observations)\n", Took(t).c_str(), rules.size());
  for (int run = 1; run <= 2 && std::getenv("KW_BENCH_SKIP_SQLITE") == nullptr; ++run) {
    t = Mark();
    auto r = service.RunOn(data);
    if (!r) {
      std::fprintf(stderr, "audit: %s\n", r.error().message.c_str());
      return 1;
    }
    std::printf("audit %d (sqlite)  %s  (%zu findings, %zu new)\n", run, Took(t).c_str(),
                r->findings.size(), r->created);
    clock.Advance(std::chrono::hours(24));
  }
  if (std::getenv("KW_BENCH_SKIP_SQLITE") == nullptr) {
    // What `keyward audit` reads next: every active finding, in ListFindings' default
    // pages of 100 (server side only, without HTTP).
    t = Mark();
    std::size_t listed = 0, pages = 0;
    std::optional<std::string> token;
    audit::FindingFilter active;
    active.state = audit::FindingState::kActive;
    do {
      auto page = service.List(active, token, 100);
      if (!page) {
        std::fprintf(stderr, "list: %s\n", page.error().message.c_str());
        return 1;
      }
      listed += page->findings.size();
      ++pages;
      token = page->next_token.empty() ? std::nullopt : std::optional(page->next_token);
    } while (token);
    std::printf("list active       %s  (%zu findings, %zu pages)\n", Took(t).c_str(), listed,
                pages);
  }

  {
    store::MemoryKvStore mem_findings;
    audit::AuditService in_memory(mem_findings, clock, none, audit::AuditPolicy{});
    for (int run = 1; run <= 2; ++run) {
      t = Mark();
      auto r = in_memory.RunOn(data);
      if (!r) return 1;
      std::printf("audit %d (memory)  %s  (%zu findings)\n", run, Took(t).c_str(),
                  r->findings.size());
    }
  }
  if (argc > 3) return 0;  // "quick": skip the IAM collection

  // Collection from the IAM service itself (memory store; SQLite adds its read cost).
  store::MemoryKvStore mem;
  crypto::Csprng random;
  crypto::Envelope envelope("bench", SecretBytes(std::string(32, 'k')), random);
  iam::Account account{"123456789012"};
  iam::UserService iam_users(mem, envelope, clock, random, account);
  t = Mark();
  for (int i = 0; i < users; ++i) {
    iam::CreateUserRequest req;
    req.user_name = "user-" + std::to_string(i);
    req.tags.push_back({"owner", "p" + std::to_string(i % 10000)});
    if (!iam_users.CreateUser(req) || !iam_users.CreateAccessKey(req.user_name, nullptr)) {
      std::fprintf(stderr, "setup failed at %d\n", i);
      return 1;
    }
  }
  std::printf("setup iam         %s\n", Took(t).c_str());
  directory::DirectoryService directory(mem, clock);
  audit::LiveAuditData live(iam_users, nullptr, directory);
  t = Mark();
  auto collected = live.Collect(clock.Now());
  if (!collected) {
    std::fprintf(stderr, "collect: %s\n", collected.error().message.c_str());
    return 1;
  }
  std::printf("collect (memory)  %s  (%zu users)\n", Took(t).c_str(), collected->users.size());
  std::filesystem::remove_all(dir);
  return 0;
}
