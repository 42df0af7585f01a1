#include "events/event_log.hpp"

#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "common/time_format.hpp"
#include "crypto/digest.hpp"
#include "crypto/signature.hpp"
#include "events/event_log_format.hpp"

namespace kw::events {

using format::BlockRange;
using format::KeySequence;
using format::kIndexMagic;
using format::ParseBlockHeader;
using format::RangeOf;
using format::ReadEvent;
using format::UnixSeconds;
using format::UnZigZag;
using format::ZigZag;
namespace {

using nlohmann::json;

constexpr std::string_view kRowPrefix = R"({"event":)";
constexpr std::string_view kHashMarker = R"(,"hash":")";
constexpr std::size_t kPruneBatch = 500;
const std::string kZeroHash(32, '\0');

// A stored row taken apart without parsing the record: the chain hashes its exact
// bytes, so a change of a single byte (even whitespace) is a change.
struct Row {
  std::int64_t seq = 0;
  std::string hash_hex;
  std::string prev_hex;
  std::string_view raw_event;
};

std::optional<Row> SplitRow(std::string_view text) {
  if (text.substr(0, kRowPrefix.size()) != kRowPrefix) return std::nullopt;
  const std::size_t marker = text.rfind(kHashMarker);
  if (marker == std::string_view::npos || marker < kRowPrefix.size()) return std::nullopt;
  json tail = json::parse(std::string("{") + std::string(text.substr(marker + 1)), nullptr, false);
  if (!tail.is_object()) return std::nullopt;
  auto h = tail.find("hash");
  auto p = tail.find("prev");
  auto s = tail.find("seq");
  if (h == tail.end() || p == tail.end() || s == tail.end() || !h->is_string() || !p->is_string() ||
      !s->is_number_integer()) {
    return std::nullopt;
  }
  Row row;
  row.seq = s->get<std::int64_t>();
  row.hash_hex = h->get<std::string>();
  row.prev_hex = p->get<std::string>();
  row.raw_event = text.substr(kRowPrefix.size(), marker - kRowPrefix.size());
  return row;
}

std::string ChainHash(std::string_view prev_raw, std::int64_t seq, std::string_view raw_event) {
  std::string data;
  data.reserve(prev_raw.size() + raw_event.size() + 24);
  data.append(prev_raw);
  data.append(std::to_string(seq));
  data.push_back('\n');
  data.append(raw_event);
  return std::string(crypto::AsView(crypto::Sha256(data)));
}

json PointJson(const ChainPoint& p) {
  return {{"seq", p.sequence},
          {"hash", p.hash_hex},
          {"time", FormatIso8601(p.time)},
          {"signature", p.signature_b64}};
}

std::optional<ChainPoint> ParsePoint(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  try {
    ChainPoint p;
    p.sequence = j.at("seq").get<std::int64_t>();
    p.hash_hex = j.at("hash").get<std::string>();
    auto t = ParseIso8601(j.at("time").get<std::string>());
    if (!t) return std::nullopt;
    p.time = *t;
    p.signature_b64 = j.at("signature").get<std::string>();
    return p;
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

Result<std::optional<ChainPoint>> ReadPoint(store::KvStore& store, std::string_view name) {
  KW_ASSIGN_OR_RETURN(auto item, store.Get(kEventMetaTable, name));
  if (!item) return std::optional<ChainPoint>();
  auto p = ParsePoint(item->value);
  if (!p) return Internal("the event log's " + std::string(name) + " record is unreadable");
  return p;
}

bool PointSignatureValid(std::string_view kind, const ChainPoint& p, std::string_view public_key) {
  auto sig = crypto::Base64Decode(p.signature_b64);
  return sig && crypto::VerifyEd25519(public_key, SignedPointMessage(kind, p), *sig);
}

// Fast compression: the writer shares the machine with the requests it records, and
// records of one batch are alike enough that level 1 already shrinks them many times.
constexpr int kZstdLevel = 1;
// A block inflates to at most kBlockRecords records; refuse anything far larger.
constexpr std::size_t kMaxInflated = 256u << 20;

// A zstd frame, decompressed within kMaxInflated; nullopt if damaged, truncated,
// followed by anything, or larger.
std::optional<std::string> Unzstd(std::string_view in) {
  std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> dctx(ZSTD_createDCtx(), &ZSTD_freeDCtx);
  if (!dctx) return std::nullopt;
  std::string out;
  out.resize(std::max<std::size_t>(in.size() * 8, 4096));
  ZSTD_inBuffer i{in.data(), in.size(), 0};
  std::size_t produced = 0;
  for (;;) {
    ZSTD_outBuffer o{out.data() + produced, out.size() - produced, 0};
    const std::size_t left = ZSTD_decompressStream(dctx.get(), &o, &i);
    if (ZSTD_isError(left)) return std::nullopt;
    produced += o.pos;
    if (left == 0) break;  // the frame is complete (and its checksum matched)
    if (o.pos < o.size && i.pos == i.size) return std::nullopt;  // truncated
    if (produced == out.size()) {
      if (out.size() >= kMaxInflated) return std::nullopt;
      out.resize(out.size() * 2);
    }
  }
  if (i.pos != i.size) return std::nullopt;  // bytes after the frame
  out.resize(produced);
  return out;
}

// Blocks written before ADR 0015 hold a zlib stream (read, never written).
std::optional<std::string> Inflate(std::string_view in) {
  z_stream zs{};
  if (inflateInit(&zs) != Z_OK) return std::nullopt;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  std::string out;
  out.resize(std::max<std::size_t>(in.size() * 8, 4096));
  int rc = Z_OK;
  for (;;) {
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + zs.total_out);
    zs.avail_out = static_cast<uInt>(out.size() - zs.total_out);
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc == Z_STREAM_END) break;
    if (rc != Z_OK && rc != Z_BUF_ERROR) break;
    if (rc == Z_BUF_ERROR && zs.avail_out != 0) break;  // truncated input
    if (out.size() >= kMaxInflated) break;
    out.resize(out.size() * 2);
  }
  const std::size_t produced = zs.total_out;
  const bool complete = rc == Z_STREAM_END && zs.avail_in == 0;
  inflateEnd(&zs);
  if (!complete) return std::nullopt;
  out.resize(produced);
  return out;
}

// Events with sequence <= `from` and start <= time <= end, newest first, until `fn`
// returns false. Unreadable blocks and records are skipped (verify reports them).
Status ScanEvents(store::KvStore& store, std::int64_t from, std::optional<TimePoint> start,
                  std::optional<TimePoint> end, const std::function<bool(StoredEvent&)>& fn) {
  return format::ScanBlocksInRange(store, from, start, end, [&](const store::Item& item) {
    auto block = DecodeEventBlock(item.value);
    if (!block) return true;
    for (auto it = block->rows.rbegin(); it != block->rows.rend(); ++it) {
      auto e = ReadEvent(*it);
      if (!e || e->sequence > from) continue;
      const TimePoint t = e->summary.time;
      if (start && t < *start) {
        if (t < *start - kMaxOutOfOrder) return false;
        continue;
      }
      if (end && t > *end) continue;
      if (!fn(*e)) return false;
    }
    return true;
  });
}

void PutVarint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

constexpr std::size_t kIndexFields = 6;

// The index entry of a record line (the fallback for blocks without an index row, and
// what verify compares the index against); nullopt if unreadable.
std::optional<EventSummary> SummaryOfLine(std::string_view line) {
  auto e = ReadEvent(line);
  if (!e) return std::nullopt;
  return std::move(e->summary);
}

// Verify's comparison of an index entry with the record's own summary.
bool SameIndexed(const IndexedEvent& a, const IndexedEvent& b) {
  return a.sequence == b.sequence && a.time == b.time && a.event_name == b.event_name &&
         a.access_key_id == b.access_key_id && a.user_arn == b.user_arn &&
         a.instance_id == b.instance_id && a.source_ip == b.source_ip &&
         a.error_code == b.error_code && a.key_inactive == b.key_inactive;
}

// The writer's hot path: every buffer below is kept from one block or batch to the next,
// so that steady traffic allocates (and zero-fills) nothing per block or per record.

// A byte buffer that only grows: `data.size()` is its capacity as far as writing goes and
// `used` what holds content, so writing into space a previous block already paid for
// costs no zero-fill (std::string::resize fills every byte it adds).
struct Buffer {
  std::string data;
  std::size_t used = 0;
  std::string_view view() const { return {data.data(), used}; }
  // At least `n` writable bytes after `used`.
  char* Room(std::size_t n) {
    if (data.size() - used < n) data.resize(std::max(data.size() * 2, used + n));
    return data.data() + used;
  }
};

// Buffers bigger than this (an unusually large block) are not kept for the next batch.
constexpr std::size_t kMaxKeptBuffer = 4u << 20;

// Compresses one block after another with one zstd context, fed piece by piece while
// the record is still in cache (no joined copy of the block's text). zstd at level 1
// instead of zlib at level 1 (ADR 0015): about a quarter of the writer's CPU went into
// deflate, and zstd makes smaller blocks several times faster. The frame carries a
// checksum of its content, so a damaged block fails to decode rather than yielding
// wrong records. Not thread-safe: the writer's.
class BlockCompressor {
 public:
  BlockCompressor() : cctx_(ZSTD_createCCtx()) {
    if (cctx_ == nullptr ||
        ZSTD_isError(ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, kZstdLevel)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(cctx_, ZSTD_c_checksumFlag, 1))) {
      std::abort();  // out of memory
    }
  }
  ~BlockCompressor() { ZSTD_freeCCtx(cctx_); }
  BlockCompressor(const BlockCompressor&) = delete;
  BlockCompressor& operator=(const BlockCompressor&) = delete;

