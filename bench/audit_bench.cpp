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

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include "audit/audit_service.hpp"
#include "crypto/csprng.hpp"
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

}  // namespace

int main(int argc, char** argv) {
  const int users = argc > 1 ? std::atoi(argv[1]) : 100000;
  const std::filesystem::path dir = argc > 2 ? argv[2] : "audit_bench_data";
  std::filesystem::remove_all(dir);
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
