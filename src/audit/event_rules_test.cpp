#include "audit/event_rules.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <set>

#include "audit/audit_service.hpp"
#include "audit/event_log_source.hpp"
#include "common/time_format.hpp"
#include "store/memory/memory_kv_store.hpp"

namespace kw::audit {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
constexpr auto kDay = hours(24);

// An in-memory event log: Scan answers newest first within [start, end].
class FakeEventSource final : public EventSource {
 public:
  std::vector<AuditEvent> events;
  std::vector<FinishedRotation> rotations;
  mutable std::vector<std::pair<std::optional<TimePoint>, std::optional<TimePoint>>> scans;
  mutable std::vector<int> visited;  // events passed to fn, per scan

  Status Scan(std::optional<TimePoint> start, std::optional<TimePoint> end,
              const std::function<bool(const AuditEvent&)>& fn) const override {
    scans.emplace_back(start, end);
    visited.push_back(0);
    std::vector<AuditEvent> sorted = events;
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const AuditEvent& a, const AuditEvent& b) { return a.time > b.time; });
    for (const AuditEvent& e : sorted) {
      if ((start && e.time < *start) || (end && e.time > *end)) continue;
      ++visited.back();
      if (!fn(e)) break;
    }
    return OkStatus();
  }
  Result<std::vector<FinishedRotation>> FinishedRotations() const override { return rotations; }
};

class FixedData final : public AuditDataSource {
 public:
  AuditData data;
  Result<AuditData> Collect(TimePoint now) override {
    AuditData d = data;
    d.now = now;
    return d;
  }
};

// Each test builds the scenario that causes one finding and the matching clean scenario
// through AuditService::Run, so that the window and history collection are exercised.
class EventRulesTest : public ::testing::Test {
 protected:
  FakeClock clock_{TimePoint(seconds(1700000000))};
  store::MemoryKvStore store_;
  FixedData data_;
  FakeEventSource events_;
  AuditPolicy policy_;

  void SetUp() override {
    // A user with one active key, created 20 days ago, owned and recently used: the
    // credential report rules have nothing to say about it.
    UserView u;
    u.name = "app";
    u.arn = "arn:aws:iam::123456789012:user/app";
    u.created = clock_.Now() - 20 * kDay;
    u.tags = {{"owner", "alice"}};
    u.keys.push_back({"AKIAAPP", true, clock_.Now() - 20 * kDay, clock_.Now() - hours(1)});
    data_.data.users.push_back(u);
    data_.data.instance_ips["mi-0123456789abcdef0"] = "10.0.0.5";
    directory::PersonRecord alice;
    alice.person.id = "alice";
    alice.person.status = directory::PersonStatus::kActive;
    data_.data.directory =
        std::make_shared<directory::OwnerIndex>(std::vector<directory::PersonRecord>{alice});
  }

  // AuditEvent holds views: the strings live as long as the test.
  std::deque<std::string> strings_;
  AuditEvent Use(std::string key, std::string ip, TimePoint t, std::string error = "") {
    AuditEvent e;
    e.time = t;
    e.event_name = "GetSecretValue";
    e.access_key_id = strings_.emplace_back(std::move(key));
    e.source_ip = strings_.emplace_back(std::move(ip));
    e.error_code = strings_.emplace_back(std::move(error));
    return e;
  }

  // Runs one audit; returns the types of the findings it observed.
  std::vector<std::string> Audit(AuditService& service) {
    auto run = service.Run();
    EXPECT_TRUE(run.has_value()) << (run ? "" : run.error().message);
    std::vector<std::string> out;
    if (run.has_value()) {
      for (const Finding& f : run->findings) out.push_back(f.type);
    }
    return out;
  }

  std::vector<std::string> AuditOnce() {
    AuditService service(store_, clock_, data_, policy_);
    service.set_event_source(&events_);
    return Audit(service);
  }

  static bool Has(const std::vector<std::string>& types, std::string_view t) {
    return std::find(types.begin(), types.end(), t) != types.end();
  }

  // Normal use of the key from its usual host, from its first days until now.
  void UsualHistory() {
    events_.events.push_back(Use("AKIAAPP", "10.0.0.1", clock_.Now() - 19 * kDay));
    events_.events.push_back(Use("AKIAAPP", "10.0.0.1", clock_.Now() - hours(2)));
  }
};