  // Starts a block in `out` (previous contents dropped) with its header line.
  void Begin(Buffer& out, std::int64_t first, std::int64_t min_time, std::int64_t max_time) {
    if (ZSTD_isError(ZSTD_CCtx_reset(cctx_, ZSTD_reset_session_only))) std::abort();
    out_ = &out;
    out.used = 0;
    char* at = out.Room(kInitialRoom);
    const int n = std::snprintf(at, 96, "%s%lld %lld %lld\n", format::kZstdBlockMagic.data(),
                                static_cast<long long>(first), static_cast<long long>(min_time),
                                static_cast<long long>(max_time));
    out.used = static_cast<std::size_t>(n);
  }
  // Appends `text` to the block's uncompressed text.
  void Add(std::string_view text) { Run(text, ZSTD_e_continue); }
  // Ends the zstd frame; `out` then holds the whole stored value.
  void Finish() { Run({}, ZSTD_e_end); }

 private:
  static constexpr std::size_t kInitialRoom = 64u << 10;
  static constexpr std::size_t kMinRoom = 4u << 10;

  void Run(std::string_view text, ZSTD_EndDirective mode) {
    ZSTD_inBuffer in{text.data(), text.size(), 0};
    for (;;) {
      Buffer& out = *out_;
      out.Room(kMinRoom);
      ZSTD_outBuffer o{out.data.data() + out.used, out.data.size() - out.used, 0};
      const std::size_t left = ZSTD_compressStream2(cctx_, &o, &in, mode);
      if (ZSTD_isError(left)) std::abort();  // only on misuse or out of memory
      out.used += o.pos;
      // continue: done once the input is taken; end: once nothing is left to flush.
      if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size) return;
    }
  }

  ZSTD_CCtx* const cctx_;
  Buffer* out_ = nullptr;
};

// Encodes index rows (EncodeEventIndex's format) keeping its tables between blocks: the
// interning table is an open-addressing array whose slots carry the number of the block
// that filled them, so a new block starts by bumping that number, not by clearing or
// reallocating. Not thread-safe.
class IndexEncoder {
 public:
  // `out` is replaced (its capacity kept).
  void Encode(const EventIndex& index, std::string& out) {
    if (++stamp_ == 0) {  // wrapped: stale slots could look current
      std::fill(slots_.begin(), slots_.end(), Slot{});
      stamp_ = 1;
    }
    if (slots_.empty()) slots_.resize(1024);
    strings_.clear();
    records_.clear();
    PutVarint(records_, index.events.size());
    for (const IndexedEvent& e : index.events) {
      PutVarint(records_, ZigZag(UnixSeconds(e.time) - index.min_time));
      for (std::string_view v :
           {e.event_name, e.access_key_id, e.user_arn, e.instance_id, e.source_ip, e.error_code}) {
        PutVarint(records_, Intern(v));
      }
      records_.push_back(e.key_inactive ? 1 : 0);
    }
    out.assign(kIndexMagic);
    PutVarint(out, static_cast<std::uint64_t>(index.first_sequence));
    PutVarint(out, ZigZag(index.min_time));
    PutVarint(out, ZigZag(index.max_time));
    PutVarint(out, strings_.size());
    for (std::string_view v : strings_) {
      PutVarint(out, v.size());
      out.append(v);
    }
    out.append(records_);
  }

 private:
  struct Slot {
    std::uint32_t stamp = 0;
    std::uint32_t id = 0;
  };

