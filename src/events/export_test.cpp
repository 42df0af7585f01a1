#include "events/export.hpp"

#include <gtest/gtest.h>

#include "common/time_format.hpp"
#include "store/memory/memory_kv_store.hpp"

namespace kw::events {
namespace {

TEST(ExportTest, GroupsByRegionAndHourOldestFirstWithCloudTrailNames) {
  store::MemoryKvStore store;
  auto log = EventLog::Open(store, std::nullopt);
  ASSERT_TRUE(log.has_value());
  const TimePoint t0 = *ParseIso8601("2026-02-03T10:15:00Z");
  std::vector<nlohmann::json> records;
  for (int i = 0; i < 4; ++i) {
    Event e;
    e.time = t0 + std::chrono::minutes(30 * i);  // 10:15, 10:45, 11:15, 11:45
    e.region = "us-east-1";
    e.event_name = "E" + std::to_string(i);
    e.event_id = "id" + std::to_string(i);
    records.push_back(ToRecord(e));
  }
  ASSERT_TRUE((*log)->Append(records).has_value());
  auto files = BuildExport(**log, "123456789012", t0, t0 + std::chrono::hours(1));
  ASSERT_TRUE(files.has_value());
  ASSERT_EQ(files->size(), 2u);  // 10:xx and 11:xx; 11:45 is after `until`
  const auto& first = (*files)[0];
  EXPECT_EQ(first.records, 2u);
  EXPECT_EQ(first.relative_path.rfind("AWSLogs/123456789012/CloudTrail/us-east-1/2026/02/03/"
                                      "123456789012_CloudTrail_us-east-1_20260203T1000Z_",
                                      0),
            0u)
      << first.relative_path;
  const auto parsed = nlohmann::json::parse(first.json);
  ASSERT_EQ(parsed["Records"].size(), 2u);
  EXPECT_EQ(parsed["Records"][0]["eventName"], "E0");
  EXPECT_EQ(parsed["Records"][1]["eventName"], "E1");
  EXPECT_EQ((*files)[1].records, 1u);
}

}  // namespace
}  // namespace kw::events
