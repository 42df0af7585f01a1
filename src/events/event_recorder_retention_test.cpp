// Retention as the server runs it: the recorder's writer prunes events older than
// RecorderOptions::retention on its own (once per prune_interval), and what is left still
// verifies. EventLogTest covers Prune itself; this covers that the recorder calls it.
#include <gtest/gtest.h>

#include "common/time_format.hpp"
#include "crypto/csprng.hpp"
#include "crypto/signature.hpp"
#include "events/event_log.hpp"
#include "events/event_log_test_support.hpp"
#include "events/event_recorder.hpp"
#include "store/memory/memory_kv_store.hpp"

namespace kw::events {
namespace {

class RecorderRetentionTest : public test_support::SignedEventLogTest {
 protected:
  Event At(const std::string& request_id) {
    Event e;
    e.time = clock_.Now();
    e.event_source = "sts.amazonaws.com";
    e.event_name = "GetCallerIdentity";
    e.request_id = request_id;
    return e;
  }

  // Two days of traffic: 5 events now and 3 stamped 48 hours later, then the clock moves
  // on those 48 hours and one more event comes. The later events are written before the
  // clock moves, so whichever writer round prunes first (a periodic one may run at any
  // time after the move) already has them: the log's newest record, which pruning always
  // keeps, is never one of the old day's.
  void RecordTwoDays(EventRecorder& recorder) {
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(recorder.Record(At("old" + std::to_string(i))));
    recorder.Flush();
    for (int i = 0; i < 3; ++i) {
      Event e = At("new" + std::to_string(i));
      e.time += std::chrono::hours(48);
      ASSERT_TRUE(recorder.Record(std::move(e)));
    }
    recorder.Flush();
    clock_.Advance(std::chrono::hours(48));
    ASSERT_TRUE(recorder.Record(At("new3")));
    recorder.Flush();
  }

  std::vector<std::string> RequestIds() {
    LookupQuery q;
    q.max_results = 50;
    auto page = log_->Lookup(q);
    EXPECT_TRUE(page.has_value());
    std::vector<std::string> ids;
    if (!page) return ids;
    for (const auto& e : page->events) ids.push_back(e.record["requestID"].get<std::string>());
    return ids;
  }

  FakeClock clock_{*ParseIso8601("2026-03-01T00:00:00Z")};
  crypto::Csprng random_;
};

TEST_F(RecorderRetentionTest, TheWriterPrunesPastTheRetentionAndTheRestVerifies) {
  {
    RecorderOptions opts;
    opts.retention = std::chrono::hours(24);
    EventRecorder recorder(*log_, clock_, random_, opts);
    RecordTwoDays(recorder);
  }
  EXPECT_EQ(RequestIds(), (std::vector<std::string>{"new3", "new2", "new1", "new0"}));
  auto report = EventLog::Verify(store_, public_key_);
  ASSERT_TRUE(report.has_value());
  EXPECT_TRUE(report->ok()) << report->problems[0].what;
  EXPECT_EQ(report->first_sequence, 6);
  EXPECT_EQ(report->last_sequence, 9);
}

TEST_F(RecorderRetentionTest, WithoutRetentionNothingIsPruned) {
  {
    RecorderOptions opts;  // retention: nullopt
    EventRecorder recorder(*log_, clock_, random_, opts);
    RecordTwoDays(recorder);
  }
  EXPECT_EQ(RequestIds().size(), 9u);
  auto report = EventLog::Verify(store_, public_key_);
  ASSERT_TRUE(report.has_value());
  EXPECT_TRUE(report->ok());
  EXPECT_EQ(report->first_sequence, 1);
}

}  // namespace
}  // namespace kw::events