  static std::size_t Hash(std::string_view v) { return std::hash<std::string_view>{}(v); }

  // The string's number in this block, by first appearance.
  std::uint32_t Intern(std::string_view v) {
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = Hash(v) & mask;; i = (i + 1) & mask) {
      Slot& slot = slots_[i];
      if (slot.stamp != stamp_) {
        slot = {stamp_, static_cast<std::uint32_t>(strings_.size())};
        strings_.push_back(v);
        // At most half full, so that probes stay short.
        if (strings_.size() * 2 > slots_.size()) Grow();
        return static_cast<std::uint32_t>(strings_.size() - 1);
      }
      if (strings_[slot.id] == v) return slot.id;
    }
  }

  void Grow() {
    slots_.assign(slots_.size() * 2, Slot{});
    stamp_ = 1;
    const std::size_t mask = slots_.size() - 1;
    for (std::uint32_t id = 0; id < strings_.size(); ++id) {
      std::size_t i = Hash(strings_[id]) & mask;
      while (slots_[i].stamp == stamp_) i = (i + 1) & mask;
      slots_[i] = {stamp_, id};
    }
  }

  std::vector<Slot> slots_;  // size a power of two
  std::uint32_t stamp_ = 0;
  std::vector<std::string_view> strings_;
  std::string records_;
};

constexpr char kHexDigits[] = "0123456789abcdef";

char* PutHex(char* at, const unsigned char* bytes, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    *at++ = kHexDigits[bytes[i] >> 4];
    *at++ = kHexDigits[bytes[i] & 0x0f];
  }
  return at;
}

bool StoredUnchanged(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c >= 0x20 && c < 0x7f;
  });
}

}  // namespace

IndexedEvent ToIndexed(const EventSummary& s) {
  IndexedEvent e;
  e.sequence = s.sequence;
  e.time = std::chrono::floor<std::chrono::seconds>(s.time);
  e.event_name = s.event_name;
  e.access_key_id = s.access_key_id;
  e.user_arn = s.user_arn;
  e.instance_id = s.instance_id;
  e.source_ip = s.source_ip;
  e.error_code = s.error_code;
  e.key_inactive = s.key_inactive;
  return e;
}

std::optional<IndexedEvent> IndexedOf(const Event& e) {
  IndexedEvent out;
  out.time = std::chrono::floor<std::chrono::seconds>(e.time);
  out.event_name = e.event_name;
  out.access_key_id = e.identity.access_key_id;
  out.user_arn = e.identity.arn;
  out.instance_id = e.identity.instance_id;
  out.source_ip = e.source_ip;
  out.error_code = e.error_code;
  for (std::string_view v : {out.event_name, out.access_key_id, out.user_arn, out.instance_id,
                             out.source_ip, out.error_code}) {
    if (!StoredUnchanged(v)) return std::nullopt;
  }
  if (e.additional_event_data.is_object()) {
    auto inactive = e.additional_event_data.find("keyInactive");
    out.key_inactive = inactive != e.additional_event_data.end() && inactive->is_boolean() &&
                       inactive->get<bool>();
  }
  return out;
}

std::string EncodeEventIndex(const EventIndex& index) {
  IndexEncoder encoder;
  std::string out;
  encoder.Encode(index, out);
  return out;
}

std::optional<EventIndex> DecodeEventIndex(std::string_view value) {
  if (value.substr(0, kIndexMagic.size()) != kIndexMagic) return std::nullopt;
  format::IndexReader r{value.data() + kIndexMagic.size(), value.data() + value.size()};
  EventIndex index;
  index.first_sequence = static_cast<std::int64_t>(r.Varint());
  index.min_time = UnZigZag(r.Varint());
  index.max_time = UnZigZag(r.Varint());
  const std::uint64_t nstrings = r.Varint();
  if (!r.ok || index.first_sequence < 1 || nstrings > static_cast<std::uint64_t>(r.end - r.p)) {
    return std::nullopt;
  }
  std::vector<std::string_view> strings;
  strings.reserve(nstrings);
  for (std::uint64_t i = 0; i < nstrings; ++i) {
    const std::uint64_t len = r.Varint();
    if (!r.ok || len > static_cast<std::uint64_t>(r.end - r.p)) return std::nullopt;
    strings.emplace_back(r.p, len);
    r.p += len;
  }
  const std::uint64_t count = r.Varint();
  // Each record takes at least 8 bytes: a forged count cannot make us allocate much.
  if (!r.ok || count > static_cast<std::uint64_t>(r.end - r.p) / 8) return std::nullopt;
  index.events.resize(count);
  for (std::uint64_t i = 0; i < count; ++i) {
    IndexedEvent& e = index.events[i];
    e.sequence = index.first_sequence + static_cast<std::int64_t>(i);
    e.time = TimePoint(std::chrono::seconds(index.min_time + UnZigZag(r.Varint())));
    std::string_view* fields[kIndexFields] = {&e.event_name,  &e.access_key_id, &e.user_arn,
                                              &e.instance_id, &e.source_ip,     &e.error_code};
    for (std::string_view* f : fields) {
      const std::uint64_t id = r.Varint();
      if (id >= strings.size()) return std::nullopt;
      *f = strings[id];
    }
    if (!r.ok || r.p == r.end) return std::nullopt;
    const char flags = *r.p++;
    if ((flags & ~1) != 0) return std::nullopt;
    e.key_inactive = flags == 1;
  }
  if (!r.ok || r.p != r.end) return std::nullopt;
  return index;
}

std::string SignedPointMessage(std::string_view kind, const ChainPoint& p) {
  return "keyward-events-v1\n" + std::string(kind) + "\n" + std::to_string(p.sequence) + "\n" +
         p.hash_hex + "\n" + FormatIso8601(p.time);
}

std::string EventKey(std::int64_t sequence) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64,
                std::numeric_limits<std::uint64_t>::max() - static_cast<std::uint64_t>(sequence));
  return buf;
}

std::string EncodeEventBlock(const EventBlock& block) {
  BlockCompressor compressor;
  Buffer out;
  compressor.Begin(out, block.first_sequence, block.min_time, block.max_time);
  for (std::size_t i = 0; i < block.rows.size(); ++i) {
    if (i > 0) compressor.Add("\n");
    compressor.Add(block.rows[i]);
  }
  compressor.Finish();
  out.data.resize(out.used);
  return std::move(out.data);
}

