#include "store/testing/kv_store_contract.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace kw::store {

int KvStoreContractLinkAnchor() { return 0; }

void KvStoreContract::SetUp() {
  // Unique per process and test, so parallel ctest runs do not share files.
  static std::atomic<int> counter{0};
  scratch_dir_ =
      std::filesystem::temp_directory_path() /
      ("kw_kv_contract_" + std::to_string(::getpid()) + "_" + std::to_string(counter.fetch_add(1)));
  std::filesystem::remove_all(scratch_dir_);
  std::filesystem::create_directories(scratch_dir_);
  auto made = GetParam()(scratch_dir_);
  ASSERT_TRUE(made.has_value()) << made.error().message;
  store_ = std::move(made).value();
  ASSERT_NE(store_, nullptr);
}

void KvStoreContract::TearDown() {
  store_.reset();
  std::error_code ec;
  std::filesystem::remove_all(scratch_dir_, ec);
}

namespace {

// Runs one write in its own transaction and returns its result.
Result<std::int64_t> PutOne(KvStore& s, std::string_view table, std::string_view key,
                            std::string_view value) {
  std::int64_t rev = 0;
  Status st = s.Transact([&](Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(rev, txn.Put(table, key, value));
    return OkStatus();
  });
  if (!st) return std::move(st).error();
  return rev;
}

std::vector<std::string> Keys(const std::vector<Item>& items) {
  std::vector<std::string> keys;
  for (const Item& i : items) keys.push_back(i.key);
  return keys;
}

std::vector<std::string> ListKeys(KvStore& s, std::string_view table, const ListOptions& o) {
  auto r = s.List(table, o);
  EXPECT_TRUE(r.has_value()) << r.error().message;
  return r ? Keys(*r) : std::vector<std::string>{};
}

// Keys chosen so that signed-char comparison, locale collation or treating '/' as a
// separator would each give a different order than unsigned bytes.
const std::vector<std::string>& OrderingKeys() {
  static const std::vector<std::string> keys = {
      "A",
      "Z",
      "a",
      "a.b",  // '.' 0x2e
      "a/",
      "a/b",
      "a/b/c",
      "a/c",  // '/' 0x2f
      "a0",   // '0' 0x30
      "aa",
      "b",
      "z",
      "~",
      "\x7f",
      "\xc3\xa9",          // U+00E9, 2 bytes
      "\xc3\xa9/x",        //
      "\xe6\x97\xa5",      // U+65E5, 3 bytes
      "\xf0\x9f\x94\x91",  // U+1F511, 4 bytes
  };
  return keys;
}

void FillOrdering(KvStore& s, std::string_view table) {
  // Insert in a scrambled order so that insertion order cannot pass for key order.
  std::vector<std::string> keys = OrderingKeys();
  std::mt19937 rng(42);
  std::shuffle(keys.begin(), keys.end(), rng);
  ASSERT_TRUE(s.Transact([&](Txn& txn) -> Status {
    for (const std::string& k : keys) KW_RETURN_IF_ERROR(txn.Insert(table, k, "v:" + k));
    return OkStatus();
  }));
}

}  // namespace

TEST_P(KvStoreContract, GetOfMissingKeyIsEmpty) {
  auto r = store().Get("t", "missing");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_FALSE(r->has_value());
  auto l = store().List("t", {});
  ASSERT_TRUE(l.has_value());
  EXPECT_TRUE(l->empty());
}

TEST_P(KvStoreContract, PutThenGetReturnsValueAndRevision) {
  auto rev = PutOne(store(), "t", "k", "v1");
  ASSERT_TRUE(rev.has_value()) << rev.error().message;
  EXPECT_EQ(*rev, 1);
  auto got = store().Get("t", "k");
  ASSERT_TRUE(got.has_value() && got->has_value());
  EXPECT_EQ((*got)->key, "k");
  EXPECT_EQ((*got)->value, "v1");
  EXPECT_EQ((*got)->revision, 1);
}

TEST_P(KvStoreContract, EveryWriteIncreasesTheRevision) {
  std::int64_t last = 0;
  for (int i = 0; i < 5; ++i) {
    auto rev = PutOne(store(), "t", "k", "v" + std::to_string(i));
    ASSERT_TRUE(rev.has_value());
    EXPECT_GT(*rev, last);
    last = *rev;
  }
  // CompareAndPut increases it too, and Get reports what the write returned.
  std::int64_t cas_rev = 0;
  ASSERT_TRUE(store().Transact([&](Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(cas_rev, txn.CompareAndPut("t", "k", "cas", last));
    return OkStatus();
  }));
  EXPECT_GT(cas_rev, last);
  auto got = store().Get("t", "k");
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->revision, cas_rev);
  EXPECT_EQ((*got)->value, "cas");
  // Revisions are per key: another key starts at 1.
  auto other = PutOne(store(), "t", "other", "x");
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(*other, 1);
}

