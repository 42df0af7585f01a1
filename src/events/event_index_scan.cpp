#include "events/event_index_scan.hpp"

#include <string>
#include <unordered_map>

#include "events/event_log.hpp"
#include "events/event_log_format.hpp"

namespace kw::events {
namespace {

using format::BlockRange;
using format::KeySequence;
using format::RangeOf;
using format::UnixSeconds;

// The same walk as EventLog::ScanIndexed (event_log.cpp), with the stored-format
// helpers both share (event_log_format.hpp). The index format is the writer's
// (EncodeEventIndex); DecodeRow reads it with DecodeEventIndex's checks but as views
// into the row, so that a row either reader rejects is read from its records by both.

constexpr std::string_view kIndexMagic = "kwix1";

std::int64_t UnZigZag(std::uint64_t v) {
  return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
}

struct Reader {
  const char* p;
  const char* end;
  bool ok = true;
  // One byte is the common case (string numbers below 128, small time offsets): that
  // path is inlined into the decoding loop, the rest is a call.
  [[gnu::always_inline]] std::uint64_t Varint() {
    if (p != end && static_cast<unsigned char>(*p) < 0x80) {
      return static_cast<unsigned char>(*p++);
    }
    return VarintSlow();
  }
  [[gnu::noinline]] std::uint64_t VarintSlow() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p == end) break;
      const auto b = static_cast<unsigned char>(*p++);
      v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if (b < 0x80) return v;
    }
    ok = false;
    return 0;
  }
};

// A decoded index row: strings and events (oldest first) into reused buffers.
struct DecodedRow {
  std::int64_t first_sequence = 0;
  std::int64_t min_time = 0;
  std::int64_t max_time = 0;
  std::vector<std::string_view> strings;
  std::vector<BlockEvent> events;
};

// False where DecodeEventIndex answers nullopt.
bool DecodeRow(std::string_view value, DecodedRow& row) {
  if (value.substr(0, kIndexMagic.size()) != kIndexMagic) return false;
  Reader r{value.data() + kIndexMagic.size(), value.data() + value.size()};
  row.first_sequence = static_cast<std::int64_t>(r.Varint());
  row.min_time = UnZigZag(r.Varint());
  row.max_time = UnZigZag(r.Varint());
  const std::uint64_t nstrings = r.Varint();
  if (!r.ok || row.first_sequence < 1 || nstrings > static_cast<std::uint64_t>(r.end - r.p)) {
    return false;
  }
  row.strings.clear();
  row.strings.reserve(nstrings);
  for (std::uint64_t i = 0; i < nstrings; ++i) {
    const std::uint64_t len = r.Varint();
    if (!r.ok || len > static_cast<std::uint64_t>(r.end - r.p)) return false;
    row.strings.emplace_back(r.p, len);
    r.p += len;
  }
  const std::uint64_t count = r.Varint();
  if (!r.ok || count > static_cast<std::uint64_t>(r.end - r.p) / 8) return false;
  row.events.resize(count);
  for (std::uint64_t i = 0; i < count; ++i) {
    BlockEvent& e = row.events[i];
    e.time = TimePoint(std::chrono::seconds(row.min_time + UnZigZag(r.Varint())));
    std::uint32_t* fields[] = {&e.event_name,  &e.access_key_id, &e.user_arn,
                               &e.instance_id, &e.source_ip,     &e.error_code};
    for (std::uint32_t* f : fields) {
      const std::uint64_t id = r.Varint();
      if (id >= nstrings) return false;
      *f = static_cast<std::uint32_t>(id);
    }
    if (!r.ok || r.p == r.end) return false;
    const char flags = *r.p++;
    if ((flags & ~1) != 0) return false;
    e.key_inactive = flags == 1;
  }
  return r.ok && r.p == r.end;
}

}  // namespace

