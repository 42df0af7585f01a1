// The writer's fast path (EventLog::AppendRaw with reused buffers, incremental deflate and
// a reused interning table) must store exactly what the one-shot encoders make: existing
// logs and readers depend on the bytes, not on how they were produced.

#include <gtest/gtest.h>
#include <zlib.h>
#include <zstd.h>

#include "common/time_format.hpp"
#include "crypto/signature.hpp"
#include "events/event_log.hpp"
#include "store/memory/memory_kv_store.hpp"

namespace kw::events {
namespace {

TimePoint T0() { return *ParseIso8601("2026-01-01T00:00:00Z"); }

// A GetSecretValue-shaped event; `distinct` gives every event its own key and ARN (so that
// a block interns more strings than the encoder's first table holds).
Event MakeEvent(int i, bool distinct) {
  Event e;
  e.time = T0() + std::chrono::milliseconds(i * 700);
  e.event_source = "secretsmanager.amazonaws.com";
  e.event_name = i % 13 == 0 ? "PutSecretValue" : "GetSecretValue";
  e.region = "us-east-1";
  e.source_ip = "10.0." + std::to_string(i % 3) + "." + std::to_string(i % 250);
  e.user_agent = "aws-cli/2.15.0 Python/3.11.6 Linux/6.1.0-18-amd64 exe/x86_64.debian.12";
  const int who = distinct ? i : i % 7;
  e.identity.type = "IAMUser";
  e.identity.account_id = "123456789012";
  e.identity.access_key_id = "AKIA" + std::to_string(100000 + who);
  e.identity.arn = "arn:aws:iam::123456789012:user/u" + std::to_string(who);
  e.identity.user_name = "u" + std::to_string(who);
  e.request_parameters = {{"SecretId", "app/db-" + std::to_string(i % 40)}};
  e.resources = ResourcesOf(e.event_source, e.request_parameters);
  e.request_id = "req-" + std::to_string(i);
  e.event_id = "00000000-0000-4000-8000-" + std::to_string(100000000000 + i);
  e.read_only = true;
  e.recipient_account_id = "123456789012";
  if (i % 17 == 0) e.error_code = "AccessDeniedException";
  if (i % 29 == 0) e.additional_event_data = {{"keyInactive", true}};
  return e;
}

enum class IndexSource { kIndexed, kSummary, kParsed };

std::vector<RawRecord> Records(const std::vector<Event>& events, IndexSource source) {
  std::vector<RawRecord> out;
  for (const Event& e : events) {
    RawRecord rec{RecordJson(e), e.time, std::nullopt};
    if (source == IndexSource::kIndexed) rec.indexed = IndexedOf(e);
    if (source == IndexSource::kSummary) rec.summary = SummaryOf(e);
    out.push_back(std::move(rec));
  }
  return out;
}

std::string Header(const EventBlock& block, std::string_view magic) {
  return std::string(magic) + std::to_string(block.first_sequence) + " " +
         std::to_string(block.min_time) + " " + std::to_string(block.max_time) + "\n";
}

std::string JoinedRows(const EventBlock& block) {
  std::string text;
  for (std::size_t i = 0; i < block.rows.size(); ++i) {
    if (i > 0) text.push_back('\n');
    text += block.rows[i];
  }
  return text;
}

// A block as written before ADR 0015: "kwev1 " and compress2 of the joined lines.
std::string ZlibBlock(const EventBlock& block) {
  const std::string text = JoinedRows(block);
  uLongf size = compressBound(static_cast<uLong>(text.size()));
  std::string z(size, '\0');
  EXPECT_EQ(
      compress2(reinterpret_cast<Bytef*>(z.data()), &size,
                reinterpret_cast<const Bytef*>(text.data()), static_cast<uLong>(text.size()), 1),
      Z_OK);
  z.resize(size);
  return Header(block, "kwev1 ") + z;
}

EventBlock FullBlock() {
  EventBlock block;
  block.first_sequence = 12345;
  block.min_time = 1767225600;
  block.max_time = 1767225999;
  for (int i = 0; i < static_cast<int>(kBlockRecords); ++i) {
    block.rows.push_back(R"({"event":)" + RecordJson(MakeEvent(i, true)) + R"(,"seq":)" +
                         std::to_string(i) + "}");
  }
  return block;
}

TEST(EventBlockEncodingTest, IsTheHeaderAndOneChecksummedZstdFrameOfTheJoinedLines) {
  const EventBlock full = FullBlock();
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{2}, kBlockRecords}) {
    EventBlock block = full;
    block.rows.resize(n);
    const std::string encoded = EncodeEventBlock(block);
    const std::string header = Header(block, "kwev2 ");
    ASSERT_EQ(encoded.substr(0, header.size()), header) << n << " rows";
    const std::string_view frame = std::string_view(encoded).substr(header.size());
    EXPECT_EQ(ZSTD_findFrameCompressedSize(frame.data(), frame.size()), frame.size());
    // The frame header descriptor (after the 4-byte magic): bit 2, content checksum.
    ASSERT_GT(frame.size(), 4u);
    EXPECT_NE(static_cast<unsigned char>(frame[4]) & 0x04, 0);
    const std::string text = JoinedRows(block);
    std::string back(text.size() + 64, '\0');
    const std::size_t size = ZSTD_decompress(back.data(), back.size(), frame.data(), frame.size());
    ASSERT_FALSE(ZSTD_isError(size)) << ZSTD_getErrorName(size);
    back.resize(size);
    EXPECT_EQ(back, text) << n << " rows";
    auto decoded = DecodeEventBlock(encoded);
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(decoded->first_sequence, block.first_sequence);
    EXPECT_EQ(decoded->rows, n == 0 ? std::vector<std::string>{""} : block.rows);
  }
  // Smaller than the zlib block it replaces.
  EXPECT_LT(EncodeEventBlock(full).size(), ZlibBlock(full).size());
}