TEST_P(KvStoreContract, InsertOfExistingKeyIsAlreadyExistsAndChangesNothing) {
  ASSERT_TRUE(PutOne(store(), "t", "k", "original"));
  Status st = store().Transact([](Txn& txn) -> Status {
    KW_RETURN_IF_ERROR(txn.Insert("t", "k", "replacement"));
    return OkStatus();
  });
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code, ErrorCode::kAlreadyExists);
  auto got = store().Get("t", "k");
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->value, "original");
  EXPECT_EQ((*got)->revision, 1);
}

TEST_P(KvStoreContract, InsertErrorCanBeHandledInsideTheTransaction) {
  ASSERT_TRUE(PutOne(store(), "t", "k", "original"));
  // The callback sees the error and carries on; the transaction still commits.
  ASSERT_TRUE(store().Transact([](Txn& txn) -> Status {
    auto ins = txn.Insert("t", "k", "replacement");
    if (ins.has_value() || ins.error().code != ErrorCode::kAlreadyExists) {
      return Internal("expected kAlreadyExists");
    }
    return txn.Put("t", "other", "written").has_value() ? OkStatus() : Internal("put failed");
  }));
  auto other = store().Get("t", "other");
  ASSERT_TRUE(other && *other);
  EXPECT_EQ((*other)->value, "written");
  auto k = store().Get("t", "k");
  ASSERT_TRUE(k && *k);
  EXPECT_EQ((*k)->value, "original");
}

TEST_P(KvStoreContract, InsertAfterDeleteSucceeds) {
  ASSERT_TRUE(PutOne(store(), "t", "k", "one"));
  ASSERT_TRUE(store().Transact([](Txn& txn) { return txn.Delete("t", "k"); }));
  ASSERT_TRUE(store().Transact([](Txn& txn) -> Status {
    KW_RETURN_IF_ERROR(txn.Insert("t", "k", "two"));
    return OkStatus();
  }));
  auto got = store().Get("t", "k");
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->value, "two");
}

TEST_P(KvStoreContract, CompareAndPutWithZeroRequiresAbsence) {
  std::int64_t rev = 0;
  ASSERT_TRUE(store().Transact([&](Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(rev, txn.CompareAndPut("t", "k", "first", 0));
    return OkStatus();
  }));
  EXPECT_EQ(rev, 1);
  Status again = store().Transact([](Txn& txn) -> Status {
    KW_RETURN_IF_ERROR(txn.CompareAndPut("t", "k", "second", 0));
    return OkStatus();
  });
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, ErrorCode::kAborted);
  auto got = store().Get("t", "k");
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->value, "first");
}

TEST_P(KvStoreContract, CompareAndPutWithStaleRevisionIsAborted) {
  auto r1 = PutOne(store(), "t", "k", "v1");
  ASSERT_TRUE(r1);
  auto r2 = PutOne(store(), "t", "k", "v2");
  ASSERT_TRUE(r2);
  Status stale = store().Transact([&](Txn& txn) -> Status {
    KW_RETURN_IF_ERROR(txn.CompareAndPut("t", "k", "lost update", *r1));
    return OkStatus();
  });
  ASSERT_FALSE(stale.has_value());
  EXPECT_EQ(stale.error().code, ErrorCode::kAborted);
  // A revision from the future is just as wrong.
  Status future = store().Transact([&](Txn& txn) -> Status {
    KW_RETURN_IF_ERROR(txn.CompareAndPut("t", "k", "x", *r2 + 1));
    return OkStatus();
  });
  ASSERT_FALSE(future.has_value());
  EXPECT_EQ(future.error().code, ErrorCode::kAborted);
  auto got = store().Get("t", "k");
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->value, "v2");

  ASSERT_TRUE(store().Transact([&](Txn& txn) -> Status {
    KW_RETURN_IF_ERROR(txn.CompareAndPut("t", "k", "v3", *r2));
    return OkStatus();
  }));
  got = store().Get("t", "k");
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->value, "v3");
}

