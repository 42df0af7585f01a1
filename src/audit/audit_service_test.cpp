// The storage side of AuditService: findings kept in buckets, merged over several
// transactions, listed in ID order, and records of the older JSON format taken over.

#include "audit/audit_service.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "store/memory/memory_kv_store.hpp"

namespace kw::audit {
namespace {

using std::chrono::hours;
constexpr auto kDay = hours(24);

struct NoSource final : AuditDataSource {
  Result<AuditData> Collect(TimePoint) override { return Internal("unused"); }
};

class AuditServiceTest : public ::testing::Test {
 protected:
  FakeClock clock_{TimePoint(std::chrono::seconds(1700000000))};
  store::MemoryKvStore store_;
  NoSource source_;
  AuditService service_{store_, clock_, source_, AuditPolicy{}};

  // `n` users without an owner tag and with no keys: one OwnerMissing finding each.
  AuditData Ownerless(int from, int to) {
    AuditData d;
    d.now = clock_.Now();
    for (int i = from; i < to; ++i) {
      UserView u;
      u.name = "user-" + std::to_string(i);
      u.arn = "arn:aws:iam::123456789012:user/" + u.name;
      u.created = clock_.Now() - 10 * kDay;
      d.users.push_back(std::move(u));
    }
    return d;
  }

  // Every finding, through pages of `page_size`.
  std::vector<Finding> ListAll(const FindingFilter& filter, int page_size) {
    std::vector<Finding> out;
    std::optional<std::string> token;
    do {
      auto page = service_.List(filter, token, page_size);
      EXPECT_TRUE(page.has_value());
      if (!page) break;
      EXPECT_LE(page->findings.size(), static_cast<std::size_t>(page_size));
      for (auto& f : page->findings) out.push_back(std::move(f));
      token = page->next_token.empty() ? std::nullopt : std::optional(page->next_token);
    } while (token);
    return out;
  }
};

TEST_F(AuditServiceTest, MergesAcrossManyTransactionsAndBuckets) {
  // Chunk size 1: one transaction per bucket, so every boundary between them is crossed.
  service_.set_chunk_size(1);
  auto first = service_.RunOn(Ownerless(0, 600));
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_EQ(first->created, 600u);
  ASSERT_EQ(first->findings.size(), 600u);
  EXPECT_TRUE(std::is_sorted(
      first->findings.begin(), first->findings.end(),
      [](const Finding& a, const Finding& b) { return a.finding_id < b.finding_id; }));
  // 600 findings in 4,096 buckets share some buckets (birthday bound).
  auto buckets = store_.List("audit_finding_buckets", {});
  ASSERT_TRUE(buckets.has_value());
  EXPECT_LT(buckets->size(), 600u);

  clock_.Advance(kDay);
  // Users 0..399 still without owner, 600..699 new; 400..599 fixed.
  AuditData second_data = Ownerless(0, 400);
  for (auto& u : Ownerless(600, 700).users) second_data.users.push_back(std::move(u));
  auto second = service_.RunOn(second_data);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->created, 100u);
  EXPECT_EQ(second->resolved, 200u);
  EXPECT_EQ(second->findings.size(), 500u);

  const std::vector<Finding> all = ListAll({}, 7);
  ASSERT_EQ(all.size(), 700u);
  std::set<std::string> ids;
  int counted_twice = 0, resolved = 0;
  for (const Finding& f : all) {
    ids.insert(f.finding_id);
    EXPECT_EQ(f.finding_id, FindingId(f.type, f.resource));
    EXPECT_EQ("arn:aws:iam::123456789012:user/" + f.evidence.at("UserName"), f.resource);
    if (f.count == 2) {
      ++counted_twice;
      EXPECT_EQ(f.first_seen + kDay, f.last_seen);
      EXPECT_EQ(f.state, FindingState::kActive);
    }
    if (f.state == FindingState::kResolved) {
      ++resolved;
      EXPECT_EQ(f.count, 1);
      EXPECT_EQ(f.state_reason, "no longer observed");
      EXPECT_EQ(f.last_seen, f.first_seen);
      EXPECT_EQ(f.updated, clock_.Now());
    }
  }
  EXPECT_EQ(ids.size(), 700u);  // each once, across pages
  EXPECT_EQ(counted_twice, 400);
  EXPECT_EQ(resolved, 200);
  EXPECT_EQ(ListAll({FindingState::kResolved, std::nullopt, std::nullopt}, 50).size(), 200u);