TEST(EventBlockEncodingTest, ReadsZlibBlocksWrittenBeforeZstd) {
  const EventBlock block = FullBlock();
  auto decoded = DecodeEventBlock(ZlibBlock(block));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->first_sequence, block.first_sequence);
  EXPECT_EQ(decoded->min_time, block.min_time);
  EXPECT_EQ(decoded->max_time, block.max_time);
  EXPECT_EQ(decoded->rows, block.rows);
}

TEST(EventBlockEncodingTest, DamagedTruncatedOrMislabelledBlocksAreUnreadable) {
  const EventBlock block = FullBlock();
  const std::string good = EncodeEventBlock(block);
  const std::size_t header = Header(block, "kwev2 ").size();
  std::string flipped = good;
  flipped[header + (good.size() - header) / 2] ^= 0x01;  // caught by the frame's checksum
  EXPECT_FALSE(DecodeEventBlock(flipped).has_value());
  EXPECT_FALSE(DecodeEventBlock(good.substr(0, good.size() - 5)).has_value());
  EXPECT_FALSE(DecodeEventBlock(good + "x").has_value());
  std::string as_zlib = good;
  as_zlib.replace(0, 6, "kwev1 ");
  EXPECT_FALSE(DecodeEventBlock(as_zlib).has_value());
  std::string zlib_as_zstd = ZlibBlock(block);
  zlib_as_zstd.replace(0, 6, "kwev2 ");
  EXPECT_FALSE(DecodeEventBlock(zlib_as_zstd).has_value());
}

TEST(IndexedOfTest, IsToIndexedOfSummaryOfWithoutCopies) {
  std::vector<Event> events;
  events.push_back(MakeEvent(1, false));
  Event role = MakeEvent(2, false);
  role.identity.type = "AssumedRole";
  role.identity.arn = "arn:aws:sts::123456789012:assumed-role/Fleet/mi-0123456789abcdef0";
  role.identity.instance_id = "mi-0123456789abcdef0";
  role.identity.user_name.clear();
  events.push_back(role);
  Event refused = MakeEvent(3, false);
  refused.identity = UserIdentity{};
  refused.identity.access_key_id = "AKIAREFUSED";
  refused.error_code = "SignatureDoesNotMatch";
  refused.additional_event_data = {{"keyInactive", true}};
  events.push_back(refused);
  Event quoted = MakeEvent(4, false);
  quoted.source_ip = R"(a"b\c)";  // escaped in the record, read back unchanged
  events.push_back(quoted);
  for (const Event& e : events) {
    auto fast = IndexedOf(e);
    ASSERT_TRUE(fast.has_value());
    const EventSummary summary = SummaryOf(e);
    const IndexedEvent slow = ToIndexed(summary);
    EXPECT_EQ(fast->time, slow.time);
    EXPECT_EQ(fast->event_name, slow.event_name);
    EXPECT_EQ(fast->access_key_id, slow.access_key_id);
    EXPECT_EQ(fast->user_arn, slow.user_arn);
    EXPECT_EQ(fast->instance_id, slow.instance_id);
    EXPECT_EQ(fast->source_ip, slow.source_ip);
    EXPECT_EQ(fast->error_code, slow.error_code);
    EXPECT_EQ(fast->key_inactive, slow.key_inactive);
    // Views into the event, not copies.
    EXPECT_EQ(fast->user_arn.data(), e.identity.arn.data());
  }
  EXPECT_TRUE(IndexedOf(refused)->key_inactive);
  // Stored escaped or replaced: SummaryOf's stored forms are needed.
  Event control = MakeEvent(5, false);
  control.identity.access_key_id = "AKIA\x01";
  EXPECT_FALSE(IndexedOf(control).has_value());
  Event utf8 = MakeEvent(6, false);
  utf8.identity.arn = "arn:aws:iam::123456789012:user/\xc3\xa9t\xc3\xa9";
  EXPECT_FALSE(IndexedOf(utf8).has_value());
}