TEST_P(KvStoreContract, CompareAndPutOnMissingKeyWithNonZeroRevisionIsAborted) {
  Status st = store().Transact([](Txn& txn) -> Status {
    KW_RETURN_IF_ERROR(txn.CompareAndPut("t", "absent", "v", 1));
    return OkStatus();
  });
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code, ErrorCode::kAborted);
  auto got = store().Get("t", "absent");
  ASSERT_TRUE(got.has_value());
  EXPECT_FALSE(got->has_value());
}

TEST_P(KvStoreContract, DeleteRemovesAndMissingIsNotFound) {
  ASSERT_TRUE(PutOne(store(), "t", "k", "v"));
  ASSERT_TRUE(PutOne(store(), "t", "keep", "v"));
  ASSERT_TRUE(store().Transact([](Txn& txn) { return txn.Delete("t", "k"); }));
  auto got = store().Get("t", "k");
  ASSERT_TRUE(got.has_value());
  EXPECT_FALSE(got->has_value());
  EXPECT_EQ(ListKeys(store(), "t", {}), std::vector<std::string>{"keep"});

  Status again = store().Transact([](Txn& txn) { return txn.Delete("t", "k"); });
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, ErrorCode::kNotFound);
  Status never = store().Transact([](Txn& txn) { return txn.Delete("never_used", "k"); });
  ASSERT_FALSE(never.has_value());
  EXPECT_EQ(never.error().code, ErrorCode::kNotFound);
}

TEST_P(KvStoreContract, ListIsInUnsignedByteOrder) {
  FillOrdering(store(), "t");
  std::vector<std::string> expected = OrderingKeys();
  std::sort(expected.begin(), expected.end());  // std::string: unsigned byte order
  ASSERT_EQ(expected, OrderingKeys()) << "the fixture list itself is meant to be sorted";
  auto items = store().List("t", {});
  ASSERT_TRUE(items.has_value());
  EXPECT_EQ(Keys(*items), expected);
  for (const Item& i : *items) {
    EXPECT_EQ(i.value, "v:" + i.key);
    EXPECT_EQ(i.revision, 1);
  }
}

TEST_P(KvStoreContract, ListByPrefix) {
  FillOrdering(store(), "t");
  ListOptions o;
  o.prefix = "a/";
  EXPECT_EQ(ListKeys(store(), "t", o), (std::vector<std::string>{"a/", "a/b", "a/b/c", "a/c"}));
  o.prefix = "a/b";
  EXPECT_EQ(ListKeys(store(), "t", o), (std::vector<std::string>{"a/b", "a/b/c"}));
  o.prefix = "a";  // must not stop at 'a/' nor include "b"
  EXPECT_EQ(ListKeys(store(), "t", o),
            (std::vector<std::string>{"a", "a.b", "a/", "a/b", "a/b/c", "a/c", "a0", "aa"}));
  o.prefix = "\xc3\xa9";
  EXPECT_EQ(ListKeys(store(), "t", o), (std::vector<std::string>{"\xc3\xa9", "\xc3\xa9/x"}));
  o.prefix = "\xc3";  // a prefix need not be whole characters
  EXPECT_EQ(ListKeys(store(), "t", o), (std::vector<std::string>{"\xc3\xa9", "\xc3\xa9/x"}));
  o.prefix = "\xf0\x9f\x94\x91";
  EXPECT_EQ(ListKeys(store(), "t", o), (std::vector<std::string>{"\xf0\x9f\x94\x91"}));
  o.prefix = "nothing";
  EXPECT_TRUE(ListKeys(store(), "t", o).empty());
  // Characters that LIKE or GLOB would treat as wildcards are literal here.
  ASSERT_TRUE(PutOne(store(), "w", "a%b", "1"));
  ASSERT_TRUE(PutOne(store(), "w", "a_b", "1"));
  ASSERT_TRUE(PutOne(store(), "w", "axb", "1"));
  ASSERT_TRUE(PutOne(store(), "w", "a*b", "1"));
  o.prefix = "a_";
  EXPECT_EQ(ListKeys(store(), "w", o), std::vector<std::string>{"a_b"});
  o.prefix = "a%";
  EXPECT_EQ(ListKeys(store(), "w", o), std::vector<std::string>{"a%b"});
  o.prefix = "a*";
  EXPECT_EQ(ListKeys(store(), "w", o), std::vector<std::string>{"a*b"});
}