TEST_F(EventRulesTest, CleanLogHasNoEventFindings) {
  UsualHistory();
  EXPECT_TRUE(AuditOnce().empty());
}

TEST_F(EventRulesTest, NoEventSourceNoEventFindings) {
  events_.events.push_back(
      Use("AKIAAPP", "10.0.0.9", clock_.Now() - hours(1), "InvalidClientTokenId"));
  events_.events.back().key_inactive = true;
  AuditService service(store_, clock_, data_, policy_);
  EXPECT_TRUE(Audit(service).empty());
  EXPECT_TRUE(events_.scans.empty());
}

TEST_F(EventRulesTest, DeactivatedKeyTried) {
  UsualHistory();
  AuditEvent refused = Use("AKIAAPP", "10.0.0.1", clock_.Now() - hours(1), "InvalidClientTokenId");
  events_.events.push_back(refused);  // unknown or badly signed: not "tried"
  EXPECT_FALSE(Has(AuditOnce(), "DeactivatedKeyTried"));
  refused.key_inactive = true;
  events_.events.push_back(refused);
  AuditService service(store_, clock_, data_, policy_);
  service.set_event_source(&events_);
  auto run = service.Run();
  ASSERT_TRUE(run.has_value());
  ASSERT_EQ(run->findings.size(), 1u);
  EXPECT_EQ(run->findings[0].type, "DeactivatedKeyTried");
  EXPECT_EQ(run->findings[0].resource, "AKIAAPP");
  EXPECT_EQ(run->findings[0].severity, Severity::kHigh);
  EXPECT_EQ(run->findings[0].evidence.at("Attempts"), "1");
  EXPECT_EQ(run->findings[0].evidence.at("UserName"), "app");
}

TEST_F(EventRulesTest, DeactivatedKeyTriedExemptByTag) {
  AuditEvent refused = Use("AKIAAPP", "10.0.0.1", clock_.Now() - hours(1), "InvalidClientTokenId");
  refused.key_inactive = true;
  events_.events.push_back(refused);
  data_.data.users[0].tags["keyward:audit-exempt"] = "DeactivatedKeyTried";
  EXPECT_FALSE(Has(AuditOnce(), "DeactivatedKeyTried"));
}

TEST_F(EventRulesTest, FailedSignatureBurst) {
  UsualHistory();
  // Nine failures in the window, and a tenth too late to be in the same burst.
  for (int i = 0; i < 9; ++i) {
    events_.events.push_back(Use("AKIAFORGED", "192.0.2.7", clock_.Now() - hours(3) + seconds(i),
                                 "SignatureDoesNotMatch"));
  }
  events_.events.push_back(
      Use("AKIAFORGED", "192.0.2.7", clock_.Now() - hours(1), "SignatureDoesNotMatch"));
  EXPECT_FALSE(Has(AuditOnce(), "FailedSignatureBurst"));
  events_.events.push_back(Use("AKIAFORGED", "192.0.2.7", clock_.Now() - hours(3) + minutes(4),
                               "SignatureDoesNotMatch"));
  AuditService service(store_, clock_, data_, policy_);
  service.set_event_source(&events_);
  auto run = service.Run();
  ASSERT_TRUE(run.has_value());
  ASSERT_EQ(run->findings.size(), 1u);
  EXPECT_EQ(run->findings[0].type, "FailedSignatureBurst");
  EXPECT_EQ(run->findings[0].resource, "AKIAFORGED");
  EXPECT_EQ(run->findings[0].evidence.at("Failures"), "10");
  EXPECT_EQ(run->findings[0].evidence.at("SourceIPs"), "192.0.2.7");
}

TEST_F(EventRulesTest, InstanceCredentialsOffInstance) {
  AuditEvent on = Use("ASIAINST", "10.0.0.5", clock_.Now() - hours(1));
  on.instance_id = "mi-0123456789abcdef0";
  events_.events.push_back(on);
  EXPECT_FALSE(Has(AuditOnce(), "InstanceCredentialsOffInstance"));
  AuditEvent off = on;
  off.source_ip = "203.0.113.9";
  events_.events.push_back(off);
  auto types = AuditOnce();
  ASSERT_TRUE(Has(types, "InstanceCredentialsOffInstance"));
  auto f = AuditService(store_, clock_, data_, policy_)
               .Get(FindingId("InstanceCredentialsOffInstance", "mi-0123456789abcdef0"));
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->evidence.at("SourceIPs"), "203.0.113.9");
  EXPECT_EQ(f->evidence.at("RegisteredIP"), "10.0.0.5");
  EXPECT_EQ(f->severity, Severity::kCritical);
}