std::optional<EventBlock> DecodeEventBlock(std::string_view value) {
  EventBlock block;
  const std::size_t at = ParseBlockHeader(value, block);
  if (at == 0) return std::nullopt;
  auto text = value.substr(0, format::kZstdBlockMagic.size()) == format::kZstdBlockMagic
                  ? Unzstd(value.substr(at))
                  : Inflate(value.substr(at));
  if (!text) return std::nullopt;
  std::string_view rest = *text;
  for (;;) {
    const std::size_t nl = rest.find('\n');
    block.rows.emplace_back(rest.substr(0, nl));
    if (nl == std::string_view::npos) break;
    rest.remove_prefix(nl + 1);
  }
  return block;
}

std::optional<LookupAttribute> ParseLookupAttribute(std::string_view name) {
  static const std::map<std::string_view, LookupAttribute> kNames = {
      {"EventId", LookupAttribute::kEventId},
      {"EventName", LookupAttribute::kEventName},
      {"ReadOnly", LookupAttribute::kReadOnly},
      {"Username", LookupAttribute::kUsername},
      {"ResourceType", LookupAttribute::kResourceType},
      {"ResourceName", LookupAttribute::kResourceName},
      {"EventSource", LookupAttribute::kEventSource},
      {"AccessKeyId", LookupAttribute::kAccessKeyId},
  };
  auto it = kNames.find(name);
  if (it == kNames.end()) return std::nullopt;
  return it->second;
}

bool Matches(const EventSummary& e, LookupAttribute attribute, std::string_view value) {
  switch (attribute) {
    case LookupAttribute::kEventId:
      return e.event_id == value;
    case LookupAttribute::kEventName:
      return e.event_name == value;
    case LookupAttribute::kReadOnly:
      return (e.read_only ? "true" : "false") == value;
    case LookupAttribute::kUsername:
      return e.username == value;
    case LookupAttribute::kResourceType:
      return std::any_of(e.resources.begin(), e.resources.end(),
                         [&](const Resource& r) { return r.type == value; });
    case LookupAttribute::kResourceName:
      return std::any_of(e.resources.begin(), e.resources.end(),
                         [&](const Resource& r) { return r.name == value; });
    case LookupAttribute::kEventSource:
      return e.event_source == value;
    case LookupAttribute::kAccessKeyId:
      return e.access_key_id == value;
  }
  return false;
}

Result<std::unique_ptr<EventLog>> EventLog::Open(store::KvStore& store,
                                                 std::optional<SecretBytes> signing_key) {
  std::unique_ptr<EventLog> log(new EventLog(store, std::move(signing_key)));
  store::ListOptions newest;
  newest.limit = 1;
  KW_ASSIGN_OR_RETURN(auto items, store.List(kEventsTable, newest));
  if (!items.empty()) {
    auto block = DecodeEventBlock(items[0].value);
    auto row = block ? SplitRow(block->rows.back()) : std::nullopt;
    auto hash = row ? crypto::HexDecode(row->hash_hex) : std::nullopt;
    if (!row || !hash || hash->size() != 32) {
      return Internal("the newest event record is unreadable; run `keyward events verify`");
    }
    log->last_sequence_ = row->seq;
    log->last_hash_ = std::move(*hash);
  } else {
    KW_ASSIGN_OR_RETURN(auto checkpoint, ReadPoint(store, "checkpoint"));
    log->last_hash_ = kZeroHash;
    if (checkpoint) {
      auto hash = crypto::HexDecode(checkpoint->hash_hex);
      if (!hash || hash->size() != 32) return Internal("the event checkpoint is unreadable");
      log->last_sequence_ = checkpoint->sequence;
      log->last_hash_ = std::move(*hash);
    }
  }
  KW_ASSIGN_OR_RETURN(auto head, ReadPoint(store, "head"));
  if (head) log->signed_sequence_ = head->sequence;
  return log;
}

Status EventLog::Append(const std::vector<json>& records) {
  std::vector<RawRecord> raw;
  raw.reserve(records.size());
  for (const json& r : records) {
    RawRecord rec;
    // Replace, do not throw, on invalid UTF-8 (a client's User-Agent may hold any bytes).
    rec.json = r.dump(-1, ' ', false, json::error_handler_t::replace);
    auto t = r.is_object() && r.contains("eventTime") && r["eventTime"].is_string()
                 ? ParseIso8601(r["eventTime"].get<std::string>())
                 : std::nullopt;
    if (!t) return InvalidArgument("an event record has no eventTime");
    rec.time = *t;
    raw.push_back(std::move(rec));
  }
  return AppendRaw(raw);
}

struct EventLog::Writer {
  BlockCompressor compressor;
  IndexEncoder index_encoder;
  // One per block of the current call: blocks[i] and index_rows[i] are stored under the
  // key of the i-th block. Kept for the next call (at most kKeptBlocks of them).
  std::vector<Buffer> blocks;
  std::vector<std::string> index_rows;
  EventIndex index;
  // Summaries parsed from records that came without an index entry (Append, old
  // callers); the index's views point into them until the block is encoded.
  std::vector<EventSummary> parsed;
  std::string chain_input;
};

namespace {
// A recorder batch (2,000 events) is 4 blocks; a larger Append keeps no more buffers.
constexpr std::size_t kKeptBlocks = 8;
}  // namespace

EventLog::EventLog(store::KvStore& store, std::optional<SecretBytes> signing_key)
    : store_(store), signing_key_(std::move(signing_key)) {}

EventLog::~EventLog() = default;

