#include "events/event_index_scan.hpp"

#include <memory>
#include <string>
#include <unordered_map>

#include "events/event_log.hpp"
#include "events/event_log_format.hpp"

namespace kw::events {
namespace {

using format::BlockRange;
using format::KeySequence;
using format::kIndexMagic;
using format::RangeOf;
using format::UnixSeconds;
using format::UnZigZag;

// EventLog::WalkIndex is the one walk of the index, behind both ScanIndexBlocks and
// ScanIndexed; blocks without a usable row are read from their records over
// format::ScanBlocks, the walk the record readers (event_log.cpp) use. The index format
// is the writer's (EncodeEventIndex); DecodeRow reads it with DecodeEventIndex's checks
// but as views into the row, so that a row DecodeEventIndex rejects (verify reports it)
// is read from its records here too.

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
  format::IndexReader r{value.data() + kIndexMagic.size(), value.data() + value.size()};
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

Status EventLog::WalkIndex(std::optional<TimePoint> start, std::optional<TimePoint> end, bool own,
                           const IndexBlockFn& fn) const {
  KW_ASSIGN_OR_RETURN(const std::int64_t from, StartSequenceFor(end, std::nullopt));
  IndexBlock block;  // reused: its vectors keep their capacity from block to block
  std::vector<std::int64_t> sequences;
  std::shared_ptr<const void> storage;  // with `own`: what `block`'s views point into
  bool stopped = false;
  // Hands `block` over (if it has events) and empties it; false: stop the scan.
  auto deliver = [&]() {
    if (!block.events.empty() && !fn(block, sequences, std::move(storage))) stopped = true;
    block.events.clear();
    block.strings.clear();
    sequences.clear();
    storage.reset();
    return !stopped;
  };

  // Blocks [lo, hi] that have no usable index row: from their records, one IndexBlock per
  // stored block, with ScanEvents' filter (event_log.cpp).
  std::vector<EventSummary> reused;  // without `own`
  std::unordered_map<std::string_view, std::uint32_t> ids;
  auto intern = [&](std::string_view s) {
    auto [it, added] = ids.emplace(s, static_cast<std::uint32_t>(block.strings.size()));
    if (added) block.strings.push_back(s);
    return it->second;
  };
  auto from_records = [&](std::int64_t lo, std::int64_t hi) -> Status {
    bool done = false;
    return format::ScanBlocksInRange(store_, hi, start, end, [&](const store::Item& item) {
      auto stored = DecodeEventBlock(item.value);
      if (!stored) return true;
      // The summaries the views point into: a fresh vector handed over with the block
      // when the caller keeps them, else one reused from block to block.
      std::vector<EventSummary>* kept = &reused;
      if (own) {
        auto owned = std::make_shared<std::vector<EventSummary>>();
        kept = owned.get();
        storage = std::move(owned);
      }
      kept->clear();
      kept->reserve(stored->rows.size());  // no reallocation: `ids` views into it
      for (auto it = stored->rows.rbegin(); it != stored->rows.rend() && !done; ++it) {
        auto read = format::ReadEvent(*it);
        if (!read) continue;
        EventSummary& s = read->summary;
        if (s.sequence > hi) continue;
        if (start && s.time < *start) {
          if (s.time < *start - kMaxOutOfOrder) done = true;
          continue;
        }
        if (end && s.time > *end) continue;
        if (s.sequence < lo) {
          done = true;
          continue;
        }
        kept->push_back(std::move(s));
      }
      ids.clear();
      for (const EventSummary& s : *kept) {
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
        sequences.push_back(s.sequence);
      }
      return deliver() && !done;
    });
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
      std::string_view value = item.value;
      std::shared_ptr<const std::string> owned;
      if (own) {
        owned = std::make_shared<const std::string>(std::move(item.value));
        value = *owned;
      }
      // An unusable row stands for nothing: its block is read from its records.
      if (!DecodeRow(value, row) || row.first_sequence != first || row.events.empty()) {
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
      // The per-event filter of ScanEvents (event_log.cpp), newest first; an event too
      // old ends the scan after what came before it.
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
        sequences.push_back(sequence);
      }
      if (!block.events.empty()) {
        block.strings.swap(row.strings);
        storage = std::move(owned);
      }
      if (!deliver() || end_scan) return OkStatus();
    }
    if (items.size() < kIndexPage) break;
  }
  if (cursor > 0) KW_RETURN_IF_ERROR(from_records(1, cursor));
  return OkStatus();
}

Status EventLog::ScanIndexBlocks(std::optional<TimePoint> start, std::optional<TimePoint> end,
                                 const std::function<bool(const IndexBlock&)>& fn) const {
  return WalkIndex(start, end, /*own=*/false,
                   [&](const IndexBlock& block, const std::vector<std::int64_t>&,
                       std::shared_ptr<const void>) { return fn(block); });
}

Status EventLog::ScanIndexed(std::optional<TimePoint> start, std::optional<TimePoint> end,
                             const std::function<bool(const IndexedEvent&)>& fn,
                             std::vector<std::shared_ptr<const void>>* keep) const {
  return WalkIndex(start, end, /*own=*/keep != nullptr,
                   [&](const IndexBlock& block, const std::vector<std::int64_t>& sequences,
                       std::shared_ptr<const void> storage) {
                     if (keep != nullptr) keep->push_back(std::move(storage));
                     const auto& str = block.strings;
                     for (std::size_t i = 0; i < block.events.size(); ++i) {
                       const BlockEvent& b = block.events[i];
                       IndexedEvent e;
                       e.sequence = sequences[i];
                       e.time = b.time;
                       e.event_name = str[b.event_name];
                       e.access_key_id = str[b.access_key_id];
                       e.user_arn = str[b.user_arn];
                       e.instance_id = str[b.instance_id];
                       e.source_ip = str[b.source_ip];
                       e.error_code = str[b.error_code];
                       e.key_inactive = b.key_inactive;
                       if (!fn(e)) return false;
                     }
                     return true;
                   });
}

}  // namespace kw::events