TEST_F(EventRulesTest, OldKeyUsedAfterRotation) {
  const TimePoint finished = clock_.Now() - hours(5);
  events_.rotations.push_back({"rot-1", "AKIAOLD", finished});
  events_.events.push_back(Use("AKIAOLD", "10.0.0.1", finished - hours(1)));  // before: fine
  EXPECT_FALSE(Has(AuditOnce(), "OldKeyUsedAfterRotation"));
  // After: refused (the key is gone) but still a finding.
  events_.events.push_back(Use("AKIAOLD", "10.0.0.1", finished + hours(1), "InvalidClientTokenId"));
  AuditService service(store_, clock_, data_, policy_);
  service.set_event_source(&events_);
  auto run = service.Run();
  ASSERT_TRUE(run.has_value());
  ASSERT_EQ(run->findings.size(), 1u);
  EXPECT_EQ(run->findings[0].type, "OldKeyUsedAfterRotation");
  EXPECT_EQ(run->findings[0].evidence.at("RotationId"), "rot-1");
  EXPECT_EQ(run->findings[0].evidence.at("Refused"), "1");
}

TEST_F(EventRulesTest, OldKeyUsedInTheSecondItsRotationFinished) {
  // Event times are whole seconds; the finish is not. A use stamped with the finish's
  // second (it may have come after it) is reported rather than missed.
  const TimePoint second = std::chrono::floor<std::chrono::seconds>(clock_.Now() - hours(5));
  events_.rotations.push_back({"rot-1", "AKIAOLD", second + std::chrono::milliseconds(600)});
  events_.events.push_back(Use("AKIAOLD", "10.0.0.1", second - std::chrono::seconds(1)));
  EXPECT_FALSE(Has(AuditOnce(), "OldKeyUsedAfterRotation"));
  events_.events.push_back(Use("AKIAOLD", "10.0.0.1", second, "InvalidClientTokenId"));
  EXPECT_TRUE(Has(AuditOnce(), "OldKeyUsedAfterRotation"));
}

TEST_F(EventRulesTest, FirstUseLate) {
  // Key created 20 days ago, first used now: within first_use_gap (30 days).
  events_.events.push_back(Use("AKIAAPP", "10.0.0.1", clock_.Now() - hours(1)));
  EXPECT_FALSE(Has(AuditOnce(), "AccessKeyFirstUseLate"));
  policy_.first_use_gap = Days(10);
  EXPECT_TRUE(Has(AuditOnce(), "AccessKeyFirstUseLate"));
  // A use before the window (found by the history scan) means this is not its first.
  events_.events.push_back(Use("AKIAAPP", "10.0.0.1", clock_.Now() - 15 * kDay));
  EXPECT_FALSE(Has(AuditOnce(), "AccessKeyFirstUseLate"));
}

TEST_F(EventRulesTest, UnknownConsumer) {
  UsualHistory();
  events_.events.push_back(Use("AKIAAPP", "10.0.0.1", clock_.Now() - hours(1)));
  EXPECT_FALSE(Has(AuditOnce(), "AccessKeyUnknownConsumer"));
  // A failed attempt from elsewhere is not a use.
  events_.events.push_back(
      Use("AKIAAPP", "198.51.100.4", clock_.Now() - hours(1), "SignatureDoesNotMatch"));
  EXPECT_FALSE(Has(AuditOnce(), "AccessKeyUnknownConsumer"));
  events_.events.push_back(Use("AKIAAPP", "198.51.100.4", clock_.Now() - minutes(30)));
  auto types = AuditOnce();
  ASSERT_TRUE(Has(types, "AccessKeyUnknownConsumer"));
  auto f = AuditService(store_, clock_, data_, policy_)
               .Get(FindingId("AccessKeyUnknownConsumer", "AKIAAPP"));
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->evidence.at("UnknownSources"), "198.51.100.4");
  EXPECT_EQ(f->evidence.at("KnownConsumers"), "10.0.0.1");
}

