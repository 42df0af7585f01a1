#include "events/event_log.hpp"

#include <gtest/gtest.h>

#include "common/time_format.hpp"
#include "crypto/signature.hpp"
#include "events/event_log_test_support.hpp"
#include "store/memory/memory_kv_store.hpp"

namespace kw::events {
namespace {

using nlohmann::json;

TimePoint T0() { return *ParseIso8601("2026-01-01T00:00:00Z"); }

json Record(int i, TimePoint t, std::string name = "GetSecretValue") {
  Event e;
  e.time = t;
  e.event_source = "secretsmanager.amazonaws.com";
  e.event_name = std::move(name);
  e.region = "us-east-1";
  e.identity.type = "IAMUser";
  e.identity.access_key_id = i % 2 == 0 ? "AKIAEVEN" : "AKIAODD";
  e.identity.user_name = "user" + std::to_string(i % 3);
  e.request_parameters = {{"SecretId", "s" + std::to_string(i)}};
  e.event_id = "id-" + std::to_string(i);
  e.read_only = true;
  e.resources = ResourcesOf(e.event_source, e.request_parameters);
  return ToRecord(e);
}

class EventLogTest : public test_support::SignedEventLogTest {
 protected:
  // n events, one a minute from T0, then a signed head.
  void Fill(int n) {
    std::vector<json> records;
    for (int i = 1; i <= n; ++i) records.push_back(Record(i, T0() + std::chrono::minutes(i)));
    ASSERT_TRUE(log_->Append(records).has_value());
    ASSERT_TRUE(log_->SignHead(T0() + std::chrono::hours(1)).has_value());
  }

  // The stored block holding `seq` (its key and contents), as a tamperer would find it.
  std::pair<std::string, EventBlock> BlockOf(std::int64_t seq) {
    store::ListOptions opts;
    opts.start_after = EventKey(seq + 1);
    opts.limit = 1;
    auto items = store_.List(kEventsTable, opts);
    EXPECT_TRUE(items.has_value() && !items->empty());
    auto block = DecodeEventBlock((*items)[0].value);
    EXPECT_TRUE(block.has_value());
    return {(*items)[0].key, *block};
  }
  void Store(const std::string& key, const EventBlock& block) {
    ASSERT_TRUE(store_
                    .Transact([&](store::Txn& txn) -> Status {
                      if (block.rows.empty()) return txn.Delete(kEventsTable, key);
                      auto r = txn.Put(kEventsTable, key, EncodeEventBlock(block));
                      if (!r) return r.error();
                      return OkStatus();
                    })
                    .has_value());
  }
  // The stored line at the position of record `seq`.
  std::string Raw(std::int64_t seq) {
    auto [key, block] = BlockOf(seq);
    return block.rows.at(static_cast<std::size_t>(seq - block.first_sequence));
  }
  void Write(std::int64_t seq, const std::string& value) {
    auto [key, block] = BlockOf(seq);
    block.rows.at(static_cast<std::size_t>(seq - block.first_sequence)) = value;
    Store(key, block);
  }
  // Removes record `seq`'s line from its block (the block's key stays).
  void Remove(std::int64_t seq) {
    auto [key, block] = BlockOf(seq);
    const auto at = block.rows.begin() + (seq - block.first_sequence);
    block.rows.erase(at);
    Store(key, block);
  }
  VerifyReport Verify() {
    auto r = EventLog::Verify(store_, public_key_);
    EXPECT_TRUE(r.has_value());
    return *r;
  }
};

TEST_F(EventLogTest, AnIntactChainVerifies) {
  Fill(10);
  VerifyReport r = Verify();
  EXPECT_TRUE(r.ok()) << r.problems[0].what;
  EXPECT_EQ(r.events, 10);
  EXPECT_EQ(r.first_sequence, 1);
  EXPECT_EQ(r.last_sequence, 10);
  ASSERT_TRUE(r.head.has_value());
  EXPECT_EQ(r.head->sequence, 10);
  EXPECT_EQ(r.unsigned_after_head, 0);
}

TEST_F(EventLogTest, TheChainContinuesAcrossReopen) {
  Fill(3);
  auto reopened = EventLog::Open(store_, std::nullopt);
  ASSERT_TRUE(reopened.has_value());
  EXPECT_EQ((*reopened)->last_sequence(), 3);
  ASSERT_TRUE((*reopened)->Append({Record(4, T0() + std::chrono::minutes(4))}).has_value());
  VerifyReport r = Verify();
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.last_sequence, 4);
  EXPECT_EQ(r.unsigned_after_head, 1);
}

TEST_F(EventLogTest, AnEditedRecordIsFoundBySequence) {
  Fill(10);
  std::string raw = Raw(4);
  const auto at = raw.find("GetSecretValue");
  ASSERT_NE(at, std::string::npos);
  raw.replace(at, 14, "PutSecretValue");
  Write(4, raw);
  VerifyReport r = Verify();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.problems[0].sequence, 4);
  EXPECT_NE(r.problems[0].what.find("changed"), std::string::npos);
}