class EventLogWriteTest : public ::testing::Test {
 protected:
  struct Log {
    store::MemoryKvStore store;
    std::unique_ptr<EventLog> log;
  };
  void SetUp() override {
    auto pair = crypto::GenerateEd25519();
    ASSERT_TRUE(pair.has_value());
    public_key_ = pair->public_key;
    private_pem_ = std::string(pair->private_key_pem.Reveal());
  }
  std::unique_ptr<Log> NewLog() {
    auto out = std::make_unique<Log>();
    auto log = EventLog::Open(out->store, SecretBytes(std::string(private_pem_)));
    EXPECT_TRUE(log.has_value());
    out->log = std::move(*log);
    return out;
  }
  static std::vector<store::Item> Rows(Log& log, std::string_view table) {
    store::ListOptions all;
    all.limit = 100000;
    auto items = log.store.List(table, all);
    EXPECT_TRUE(items.has_value());
    return items ? *items : std::vector<store::Item>{};
  }

  std::string public_key_;
  std::string private_pem_;
};

TEST_F(EventLogWriteTest, StoredBlocksAndIndexRowsAreWhatTheOneShotEncodersMake) {
  auto log = NewLog();
  // Batches of 1,300 (two full blocks and a partial one), then 700, then 1: buffers and
  // the interning table are reused across blocks and calls, and a block of distinct keys
  // outgrows the table's first size.
  std::vector<Event> events;
  for (int i = 0; i < 2001; ++i) events.push_back(MakeEvent(i, i < 1300));
  const std::vector<Event> a(events.begin(), events.begin() + 1300);
  const std::vector<Event> b(events.begin() + 1300, events.begin() + 2000);
  const std::vector<Event> c(events.begin() + 2000, events.end());
  ASSERT_TRUE(log->log->AppendRaw(Records(a, IndexSource::kIndexed)).has_value());
  ASSERT_TRUE(log->log->AppendRaw(Records(b, IndexSource::kIndexed)).has_value());
  ASSERT_TRUE(log->log->AppendRaw(Records(c, IndexSource::kIndexed)).has_value());
  EXPECT_EQ(log->log->last_sequence(), 2001);

  const auto blocks = Rows(*log, kEventsTable);
  const auto index_rows = Rows(*log, kEventIndexTable);
  ASSERT_EQ(blocks.size(), 6u);  // 512 + 512 + 276, 512 + 188, 1
  ASSERT_EQ(index_rows.size(), blocks.size());
  std::size_t seen = 0;
  for (std::size_t k = 0; k < blocks.size(); ++k) {
    auto block = DecodeEventBlock(blocks[k].value);
    ASSERT_TRUE(block.has_value());
    EXPECT_EQ(blocks[k].value, EncodeEventBlock(*block)) << "block " << k;
    EXPECT_EQ(blocks[k].key, EventKey(block->first_sequence));
    EXPECT_EQ(index_rows[k].key, blocks[k].key);
    auto index = DecodeEventIndex(index_rows[k].value);
    ASSERT_TRUE(index.has_value());
    EXPECT_EQ(index_rows[k].value, EncodeEventIndex(*index)) << "index of block " << k;
    EXPECT_EQ(index->first_sequence, block->first_sequence);
    EXPECT_EQ(index->min_time, block->min_time);
    EXPECT_EQ(index->max_time, block->max_time);
    ASSERT_EQ(index->events.size(), block->rows.size());
    for (std::size_t i = 0; i < block->rows.size(); ++i) {
      const std::int64_t seq = block->first_sequence + static_cast<std::int64_t>(i);
      const Event& e = events.at(static_cast<std::size_t>(seq - 1));
      const std::string& row = block->rows[i];
      EXPECT_EQ(row.substr(0, 9 + RecordJson(e).size()), R"({"event":)" + RecordJson(e));
      const std::string seq_tail = R"(","seq":)" + std::to_string(seq) + "}";
      EXPECT_EQ(row.substr(row.size() - seq_tail.size()), seq_tail);
      const IndexedEvent& got = index->events[i];
      const EventSummary summary = SummaryOf(e);
      const IndexedEvent want = ToIndexed(summary);  // views into `summary`
      EXPECT_EQ(got.sequence, seq);
      EXPECT_EQ(got.time, want.time);
      EXPECT_EQ(got.event_name, want.event_name);
      EXPECT_EQ(got.access_key_id, want.access_key_id) << seq;
      EXPECT_EQ(got.user_arn, want.user_arn) << seq;
      EXPECT_EQ(got.source_ip, want.source_ip);
      EXPECT_EQ(got.error_code, want.error_code);
      EXPECT_EQ(got.key_inactive, want.key_inactive);
      ++seen;
    }
  }
  EXPECT_EQ(seen, 2001u);

  ASSERT_TRUE(log->log->SignHead(T0() + std::chrono::hours(1)).has_value());
  auto report = EventLog::Verify(log->store, public_key_);
  ASSERT_TRUE(report.has_value());
  EXPECT_TRUE(report->ok()) << report->problems.front().what;
  EXPECT_EQ(report->events, 2001);
}