TEST_F(EventRulesTest, UnknownConsumerNotJudgedWithoutLearningPeriodUse) {
  // First use 19 days after creation: no known consumers, no judgement.
  events_.events.push_back(Use("AKIAAPP", "198.51.100.4", clock_.Now() - hours(1)));
  EXPECT_FALSE(Has(AuditOnce(), "AccessKeyUnknownConsumer"));
}

TEST_F(EventRulesTest, ScansOnlyTheWindowSinceTheLastAudit) {
  UsualHistory();
  AuditService service(store_, clock_, data_, policy_);
  service.set_event_source(&events_);
  AuditEvent refused = Use("AKIAAPP", "10.0.0.1", clock_.Now() - hours(1), "InvalidClientTokenId");
  refused.key_inactive = true;
  events_.events.push_back(refused);
  EXPECT_TRUE(Has(Audit(service), "DeactivatedKeyTried"));
  ASSERT_FALSE(events_.scans.empty());
  EXPECT_EQ(events_.scans[0].first, clock_.Now() - policy_.first_event_window);
  const TimePoint first_audit = clock_.Now();
  clock_.Advance(hours(1));
  events_.scans.clear();
  // The old attempt is outside the new window: the finding is resolved.
  EXPECT_FALSE(Has(Audit(service), "DeactivatedKeyTried"));
  ASSERT_FALSE(events_.scans.empty());
  EXPECT_EQ(events_.scans[0].first, first_audit - policy_.event_overlap);
  auto f = service.Get(FindingId("DeactivatedKeyTried", "AKIAAPP"));
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->state, FindingState::kResolved);
}

TEST_F(EventRulesTest, HistoryScanStopsOnceEveryKeyIsSettled) {
  // A key in daily use since its creation: the "used before" scan needs one event, the
  // consumer scan only the key's first week.
  for (int d = 19; d >= 2; --d) {
    events_.events.push_back(Use("AKIAAPP", "10.0.0.1", clock_.Now() - d * kDay));
  }
  events_.events.push_back(Use("AKIAAPP", "10.0.0.1", clock_.Now() - hours(1)));
  EXPECT_TRUE(AuditOnce().empty());
  ASSERT_EQ(events_.scans.size(), 3u);
  EXPECT_EQ(events_.visited[0], 1);  // the window
  EXPECT_EQ(events_.visited[1], 1);  // used before: settled by the newest earlier use
  EXPECT_EQ(events_.scans[2].first, clock_.Now() - 20 * kDay);
  EXPECT_EQ(events_.scans[2].second, clock_.Now() - 13 * kDay);
  EXPECT_LE(events_.visited[2], 7);
}

// The same audit from the event log itself (EventLogSource: the index read a block at
// a time, or the records of blocks without an index row) as from the fake source (its
// events in batches of Scan's): every finding of the six event rules, evidence included,
// with events spread over several blocks and batches.
class EventLogAuditTest : public EventRulesTest {
 protected:
  // The rotations of the fake, over a real log.
  class LogSource final : public EventSource {
   public:
    LogSource(const events::EventLog& log, std::vector<FinishedRotation> rotations)
        : inner_(log, nullptr), rotations_(std::move(rotations)) {}
    Status Scan(std::optional<TimePoint> start, std::optional<TimePoint> end,
                const std::function<bool(const AuditEvent&)>& fn) const override {
      return inner_.Scan(start, end, fn);
    }
    Status ScanBlocks(std::optional<TimePoint> start, std::optional<TimePoint> end,
                      const std::function<bool(const events::IndexBlock&)>& fn) const override {
      return inner_.ScanBlocks(start, end, fn);
    }
    Result<std::vector<FinishedRotation>> FinishedRotations() const override { return rotations_; }

   private:
    EventLogSource inner_;
    std::vector<FinishedRotation> rotations_;
  };

