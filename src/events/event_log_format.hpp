#pragma once

// Pieces of the event log's stored format (event_log.hpp's header comment) shared by
// its writer and readers (event_log.cpp) and the audit's index reader
// (event_index_scan.cpp). Internal to the events module.

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

#include "common/clock.hpp"
#include "events/event_log.hpp"

namespace kw::events::format {

// The sequence EventKey(sequence) encodes; 0 if `key` is not such a key.
std::int64_t KeySequence(std::string_view key);

// Whole seconds since the epoch, rounded down (the block header's and index's unit).
std::int64_t UnixSeconds(TimePoint t);

// The index row's encoding (EncodeEventIndex): its magic, and signed numbers as zigzag
// varints.
inline constexpr std::string_view kIndexMagic = "kwix1";
inline std::uint64_t ZigZag(std::int64_t v) {
  return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
inline std::int64_t UnZigZag(std::uint64_t v) {
  return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
}

// A bounds-checked reader of the index encoding: `ok` turns false (and Varint returns 0)
// at a varint that runs past `end` or past 64 bits.
struct IndexReader {
  const char* p;
  const char* end;
  bool ok = true;
  // One byte is the common case (string numbers below 128, small time offsets): that
  // path is inlined into the decoding loops, the rest is a call.
  [[gnu::always_inline]] std::uint64_t Varint() {
    if (p != end && static_cast<unsigned char>(*p) < 0x80) {
      return static_cast<unsigned char>(*p++);
    }
    return VarintSlow();
  }
  [[gnu::noinline]] std::uint64_t VarintSlow();
};

// The header of a block whose records are a zstd frame (ADR 0015); "kwev1 " blocks,
// written before, hold a zlib stream.
inline constexpr std::string_view kZstdBlockMagic = "kwev2 ";

// Parses a block's header "kwev2 FIRST TMIN TMAX\n" (or "kwev1 ...") into `block` (not its rows);
// returns the offset of the compressed records, 0 if the header is invalid.
std::size_t ParseBlockHeader(std::string_view value, EventBlock& block);

enum class BlockRange { kRead, kSkip, kStop };

// Whether a block whose events lie within [min_time, max_time] (Unix seconds) can hold
// events with start <= time <= end (kStop: it and every older block are before start,
// allowing kMaxOutOfOrder).
BlockRange RangeOf(std::int64_t min_time, std::int64_t max_time, std::optional<TimePoint> start,
                   std::optional<TimePoint> end);

// The stored blocks (table "events") holding sequences <= `from`, newest first, a page
// at a time, until `fn` returns false. Only the header is read here: `fn` inflates
// (DecodeEventBlock) when it needs the records. The one walk of the blocks behind the
// record readers (Scan, Lookup) and the index readers' fallback.
Status ScanBlocks(store::KvStore& store, std::int64_t from,
                  const std::function<bool(const store::Item&)>& fn);
// ScanBlocks over only the blocks whose header says they can hold events with
// start <= time <= end (RangeOf): the walk stops at the first block wholly before
// start, and blocks with an unreadable header are skipped (verify reports them).
Status ScanBlocksInRange(store::KvStore& store, std::int64_t from, std::optional<TimePoint> start,
                         std::optional<TimePoint> end,
                         const std::function<bool(const store::Item&)>& fn);

// The stored event of a record line ({"event":RECORD,...,"seq":N}); nullopt if the line
// or its record is unreadable.
std::optional<StoredEvent> ReadEvent(std::string_view line);

}  // namespace kw::events::format