TEST_F(EventLogTest, AnEditWithARecomputedChainIsCaughtByTheSignedHead) {
  Fill(5);
  // Rewrite the whole chain from record 3 on with an edited record 3, as an attacker
  // with the database but not the signing key could.
  for (int s = 5; s >= 3; --s) Remove(s);
  auto forger = EventLog::Open(store_, std::nullopt);
  ASSERT_TRUE(forger.has_value());
  ASSERT_TRUE((*forger)
                  ->Append({Record(3, T0(), "DeleteSecret"), Record(4, T0()), Record(5, T0())})
                  .has_value());
  VerifyReport r = Verify();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.problems.back().sequence, 5);
  EXPECT_NE(r.problems.back().what.find("signed head"), std::string::npos);
}

TEST_F(EventLogTest, ADeletedRecordIsFoundBySequence) {
  Fill(10);
  Remove(6);
  VerifyReport r = Verify();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.problems[0].sequence, 6);
  EXPECT_NE(r.problems[0].what.find("removed"), std::string::npos);
}

TEST_F(EventLogTest, DeletingTheOldestOrNewestRecordIsFound) {
  Fill(10);
  Remove(1);
  Remove(10);
  VerifyReport r = Verify();
  ASSERT_EQ(r.problems.size(), 2u);
  EXPECT_EQ(r.problems[0].sequence, 1);
  EXPECT_EQ(r.problems[1].sequence, 10);
}

TEST_F(EventLogTest, ReorderedRecordsAreFoundBySequence) {
  Fill(10);
  const std::string three = Raw(3);
  const std::string seven = Raw(7);
  Write(3, seven);
  Write(7, three);
  VerifyReport r = Verify();
  ASSERT_FALSE(r.ok());
  std::vector<std::int64_t> seqs;
  for (const auto& p : r.problems) seqs.push_back(p.sequence);
  EXPECT_NE(std::find(seqs.begin(), seqs.end(), 3), seqs.end());
  EXPECT_NE(std::find(seqs.begin(), seqs.end(), 7), seqs.end());
  EXPECT_NE(r.problems[0].what.find("reordered"), std::string::npos);
}

TEST_F(EventLogTest, AHeadSignedByAnotherKeyIsRefused) {
  Fill(2);
  auto other = crypto::GenerateEd25519();
  ASSERT_TRUE(other.has_value());
  auto r = EventLog::Verify(store_, other->public_key);
  ASSERT_TRUE(r.has_value());
  ASSERT_FALSE(r->ok());
  EXPECT_NE(r->problems[0].what.find("signature"), std::string::npos);
}

TEST_F(EventLogTest, ARemovedHeadIsAProblem) {
  Fill(2);
  ASSERT_TRUE(store_.Transact([&](store::Txn& txn) { return txn.Delete(kEventMetaTable, "head"); })
                  .has_value());
  EXPECT_FALSE(Verify().ok());
}