  void Scenario() {
    UserView late;
    late.name = "late";
    late.arn = "arn:aws:iam::123456789012:user/late";
    late.created = clock_.Now() - 40 * kDay;
    late.tags = {{"owner", "alice"}};
    late.keys.push_back({"AKIALATE", true, clock_.Now() - 20 * kDay, clock_.Now() - hours(1)});
    data_.data.users.push_back(late);
    policy_.first_use_gap = Days(10);
    UsualHistory();
    // Filler: the usual host all day, over several blocks and batches.
    for (int i = 0; i < 1500; ++i) {
      events_.events.push_back(Use("AKIAAPP", "10.0.0.1", clock_.Now() - hours(23) + seconds(i)));
    }
    events_.events.push_back(Use("AKIAAPP", "198.51.100.4", clock_.Now() - minutes(30)));
    events_.events.push_back(Use("AKIALATE", "10.0.0.2", clock_.Now() - hours(6)));
    events_.events.push_back(Use("AKIALATE", "10.0.0.3", clock_.Now() - hours(7)));
    AuditEvent refused =
        Use("AKIAAPP", "10.0.0.7", clock_.Now() - hours(1), "InvalidClientTokenId");
    refused.key_inactive = true;
    events_.events.push_back(refused);
    for (int i = 0; i < 12; ++i) {
      events_.events.push_back(Use("AKIAFORGED", i % 2 ? "192.0.2.7" : "192.0.2.8",
                                   clock_.Now() - hours(3) + seconds(20 * i),
                                   "SignatureDoesNotMatch"));
    }
    AuditEvent off = Use("ASIAINST", "203.0.113.9", clock_.Now() - hours(2));
    off.instance_id = "mi-0123456789abcdef0";
    events_.events.push_back(off);
    const TimePoint finished = clock_.Now() - hours(5);
    events_.rotations.push_back({"rot-1", "AKIAOLD", finished});
    events_.events.push_back(Use("AKIAOLD", "10.0.0.1", finished - hours(1)));
    events_.events.push_back(Use("AKIAOLD", "10.0.0.1", finished + hours(1)));
  }

  // The fake's events written to `log` in time order, `batch` records per block.
  void WriteLog(events::EventLog& log, std::size_t batch) {
    std::vector<AuditEvent> sorted = events_.events;
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const AuditEvent& a, const AuditEvent& b) { return a.time < b.time; });
    std::vector<events::RawRecord> raw;
    for (const AuditEvent& a : sorted) {
      events::Event e;
      e.time = a.time;
      e.event_source = "secretsmanager.amazonaws.com";
      e.event_name = std::string(a.event_name);
      e.source_ip = std::string(a.source_ip);
      e.identity.type = a.instance_id.empty() ? "IAMUser" : "AssumedRole";
      e.identity.access_key_id = std::string(a.access_key_id);
      e.identity.instance_id = std::string(a.instance_id);
      e.error_code = std::string(a.error_code);
      if (a.key_inactive) e.additional_event_data = {{"keyInactive", true}};
      raw.push_back({events::RecordJson(e), e.time, events::SummaryOf(e)});
      if (raw.size() == batch) {
        ASSERT_TRUE(log.AppendRaw(raw).has_value());
        raw.clear();
      }
    }
    if (!raw.empty()) {
      ASSERT_TRUE(log.AppendRaw(raw).has_value());
    }
  }

  struct Summary {
    std::string type, resource;
    Severity severity;
    std::map<std::string, std::string> evidence;
    bool operator==(const Summary&) const = default;
  };
  std::vector<Summary> Findings(const EventSource& source) {
    store::MemoryKvStore findings;
    AuditService service(findings, clock_, data_, policy_);
    service.set_event_source(&source);
    auto run = service.Run();
    EXPECT_TRUE(run.has_value());
    std::vector<Summary> out;
    if (!run) return out;
    for (const Finding& f : run->findings) {
      out.push_back({f.type, f.resource, f.severity, f.evidence});
    }
    return out;
  }
};