Status EventLog::AppendRaw(const std::vector<RawRecord>& records) {
  if (records.empty()) return OkStatus();
  if (!writer_) writer_ = std::make_unique<Writer>();
  Writer& w = *writer_;
  const std::size_t nblocks = (records.size() + kBlockRecords - 1) / kBlockRecords;
  if (w.blocks.size() < nblocks) {
    w.blocks.resize(nblocks);
    w.index_rows.resize(nblocks);
  }
  crypto::Sha256Digest prev{};
  std::memcpy(prev.data(), last_hash_.data(), std::min(prev.size(), last_hash_.size()));
  std::int64_t seq = last_sequence_;
  for (std::size_t b = 0; b < nblocks; ++b) {
    const std::size_t begin = b * kBlockRecords;
    const std::size_t end = std::min(records.size(), begin + kBlockRecords);
    const std::int64_t first = seq + 1;
    // The header, which precedes the stream, needs the time bounds first.
    std::int64_t min_time = std::numeric_limits<std::int64_t>::max();
    std::int64_t max_time = std::numeric_limits<std::int64_t>::min();
    for (std::size_t i = begin; i < end; ++i) {
      const std::int64_t t = UnixSeconds(records[i].time);
      min_time = std::min(min_time, t);
      max_time = std::max(max_time, t + 1);
    }
    w.compressor.Begin(w.blocks[b], first, min_time, max_time);
    w.index.events.clear();
    w.parsed.clear();
    w.parsed.reserve(end - begin);  // no reallocation: the index points into it
    for (std::size_t i = begin; i < end; ++i) {
      const RawRecord& rec = records[i];
      ++seq;
      IndexedEvent& entry = w.index.events.emplace_back();
      if (rec.indexed) {
        entry = *rec.indexed;
      } else if (rec.summary) {
        entry = ToIndexed(*rec.summary);
      } else {
        auto s = Summarize(seq, json::parse(rec.json, nullptr, false));
        // A record without eventTime cannot come from RecordJson; index it by its time alone.
        if (!s) {
          s.emplace();
          s->time = rec.time;
        }
        w.parsed.push_back(std::move(*s));
        entry = ToIndexed(w.parsed.back());
      }
      entry.sequence = seq;

      // hash = SHA-256(prev || decimal(seq) || "\n" || record), the input built in a
      // reused buffer.
      char seq_text[24];
      const auto seq_end = std::to_chars(seq_text, seq_text + sizeof seq_text, seq).ptr;
      const std::string_view seq_view(seq_text, static_cast<std::size_t>(seq_end - seq_text));
      std::string& in = w.chain_input;
      in.clear();
      in.append(crypto::AsView(prev));
      in.append(seq_view);
      in.push_back('\n');
      in.append(rec.json);
      const crypto::Sha256Digest hash = crypto::Sha256(in);

      // The line {"event":RECORD,"hash":"HEX","prev":"HEX","seq":N}, straight into the
      // block's stream (lines joined by "\n").
      static constexpr std::string_view kFirstPrefix = kRowPrefix;
      static constexpr std::string_view kNextPrefix = "\n{\"event\":";
      w.compressor.Add(i == begin ? kFirstPrefix : kNextPrefix);
      w.compressor.Add(rec.json);
      char tail[256];
      char* at = tail;
      at = std::copy(kHashMarker.begin(), kHashMarker.end(), at);
      at = PutHex(at, hash.data(), hash.size());
      static constexpr std::string_view kPrevMarker = R"(","prev":")";
      at = std::copy(kPrevMarker.begin(), kPrevMarker.end(), at);
      at = PutHex(at, prev.data(), prev.size());
      static constexpr std::string_view kSeqMarker = R"(","seq":)";
      at = std::copy(kSeqMarker.begin(), kSeqMarker.end(), at);
      at = std::copy(seq_view.begin(), seq_view.end(), at);
      *at++ = '}';
      w.compressor.Add(std::string_view(tail, static_cast<std::size_t>(at - tail)));
      prev = hash;
    }
    w.compressor.Finish();
    w.index.first_sequence = first;
    w.index.min_time = min_time;
    w.index.max_time = max_time;
    w.index_encoder.Encode(w.index, w.index_rows[b]);
  }
  w.parsed.clear();
  Status stored = store_.Transact([&](store::Txn& txn) -> Status {
    for (std::size_t b = 0; b < nblocks; ++b) {
      const std::string key =
          EventKey(last_sequence_ + 1 + static_cast<std::int64_t>(b * kBlockRecords));
      auto r = txn.Insert(kEventsTable, key, w.blocks[b].view());
      if (!r) return r.error();
      // Put: a stale row left by a block that is gone (pruned, then restored?) is replaced.
      r = txn.Put(kEventIndexTable, key, w.index_rows[b]);
      if (!r) return r.error();
    }
    return OkStatus();
  });
  if (w.blocks.size() > kKeptBlocks) {
    w.blocks.resize(kKeptBlocks);
    w.index_rows.resize(kKeptBlocks);
  }
  for (Buffer& buf : w.blocks) {
    if (buf.data.size() > kMaxKeptBuffer) buf = Buffer();
  }
  KW_RETURN_IF_ERROR(stored);
  last_sequence_ = seq;
  last_hash_.assign(crypto::AsView(prev));
  return OkStatus();
}

Result<ChainPoint> EventLog::Sign(std::string_view kind, std::int64_t sequence,
                                  std::string hash_hex, TimePoint now) const {
  if (!signing_key_) return FailedPrecondition("the event log has no signing key");
  ChainPoint p;
  p.sequence = sequence;
  p.hash_hex = std::move(hash_hex);
  p.time = std::chrono::time_point_cast<std::chrono::seconds>(now);
  KW_ASSIGN_OR_RETURN(std::string sig,
                      crypto::SignEd25519(*signing_key_, SignedPointMessage(kind, p)));
  p.signature_b64 = crypto::Base64Encode(sig);
  return p;
}

Status EventLog::SignHead(TimePoint now) {
  if (last_sequence_ == 0 || last_sequence_ == signed_sequence_) return OkStatus();
  KW_ASSIGN_OR_RETURN(ChainPoint p,
                      Sign("head", last_sequence_, crypto::HexEncode(last_hash_), now));
  KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
    auto r = txn.Put(kEventMetaTable, "head", PointJson(p).dump());
    if (!r) return r.error();
    return OkStatus();
  }));
  signed_sequence_ = p.sequence;
  return OkStatus();
}

