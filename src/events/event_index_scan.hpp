#pragma once

// The event log's index (ADR 0013) read a block at a time, for readers that aggregate
// millions of events (the audit's event rules): each block's strings arrive numbered
// once, as the index stores them, so that a reader resolves each distinct string of a
// block once (a key's ID to its slot, say) and does only integer work per event. The
// definition of EventLog::ScanIndexBlocks (event_log.hpp) lives in event_index_scan.cpp.

#include <cstdint>
#include <string_view>
#include <vector>

#include "common/clock.hpp"

namespace kw::events {

// One event of an IndexBlock: its string fields are numbers into IndexBlock::strings.
struct BlockEvent {
  TimePoint time;  // second precision
  std::uint32_t event_name = 0;
  std::uint32_t access_key_id = 0;  // as presented, also for refused signatures
  std::uint32_t user_arn = 0;
  std::uint32_t instance_id = 0;
  std::uint32_t source_ip = 0;
  std::uint32_t error_code = 0;  // the empty string on success
  bool key_inactive = false;
};

// The events of one index row (or of one stored block without a row, read from its
// records) that pass the scan's filter, newest first. `strings` may hold strings no event
// of `events` uses; the empty string is there if an event has an empty field. Its views
// are valid during the callback only.
struct IndexBlock {
  std::vector<std::string_view> strings;
  std::vector<BlockEvent> events;
};

}  // namespace kw::events