TEST_P(KvStoreContract, ListStartAfterAndLimit) {
  FillOrdering(store(), "t");
  ListOptions o;
  o.start_after = "a/b";
  o.limit = 3;
  EXPECT_EQ(ListKeys(store(), "t", o), (std::vector<std::string>{"a/b/c", "a/c", "a0"}));
  // start_after need not be an existing key.
  o.start_after = "a/bb";
  o.limit = 1;
  EXPECT_EQ(ListKeys(store(), "t", o), std::vector<std::string>{"a/c"});
  // With a prefix: start_after before the prefix range starts at the prefix...
  o = {};
  o.prefix = "a/";
  o.start_after = "A";
  EXPECT_EQ(ListKeys(store(), "t", o), (std::vector<std::string>{"a/", "a/b", "a/b/c", "a/c"}));
  // ...inside it continues from there...
  o.start_after = "a/b";
  EXPECT_EQ(ListKeys(store(), "t", o), (std::vector<std::string>{"a/b/c", "a/c"}));
  // ...and after it yields nothing.
  o.start_after = "b";
  EXPECT_TRUE(ListKeys(store(), "t", o).empty());
  // A limit larger than the result is harmless.
  o = {};
  o.prefix = "a/";
  o.limit = 100;
  EXPECT_EQ(ListKeys(store(), "t", o).size(), 4u);
}

TEST_P(KvStoreContract, PaginationVisitsEveryKeyOnce) {
  FillOrdering(store(), "t");
  std::vector<std::string> seen;
  ListOptions o;
  o.limit = 3;
  for (int page = 0; page < 100; ++page) {
    auto items = store().List("t", o);
    ASSERT_TRUE(items.has_value());
    if (items->empty()) break;
    EXPECT_LE(items->size(), 3u);
    for (const Item& i : *items) seen.push_back(i.key);
    o.start_after = items->back().key;
  }
  std::vector<std::string> expected = OrderingKeys();
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(seen, expected);
}

TEST_P(KvStoreContract, TablesAreIsolated) {
  ASSERT_TRUE(PutOne(store(), "users", "alice", "u"));
  ASSERT_TRUE(PutOne(store(), "keys", "alice", "k"));
  ASSERT_TRUE(PutOne(store(), "keys", "bob", "k"));
  auto u = store().Get("users", "alice");
  auto k = store().Get("keys", "alice");
  ASSERT_TRUE(u && *u && k && *k);
  EXPECT_EQ((*u)->value, "u");
  EXPECT_EQ((*k)->value, "k");
  auto bob = store().Get("users", "bob");
  ASSERT_TRUE(bob.has_value());
  EXPECT_FALSE(bob->has_value());
  EXPECT_EQ(ListKeys(store(), "users", {}), std::vector<std::string>{"alice"});
  // A table name that is a prefix of another is still a different table.
  ASSERT_TRUE(PutOne(store(), "user", "carol", "x"));
  EXPECT_EQ(ListKeys(store(), "users", {}), std::vector<std::string>{"alice"});
  ASSERT_TRUE(store().Transact([](Txn& txn) { return txn.Delete("keys", "alice"); }));
  u = store().Get("users", "alice");
  ASSERT_TRUE(u && *u);
}

TEST_P(KvStoreContract, InvalidTableNamesAreRejected) {
  for (std::string bad :
       {std::string(""), std::string("Users"), std::string("a-b"), std::string("a b"),
        std::string("a/b"), std::string("t\xc3\xa9"), std::string(65, 'a')}) {
    auto g = store().Get(bad, "k");
    ASSERT_FALSE(g.has_value()) << bad;
    EXPECT_EQ(g.error().code, ErrorCode::kInvalidArgument);
    auto l = store().List(bad, {});
    ASSERT_FALSE(l.has_value()) << bad;
    EXPECT_EQ(l.error().code, ErrorCode::kInvalidArgument);
    Status st = store().Transact([&](Txn& txn) -> Status {
      KW_RETURN_IF_ERROR(txn.Put(bad, "k", "v"));
      return OkStatus();
    });
    ASSERT_FALSE(st.has_value()) << bad;
    EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument);
  }
  EXPECT_TRUE(PutOne(store(), "ok_name_09", "k", "v"));
  EXPECT_TRUE(PutOne(store(), std::string(64, 'a'), "k", "v"));
}