Result<std::int64_t> EventLog::Prune(TimePoint cutoff, TimePoint now) {
  if (!signing_key_) return FailedPrecondition("the event log has no signing key");
  KW_ASSIGN_OR_RETURN(auto checkpoint, ReadPoint(store_, "checkpoint"));
  std::int64_t oldest = checkpoint ? checkpoint->sequence + 1 : 1;
  std::int64_t deleted = 0;
  while (oldest < last_sequence_) {
    // The blocks starting in the next kPruneBatch sequences, oldest first.
    store::ListOptions opts;
    opts.start_after = EventKey(oldest + static_cast<std::int64_t>(kPruneBatch));
    opts.limit = kPruneBatch;
    KW_ASSIGN_OR_RETURN(auto items, store_.List(kEventsTable, opts));
    std::reverse(items.begin(), items.end());
    std::vector<std::string> deletes;
    std::vector<std::pair<std::string, std::string>> rewrites;  // a block's kept tail
    std::vector<std::pair<std::string, std::string>> index_rewrites;
    std::string last_hash_hex;
    std::int64_t last_seq = 0;
    std::int64_t count = 0;
    bool stop = items.empty();
    for (const auto& item : items) {
      auto block = DecodeEventBlock(item.value);
      if (!block) {
        stop = true;
        break;
      }
      std::size_t gone = 0;
      for (; gone < block->rows.size(); ++gone) {
        auto row = SplitRow(block->rows[gone]);
        auto event = ReadEvent(block->rows[gone]);
        if (!row || !event || row->seq >= last_sequence_ || event->summary.time >= cutoff) {
          stop = true;
          break;
        }
        last_hash_hex = row->hash_hex;
        last_seq = row->seq;
      }
      if (gone > 0) {
        deletes.push_back(item.key);
        if (gone < block->rows.size()) {
          // Keep the block's newer records byte for byte, re-keyed at the first kept one;
          // the old time bounds still bound them.
          const std::size_t before = block->rows.size();
          block->rows.erase(block->rows.begin(), block->rows.begin() + gone);
          block->first_sequence = last_seq + 1;
          rewrites.emplace_back(EventKey(block->first_sequence), EncodeEventBlock(*block));
          // Its index row likewise (a block without a usable one keeps having none).
          KW_ASSIGN_OR_RETURN(auto index_item, store_.Get(kEventIndexTable, item.key));
          auto index = index_item ? DecodeEventIndex(index_item->value) : std::nullopt;
          if (index && index->events.size() == before) {
            index->events.erase(index->events.begin(),
                                index->events.begin() + static_cast<std::ptrdiff_t>(gone));
            index->first_sequence = block->first_sequence;
            index_rewrites.emplace_back(EventKey(block->first_sequence), EncodeEventIndex(*index));
          }
        }
        count += static_cast<std::int64_t>(gone);
      }
      if (stop) break;
    }
    if (count == 0) break;
    KW_ASSIGN_OR_RETURN(ChainPoint p, Sign("checkpoint", last_seq, last_hash_hex, now));
    KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
      for (const auto& key : deletes) {
        KW_RETURN_IF_ERROR(txn.Delete(kEventsTable, key));
        // Blocks written before the index have no row.
        Status s = txn.Delete(kEventIndexTable, key);
        if (!s && s.error().code != ErrorCode::kNotFound) return s;
      }
      for (const auto& [key, value] : rewrites) {
        auto r = txn.Put(kEventsTable, key, value);
        if (!r) return r.error();
      }
      for (const auto& [key, value] : index_rewrites) {
        auto r = txn.Put(kEventIndexTable, key, value);
        if (!r) return r.error();
      }
      auto r = txn.Put(kEventMetaTable, "checkpoint", PointJson(p).dump());
      if (!r) return r.error();
      return OkStatus();
    }));
    deleted += count;
    oldest = last_seq + 1;
    if (stop) break;
  }
  return deleted;
}

