#include "events/event_index_scan.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "common/time_format.hpp"
#include "events/event_log.hpp"
#include "store/memory/memory_kv_store.hpp"

namespace kw::events {
namespace {

TimePoint T0() { return *ParseIso8601("2026-01-01T00:00:00Z"); }

// What a scan saw of one event, strings resolved.
struct Seen {
  TimePoint time;
  std::string name, key, arn, instance, ip, error;
  bool inactive = false;
  bool operator==(const Seen&) const = default;
};

class EventIndexScanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto log = EventLog::Open(store_, std::nullopt);
    ASSERT_TRUE(log.has_value());
    log_ = std::move(*log);
  }

  // n events a minute apart from T0 + 1 min, in batches of `batch` (one block each at
  // most kBlockRecords), with repeated keys, instances, refusals and inactive keys.
  void Fill(int n, int batch) {
    std::vector<RawRecord> raw;
    for (int i = 1; i <= n; ++i) {
      Event e;
      e.time = T0() + std::chrono::minutes(i);
      e.event_source = "secretsmanager.amazonaws.com";
      e.event_name = i % 13 == 0 ? "PutSecretValue" : "GetSecretValue";
      e.source_ip = "10.0.0." + std::to_string(i % 5);
      e.identity.type = "IAMUser";
      e.identity.access_key_id = "AKIA" + std::to_string(i % 7);
      e.identity.arn = "arn:aws:iam::123456789012:user/u" + std::to_string(i % 7);
      if (i % 17 == 0) e.identity.instance_id = "mi-" + std::to_string(i % 3);
      e.event_id = "id-" + std::to_string(i);
      if (i % 11 == 0) e.error_code = "SignatureDoesNotMatch";
      if (i % 23 == 0) {
        e.error_code = "InvalidClientTokenId";
        e.additional_event_data = {{"keyInactive", true}};
      }
      raw.push_back({RecordJson(e), e.time, SummaryOf(e)});
      if (static_cast<int>(raw.size()) == batch || i == n) {
        ASSERT_TRUE(log_->AppendRaw(raw).has_value());
        raw.clear();
      }
    }
  }

  std::vector<Seen> Indexed(std::optional<TimePoint> start, std::optional<TimePoint> end) {
    std::vector<Seen> out;
    EXPECT_TRUE(log_->ScanIndexed(start, end,
                                  [&](const IndexedEvent& e) {
                                    out.push_back(
                                        {e.time, std::string(e.event_name),
                                         std::string(e.access_key_id), std::string(e.user_arn),
                                         std::string(e.instance_id), std::string(e.source_ip),
                                         std::string(e.error_code), e.key_inactive});
                                    return true;
                                  })
                    .has_value());
    return out;
  }

  std::vector<Seen> Blocks(std::optional<TimePoint> start, std::optional<TimePoint> end,
                           std::size_t* blocks = nullptr) {
    std::vector<Seen> out;
    std::size_t n = 0;
    EXPECT_TRUE(log_->ScanIndexBlocks(start, end,
                                      [&](const IndexBlock& b) {
                                        ++n;
                                        EXPECT_FALSE(b.events.empty());
                                        auto s = [&](std::uint32_t i) {
                                          EXPECT_LT(i, b.strings.size());
                                          return std::string(b.strings.at(i));
                                        };
                                        for (const BlockEvent& e : b.events) {
                                          out.push_back({e.time, s(e.event_name),
                                                         s(e.access_key_id), s(e.user_arn),
                                                         s(e.instance_id), s(e.source_ip),
                                                         s(e.error_code), e.key_inactive});
                                        }
                                        return true;
                                      })
                    .has_value());
    if (blocks != nullptr) *blocks = n;
    return out;
  }

  void DeleteIndexRow(std::int64_t seq) {
    ASSERT_TRUE(store_
                    .Transact([&](store::Txn& txn) -> Status {
                      return txn.Delete(kEventIndexTable, EventKey(seq));
                    })
                    .has_value());
  }

  // Every window the tests compare: open, closed, within one block, past either end.
  std::vector<std::pair<std::optional<TimePoint>, std::optional<TimePoint>>> Windows() {
    using std::chrono::minutes;
    return {{std::nullopt, std::nullopt},
            {T0() + minutes(500), T0() + minutes(600)},
            {T0() + minutes(100), std::nullopt},
            {std::nullopt, T0() + minutes(700)},
            {T0() + minutes(1040), T0() + minutes(1043)},
            {T0() + minutes(5000), std::nullopt},
            {std::nullopt, T0()}};
  }

