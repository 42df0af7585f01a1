#pragma once

// The durable, hash-chained event log over store::KvStore (docs/events.md).
//
// Each record is the line
//   {"event":RECORD,"hash":"HEX","prev":"HEX","seq":N}
// where RECORD is the CloudTrail record as canonical JSON (sorted keys, no spaces) and
//   hash = SHA-256(prev || decimal(N) || "\n" || RECORD)
// with prev the raw 32-byte hash of record N-1 (32 zero bytes before record 1, or the
// checkpoint's hash after a prune).
//
// Table "events": one row per block of consecutive records (one Append, at most
// kBlockRecords), keyed by EventKey(first sequence of the block) so that an ascending
// scan reads newest first, as LookupEvents answers. The value is the header line
//   "kwev2 FIRST TMIN TMAX\n"
// (decimal; TMIN/TMAX bound the block's event times in Unix seconds, so that time-range
// lookups skip blocks without inflating them) followed by a zstd frame (with a content
// checksum) of the block's record lines, oldest first, joined by "\n". Blocks written
// before ADR 0015 begin "kwev1 " and hold a zlib stream; they are read as before. Writing a block
// instead of a row per record cuts what SQLite writes (WAL and checkpoint) several times over (ADR
// 0012). The header is only an index: the chain covers the records, and verify locates a change,
// removal or reordering by the records' own sequence numbers.
//
// Table "event_index" (ADR 0013): one row per block, same key, written in the same
// transaction: the fields the audit reads of each record (EncodeEventIndex), so that an
// audit over millions of events neither inflates nor parses records. Blocks written
// before the index existed have no row; readers fall back to their records. Verify checks
// every index row against its block's records, since the audit trusts the index.
//
// Table "event_meta": "head", the newest signed (sequence, hash), and "checkpoint", the
// signed (sequence, hash) of the last record pruned. Both are Ed25519 signatures over
// SignedPointMessage, by a key kept outside the database, so that rewriting the whole
// chain after an edit is detected too.

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"
#include "common/result.hpp"
#include "common/secret_bytes.hpp"
#include "events/event.hpp"
#include "store/kv_store.hpp"