TEST_F(EventLogAuditTest, TheLogGivesTheFindingsTheEventsCause) {
  Scenario();
  const auto expected = Findings(events_);
  std::set<std::string> types;
  for (const auto& f : expected) types.insert(f.type);
  EXPECT_EQ(types,
            (std::set<std::string>{"AccessKeyFirstUseLate", "AccessKeyUnknownConsumer",
                                   "DeactivatedKeyTried", "FailedSignatureBurst",
                                   "InstanceCredentialsOffInstance", "OldKeyUsedAfterRotation"}));
  for (const auto& f : expected) {
    if (f.type == "AccessKeyFirstUseLate") {
      EXPECT_EQ(f.resource, "AKIALATE");
      EXPECT_EQ(f.evidence.at("SourceIP"), "10.0.0.3");  // the oldest use
    }
    if (f.type == "FailedSignatureBurst") {
      EXPECT_EQ(f.evidence.at("Failures"), "12");
      EXPECT_EQ(f.evidence.at("SourceIPs"), "192.0.2.7,192.0.2.8");
    }
    if (f.type == "AccessKeyUnknownConsumer") {
      EXPECT_EQ(f.evidence.at("UnknownSources"), "198.51.100.4");
      EXPECT_EQ(f.evidence.at("LastUse"), FormatIso8601(clock_.Now() - minutes(30)));
    }
  }

  store::MemoryKvStore log_store;
  auto log = events::EventLog::Open(log_store, std::nullopt);
  ASSERT_TRUE(log.has_value());
  WriteLog(**log, 400);
  LogSource source(**log, events_.rotations);
  EXPECT_EQ(Findings(source), expected);
  // Without index rows (a log from before the index): the records, same findings.
  auto rows = log_store.List(events::kEventIndexTable, {});
  ASSERT_TRUE(rows.has_value());
  ASSERT_GT(rows->size(), 3u);
  ASSERT_TRUE(log_store
                  .Transact([&](store::Txn& txn) -> Status {
                    for (std::size_t i = 0; i < rows->size(); i += 2) {
                      KW_RETURN_IF_ERROR(txn.Delete(events::kEventIndexTable, (*rows)[i].key));
                    }
                    return OkStatus();
                  })
                  .has_value());
  EXPECT_EQ(Findings(source), expected);
}

TEST_F(EventRulesTest, CountsCarryAcrossBatches) {
  // 1,300 inactive tries, a second apart: three batches of the default ScanBlocks.
  for (int i = 0; i < 1300; ++i) {
    AuditEvent e = Use("AKIAAPP", i % 2 ? "10.0.0.1" : "10.0.0.2", clock_.Now() - seconds(i + 1),
                       "InvalidClientTokenId");
    e.key_inactive = true;
    events_.events.push_back(e);
  }
  AuditService service(store_, clock_, data_, policy_);
  service.set_event_source(&events_);
  ASSERT_TRUE(service.Run().has_value());
  auto f = service.Get(FindingId("DeactivatedKeyTried", "AKIAAPP"));
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->evidence.at("Attempts"), "1300");
  EXPECT_EQ(f->evidence.at("SourceIPs"), "10.0.0.1,10.0.0.2");
  EXPECT_EQ(f->evidence.at("LastAttempt"), FormatIso8601(clock_.Now() - seconds(1)));
  // They are refused signatures as well: the densest 300 seconds hold 301 of them.
  auto burst = service.Get(FindingId("FailedSignatureBurst", "AKIAAPP"));
  ASSERT_TRUE(burst.has_value());
  EXPECT_EQ(burst->evidence.at("Failures"), "301");
}

TEST(EventLogSourceTest, RecordCarriesKeyInactive) {
  nlohmann::json record = {{"eventTime", "2026-11-29T23:25:14Z"},
                           {"errorCode", "InvalidClientTokenId"},
                           {"userIdentity", {{"accessKeyId", "AKIAX"}}}};
  auto plain = events::Summarize(1, record);
  ASSERT_TRUE(plain.has_value());
  EXPECT_FALSE(ToAuditEvent(*plain).key_inactive);
  record["additionalEventData"] = {{"keyInactive", true}};
  auto inactive = events::Summarize(2, record);
  ASSERT_TRUE(inactive.has_value());
  EXPECT_TRUE(ToAuditEvent(*inactive).key_inactive);
  EXPECT_EQ(ToAuditEvent(*inactive).access_key_id, "AKIAX");
}

TEST(EventLogSourceTest, SummaryCarriesKeyInactive) {
  events::EventSummary s;
  s.access_key_id = "AKIAX";
  s.instance_id = "mi-1";
  s.source_ip = "10.0.0.1";
  s.error_code = "InvalidClientTokenId";
  s.key_inactive = true;
  const AuditEvent e = ToAuditEvent(s);
  EXPECT_EQ(e.access_key_id, "AKIAX");
  EXPECT_EQ(e.instance_id, "mi-1");
  EXPECT_EQ(e.source_ip, "10.0.0.1");
  EXPECT_EQ(e.error_code, "InvalidClientTokenId");
  EXPECT_TRUE(e.key_inactive);
}

}  // namespace
}  // namespace kw::audit