TEST_F(EventLogWriteTest, TheIndexEntryOfARecordDoesNotDependOnWhereItCameFrom) {
  std::vector<Event> events;
  for (int i = 0; i < 600; ++i) events.push_back(MakeEvent(i, false));
  std::vector<std::vector<store::Item>> blocks, index_rows;
  for (IndexSource source : {IndexSource::kIndexed, IndexSource::kSummary, IndexSource::kParsed}) {
    auto log = NewLog();
    ASSERT_TRUE(log->log->AppendRaw(Records(events, source)).has_value());
    blocks.push_back(Rows(*log, kEventsTable));
    index_rows.push_back(Rows(*log, kEventIndexTable));
  }
  ASSERT_EQ(blocks[0].size(), 2u);
  for (std::size_t s = 1; s < blocks.size(); ++s) {
    ASSERT_EQ(blocks[s].size(), blocks[0].size());
    ASSERT_EQ(index_rows[s].size(), index_rows[0].size());
    for (std::size_t k = 0; k < blocks[0].size(); ++k) {
      EXPECT_EQ(blocks[s][k].value, blocks[0][k].value) << "source " << s << " block " << k;
      EXPECT_EQ(index_rows[s][k].value, index_rows[0][k].value) << "source " << s << " block " << k;
    }
  }
}

TEST_F(EventLogWriteTest, AFailedTransactionLeavesTheTailForTheNextAppend) {
  auto log = NewLog();
  std::vector<Event> events;
  for (int i = 0; i < 10; ++i) events.push_back(MakeEvent(i, false));
  ASSERT_TRUE(log->log->AppendRaw(Records(events, IndexSource::kIndexed)).has_value());
  // The block key of sequence 11 taken: the next append's Insert fails.
  ASSERT_TRUE(log->store
                  .Transact([](store::Txn& txn) -> Status {
                    auto r = txn.Put(kEventsTable, EventKey(11), "squatter");
                    if (!r) return r.error();
                    return OkStatus();
                  })
                  .has_value());
  EXPECT_FALSE(log->log->AppendRaw(Records(events, IndexSource::kIndexed)).has_value());
  EXPECT_EQ(log->log->last_sequence(), 10);
  ASSERT_TRUE(log->store
                  .Transact([](store::Txn& txn) -> Status {
                    return txn.Delete(kEventsTable, EventKey(11));
                  })
                  .has_value());
  ASSERT_TRUE(log->log->AppendRaw(Records(events, IndexSource::kIndexed)).has_value());
  EXPECT_EQ(log->log->last_sequence(), 20);
  ASSERT_TRUE(log->log->SignHead(T0() + std::chrono::hours(1)).has_value());
  auto report = EventLog::Verify(log->store, public_key_);
  ASSERT_TRUE(report.has_value());
  EXPECT_TRUE(report->ok()) << report->problems.front().what;
  EXPECT_EQ(report->events, 20);
}

}  // namespace
}  // namespace kw::events
