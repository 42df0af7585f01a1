// An audit over 100,000 IAM users (issue 6): the rules and the merge of their findings
// into the store, as Keyward.RunAudit does after collecting the data. One shot, wall
// clock; prints one line per phase. The users look like a real account: 1 or 2 keys,
// ages spread over a year, some idle, a tenth without an owner, owners among 10,000
// people of whom 5% departed and 5% transferred.
//
//   audit_bench [USERS] [DB_DIR]   (default 100000, ./audit_bench_data; SQLite store)
//
// The first audit creates every finding, the second updates them all (the steady
// state of a daily audit). Collection from the IAM service is measured separately in
// "collect" over the same number of users in a memory store.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "audit/audit_service.hpp"
#include "crypto/csprng.hpp"
#include "iam/user_service.hpp"
#include "store/memory/memory_kv_store.hpp"
#include "store/sqlite/sqlite_kv_store.hpp"

namespace {

using namespace kw;
using Wall = std::chrono::steady_clock;

double Since(Wall::time_point t) { return std::chrono::duration<double>(Wall::now() - t).count(); }

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

  auto t = Wall::now();
  audit::AuditData data = MakeData(users, clock.Now());
  std::printf("build data        %8.3f s  (%d users)\n", Since(t), users);

  auto store = store::SqliteKvStore::Open(dir / "audit.db");
  if (!store) {
    std::fprintf(stderr, "open: %s\n", store.error().message.c_str());
    return 1;
  }
  NoSource none;
  audit::AuditService service(**store, clock, none, audit::AuditPolicy{});
  t = Wall::now();
  auto rules = audit::Evaluate(audit::DefaultRules(), data, audit::AuditPolicy{});
  std::printf("rules only        %8.3f s  (%zu observations)\n", Since(t), rules.size());
  for (int run = 1; run <= 2 && std::getenv("KW_BENCH_SKIP_SQLITE") == nullptr; ++run) {
    t = Wall::now();
    auto r = service.RunOn(data);
    if (!r) {
      std::fprintf(stderr, "audit: %s\n", r.error().message.c_str());
      return 1;
    }
    std::printf("audit %d (sqlite)  %8.3f s  (%zu findings, %zu new)\n", run, Since(t),
                r->findings.size(), r->created);
    clock.Advance(std::chrono::hours(24));
  }

  {
    store::MemoryKvStore mem_findings;
    audit::AuditService in_memory(mem_findings, clock, none, audit::AuditPolicy{});
    for (int run = 1; run <= 2; ++run) {
      t = Wall::now();
      auto r = in_memory.RunOn(data);
      if (!r) return 1;
      std::printf("audit %d (memory)  %8.3f s  (%zu findings)\n", run, Since(t),
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
  t = Wall::now();
  for (int i = 0; i < users; ++i) {
    iam::CreateUserRequest req;
    req.user_name = "user-" + std::to_string(i);
    req.tags.push_back({"owner", "p" + std::to_string(i % 10000)});
    if (!iam_users.CreateUser(req) || !iam_users.CreateAccessKey(req.user_name, nullptr)) {
      std::fprintf(stderr, "setup failed at %d\n", i);
      return 1;
    }
  }
  std::printf("setup iam         %8.3f s\n", Since(t));
  directory::DirectoryService directory(mem, clock);
  audit::LiveAuditData live(iam_users, nullptr, directory);
  t = Wall::now();
  auto collected = live.Collect(clock.Now());
  if (!collected) {
    std::fprintf(stderr, "collect: %s\n", collected.error().message.c_str());
    return 1;
  }
  std::printf("collect (memory)  %8.3f s  (%zu users)\n", Since(t), collected->users.size());
  std::filesystem::remove_all(dir);
  return 0;
}