  // One finding's state changes alone; its bucket neighbours are untouched.
  const Finding target = all[10];
  ASSERT_TRUE(service_.UpdateState(target.finding_id, FindingState::kSuppressed, "accepted"));
  for (const Finding& f : ListAll({}, 1000)) {
    auto before = std::find_if(all.begin(), all.end(),
                               [&](const Finding& b) { return b.finding_id == f.finding_id; });
    ASSERT_NE(before, all.end());
    if (f.finding_id == target.finding_id) {
      EXPECT_EQ(f.state, FindingState::kSuppressed);
      EXPECT_EQ(f.state_reason, "accepted");
      EXPECT_EQ(f.count, target.count);
    } else {
      EXPECT_EQ(f.state, before->state);
      EXPECT_EQ(f.count, before->count);
      EXPECT_EQ(f.summary, before->summary);
    }
  }
}

TEST_F(AuditServiceTest, DefaultChunkingGivesTheSameResultAsSmallChunks) {
  store::MemoryKvStore other_store;
  AuditService other(other_store, clock_, source_, AuditPolicy{});
  other.set_chunk_size(3);
  for (int day = 0; day < 3; ++day) {
    AuditData d = Ownerless(day * 50, 300 + day * 50);
    ASSERT_TRUE(service_.RunOn(d));
    ASSERT_TRUE(other.RunOn(d));
    clock_.Advance(kDay);
  }
  auto a = service_.List({}, std::nullopt, 1000);
  auto b = other.List({}, std::nullopt, 1000);
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->findings.size(), 400u);
  ASSERT_EQ(a->findings.size(), b->findings.size());
  for (std::size_t i = 0; i < a->findings.size(); ++i) {
    const Finding& x = a->findings[i];
    const Finding& y = b->findings[i];
    EXPECT_EQ(x.finding_id, y.finding_id);
    EXPECT_EQ(x.count, y.count);
    EXPECT_EQ(x.state, y.state);
    EXPECT_EQ(x.first_seen, y.first_seen);
    EXPECT_EQ(x.last_seen, y.last_seen);
  }
}

TEST_F(AuditServiceTest, TakesOverFindingsStoredAsJson) {
  const UserView u = Ownerless(0, 1).users[0];
  const std::string id = FindingId("OwnerMissing", u.arn);
  const nlohmann::json old{{"id", id},
                           {"type", "OwnerMissing"},
                           {"severity", "HIGH"},
                           {"resource", u.arn},
                           {"summary", "old summary"},
                           {"evidence", {{"UserName", u.name}}},
                           {"first_seen", 1600000000},
                           {"last_seen", 1650000000},
                           {"count", 5},
                           {"state", "SUPPRESSED"},
                           {"state_reason", "service user"},
                           {"updated", 1650000000}};
  // And one that this audit does not observe, still active.
  const std::string gone = FindingId("OwnerMissing", "arn:aws:iam::123456789012:user/gone");
  nlohmann::json old_gone = old;
  old_gone["id"] = gone;
  old_gone["resource"] = "arn:aws:iam::123456789012:user/gone";
  old_gone["state"] = "ACTIVE";
  ASSERT_TRUE(store_.Transact([&](store::Txn& txn) -> Status {
    KW_RETURN_IF_ERROR(txn.Put("audit_findings", id, old.dump()));
    KW_RETURN_IF_ERROR(txn.Put("audit_findings", gone, old_gone.dump()));
    return OkStatus();
  }));

  auto run = service_.RunOn(Ownerless(0, 1));
  ASSERT_TRUE(run.has_value()) << run.error().message;
  EXPECT_EQ(run->created, 0u);
  EXPECT_EQ(run->resolved, 1u);
  auto f = service_.Get(id);
  ASSERT_TRUE(f.has_value()) << f.error().message;
  EXPECT_EQ(f->count, 6);
  EXPECT_EQ(f->state, FindingState::kSuppressed);
  EXPECT_EQ(f->state_reason, "service user");
  EXPECT_EQ(f->first_seen, TimePoint(std::chrono::seconds(1600000000)));
  EXPECT_EQ(f->last_seen, clock_.Now());
  EXPECT_NE(f->summary, "old summary");  // the latest observation's
  auto g = service_.Get(gone);
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->state, FindingState::kResolved);
  EXPECT_EQ(g->count, 5);
  EXPECT_EQ(g->summary, "old summary");
  EXPECT_TRUE(store_.List("audit_findings", {})->empty());
}