  store::MemoryKvStore store_;
  std::unique_ptr<EventLog> log_;
};

TEST_F(EventIndexScanTest, SeesWhatScanIndexedSeesBlockByBlock) {
  Fill(1100, 300);  // 4 blocks
  std::size_t blocks = 0;
  auto all = Blocks(std::nullopt, std::nullopt, &blocks);
  ASSERT_EQ(all.size(), 1100u);
  EXPECT_EQ(blocks, 4u);
  EXPECT_EQ(all, Indexed(std::nullopt, std::nullopt));
  EXPECT_EQ(all.front().time, T0() + std::chrono::minutes(1100));  // newest first
  EXPECT_EQ(all.front().key, "AKIA1");                             // 1100 % 7
  for (const auto& [start, end] : Windows()) {
    EXPECT_EQ(Blocks(start, end), Indexed(start, end));
  }
  EXPECT_EQ(Blocks(T0() + std::chrono::minutes(500), T0() + std::chrono::minutes(600)).size(),
            101u);
}

TEST_F(EventIndexScanTest, BlocksWithoutAnIndexRowAreReadFromTheirRecords) {
  Fill(1100, 300);
  const auto expected = Indexed(std::nullopt, std::nullopt);
  DeleteIndexRow(301);  // a middle block
  EXPECT_EQ(Blocks(std::nullopt, std::nullopt), expected);
  DeleteIndexRow(1);  // the oldest
  for (const auto& [start, end] : Windows()) {
    EXPECT_EQ(Blocks(start, end), Indexed(start, end));
  }
  DeleteIndexRow(601);
  DeleteIndexRow(901);  // none left: a log from before the index
  std::size_t blocks = 0;
  EXPECT_EQ(Blocks(std::nullopt, std::nullopt, &blocks), expected);
  EXPECT_EQ(blocks, 4u);
  for (const auto& [start, end] : Windows()) {
    EXPECT_EQ(Blocks(start, end), Indexed(start, end));
  }
}

TEST_F(EventIndexScanTest, AnUnreadableIndexRowIsReadFromTheRecords) {
  Fill(600, 300);
  const auto expected = Indexed(std::nullopt, std::nullopt);
  ASSERT_TRUE(store_
                  .Transact([&](store::Txn& txn) -> Status {
                    auto r = txn.Put(kEventIndexTable, EventKey(301), "kwix1garbage");
                    if (!r) return r.error();
                    return OkStatus();
                  })
                  .has_value());
  EXPECT_EQ(Blocks(std::nullopt, std::nullopt), expected);
}

TEST_F(EventIndexScanTest, ScanIndexedViewsLiveAsLongAsKeepHoldsThem) {
  Fill(1100, 300);
  DeleteIndexRow(301);  // one block from its records, the others from the index
  const auto expected = Indexed(std::nullopt, std::nullopt);
  std::vector<std::shared_ptr<const void>> keep;
  std::vector<IndexedEvent> kept;
  ASSERT_TRUE(log_->ScanIndexed(
                      std::nullopt, std::nullopt,
                      [&](const IndexedEvent& e) {
                        kept.push_back(e);
                        return true;
                      },
                      &keep)
                  .has_value());
  EXPECT_EQ(std::count(keep.begin(), keep.end(), nullptr), 0);
  EXPECT_EQ(keep.size(), 4u);  // one per block
  // Scans that reuse the memory a stray view would still point into.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Indexed(std::nullopt, std::nullopt), expected);
  ASSERT_EQ(kept.size(), expected.size());
  for (std::size_t i = 0; i < kept.size(); ++i) {
    const IndexedEvent& e = kept[i];
    EXPECT_EQ(e.sequence, 1100 - static_cast<std::int64_t>(i));
    const Seen seen{e.time,
                    std::string(e.event_name),
                    std::string(e.access_key_id),
                    std::string(e.user_arn),
                    std::string(e.instance_id),
                    std::string(e.source_ip),
                    std::string(e.error_code),
                    e.key_inactive};
    ASSERT_EQ(seen, expected[i]) << "event " << i;
  }
}

TEST_F(EventIndexScanTest, StopsWhenTold) {
  Fill(1100, 300);
  int calls = 0;
  ASSERT_TRUE(log_->ScanIndexBlocks(std::nullopt, std::nullopt,
                                    [&](const IndexBlock&) { return ++calls < 2; })
                  .has_value());
  EXPECT_EQ(calls, 2);
}

}  // namespace
}  // namespace kw::events