TEST_F(EventLogTest, PruningKeepsTheChainVerifiable) {
  Fill(10);
  // Events are at T0+1min .. T0+10min: keep those from T0+4min on.
  auto pruned = log_->Prune(T0() + std::chrono::minutes(4), T0() + std::chrono::hours(2));
  ASSERT_TRUE(pruned.has_value());
  EXPECT_EQ(*pruned, 3);
  VerifyReport r = Verify();
  EXPECT_TRUE(r.ok()) << r.problems[0].what;
  EXPECT_EQ(r.first_sequence, 4);
  ASSERT_TRUE(r.checkpoint.has_value());
  EXPECT_EQ(r.checkpoint->sequence, 3);
  // Deleting the oldest kept record is still found.
  Remove(4);
  r = Verify();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.problems[0].sequence, 4);
}

TEST_F(EventLogTest, PruningNeverDeletesTheNewestRecord) {
  Fill(3);
  auto pruned = log_->Prune(T0() + std::chrono::hours(10), T0() + std::chrono::hours(10));
  ASSERT_TRUE(pruned.has_value());
  EXPECT_EQ(*pruned, 2);
  ASSERT_TRUE(log_->Append({Record(4, T0() + std::chrono::hours(11))}).has_value());
  EXPECT_EQ(log_->last_sequence(), 4);
}

TEST_F(EventLogTest, LookupIsNewestFirstWithAttributeTimeRangeAndPages) {
  Fill(20);
  LookupQuery q;
  q.max_results = 5;
  auto page = log_->Lookup(q);
  ASSERT_TRUE(page.has_value());
  ASSERT_EQ(page->events.size(), 5u);
  EXPECT_EQ(page->events[0].sequence, 20);
  EXPECT_EQ(page->events[4].sequence, 16);
  ASSERT_TRUE(page->next_before.has_value());

  q.before_sequence = page->next_before;
  page = log_->Lookup(q);
  ASSERT_TRUE(page.has_value());
  EXPECT_EQ(page->events[0].sequence, 15);

  LookupQuery by_key;
  by_key.attribute = {LookupAttribute::kAccessKeyId, "AKIAODD"};
  by_key.start = T0() + std::chrono::minutes(5);
  by_key.end = T0() + std::chrono::minutes(9);
  page = log_->Lookup(by_key);
  ASSERT_TRUE(page.has_value());
  std::vector<std::int64_t> seqs;
  for (const auto& e : page->events) seqs.push_back(e.sequence);
  EXPECT_EQ(seqs, (std::vector<std::int64_t>{9, 7, 5}));
  EXPECT_FALSE(page->next_before.has_value());

  LookupQuery by_resource;
  by_resource.attribute = {LookupAttribute::kResourceName, "s12"};
  page = log_->Lookup(by_resource);
  ASSERT_TRUE(page.has_value());
  ASSERT_EQ(page->events.size(), 1u);
  EXPECT_EQ(page->events[0].summary.event_id, "id-12");
}

TEST_F(EventLogTest, ExactlyFullPageHasNoNextToken) {
  Fill(5);
  LookupQuery q;
  q.max_results = 5;
  auto page = log_->Lookup(q);
  ASSERT_TRUE(page.has_value());
  EXPECT_EQ(page->events.size(), 5u);
  EXPECT_FALSE(page->next_before.has_value());
}

TEST_F(EventLogTest, ScanVisitsATimeRangeNewestFirst) {
  Fill(30);
  std::vector<std::int64_t> seen;
  ASSERT_TRUE(log_->Scan(T0() + std::chrono::minutes(10), T0() + std::chrono::minutes(12),
                         [&](const StoredEvent& e) {
                           seen.push_back(e.sequence);
                           return true;
                         })
                  .has_value());
  EXPECT_EQ(seen, (std::vector<std::int64_t>{12, 11, 10}));
}