namespace kw::events {

inline constexpr std::string_view kEventsTable = "events";
inline constexpr std::string_view kEventMetaTable = "event_meta";
inline constexpr std::string_view kEventIndexTable = "event_index";

// A signed position in the chain.
struct ChainPoint {
  std::int64_t sequence = 0;
  std::string hash_hex;  // 64 lowercase hex digits
  TimePoint time;        // when it was signed
  std::string signature_b64;
};

// "keyward-events-v1\n" + kind + "\n" + sequence + "\n" + hash + "\n" + time.
std::string SignedPointMessage(std::string_view kind, const ChainPoint& point);

// The row key of the block whose first record is `sequence` (inverted, so ascending keys
// run newest first).
std::string EventKey(std::int64_t sequence);

// Records per block at most: bounds what a lookup of the newest events inflates.
inline constexpr std::size_t kBlockRecords = 512;

// A block taken apart (rows are the record lines, oldest first). For the log itself and
// for tests that tamper with stored blocks.
struct EventBlock {
  std::int64_t first_sequence = 0;
  std::int64_t min_time = 0;  // Unix seconds, at or before every record's time
  std::int64_t max_time = 0;  // Unix seconds, at or after every record's time
  std::vector<std::string> rows;
};
std::string EncodeEventBlock(const EventBlock& block);
// nullopt if the header or the compressed records are unreadable.
std::optional<EventBlock> DecodeEventBlock(std::string_view value);

// One record as the index holds it: the fields the audit reads. The views point into the
// decoded index value (or the summary it was made from).
struct IndexedEvent {
  std::int64_t sequence = 0;
  TimePoint time;  // second precision
  std::string_view event_name;
  std::string_view access_key_id;
  std::string_view user_arn;
  std::string_view instance_id;
  std::string_view source_ip;
  std::string_view error_code;
  bool key_inactive = false;
};
IndexedEvent ToIndexed(const EventSummary& summary);

// ToIndexed(SummaryOf(event)) without copying the event's strings: the views point into
// `event`. nullopt when one of them is stored escaped or replaced (anything but printable
// ASCII); then SummaryOf does it. The writer uses this to index records cheaply.
std::optional<IndexedEvent> IndexedOf(const Event& event);

// A record already serialized (RecordJson) with its event time and, from the writer that
// has the Event, its index entry: `indexed` (IndexedOf(event), whose views must stay valid
// until AppendRaw returns) or else `summary` (SummaryOf(event)). With neither, AppendRaw
// parses `json` to index it.
struct RawRecord {
  std::string json;
  TimePoint time;
  std::optional<EventSummary> summary;
  std::optional<IndexedEvent> indexed = std::nullopt;
};

// A block's index row: events[i] is the record of sequence first_sequence + i.
struct EventIndex {
  std::int64_t first_sequence = 0;
  std::int64_t min_time = 0;  // as the block's header
  std::int64_t max_time = 0;
  std::vector<IndexedEvent> events;
};
// Binary: "kwix1", then varints: first sequence, min and max time (zigzag), the number of
// distinct strings and each (length, bytes), the number of records and for each its
// time - min_time, six string numbers and a flags byte. Strings are interned per block:
// a key's ID and ARN cost a few bytes in each record after their first.
std::string EncodeEventIndex(const EventIndex& index);
// nullopt if malformed. The views point into `value`.
std::optional<EventIndex> DecodeEventIndex(std::string_view value);

struct IndexBlock;  // events/event_index_scan.hpp

struct StoredEvent {
  std::int64_t sequence = 0;
  nlohmann::json record;
  EventSummary summary;
};

enum class LookupAttribute {
  kEventId,
  kEventName,
  kReadOnly,
  kUsername,
  kResourceType,
  kResourceName,
  kEventSource,
  kAccessKeyId,
};

// nullopt for a name that is not one of LookupEvents' AttributeKey values.
std::optional<LookupAttribute> ParseLookupAttribute(std::string_view name);

// True if the summary matches `value` for the attribute (exact, case-sensitive;
// ReadOnly: "true" or "false").
bool Matches(const EventSummary& event, LookupAttribute attribute, std::string_view value);

struct LookupQuery {
  std::optional<TimePoint> start;  // inclusive
  std::optional<TimePoint> end;    // inclusive
  std::optional<std::pair<LookupAttribute, std::string>> attribute;
  std::size_t max_results = 50;
  // Pagination: only events with a sequence below this one (a previous page's
  // next_before).
  std::optional<std::int64_t> before_sequence;
};

struct LookupPage {
  std::vector<StoredEvent> events;  // newest first
  std::optional<std::int64_t> next_before;
};

struct VerifyProblem {
  std::int64_t sequence = 0;
  std::string what;
};

struct VerifyReport {
  std::int64_t events = 0;          // rows read
  std::int64_t first_sequence = 0;  // oldest present (0: none)
  std::int64_t last_sequence = 0;   // newest present
  std::optional<ChainPoint> head;
  std::optional<ChainPoint> checkpoint;
  std::int64_t unsigned_after_head = 0;  // records newer than the signed head
  std::vector<VerifyProblem> problems;   // ascending by sequence; empty if intact
  bool ok() const { return problems.empty(); }
};

// How far an event's time may precede the time of an event recorded before it: events
// are sequenced when their request ends, stamped when it arrived. Time-range scans
// look this much further before stopping.
inline constexpr std::chrono::seconds kMaxOutOfOrder{120};

// Appends are "one writer" (the EventRecorder's thread, or one thread in tests); reads
// (Lookup, Scan) are thread-safe and may run beside the writer.
class EventLog {
 public:
  ~EventLog();

  // Reads the chain's tail. `signing_key` is an Ed25519 PKCS#8 PEM (events/signing_key.hpp);
  // without one, SignHead and Prune fail with kFailedPrecondition.
  static Result<std::unique_ptr<EventLog>> Open(store::KvStore& store,
                                                std::optional<SecretBytes> signing_key);

  // Assigns the next sequence numbers to `records` in order, chains and stores them in
  // one transaction. On error nothing is stored and the tail is unchanged.
  Status Append(const std::vector<nlohmann::json>& records);
  // The same with records already serialized (RecordJson), stored byte for byte.
  Status AppendRaw(const std::vector<RawRecord>& records);