Status EventLog::ScanIndexBlocks(std::optional<TimePoint> start, std::optional<TimePoint> end,
                                 const std::function<bool(const IndexBlock&)>& fn) const {
  KW_ASSIGN_OR_RETURN(const std::int64_t from, StartSequenceFor(end, std::nullopt));
  IndexBlock block;  // reused: its vectors keep their capacity from block to block
  bool stopped = false;
  // Hands `block` over (if it has events) and empties it; false: stop the scan.
  auto deliver = [&]() {
    if (!block.events.empty() && !fn(block)) stopped = true;
    block.events.clear();
    block.strings.clear();
    return !stopped;
  };

  // Blocks [lo, hi] that have no usable index row: from their records, one IndexBlock per
  // stored block, with ScanEvents' filter (event_log.cpp).
  std::vector<EventSummary> kept;
  std::unordered_map<std::string_view, std::uint32_t> ids;
  auto intern = [&](std::string_view s) {
    auto [it, added] = ids.emplace(s, static_cast<std::uint32_t>(block.strings.size()));
    if (added) block.strings.push_back(s);
    return it->second;
  };
  auto from_records = [&](std::int64_t lo, std::int64_t hi) -> Status {
    constexpr std::size_t kBlockPage = 16;
    std::int64_t cursor = hi;
    bool done = false;
    while (cursor > 0 && !done) {
      store::ListOptions opts;
      opts.start_after = EventKey(cursor + 1);
      opts.limit = kBlockPage;
      KW_ASSIGN_OR_RETURN(auto items, store_.List(kEventsTable, opts));
      for (const auto& item : items) {
        EventBlock header;
        if (format::ParseBlockHeader(item.value, header) == 0) continue;
        const BlockRange range = RangeOf(header.min_time, header.max_time, start, end);
        if (range == BlockRange::kStop) {
          done = true;
          break;
        }
        if (range == BlockRange::kSkip) continue;
        auto stored = DecodeEventBlock(item.value);
        if (!stored) continue;
        kept.clear();
        kept.reserve(stored->rows.size());  // no reallocation: `ids` views into it
        for (auto it = stored->rows.rbegin(); it != stored->rows.rend() && !done; ++it) {
          auto read = format::ReadEvent(*it);
          if (!read) continue;
          std::optional<EventSummary> s = std::move(read->summary);
          if (s->sequence > hi) continue;
          if (start && s->time < *start) {
            if (s->time < *start - kMaxOutOfOrder) done = true;
            continue;
          }
          if (end && s->time > *end) continue;
          if (s->sequence < lo) {
            done = true;
            continue;
          }
          kept.push_back(std::move(*s));
        }
        ids.clear();
        for (const EventSummary& s : kept) {
          BlockEvent e;
          e.time = std::chrono::floor<std::chrono::seconds>(s.time);
          e.event_name = intern(s.event_name);
          e.access_key_id = intern(s.access_key_id);
          e.user_arn = intern(s.user_arn);
          e.instance_id = intern(s.instance_id);
          e.source_ip = intern(s.source_ip);
          e.error_code = intern(s.error_code);
          e.key_inactive = s.key_inactive;
          block.events.push_back(e);
        }
        if (!deliver()) return OkStatus();
        if (done) break;
      }
      if (items.size() < kBlockPage) break;
      cursor = KeySequence(items.back().key) - 1;
    }
    return OkStatus();
  };

  constexpr std::size_t kIndexPage = 64;
  DecodedRow row;
  std::int64_t cursor = from;  // every sequence above it has been visited
  std::string after = EventKey(from + 1);
  while (cursor > 0) {
    store::ListOptions opts;
    opts.start_after = after;
    opts.limit = kIndexPage;
    KW_ASSIGN_OR_RETURN(auto items, store_.List(kEventIndexTable, opts));
    if (items.size() == kIndexPage) after = items.back().key;
    for (auto& item : items) {
      const std::int64_t first = KeySequence(item.key);
      // An unusable row stands for nothing: its block is read from its records.
      if (!DecodeRow(item.value, row) || row.first_sequence != first || row.events.empty()) {
        continue;
      }
      const std::int64_t last = first + static_cast<std::int64_t>(row.events.size()) - 1;
      if (last < cursor) {
        KW_RETURN_IF_ERROR(from_records(last + 1, cursor));
        if (stopped) return OkStatus();
      }
      cursor = first - 1;
      switch (RangeOf(row.min_time, row.max_time, start, end)) {
        case BlockRange::kStop:
          return OkStatus();
        case BlockRange::kSkip:
          continue;
        case BlockRange::kRead:
          break;
      }
      // ScanIndexed's per-event filter, newest first; an event too old ends the scan
      // after what came before it.
      bool end_scan = false;
      std::int64_t sequence = last;
      for (auto it = row.events.rbegin(); it != row.events.rend(); ++it, --sequence) {
        if (sequence > from) continue;
        if (start && it->time < *start) {
          if (it->time >= *start - kMaxOutOfOrder) continue;
          end_scan = true;
          break;
        }
        if (end && it->time > *end) continue;
        block.events.push_back(*it);
      }
      if (!block.events.empty()) block.strings.swap(row.strings);
      if (!deliver() || end_scan) return OkStatus();
    }
    if (items.size() < kIndexPage) break;
  }
  if (cursor > 0) KW_RETURN_IF_ERROR(from_records(1, cursor));
  return OkStatus();
}

}  // namespace kw::events