// Records spanning several blocks (one Append of more than kBlockRecords, then small
// Appends): lookups, pages and time ranges cross block boundaries, tampering is located
// inside a middle block, and pruning that ends inside a block keeps its newer records.
TEST_F(EventLogTest, BlocksAreInvisibleToLookupVerifyAndPrune) {
  const int big = static_cast<int>(kBlockRecords) * 2 + 100;
  std::vector<json> records;
  for (int i = 1; i <= big; ++i) records.push_back(Record(i, T0() + std::chrono::seconds(i)));
  ASSERT_TRUE(log_->Append(records).has_value());
  for (int i = big + 1; i <= big + 3; ++i) {
    ASSERT_TRUE(log_->Append({Record(i, T0() + std::chrono::seconds(i))}).has_value());
  }
  ASSERT_TRUE(log_->SignHead(T0() + std::chrono::hours(1)).has_value());
  const int n = big + 3;
  VerifyReport r = Verify();
  EXPECT_TRUE(r.ok()) << r.problems[0].what;
  EXPECT_EQ(r.events, n);

  // A page that starts in one block and ends in the previous one.
  const std::int64_t edge = static_cast<std::int64_t>(kBlockRecords) + 1;  // block 2's first
  LookupQuery q;
  q.max_results = 4;
  q.before_sequence = edge + 2;
  auto page = log_->Lookup(q);
  ASSERT_TRUE(page.has_value());
  std::vector<std::int64_t> seqs;
  for (const auto& e : page->events) seqs.push_back(e.sequence);
  EXPECT_EQ(seqs, (std::vector<std::int64_t>{edge + 1, edge, edge - 1, edge - 2}));
  EXPECT_EQ(page->next_before, edge - 2);

  // A time range across the same boundary (event i is at T0 + i seconds).
  std::vector<std::int64_t> seen;
  ASSERT_TRUE(log_->Scan(T0() + std::chrono::seconds(edge - 1),
                         T0() + std::chrono::seconds(edge + 1),
                         [&](const StoredEvent& e) {
                           seen.push_back(e.sequence);
                           return true;
                         })
                  .has_value());
  EXPECT_EQ(seen, (std::vector<std::int64_t>{edge + 1, edge, edge - 1}));
  LookupQuery last;
  last.attribute = {LookupAttribute::kEventId, "id-" + std::to_string(n)};
  last.start = T0() + std::chrono::seconds(n);
  page = log_->Lookup(last);
  ASSERT_TRUE(page.has_value());
  ASSERT_EQ(page->events.size(), 1u);
  EXPECT_EQ(page->events[0].sequence, n);

  // Prune up to the middle of the second block: its newer records stay, verifiable.
  const std::int64_t keep_from = edge + 10;
  auto pruned = log_->Prune(T0() + std::chrono::seconds(keep_from), T0() + std::chrono::hours(2));
  ASSERT_TRUE(pruned.has_value());
  EXPECT_EQ(*pruned, keep_from - 1);
  r = Verify();
  EXPECT_TRUE(r.ok()) << r.problems[0].what;
  EXPECT_EQ(r.first_sequence, keep_from);
  EXPECT_EQ(r.events, n - keep_from + 1);

  // Tampering inside the third block is located.
  const std::int64_t target = 2 * static_cast<std::int64_t>(kBlockRecords) + 50;
  Remove(target);
  r = Verify();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.problems[0].sequence, target);
  EXPECT_NE(r.problems[0].what.find("removed"), std::string::npos);
}

TEST_F(EventLogTest, ABlockIsStoredCompressed) {
  Fill(100);
  auto items = store_.List(kEventsTable, store::ListOptions{});
  ASSERT_TRUE(items.has_value());
  ASSERT_EQ(items->size(), 1u);
  auto block = DecodeEventBlock((*items)[0].value);
  ASSERT_TRUE(block.has_value());
  ASSERT_EQ(block->rows.size(), 100u);
  std::size_t plain = 0;
  for (const auto& row : block->rows) plain += row.size();
  EXPECT_LT((*items)[0].value.size(), plain / 2);
  EXPECT_FALSE(DecodeEventBlock((*items)[0].value.substr(0, 40)).has_value());
}