  // Signs the current tail as the head, unless it is already the signed head.
  Status SignHead(TimePoint now);

  // Deletes the records older than `cutoff` (from the oldest on, stopping at the first
  // record at or after it), in batches, each with a signed checkpoint of the last
  // record it deleted written in the same transaction. Never deletes the newest record.
  // Returns how many were deleted.
  Result<std::int64_t> Prune(TimePoint cutoff, TimePoint now);

  // LookupEvents: newest first, filtered. Thread-safe.
  Result<LookupPage> Lookup(const LookupQuery& query) const;

  // Calls `fn` for every event with start <= time <= end (either open), newest first,
  // until it returns false. For the audit's event rules. Thread-safe.
  Status Scan(std::optional<TimePoint> start, std::optional<TimePoint> end,
              const std::function<bool(const StoredEvent&)>& fn) const;

  // Scan for the audit: the same events, from the index (records only for blocks without
  // one). The events' views are valid during the call of `fn`; with `keep`, for as long
  // as `keep` holds what this adds to it (the index rows read), so that a caller can keep
  // millions of events without copying their strings. Thread-safe.
  Status ScanIndexed(std::optional<TimePoint> start, std::optional<TimePoint> end,
                     const std::function<bool(const IndexedEvent&)>& fn,
                     std::vector<std::shared_ptr<const void>>* keep = nullptr) const;

  // The events of ScanIndexed, in the same order, a block at a time with each block's
  // strings numbered once (events/event_index_scan.hpp; both are defined in
  // event_index_scan.cpp over one walk of the index, WalkIndex), until
  // `fn` returns false: for readers that aggregate millions of events. Thread-safe.
  Status ScanIndexBlocks(std::optional<TimePoint> start, std::optional<TimePoint> end,
                         const std::function<bool(const IndexBlock&)>& fn) const;

  // About how many events have start <= time <= end (either open), from block headers:
  // for a reader that sizes its buffers. Off by a block or two. Thread-safe.
  Result<std::int64_t> EstimateCount(std::optional<TimePoint> start,
                                     std::optional<TimePoint> end) const;

  // Checks every record of `store` against the chain, the checkpoint and the signed head
  // (`public_key`: raw 32-byte Ed25519), and every index row against its block's records.
  // Errors only for store failures; tampering is
  // reported in the VerifyReport.
  static Result<VerifyReport> Verify(store::KvStore& store, std::string_view public_key);

  std::int64_t last_sequence() const { return last_sequence_; }  // writer only

 private:
  // What AppendRaw reuses from one call to the next (compression state, buffers).
  struct Writer;

  EventLog(store::KvStore& store, std::optional<SecretBytes> signing_key);
  Result<ChainPoint> Sign(std::string_view kind, std::int64_t sequence, std::string hash_hex,
                          TimePoint now) const;
  // The one walk of the index behind ScanIndexBlocks and ScanIndexed
  // (event_index_scan.cpp): per stored block, its events that pass the scan's filter,
  // newest first, with sequences[i] the sequence of block.events[i], until `fn` returns
  // false. With `own`, `storage` holds what the block's views point into, so that a caller
  // may keep them; without, it is null and the views die with the call.
  using IndexBlockFn =
      std::function<bool(const IndexBlock& block, const std::vector<std::int64_t>& sequences,
                         std::shared_ptr<const void> storage)>;
  Status WalkIndex(std::optional<TimePoint> start, std::optional<TimePoint> end, bool own,
                   const IndexBlockFn& fn) const;
  // The newest present sequence at or below `sequence` (0: none).
  Result<std::int64_t> StartSequenceFor(std::optional<TimePoint> end,
                                        std::optional<std::int64_t> before) const;

  store::KvStore& store_;
  std::optional<SecretBytes> signing_key_;
  std::int64_t last_sequence_ = 0;  // writer only
  std::string last_hash_;           // writer only; raw 32 bytes
  std::int64_t signed_sequence_ = 0;
  std::unique_ptr<Writer> writer_;  // writer only; made by the first AppendRaw
};

}  // namespace kw::events
