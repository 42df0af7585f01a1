#include "events/event_recorder.hpp"

#include <gtest/gtest.h>

#include "common/time_format.hpp"
#include "crypto/csprng.hpp"
#include "crypto/signature.hpp"
#include "events/event_log_test_support.hpp"
#include "store/memory/memory_kv_store.hpp"

namespace kw::events {
namespace {

class EventRecorderTest : public test_support::SignedEventLogTest {
 protected:
  Event ApiEvent(int i) {
    Event e;
    e.time = clock_.Now();
    e.event_source = "iam.amazonaws.com";
    e.event_name = "ListUsers";
    e.request_id = "r" + std::to_string(i);
    return e;
  }

  FakeClock clock_{*ParseIso8601("2026-03-01T00:00:00Z")};
  crypto::Csprng random_;
};

TEST_F(EventRecorderTest, QueuedEventsAreWrittenInOrderWithIdsAndASignedHead) {
  {
    RecorderOptions opts;
    opts.account_id = "123456789012";
    opts.batch = 7;  // several transactions
    EventRecorder recorder(*log_, clock_, random_, opts);
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(recorder.Record(ApiEvent(i)));
    recorder.Flush();
    EXPECT_EQ(recorder.written(), 50u);
    EXPECT_EQ(recorder.dropped(), 0u);
  }
  LookupQuery q;
  q.max_results = 50;
  auto page = log_->Lookup(q);
  ASSERT_TRUE(page.has_value());
  ASSERT_EQ(page->events.size(), 50u);
  EXPECT_EQ(page->events[0].record["requestID"], "r49");
  EXPECT_EQ(page->events[49].record["requestID"], "r0");
  EXPECT_EQ(page->events[0].record["recipientAccountId"], "123456789012");
  EXPECT_EQ(page->events[0].summary.event_id.size(), 36u);
  EXPECT_NE(page->events[0].summary.event_id, page->events[1].summary.event_id);
  auto report = EventLog::Verify(store_, public_key_);
  ASSERT_TRUE(report.has_value());
  EXPECT_TRUE(report->ok());
  ASSERT_TRUE(report->head.has_value());
  EXPECT_EQ(report->head->sequence, 50);  // signed at shutdown
}

// The writer cannot run while the store's transaction is blocked; the queue bound then
// drops and counts instead of blocking the caller.
class BlockingStore final : public store::KvStore {
 public:
  explicit BlockingStore(store::KvStore& inner) : inner_(inner) {}
  Status Transact(const std::function<Status(store::Txn&)>& fn) override {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return open_; });
    lock.unlock();
    return inner_.Transact(fn);
  }
  Result<std::optional<store::Item>> Get(std::string_view t, std::string_view k) override {
    return inner_.Get(t, k);
  }
  Result<std::vector<store::Item>> List(std::string_view t, const store::ListOptions& o) override {
    return inner_.List(t, o);
  }
  void Open() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }

 private:
  store::KvStore& inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

TEST_F(EventRecorderTest, AFullQueueDropsAndCountsWithoutBlocking) {
  BlockingStore blocking(store_);
  auto log = EventLog::Open(blocking, std::nullopt);
  ASSERT_TRUE(log.has_value());
  RecorderOptions opts;
  opts.max_queue = 10;
  opts.batch = 1000;
  opts.flush_interval = std::chrono::milliseconds(1);
  EventRecorder recorder(**log, clock_, random_, opts);
  ASSERT_TRUE(recorder.Record(ApiEvent(0)));
  // Let the writer take the first event and block in the store.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  int accepted = 0;
  for (int i = 1; i <= 25; ++i) accepted += recorder.Record(ApiEvent(i)) ? 1 : 0;
  EXPECT_EQ(accepted, 10);
  EXPECT_EQ(recorder.dropped(), 15u);
  blocking.Open();
  recorder.Flush();
  EXPECT_EQ(recorder.written(), 11u);
}

TEST_F(EventRecorderTest, ServiceEventsNameTheInstanceAndKeepOnlySafeMembers) {
  {
    EventRecorder recorder(*log_, clock_, random_, RecorderOptions{});
    ServiceEvent e;
    e.event_name = "RegisterManagedInstance";
    e.instance_id = "mi-0123456789abcdef0";
    e.source_ip = "10.0.0.5";
    e.request_parameters = {{"ActivationId", "act-1"}, {"ActivationCode", "c0de"}};
    ASSERT_TRUE(recorder.RecordServiceEvent(std::move(e)));
  }
  LookupQuery q;
  q.attribute = {LookupAttribute::kResourceName, "mi-0123456789abcdef0"};
  auto page = log_->Lookup(q);
  ASSERT_TRUE(page.has_value());
  ASSERT_EQ(page->events.size(), 1u);
  const auto& record = page->events[0].record;
  EXPECT_EQ(record["eventType"], "AwsServiceEvent");
  EXPECT_EQ(record["userIdentity"]["instanceId"], "mi-0123456789abcdef0");
  EXPECT_EQ(record["requestParameters"]["ActivationId"], "act-1");
  EXPECT_EQ(record.dump().find("c0de"), std::string::npos);
}

TEST_F(EventRecorderTest, RecordReusingHandsBackWrittenEventsWithTheirBuffers) {
  const std::string long_agent(200, 'a');
  {
    RecorderOptions opts;
    opts.account_id = "123456789012";
    EventRecorder recorder(*log_, clock_, random_, opts);
    auto event = std::make_unique<Event>(ApiEvent(0));
    event->user_agent = long_agent;
    ASSERT_TRUE(recorder.RecordReusing(event));
    EXPECT_EQ(event, nullptr);  // nothing written yet, so nothing to hand back
    recorder.Flush();
    event = std::make_unique<Event>(ApiEvent(1));
    ASSERT_TRUE(recorder.RecordReusing(event));
    // The first event, written: its strings keep their capacity for the next fill.
    ASSERT_NE(event, nullptr);
    EXPECT_EQ(event->request_id, "r0");
    EXPECT_GE(event->user_agent.capacity(), long_agent.size());
    *event = ApiEvent(2);  // a caller overwrites every member, event_id included
    ASSERT_TRUE(recorder.RecordReusing(event));
    recorder.Flush();
    EXPECT_EQ(recorder.written(), 3u);
  }
  LookupQuery q;
  q.max_results = 10;
  auto page = log_->Lookup(q);
  ASSERT_TRUE(page.has_value());
  ASSERT_EQ(page->events.size(), 3u);
  EXPECT_EQ(page->events[0].record["requestID"], "r2");
  EXPECT_EQ(page->events[1].record["requestID"], "r1");
  EXPECT_EQ(page->events[2].record["requestID"], "r0");
  EXPECT_EQ(page->events[2].record["userAgent"], long_agent);
  EXPECT_NE(page->events[0].summary.event_id, page->events[2].summary.event_id);
  auto report = EventLog::Verify(store_, public_key_);
  ASSERT_TRUE(report.has_value());
  EXPECT_TRUE(report->ok());
}

TEST_F(EventRecorderTest, RecordReusingLeavesADroppedEventWithTheCaller) {
  RecorderOptions opts;
  opts.max_queue = 0;
  EventRecorder recorder(*log_, clock_, random_, opts);
  auto event = std::make_unique<Event>(ApiEvent(7));
  EXPECT_FALSE(recorder.RecordReusing(event));
  ASSERT_NE(event, nullptr);
  EXPECT_EQ(event->request_id, "r7");
  EXPECT_EQ(recorder.dropped(), 1u);
}

}  // namespace
}  // namespace kw::events