TEST_F(EventLogTest, RecordsSwappedBetweenBlocksAreFoundBySequence) {
  for (int i = 1; i <= 6; ++i) {  // one block per record, as at a low request rate
    ASSERT_TRUE(log_->Append({Record(i, T0() + std::chrono::minutes(i))}).has_value());
  }
  ASSERT_TRUE(log_->SignHead(T0() + std::chrono::hours(1)).has_value());
  const std::string three = Raw(3);
  const std::string four = Raw(4);
  Write(3, four);
  Write(4, three);
  VerifyReport r = Verify();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.problems[0].sequence, 3);
  EXPECT_NE(r.problems[0].what.find("holds the record of sequence 4"), std::string::npos);
  Write(3, three);
  Write(4, four);
  EXPECT_TRUE(Verify().ok());
  Remove(4);  // the whole block of record 4
  r = Verify();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.problems[0].sequence, 4);
  EXPECT_NE(r.problems[0].what.find("records 4 to 4 were removed"), std::string::npos);
}

// SummaryOf is what the writer indexes; Summarize is what a reader of the record gets.
// They must agree field for field, or verify would report every such record.
TEST(SummaryOfTest, AgreesWithSummarizeOfTheRecord) {
  std::vector<Event> events;
  Event plain;
  plain.time = T0() + std::chrono::milliseconds(1500);  // sub-second: the record has seconds
  plain.event_source = "secretsmanager.amazonaws.com";
  plain.event_name = "GetSecretValue";
  plain.source_ip = "10.0.0.1";
  plain.identity.type = "IAMUser";
  plain.identity.access_key_id = "AKIAPLAIN";
  plain.identity.arn = "arn:aws:iam::123456789012:user/app";
  plain.identity.user_name = "app";
  plain.event_id = "id-1";
  plain.read_only = true;
  plain.request_parameters = {{"SecretId", "s1"}};
  plain.resources = ResourcesOf(plain.event_source, plain.request_parameters);
  events.push_back(plain);
  Event role = plain;
  role.identity.type = "AssumedRole";
  role.identity.user_name.clear();
  role.identity.arn = "arn:aws:sts::123456789012:assumed-role/Fleet/mi-0123456789abcdef0";
  role.identity.instance_id = "mi-0123456789abcdef0";
  role.identity.access_key_id = "ASIAROLE";
  events.push_back(role);
  Event refused = plain;
  refused.error_code = "InvalidClientTokenId";
  refused.error_message = "no";
  refused.additional_event_data = {{"keyInactive", true}};
  refused.read_only = false;
  events.push_back(refused);
  Event odd = plain;  // a presented key ID and address with bytes JSON must escape/replace
  odd.identity.access_key_id = "AKIA\xff\"\\\x01";
  odd.source_ip = "caf\xc3\xa9";
  odd.additional_event_data = {{"keyInactive", "yes"}};  // not a boolean: false
  events.push_back(odd);
  for (const Event& e : events) {
    auto read = Summarize(7, json::parse(RecordJson(e)));
    ASSERT_TRUE(read.has_value());
    EventSummary written = SummaryOf(e);
    written.sequence = 7;
    EXPECT_EQ(written.time, read->time);
    EXPECT_EQ(written.event_id, read->event_id);
    EXPECT_EQ(written.event_name, read->event_name);
    EXPECT_EQ(written.event_source, read->event_source);
    EXPECT_EQ(written.access_key_id, read->access_key_id);
    EXPECT_EQ(written.username, read->username);
    EXPECT_EQ(written.user_arn, read->user_arn);
    EXPECT_EQ(written.user_type, read->user_type);
    EXPECT_EQ(written.instance_id, read->instance_id);
    EXPECT_EQ(written.source_ip, read->source_ip);
    EXPECT_EQ(written.error_code, read->error_code);
    EXPECT_EQ(written.read_only, read->read_only);
    EXPECT_EQ(written.key_inactive, read->key_inactive);
    ASSERT_EQ(written.resources.size(), read->resources.size());
    for (std::size_t i = 0; i < written.resources.size(); ++i) {
      EXPECT_EQ(written.resources[i].type, read->resources[i].type);
      EXPECT_EQ(written.resources[i].name, read->resources[i].name);
    }
  }
  EXPECT_TRUE(SummaryOf(refused).key_inactive);
  EXPECT_EQ(SummaryOf(role).username, "mi-0123456789abcdef0");
}