Result<std::int64_t> EventLog::StartSequenceFor(std::optional<TimePoint> end,
                                                std::optional<std::int64_t> before) const {
  std::int64_t hi = 0;
  if (before) {
    hi = *before - 1;
  } else {
    store::ListOptions newest;
    newest.limit = 1;
    KW_ASSIGN_OR_RETURN(auto top, store_.List(kEventsTable, newest));
    if (top.empty()) return std::int64_t{0};
    auto block = DecodeEventBlock(top[0].value);
    // An unreadable newest block: start from its first record (verify reports it).
    hi = block ? KeySequence(top[0].key) + static_cast<std::int64_t>(block->rows.size()) - 1
               : KeySequence(top[0].key);
  }
  if (hi <= 0) return std::int64_t{0};
  if (!end) return hi;
  // Binary search for the newest block whose earliest event is no later than
  // end + kMaxOutOfOrder (times grow with the sequence up to that skew). Only headers
  // are read; the result is the highest sequence of that block (or hi).
  const std::int64_t bound = UnixSeconds(*end + kMaxOutOfOrder);
  std::int64_t lo = 1;
  while (lo < hi) {
    const std::int64_t mid = lo + (hi - lo + 1) / 2;
    store::ListOptions floor;
    floor.start_after = EventKey(mid + 1);
    floor.limit = 1;
    KW_ASSIGN_OR_RETURN(auto items, store_.List(kEventsTable, floor));
    EventBlock header;
    if (items.empty() || ParseBlockHeader(items[0].value, header) == 0 ||
        header.min_time <= bound) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

Status EventLog::Scan(std::optional<TimePoint> start, std::optional<TimePoint> end,
                      const std::function<bool(const StoredEvent&)>& fn) const {
  KW_ASSIGN_OR_RETURN(std::int64_t from, StartSequenceFor(end, std::nullopt));
  return ScanEvents(store_, from, start, end, [&](StoredEvent& e) { return fn(e); });
}

Result<std::int64_t> EventLog::EstimateCount(std::optional<TimePoint> start,
                                             std::optional<TimePoint> end) const {
  KW_ASSIGN_OR_RETURN(const std::int64_t hi, StartSequenceFor(end, std::nullopt));
  if (!start || hi == 0) return hi;
  // The newest record of the newest block that starts before `start`.
  KW_ASSIGN_OR_RETURN(
      const std::int64_t lo,
      StartSequenceFor(*start - kMaxOutOfOrder - std::chrono::seconds(1), std::nullopt));
  return std::max<std::int64_t>(0, hi - lo + 1);
}

Result<LookupPage> EventLog::Lookup(const LookupQuery& q) const {
  LookupPage page;
  KW_ASSIGN_OR_RETURN(std::int64_t from, StartSequenceFor(q.end, q.before_sequence));
  const std::size_t max = std::max<std::size_t>(q.max_results, 1);
  bool more = false;
  KW_RETURN_IF_ERROR(ScanEvents(store_, from, q.start, q.end, [&](StoredEvent& e) {
    if (q.attribute && !Matches(e.summary, q.attribute->first, q.attribute->second)) return true;
    if (page.events.size() == max) {
      more = true;  // one more match exists: there is a next page
      return false;
    }
    page.events.push_back(std::move(e));
    return true;
  }));
  if (more) page.next_before = page.events.back().sequence;
  return page;
}

Result<VerifyReport> EventLog::Verify(store::KvStore& store, std::string_view public_key) {
  VerifyReport report;
  std::map<std::int64_t, std::string> problems;  // first problem per sequence
  auto problem = [&](std::int64_t seq, std::string what) {
    problems.emplace(seq, std::move(what));
  };

  KW_ASSIGN_OR_RETURN(report.head, ReadPoint(store, "head"));
  KW_ASSIGN_OR_RETURN(report.checkpoint, ReadPoint(store, "checkpoint"));
  if (report.checkpoint && !PointSignatureValid("checkpoint", *report.checkpoint, public_key)) {
    problem(report.checkpoint->sequence,
            "the prune checkpoint's signature is not valid for this signing key");
  }
  if (report.head && !PointSignatureValid("head", *report.head, public_key)) {
    problem(report.head->sequence, "the signed head's signature is not valid for this signing key");
  }

  // Newest first: each record's `prev` must be the hash of the next one read. Each record
  // line stands for the sequence of its position (its block's key, then one more per
  // line), unless its own sequence is higher and the position's sequence is held by no
  // line of this block or its two neighbours: then the records in between were removed.
  // So an edit, a removal and a reordering (within a block or with a neighbouring block)
  // are each reported at the sequence where they happened.
  struct Decoded {
    std::int64_t key_seq = 0;
    std::optional<EventBlock> block;
    std::vector<std::optional<Row>> rows;  // views into block->rows
    std::set<std::int64_t> held;           // the rows' own sequences
  };
  std::set<std::string> block_keys;
  // The audit reads the index instead of the records: an index row must say what its
  // block's records say, entry for entry, or the audit could be blinded to a key's use
  // (or shown uses that never happened). A block whose records are themselves reported
  // (changed, removed, reordered) has its index differences reported only through those:
  // they are the same tampering.
  struct IndexProblem {
    std::int64_t lo = 0, hi = 0;  // the block's sequences
    std::int64_t sequence = 0;
    std::string what;
  };
  std::vector<IndexProblem> index_problems;
  auto check_index = [&](const store::Item& item, const Decoded& d) -> Status {
    KW_ASSIGN_OR_RETURN(auto index_item, store.Get(kEventIndexTable, item.key));
    if (!index_item || !d.block) return OkStatus();  // a block from before the index
    const std::int64_t lo = d.key_seq;
    auto index = DecodeEventIndex(index_item->value);
    if (!index || index->first_sequence != d.key_seq) {
      index_problems.push_back(
          {lo, lo, lo, "the index of the block from this sequence is unreadable (changed)"});
      return OkStatus();
    }
    const auto count = static_cast<std::int64_t>(index->events.size());
    const std::int64_t hi =
        lo + std::max<std::int64_t>(count, static_cast<std::int64_t>(d.rows.size())) - 1;
    std::vector<bool> matched(index->events.size(), false);
    for (const auto& line : d.block->rows) {
      auto summary = SummaryOfLine(line);
      if (!summary) continue;  // the record itself is reported
      const std::int64_t at = summary->sequence - lo;
      if (at < 0 || at >= count) {
        index_problems.push_back({lo, hi, summary->sequence,
                                  "the record is missing from its block's index (the index "
                                  "was changed)"});
        continue;
      }
      matched[static_cast<std::size_t>(at)] = true;
      if (!SameIndexed(index->events[static_cast<std::size_t>(at)], ToIndexed(*summary))) {
        index_problems.push_back(
            {lo, hi, summary->sequence,
             "the index entry differs from the record (the index was changed)"});
      }
    }
    for (std::size_t i = 0; i < matched.size(); ++i) {
      if (!matched[i]) {
        index_problems.push_back(
            {lo, hi, index->events[i].sequence,
             "the index has an entry for a record its block does not hold (the index was "
             "changed)"});
      }
    }
    return OkStatus();
  };
  auto decode = [&](const store::Item& item) -> Result<std::unique_ptr<Decoded>> {
    auto d = std::make_unique<Decoded>();
    d->key_seq = KeySequence(item.key);
    d->block = DecodeEventBlock(item.value);
    if (d->block) {
      for (const auto& line : d->block->rows) {
        d->rows.push_back(SplitRow(line));
        if (d->rows.back()) d->held.insert(d->rows.back()->seq);
      }
    }
    block_keys.insert(item.key);
    KW_RETURN_IF_ERROR(check_index(item, *d));
    return d;
  };
  std::optional<std::string> newer_prev;  // `prev` of the last record read (one newer)
  std::int64_t newer_key_seq = 0;
  bool head_seen = false;
  auto check = [&](const Decoded& cur, const Decoded* newer_block, const Decoded* older_block) {
    if (!cur.block) {
      problem(cur.key_seq, "the block of records from this sequence is unreadable (changed)");
      if (report.last_sequence == 0) report.last_sequence = cur.key_seq;
      report.first_sequence = cur.key_seq;
      newer_prev.reset();
      newer_key_seq = cur.key_seq;
      return;
    }
    if (cur.block->first_sequence != cur.key_seq) {
      problem(cur.key_seq, "the block's header does not match its key (changed)");
    }
    auto held = [&](std::int64_t seq) {
      return cur.held.count(seq) > 0 || (newer_block && newer_block->held.count(seq) > 0) ||
             (older_block && older_block->held.count(seq) > 0);
    };
    std::vector<std::int64_t> key_seqs;
    std::int64_t expected = cur.key_seq;
    for (const auto& row : cur.rows) {
      const std::int64_t own = row ? row->seq : expected;
      key_seqs.push_back(own == expected || (own > expected && !held(expected)) ? own : expected);
      expected = key_seqs.back() + 1;
    }
    for (std::size_t i = cur.rows.size(); i-- > 0;) {
      const std::int64_t key_seq = key_seqs[i];
      const std::optional<Row>& row = cur.rows[i];
      ++report.events;
      if (report.last_sequence == 0) report.last_sequence = key_seq;
      report.first_sequence = key_seq;
      if (!row) {
        problem(key_seq, "record is unreadable (changed)");
        newer_prev.reset();
        newer_key_seq = key_seq;
        continue;
      }
      std::string hash_raw = crypto::HexDecode(row->hash_hex).value_or("");
      if (row->seq != key_seq) {
        problem(key_seq, "holds the record of sequence " + std::to_string(row->seq) +
                             " (records were reordered)");
      } else if (ChainHash(crypto::HexDecode(row->prev_hex).value_or(""), row->seq,
                           row->raw_event) != hash_raw) {
        problem(key_seq, "record was changed (its content does not match its hash)");
      }
      if (newer_prev) {
        if (newer_key_seq != key_seq + 1) {
          problem(key_seq + 1, "records " + std::to_string(key_seq + 1) + " to " +
                                   std::to_string(newer_key_seq - 1) + " were removed");
        } else if (*newer_prev != row->hash_hex) {
          problem(newer_key_seq, "does not follow record " + std::to_string(key_seq) +
                                     " (a record was changed, removed or reordered)");
        }
      }
      if (report.head && key_seq == report.head->sequence) {
        head_seen = true;
        if (row->hash_hex != report.head->hash_hex) {
          problem(key_seq, "differs from the signed head (records up to it were rewritten)");
        }
      }
      newer_prev = row->prev_hex;
      newer_key_seq = key_seq;
    }
  };
  // Blocks stream through a window of three: the one checked and its neighbours.
  std::unique_ptr<Decoded> newer_block, current;
  std::string after;
  for (;;) {
    constexpr std::size_t kVerifyPage = 64;
    store::ListOptions opts;
    opts.start_after = after;
    opts.limit = kVerifyPage;
    KW_ASSIGN_OR_RETURN(auto items, store.List(kEventsTable, opts));
    for (const auto& item : items) {
      KW_ASSIGN_OR_RETURN(auto older_block, decode(item));
      if (current) check(*current, newer_block.get(), older_block.get());
      newer_block = std::move(current);
      current = std::move(older_block);
    }
    if (items.size() < kVerifyPage) break;
    after = items.back().key;
  }
  if (current) check(*current, newer_block.get(), nullptr);
  // An index row without its block would make the audit see events that are not there.
  for (std::string index_after;;) {
    constexpr std::size_t kIndexPage = 256;
    store::ListOptions opts;
    opts.start_after = index_after;
    opts.limit = kIndexPage;
    KW_ASSIGN_OR_RETURN(auto items, store.List(kEventIndexTable, opts));
    for (const auto& item : items) {
      if (block_keys.count(item.key) == 0) {
        problem(KeySequence(item.key), "an index row has no block of records (added)");
      }
    }
    if (items.size() < kIndexPage) break;
    index_after = items.back().key;
  }

  const std::int64_t expected_first = report.checkpoint ? report.checkpoint->sequence + 1 : 1;
  const std::string expected_prev =
      report.checkpoint ? report.checkpoint->hash_hex : crypto::HexEncode(kZeroHash);
  if (report.events > 0) {
    if (report.first_sequence > expected_first) {
      problem(expected_first, "records " + std::to_string(expected_first) + " to " +
                                  std::to_string(report.first_sequence - 1) + " were removed");
    } else if (report.first_sequence == expected_first && newer_prev &&
               *newer_prev != expected_prev) {
      problem(report.first_sequence, report.checkpoint
                                         ? "does not follow the signed prune checkpoint"
                                         : "is not the start of the chain");
    }
  }
  if (report.head) {
    if (report.head->sequence > report.last_sequence) {
      problem(report.head->sequence,
              "the signed head's record is missing (records at the end were removed)");
    } else if (!head_seen && report.head->sequence >= expected_first) {
      problem(report.head->sequence, "the signed head's record is missing");
    }
    report.unsigned_after_head =
        std::max<std::int64_t>(0, report.last_sequence - report.head->sequence);
  } else if (report.events > 0) {
    problem(report.last_sequence,
            "no signed head: the chain cannot be authenticated (the head record was removed?)");
  }
  // After every chain problem is known (see check_index).
  for (auto& p : index_problems) {
    auto it = problems.lower_bound(p.lo);
    if (it == problems.end() || it->first > p.hi) problem(p.sequence, std::move(p.what));
  }
  for (auto& [seq, what] : problems) report.problems.push_back({seq, std::move(what)});
  return report;
}

// ---- event_log_format.hpp ----

namespace format {

std::uint64_t IndexReader::VarintSlow() {
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

std::int64_t KeySequence(std::string_view key) {
  std::uint64_t inverted = 0;
  if (key.size() != 16) return 0;
  for (char c : key) {
    int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (v < 0) return 0;
    inverted = inverted << 4 | static_cast<std::uint64_t>(v);
  }
  return static_cast<std::int64_t>(std::numeric_limits<std::uint64_t>::max() - inverted);
}

std::int64_t UnixSeconds(TimePoint t) {
  return std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
}

std::size_t ParseBlockHeader(std::string_view value, EventBlock& block) {
  constexpr std::string_view kZlibBlockMagic = "kwev1 ";
  const std::string_view magic = value.substr(0, format::kZstdBlockMagic.size());
  if (magic != format::kZstdBlockMagic && magic != kZlibBlockMagic) return 0;
  const std::size_t nl = value.find('\n');
  if (nl == std::string_view::npos || nl > 80) return 0;
  std::string header(value.substr(magic.size(), nl - magic.size()));
  long long first = 0, tmin = 0, tmax = 0;
  int used = 0;
  if (std::sscanf(header.c_str(), "%lld %lld %lld%n", &first, &tmin, &tmax, &used) != 3 ||
      static_cast<std::size_t>(used) != header.size() || first < 1) {
    return 0;
  }
  block.first_sequence = first;
  block.min_time = tmin;
  block.max_time = tmax;
  return nl + 1;
}

BlockRange RangeOf(std::int64_t min_time, std::int64_t max_time, std::optional<TimePoint> start,
                   std::optional<TimePoint> end) {
  if (start && max_time < UnixSeconds(*start - kMaxOutOfOrder)) return BlockRange::kStop;
  if (end && min_time > UnixSeconds(*end)) return BlockRange::kSkip;
  return BlockRange::kRead;
}

Status ScanBlocks(store::KvStore& store, std::int64_t from,
                  const std::function<bool(const store::Item&)>& fn) {
  constexpr std::size_t kBlockPage = 16;
  std::int64_t cursor = from;
  while (cursor > 0) {
    store::ListOptions opts;
    opts.start_after = EventKey(cursor + 1);
    opts.limit = kBlockPage;
    KW_ASSIGN_OR_RETURN(auto items, store.List(kEventsTable, opts));
    for (const auto& item : items) {
      if (!fn(item)) return OkStatus();
    }
    if (items.size() < kBlockPage) break;
    cursor = KeySequence(items.back().key) - 1;
  }
  return OkStatus();
}

Status ScanBlocksInRange(store::KvStore& store, std::int64_t from, std::optional<TimePoint> start,
                         std::optional<TimePoint> end,
                         const std::function<bool(const store::Item&)>& fn) {
  return ScanBlocks(store, from, [&](const store::Item& item) {
    EventBlock header;
    if (ParseBlockHeader(item.value, header) == 0) return true;
    switch (RangeOf(header.min_time, header.max_time, start, end)) {
      case BlockRange::kStop:
        return false;
      case BlockRange::kSkip:
        return true;
      case BlockRange::kRead:
        break;
    }
    return fn(item);
  });
}

std::optional<StoredEvent> ReadEvent(std::string_view line) {
  auto row = SplitRow(line);
  if (!row) return std::nullopt;
  StoredEvent e;
  e.sequence = row->seq;
  e.record = json::parse(row->raw_event, nullptr, false);
  auto summary = Summarize(e.sequence, e.record);
  if (!summary) return std::nullopt;
  e.summary = std::move(*summary);
  return e;
}

}  // namespace format

}  // namespace kw::events