TEST_P(KvStoreContract, KeysMustBeNonEmptyUtf8WithoutNul) {
  for (std::string bad :
       {std::string(), std::string("a\0b", 3), std::string("\xff"), std::string("\xc3"),
        std::string("\xc0\xaf"), std::string("\xed\xa0\x80")}) {
    Status st = store().Transact([&](Txn& txn) -> Status {
      KW_RETURN_IF_ERROR(txn.Put("t", bad, "v"));
      return OkStatus();
    });
    ASSERT_FALSE(st.has_value());
    EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument);
    st = store().Transact([&](Txn& txn) -> Status {
      KW_RETURN_IF_ERROR(txn.Insert("t", bad, "v"));
      return OkStatus();
    });
    ASSERT_FALSE(st.has_value());
    EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument);
  }
  EXPECT_TRUE(ListKeys(store(), "t", {}).empty());
}

TEST_P(KvStoreContract, FailingTransactionWritesNothing) {
  ASSERT_TRUE(PutOne(store(), "t", "existing", "before"));
  ASSERT_TRUE(PutOne(store(), "t", "doomed", "before"));
  Status st = store().Transact([](Txn& txn) -> Status {
    KW_RETURN_IF_ERROR(txn.Put("t", "new", "x"));
    KW_RETURN_IF_ERROR(txn.Put("t", "existing", "after"));
    KW_RETURN_IF_ERROR(txn.Put("t", "existing", "after again"));
    KW_RETURN_IF_ERROR(txn.Delete("t", "doomed"));
    KW_RETURN_IF_ERROR(txn.Put("other", "k", "x"));
    return FailedPrecondition("changed my mind", "SomeReason");
  });
  ASSERT_FALSE(st.has_value());
  // Transact returns fn's error unchanged.
  EXPECT_EQ(st.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(st.error().message, "changed my mind");
  EXPECT_EQ(st.error().reason, "SomeReason");

  EXPECT_EQ(ListKeys(store(), "t", {}), (std::vector<std::string>{"doomed", "existing"}));
  EXPECT_TRUE(ListKeys(store(), "other", {}).empty());
  auto e = store().Get("t", "existing");
  ASSERT_TRUE(e && *e);
  EXPECT_EQ((*e)->value, "before");
  EXPECT_EQ((*e)->revision, 1);
  // The revision sequence continues as if the failed writes never happened.
  auto next = PutOne(store(), "t", "existing", "later");
  ASSERT_TRUE(next);
  EXPECT_EQ(*next, 2);
}

TEST_P(KvStoreContract, ErrorFromATxnOperationRollsBackEarlierWrites) {
  ASSERT_TRUE(PutOne(store(), "t", "taken", "v"));
  Status st = store().Transact([](Txn& txn) -> Status {
    KW_RETURN_IF_ERROR(txn.Put("t", "a", "x"));
    KW_RETURN_IF_ERROR(txn.Insert("t", "taken", "x"));
    return OkStatus();
  });
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code, ErrorCode::kAlreadyExists);
  auto a = store().Get("t", "a");
  ASSERT_TRUE(a.has_value());
  EXPECT_FALSE(a->has_value());
}

TEST_P(KvStoreContract, TransactionSeesItsOwnWritesAndCommitsThemTogether) {
  ASSERT_TRUE(PutOne(store(), "t", "gone", "v"));
  ASSERT_TRUE(store().Transact([](Txn& txn) -> Status {
    KW_RETURN_IF_ERROR(txn.Put("t", "a", "1"));
    KW_RETURN_IF_ERROR(txn.Put("t", "b", "2"));
    KW_RETURN_IF_ERROR(txn.Delete("t", "gone"));
    KW_ASSIGN_OR_RETURN(auto a, txn.Get("t", "a"));
    if (!a || a->value != "1" || a->revision != 1) return Internal("own write not visible");
    KW_ASSIGN_OR_RETURN(auto gone, txn.Get("t", "gone"));
    if (gone) return Internal("own delete not visible");
    KW_ASSIGN_OR_RETURN(auto items, txn.List("t", {}));
    if (Keys(items) != std::vector<std::string>{"a", "b"}) return Internal("list wrong");
    KW_ASSIGN_OR_RETURN(auto rev, txn.Put("t", "a", "1b"));
    if (rev != 2) return Internal("revision within a transaction did not advance");
    return OkStatus();
  }));
  EXPECT_EQ(ListKeys(store(), "t", {}), (std::vector<std::string>{"a", "b"}));
  auto a = store().Get("t", "a");
  ASSERT_TRUE(a && *a);
  EXPECT_EQ((*a)->value, "1b");
  EXPECT_EQ((*a)->revision, 2);
}