TEST(EventIndexTest, RoundTripsAndRefusesGarbage) {
  EventIndex index;
  index.first_sequence = 40;
  index.min_time = 1000;
  index.max_time = 1010;
  for (int i = 0; i < 3; ++i) {
    IndexedEvent e;
    e.sequence = 40 + i;
    e.time = TimePoint(std::chrono::seconds(1000 + i * 3));
    e.event_name = "GetSecretValue";
    e.access_key_id = i == 1 ? "AKIAB" : "AKIAA";
    e.source_ip = "10.0.0.1";
    e.error_code = i == 2 ? "InvalidClientTokenId" : "";
    e.key_inactive = i == 2;
    index.events.push_back(e);
  }
  const std::string encoded = EncodeEventIndex(index);
  auto back = DecodeEventIndex(encoded);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->first_sequence, 40);
  EXPECT_EQ(back->min_time, 1000);
  EXPECT_EQ(back->max_time, 1010);
  ASSERT_EQ(back->events.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(back->events[i].sequence, index.events[i].sequence);
    EXPECT_EQ(back->events[i].time, index.events[i].time);
    EXPECT_EQ(back->events[i].access_key_id, index.events[i].access_key_id);
    EXPECT_EQ(back->events[i].error_code, index.events[i].error_code);
    EXPECT_EQ(back->events[i].key_inactive, index.events[i].key_inactive);
  }
  // Interned: "AKIAA" and "10.0.0.1" are stored once.
  EXPECT_EQ(encoded.find("AKIAA"), encoded.rfind("AKIAA"));
  for (std::size_t cut = 0; cut < encoded.size(); ++cut) {
    EXPECT_FALSE(DecodeEventIndex(encoded.substr(0, cut)).has_value()) << cut;
  }
  EXPECT_FALSE(DecodeEventIndex(encoded + "x").has_value());
}

class EventIndexLogTest : public EventLogTest {
 protected:
  // n events over more than one block, a minute apart, from records that carry their
  // summary (as the recorder writes them).
  void FillRaw(int n) {
    std::vector<RawRecord> raw;
    for (int i = 1; i <= n; ++i) {
      Event e;
      e.time = T0() + std::chrono::minutes(i);
      e.event_source = "secretsmanager.amazonaws.com";
      e.event_name = "GetSecretValue";
      e.source_ip = "10.0.0." + std::to_string(i % 5);
      e.identity.type = "IAMUser";
      e.identity.access_key_id = "AKIA" + std::to_string(i % 7);
      e.identity.arn = "arn:aws:iam::123456789012:user/u" + std::to_string(i % 7);
      e.event_id = "id-" + std::to_string(i);
      if (i % 11 == 0) e.error_code = "SignatureDoesNotMatch";
      raw.push_back({RecordJson(e), e.time, SummaryOf(e)});
    }
    ASSERT_TRUE(log_->AppendRaw(raw).has_value());
    ASSERT_TRUE(log_->SignHead(T0() + std::chrono::hours(1)).has_value());
  }
  struct Seen {
    std::int64_t sequence;
    TimePoint time;
    std::string key, ip, error;
    bool operator==(const Seen&) const = default;
  };
  std::vector<Seen> FromRecords(std::optional<TimePoint> start, std::optional<TimePoint> end) {
    std::vector<Seen> out;
    EXPECT_TRUE(log_->Scan(start, end,
                           [&](const StoredEvent& e) {
                             out.push_back({e.sequence, e.summary.time, e.summary.access_key_id,
                                            e.summary.source_ip, e.summary.error_code});
                             return true;
                           })
                    .has_value());
    return out;
  }
  std::vector<Seen> FromIndex(std::optional<TimePoint> start, std::optional<TimePoint> end) {
    std::vector<Seen> out;
    EXPECT_TRUE(log_->ScanIndexed(start, end,
                                  [&](const IndexedEvent& e) {
                                    out.push_back({e.sequence, e.time, std::string(e.access_key_id),
                                                   std::string(e.source_ip),
                                                   std::string(e.error_code)});
                                    return true;
                                  })
                    .has_value());
    return out;
  }
  std::size_t IndexRows() {
    auto items = store_.List(kEventIndexTable, {});
    EXPECT_TRUE(items.has_value());
    return items ? items->size() : 0;
  }
  void DeleteIndexRow(std::int64_t seq) {
    ASSERT_TRUE(store_
                    .Transact([&](store::Txn& txn) -> Status {
                      return txn.Delete(kEventIndexTable, EventKey(seq));
                    })
                    .has_value());
  }
};