TEST_F(AuditServiceTest, DamagedBucketIsAnErrorNotACrash) {
  ASSERT_TRUE(service_.RunOn(Ownerless(0, 1)));
  auto buckets = store_.List("audit_finding_buckets", {});
  ASSERT_TRUE(buckets.has_value());
  ASSERT_EQ(buckets->size(), 1u);
  const std::string id = FindingId("OwnerMissing", Ownerless(0, 1).users[0].arn);
  const std::string value = (*buckets)[0].value;
  for (std::size_t cut : {std::size_t{1}, value.size() / 2, value.size() - 1}) {
    ASSERT_TRUE(store_.Transact([&](store::Txn& txn) -> Status {
      KW_RETURN_IF_ERROR(txn.Put("audit_finding_buckets", (*buckets)[0].key, value.substr(0, cut)));
      return OkStatus();
    }));
    auto got = service_.Get(id);
    ASSERT_FALSE(got.has_value());
    EXPECT_EQ(got.error().code, ErrorCode::kInternal);
    EXPECT_FALSE(service_.List({}, std::nullopt, 10).has_value());
    EXPECT_FALSE(service_.RunOn(Ownerless(0, 1)).has_value());
  }
  EXPECT_EQ(service_.Get("f-zz").error().reason, "ResourceNotFoundException");
  EXPECT_EQ(service_.UpdateState("f-0000000000000000", FindingState::kResolved, "x").error().reason,
            "ResourceNotFoundException");
}

TEST_F(AuditServiceTest, NewFindingHookWritesInTheSameTransactionOnlyForNewFindings) {
  std::vector<std::string> seen;
  service_.set_new_finding_hook(
      [&seen](store::Txn& txn, std::string_view id, const Observation& o, TimePoint) -> Status {
        seen.push_back(std::string(id));
        KW_RETURN_IF_ERROR(txn.Put("hook_outbox", id, o.type));
        return OkStatus();
      });
  ASSERT_TRUE(service_.RunOn(Ownerless(0, 3)));
  EXPECT_EQ(seen.size(), 3u);
  EXPECT_EQ(store_.List("hook_outbox", {})->size(), 3u);
  // Seen again: not new, no call.
  ASSERT_TRUE(service_.RunOn(Ownerless(0, 3)));
  EXPECT_EQ(seen.size(), 3u);
  // A failing hook rolls the finding back with it: neither is stored.
  service_.set_new_finding_hook([](store::Txn&, std::string_view, const Observation&,
                                   TimePoint) -> Status { return Unavailable("outbox down"); });
  EXPECT_FALSE(service_.RunOn(Ownerless(0, 4)).has_value());
  EXPECT_EQ(store_.List("hook_outbox", {})->size(), 3u);
  EXPECT_FALSE(service_.Get(FindingId("OwnerMissing", Ownerless(3, 4).users[0].arn)));
}

}  // namespace
}  // namespace kw::audit