TEST_P(KvStoreContract, ValuesAreBinarySafeIncludingEmptyAndLarge) {
  std::string binary;
  for (int i = 0; i < 256; ++i) binary.push_back(static_cast<char>(i));
  std::string large(1 << 20, '\0');
  std::mt19937 rng(7);
  for (char& c : large) c = static_cast<char>(rng());
  ASSERT_TRUE(PutOne(store(), "t", "binary", binary));
  ASSERT_TRUE(PutOne(store(), "t", "empty", ""));
  ASSERT_TRUE(PutOne(store(), "t", "large", large));
  auto b = store().Get("t", "binary");
  ASSERT_TRUE(b && *b);
  EXPECT_EQ((*b)->value, binary);
  auto e = store().Get("t", "empty");
  ASSERT_TRUE(e && *e);
  EXPECT_EQ((*e)->value, "");
  auto l = store().Get("t", "large");
  ASSERT_TRUE(l && *l);
  EXPECT_EQ((*l)->value.size(), large.size());
  EXPECT_TRUE((*l)->value == large);
  auto items = store().List("t", {});
  ASSERT_TRUE(items.has_value());
  ASSERT_EQ(items->size(), 3u);
  EXPECT_TRUE((*items)[2].value == large);
}

// The classic lost-update test: read, then CompareAndPut in a separate transaction,
// retrying on kAborted. Exactly kThreads * kIncrements must survive.
TEST_P(KvStoreContract, ConcurrentCompareAndPutIncrementsLoseNothing) {
  constexpr int kThreads = 4;
  constexpr int kIncrements = 40;
  std::atomic<int> retries{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrements && !failed; ++i) {
        for (int attempt = 0;; ++attempt) {
          if (attempt > 10000) {
            failed = true;
            return;
          }
          auto cur = store().Get("c", "counter");
          if (!cur) {
            failed = true;
            return;
          }
          const std::int64_t rev = *cur ? (*cur)->revision : 0;
          const int n = *cur ? std::stoi((*cur)->value) : 0;
          Status st = store().Transact([&](Txn& txn) -> Status {
            KW_RETURN_IF_ERROR(txn.CompareAndPut("c", "counter", std::to_string(n + 1), rev));
            return OkStatus();
          });
          if (st) break;
          if (st.error().code != ErrorCode::kAborted &&
              st.error().code != ErrorCode::kUnavailable) {
            failed = true;
            return;
          }
          ++retries;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_FALSE(failed);
  auto got = store().Get("c", "counter");
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->value, std::to_string(kThreads * kIncrements));
  EXPECT_EQ((*got)->revision, kThreads * kIncrements);
}

// Read-modify-write inside one transaction is serializable: no lost updates, and
// concurrent plain reads never fail nor see the counter go backwards.
TEST_P(KvStoreContract, ConcurrentTransactionsAreSerializable) {
  constexpr int kThreads = 4;
  constexpr int kIncrements = 40;
  std::atomic<bool> failed{false};
  std::atomic<bool> done{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrements; ++i) {
        Status st = Internal("not run");
        for (int attempt = 0; attempt < 1000; ++attempt) {
          st = store().Transact([&](Txn& txn) -> Status {
            KW_ASSIGN_OR_RETURN(auto cur, txn.Get("c", "counter"));
            const int n = cur ? std::stoi(cur->value) : 0;
            KW_RETURN_IF_ERROR(txn.Put("c", "counter", std::to_string(n + 1)));
            // A second key updated in the same transaction must always match.
            KW_RETURN_IF_ERROR(txn.Put("c", "mirror", std::to_string(n + 1)));
            return OkStatus();
          });
          if (st || (st.error().code != ErrorCode::kAborted &&
                     st.error().code != ErrorCode::kUnavailable)) {
            break;
          }
        }
        if (!st) failed = true;
      }
    });
  }
  std::thread reader([&] {
    int last = 0;
    while (!done) {
      auto items = store().List("c", {});
      if (!items) {
        failed = true;
        return;
      }
      if (items->size() == 2) {
        const int counter = std::stoi((*items)[0].value);
        const int mirror = std::stoi((*items)[1].value);
        if (counter != mirror || counter < last) failed = true;  // a torn or stale read
        last = counter;
      }
    }
  });
  for (auto& th : threads) th.join();
  done = true;
  reader.join();
  ASSERT_FALSE(failed);
  auto got = store().Get("c", "counter");
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->value, std::to_string(kThreads * kIncrements));
}

}  // namespace kw::store