TEST_F(EventIndexLogTest, ScanIndexedSeesExactlyWhatTheRecordsSay) {
  const int n = static_cast<int>(kBlockRecords) * 2 + 50;
  FillRaw(n);
  EXPECT_EQ(IndexRows(), 3u);
  auto all = FromIndex(std::nullopt, std::nullopt);
  EXPECT_EQ(all.size(), static_cast<std::size_t>(n));
  EXPECT_EQ(all, FromRecords(std::nullopt, std::nullopt));
  const auto start = T0() + std::chrono::minutes(500), end = T0() + std::chrono::minutes(600);
  auto some = FromIndex(start, end);
  EXPECT_EQ(some.size(), 101u);
  EXPECT_EQ(some, FromRecords(start, end));
  // Stops when told.
  int visits = 0;
  ASSERT_TRUE(log_->ScanIndexed(std::nullopt, std::nullopt,
                                [&](const IndexedEvent&) { return ++visits < 3; })
                  .has_value());
  EXPECT_EQ(visits, 3);
  auto report = EventLog::Verify(store_, public_key_);
  ASSERT_TRUE(report.has_value());
  EXPECT_TRUE(report->ok()) << report->problems[0].what;
}

TEST_F(EventIndexLogTest, BlocksWithoutAnIndexAreReadFromTheirRecords) {
  const int n = static_cast<int>(kBlockRecords) * 2 + 50;
  FillRaw(n);
  const auto expected = FromRecords(std::nullopt, std::nullopt);
  DeleteIndexRow(static_cast<std::int64_t>(kBlockRecords) + 1);  // the middle block
  EXPECT_EQ(FromIndex(std::nullopt, std::nullopt), expected);
  DeleteIndexRow(1);
  DeleteIndexRow(static_cast<std::int64_t>(kBlockRecords) * 2 + 1);
  EXPECT_EQ(IndexRows(), 0u);  // a log from before the index
  EXPECT_EQ(FromIndex(std::nullopt, std::nullopt), expected);
  const auto start = T0() + std::chrono::minutes(500), end = T0() + std::chrono::minutes(600);
  EXPECT_EQ(FromIndex(start, end), FromRecords(start, end));
  auto report = EventLog::Verify(store_, public_key_);
  ASSERT_TRUE(report.has_value());
  EXPECT_TRUE(report->ok());
  // New appends are indexed again; Append (JSON) indexes too.
  ASSERT_TRUE(log_->Append({Record(1, T0() + std::chrono::hours(30))}).has_value());
  EXPECT_EQ(IndexRows(), 1u);
  auto newest = FromIndex(T0() + std::chrono::hours(29), std::nullopt);
  ASSERT_EQ(newest.size(), 1u);
  EXPECT_EQ(newest[0].key, "AKIAODD");
}

