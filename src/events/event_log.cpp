#include "events/event_log.hpp"

#include <zlib.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <set>

#include "common/time_format.hpp"
#include "crypto/digest.hpp"
#include "crypto/signature.hpp"

namespace kw::events {
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

// The stored event of a record line; nullopt if the line or its record is unreadable.
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

std::int64_t UnixSeconds(TimePoint t) {
  return std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
}

// Fast compression: the writer shares the machine with the requests it records, and
// records of one batch are alike enough that level 1 already shrinks them several times.
constexpr int kDeflateLevel = 1;
// A block inflates to at most kBlockRecords records; refuse anything far larger.
constexpr std::size_t kMaxInflated = 256u << 20;

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

// Parses "kwev1 FIRST TMIN TMAX\n"; returns the offset of the zlib stream (0: invalid).
std::size_t ParseBlockHeader(std::string_view value, EventBlock& block) {
  constexpr std::string_view kMagic = "kwev1 ";
  if (value.substr(0, kMagic.size()) != kMagic) return 0;
  const std::size_t nl = value.find('\n');
  if (nl == std::string_view::npos || nl > 80) return 0;
  std::string header(value.substr(kMagic.size(), nl - kMagic.size()));
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

// Blocks holding sequences <= `from`, newest first, until `fn` returns false. Only the
// header is read here: `fn` inflates (DecodeEventBlock) when it needs the records.
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

enum class BlockRange { kRead, kSkip, kStop };

// Whether a block can hold events with start <= time <= end, from its header alone
// (kStop: it and every older block are before start, allowing kMaxOutOfOrder).
BlockRange RangeOf(const EventBlock& header, std::optional<TimePoint> start,
                   std::optional<TimePoint> end) {
  if (start && header.max_time < UnixSeconds(*start - kMaxOutOfOrder)) return BlockRange::kStop;
  if (end && header.min_time > UnixSeconds(*end)) return BlockRange::kSkip;
  return BlockRange::kRead;
}

// Events with sequence <= `from` and start <= time <= end, newest first, until `fn`
// returns false. Unreadable blocks and records are skipped (verify reports them).
Status ScanEvents(store::KvStore& store, std::int64_t from, std::optional<TimePoint> start,
                  std::optional<TimePoint> end, const std::function<bool(StoredEvent&)>& fn) {
  return ScanBlocks(store, from, [&](const store::Item& item) {
    EventBlock header;
    if (ParseBlockHeader(item.value, header) == 0) return true;
    switch (RangeOf(header, start, end)) {
      case BlockRange::kStop:
        return false;
      case BlockRange::kSkip:
        return true;
      case BlockRange::kRead:
        break;
    }
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

}  // namespace

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
  std::string text;
  std::size_t size = 0;
  for (const auto& row : block.rows) size += row.size() + 1;
  text.reserve(size);
  for (std::size_t i = 0; i < block.rows.size(); ++i) {
    if (i > 0) text.push_back('\n');
    text.append(block.rows[i]);
  }
  char header[96];
  const int n = std::snprintf(
      header, sizeof header, "kwev1 %lld %lld %lld\n", static_cast<long long>(block.first_sequence),
      static_cast<long long>(block.min_time), static_cast<long long>(block.max_time));
  std::string out(header, static_cast<std::size_t>(n));
  uLongf bound = compressBound(static_cast<uLong>(text.size()));
  out.resize(out.size() + bound);
  // With a compressBound-sized output, compress2 can only fail to allocate its state
  // (std::bad_alloc territory, as for every other allocation here).
  compress2(reinterpret_cast<Bytef*>(out.data() + n), &bound,
            reinterpret_cast<const Bytef*>(text.data()), static_cast<uLong>(text.size()),
            kDeflateLevel);
  out.resize(static_cast<std::size_t>(n) + bound);
  return out;
}

std::optional<EventBlock> DecodeEventBlock(std::string_view value) {
  EventBlock block;
  const std::size_t at = ParseBlockHeader(value, block);
  if (at == 0) return std::nullopt;
  auto text = Inflate(value.substr(at));
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

Status EventLog::AppendRaw(const std::vector<RawRecord>& records) {
  if (records.empty()) return OkStatus();
  std::vector<std::pair<std::string, std::string>> rows;
  rows.reserve(records.size() / kBlockRecords + 1);
  std::string prev = last_hash_;
  std::int64_t seq = last_sequence_;
  EventBlock block;
  auto seal = [&] {
    rows.emplace_back(EventKey(block.first_sequence), EncodeEventBlock(block));
    block.rows.clear();
  };
  for (const RawRecord& rec : records) {
    ++seq;
    if (block.rows.empty()) {
      block.first_sequence = seq;
      block.min_time = std::numeric_limits<std::int64_t>::max();
      block.max_time = std::numeric_limits<std::int64_t>::min();
    }
    const std::int64_t t = UnixSeconds(rec.time);
    block.min_time = std::min(block.min_time, t);
    block.max_time = std::max(block.max_time, t + 1);
    std::string hash = ChainHash(prev, seq, rec.json);
    std::string value;
    value.reserve(rec.json.size() + 180);
    value.append(kRowPrefix);
    value.append(rec.json);
    value.append(kHashMarker);
    value.append(crypto::HexEncode(hash));
    value.append(R"(","prev":")");
    value.append(crypto::HexEncode(prev));
    value.append(R"(","seq":)");
    value.append(std::to_string(seq));
    value.push_back('}');
    block.rows.push_back(std::move(value));
    prev = std::move(hash);
    if (block.rows.size() == kBlockRecords) seal();
  }
  if (!block.rows.empty()) seal();
  KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
    for (const auto& [key, value] : rows) {
      auto r = txn.Insert(kEventsTable, key, value);
      if (!r) return r.error();
    }
    return OkStatus();
  }));
  last_sequence_ = seq;
  last_hash_ = std::move(prev);
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
          block->rows.erase(block->rows.begin(), block->rows.begin() + gone);
          block->first_sequence = last_seq + 1;
          rewrites.emplace_back(EventKey(block->first_sequence), EncodeEventBlock(*block));
        }
        count += static_cast<std::int64_t>(gone);
      }
      if (stop) break;
    }
    if (count == 0) break;
    KW_ASSIGN_OR_RETURN(ChainPoint p, Sign("checkpoint", last_seq, last_hash_hex, now));
    KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
      for (const auto& key : deletes) KW_RETURN_IF_ERROR(txn.Delete(kEventsTable, key));
      for (const auto& [key, value] : rewrites) {
        auto r = txn.Put(kEventsTable, key, value);
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
  auto decode = [](const store::Item& item) {
    auto d = std::make_unique<Decoded>();
    d->key_seq = KeySequence(item.key);
    d->block = DecodeEventBlock(item.value);
    if (d->block) {
      for (const auto& line : d->block->rows) {
        d->rows.push_back(SplitRow(line));
        if (d->rows.back()) d->held.insert(d->rows.back()->seq);
      }
    }
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
      auto older_block = decode(item);
      if (current) check(*current, newer_block.get(), older_block.get());
      newer_block = std::move(current);
      current = std::move(older_block);
    }
    if (items.size() < kVerifyPage) break;
    after = items.back().key;
  }
  if (current) check(*current, newer_block.get(), nullptr);

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
  for (auto& [seq, what] : problems) report.problems.push_back({seq, std::move(what)});
  return report;
}

}  // namespace kw::events