TEST_F(EventIndexLogTest, AnIndexEditedToHideAKeysUseIsFoundBySequence) {
  FillRaw(100);
  auto item = store_.Get(kEventIndexTable, EventKey(1));
  ASSERT_TRUE(item.has_value() && item->has_value());
  auto index = DecodeEventIndex((*item)->value);
  ASSERT_TRUE(index.has_value());
  // Sequence 42's use is attributed to another key: the audit would not see AKIA0 there.
  ASSERT_EQ(index->events[41].access_key_id, "AKIA0");
  index->events[41].access_key_id = "AKIA1";
  const std::string edited = EncodeEventIndex(*index);
  ASSERT_TRUE(store_
                  .Transact([&](store::Txn& txn) -> Status {
                    auto r = txn.Put(kEventIndexTable, EventKey(1), edited);
                    if (!r) return r.error();
                    return OkStatus();
                  })
                  .has_value());
  auto report = EventLog::Verify(store_, public_key_);
  ASSERT_TRUE(report.has_value());
  ASSERT_EQ(report->problems.size(), 1u);
  EXPECT_EQ(report->problems[0].sequence, 42);
  EXPECT_NE(report->problems[0].what.find("index"), std::string::npos);

  // An entry dropped (the record hidden from the audit) is found too.
  index = DecodeEventIndex((*item)->value);
  index->events.erase(index->events.begin() + 9);
  for (std::size_t i = 9; i < index->events.size(); ++i) --index->events[i].sequence;
  const std::string dropped = EncodeEventIndex(*index);
  ASSERT_TRUE(store_
                  .Transact([&](store::Txn& txn) -> Status {
                    auto r = txn.Put(kEventIndexTable, EventKey(1), dropped);
                    if (!r) return r.error();
                    return OkStatus();
                  })
                  .has_value());
  report = EventLog::Verify(store_, public_key_);
  ASSERT_TRUE(report.has_value());
  ASSERT_FALSE(report->ok());
  EXPECT_EQ(report->problems[0].sequence, 10);

  // A forged index row with no block behind it.
  ASSERT_TRUE(store_
                  .Transact([&](store::Txn& txn) -> Status {
                    KW_RETURN_IF_ERROR(txn.Put(kEventIndexTable, EventKey(1), (*item)->value));
                    index = DecodeEventIndex((*item)->value);
                    index->first_sequence = 500;
                    auto r = txn.Put(kEventIndexTable, EventKey(500), EncodeEventIndex(*index));
                    if (!r) return r.error();
                    return OkStatus();
                  })
                  .has_value());
  report = EventLog::Verify(store_, public_key_);
  ASSERT_TRUE(report.has_value());
  ASSERT_EQ(report->problems.size(), 1u);
  EXPECT_EQ(report->problems[0].sequence, 500);
}

TEST_F(EventIndexLogTest, PruneTakesTheIndexWithItsBlocks) {
  const int n = static_cast<int>(kBlockRecords) * 2 + 50;
  FillRaw(n);
  const int keep_from = static_cast<int>(kBlockRecords) + 100;  // inside the second block
  auto pruned =
      log_->Prune(T0() + std::chrono::minutes(keep_from), T0() + std::chrono::hours(2000));
  ASSERT_TRUE(pruned.has_value());
  EXPECT_EQ(*pruned, keep_from - 1);
  EXPECT_EQ(IndexRows(), 2u);
  auto left = FromIndex(std::nullopt, std::nullopt);
  EXPECT_EQ(left.size(), static_cast<std::size_t>(n - keep_from + 1));
  EXPECT_EQ(left, FromRecords(std::nullopt, std::nullopt));
  EXPECT_EQ(left.back().sequence, keep_from);
  auto report = EventLog::Verify(store_, public_key_);
  ASSERT_TRUE(report.has_value());
  EXPECT_TRUE(report->ok()) << report->problems[0].what;
}

TEST_F(EventIndexLogTest, EstimateCountIsWithinABlockOrTwo) {
  const int n = static_cast<int>(kBlockRecords) * 4 + 10;
  FillRaw(n);  // one a minute
  auto all = log_->EstimateCount(std::nullopt, std::nullopt);
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(*all, n);
  const auto start = T0() + std::chrono::minutes(1000), end = T0() + std::chrono::minutes(1999);
  auto some = log_->EstimateCount(start, end);
  ASSERT_TRUE(some.has_value());
  EXPECT_GE(*some, 1000);
  EXPECT_LE(*some, 1000 + 2 * static_cast<std::int64_t>(kBlockRecords));
}

}  // namespace
}  // namespace kw::events
