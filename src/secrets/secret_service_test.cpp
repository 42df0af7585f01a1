#include "secrets/secret_service.hpp"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <regex>
#include <set>
#include <thread>

#include "common/time_format.hpp"
#include "crypto/csprng.hpp"
#include "store/memory/memory_kv_store.hpp"

namespace kw::secrets {
namespace {

using std::chrono::hours;

constexpr auto kDay = hours(24);

SecretValueInput Str(std::string s) { return {false, SecretBytes(std::move(s))}; }
SecretValueInput Bin(std::string s) { return {true, SecretBytes(std::move(s))}; }

template <typename T>
std::string Reason(const Result<T>& r) {
  return r ? "OK" : r.error().reason;
}

class SecretServiceTest : public ::testing::Test {
 protected:
  SecretServiceTest()
      : clock_(*ParseIso8601("2026-03-01T10:00:00Z")),
        envelope_("test-master", SecretBytes(random_.Bytes(32)), random_),
        account_{"123456789012"},
        svc_(store_, envelope_, clock_, random_, account_) {}

  VersionRef Create(const std::string& name, std::optional<std::string> value,
                    std::vector<Tag> tags = {}) {
    CreateSecretRequest req;
    req.name = name;
    if (value) req.value = Str(*value);
    req.tags = std::move(tags);
    auto r = svc_.CreateSecret(req);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
    return r ? *r : VersionRef{};
  }
  Result<VersionRef> Put(const std::string& id, const std::string& value,
                         std::optional<std::string> token = std::nullopt,
                         std::optional<std::vector<std::string>> stages = std::nullopt) {
    PutSecretValueRequest req;
    req.secret_id = id;
    req.value = Str(value);
    req.client_request_token = std::move(token);
    req.stages = std::move(stages);
    return svc_.PutSecretValue(req);
  }
  std::string Current(const std::string& id) {
    auto v = svc_.GetSecretValue(id, std::nullopt, std::nullopt);
    if (!v) return "<" + v.error().reason + ">";
    return std::string(v->bytes.Reveal());
  }
  std::vector<std::string> StagesOf(const std::string& id, const std::string& vid) {
    auto d = svc_.DescribeSecret(id);
    EXPECT_TRUE(d.has_value());
    if (!d) return {};
    auto it = d->version_stages.find(vid);
    if (it == d->version_stages.end()) return {};
    return it->second;
  }

  crypto::Csprng random_;
  FakeClock clock_;
  store::MemoryKvStore store_;
  crypto::Envelope envelope_;
  iam::Account account_;
  SecretService svc_;
};

TEST_F(SecretServiceTest, CreateAndReadByNameFullAndPartialArn) {
  const VersionRef ref = Create("app/db-password", "s3cret");
  EXPECT_TRUE(
      std::regex_match(ref.arn, std::regex("arn:aws:secretsmanager:us-east-1:123456789012:secret:"
                                           "app/db-password-[A-Za-z0-9]{6}")))
      << ref.arn;
  EXPECT_EQ(ref.name, "app/db-password");
  EXPECT_TRUE(std::regex_match(
      ref.version_id,
      std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      << ref.version_id;
  EXPECT_EQ(ref.stages, std::vector<std::string>{"AWSCURRENT"});

  for (const std::string& id :
       {std::string("app/db-password"), ref.arn,
        std::string("arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-password")}) {
    auto v = svc_.GetSecretValue(id, std::nullopt, std::nullopt);
    ASSERT_TRUE(v.has_value()) << id;
    EXPECT_EQ(v->bytes.Reveal(), "s3cret");
    EXPECT_FALSE(v->binary);
    EXPECT_EQ(v->arn, ref.arn);
    EXPECT_EQ(v->version_id, ref.version_id);
    EXPECT_EQ(v->stages, std::vector<std::string>{"AWSCURRENT"});
    EXPECT_EQ(v->created, clock_.Now());
  }
  // A wrong suffix, another account, or an unknown name.
  std::string wrong = ref.arn;
  wrong.back() = wrong.back() == 'a' ? 'b' : 'a';
  EXPECT_EQ(Reason(svc_.GetSecretValue(wrong, std::nullopt, std::nullopt)),
            "ResourceNotFoundException");
  EXPECT_EQ(Reason(svc_.GetSecretValue(
                "arn:aws:secretsmanager:us-east-1:999999999999:secret:app/db-password",
                std::nullopt, std::nullopt)),
            "ResourceNotFoundException");
  auto missing = svc_.GetSecretValue("nope", std::nullopt, std::nullopt);
  EXPECT_EQ(Reason(missing), "ResourceNotFoundException");
  EXPECT_EQ(missing.error().message, "Secrets Manager can't find the specified secret.");

  EXPECT_EQ(svc_.ResourceArn("app/db-password"), ref.arn);
  EXPECT_EQ(svc_.ResourceArn("nope"), "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope");
}

TEST_F(SecretServiceTest, DuplicateNameAndSecretWithoutValue) {
  const VersionRef ref = Create("empty", std::nullopt);
  EXPECT_TRUE(ref.version_id.empty());
  EXPECT_EQ(Reason(svc_.GetSecretValue("empty", std::nullopt, std::nullopt)),
            "ResourceNotFoundException");
  CreateSecretRequest again;
  again.name = "empty";
  auto dup = svc_.CreateSecret(again);
  EXPECT_EQ(Reason(dup), "ResourceExistsException");
  EXPECT_EQ(dup.error().message, "The operation failed because the secret empty already exists.");
  // The first value becomes AWSCURRENT.
  auto put = Put("empty", "first");
  ASSERT_TRUE(put.has_value());
  EXPECT_EQ(put->stages, std::vector<std::string>{"AWSCURRENT"});
  EXPECT_EQ(Current("empty"), "first");
}

TEST_F(SecretServiceTest, CreateRetriedWithTheSameTokenAndValueSucceedsAgain) {
  CreateSecretRequest req;
  req.name = "retry";
  req.client_request_token = std::string(40, 't');
  req.value = Str("value");
  auto first = svc_.CreateSecret(req);
  ASSERT_TRUE(first.has_value());
  req.value = Str("value");
  auto again = svc_.CreateSecret(req);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->arn, first->arn);
  EXPECT_EQ(again->version_id, first->version_id);
  req.value = Str("other");
  EXPECT_EQ(Reason(svc_.CreateSecret(req)), "ResourceExistsException");
  req.value = Bin("value");  // same bytes, other type
  EXPECT_EQ(Reason(svc_.CreateSecret(req)), "ResourceExistsException");
  req.client_request_token = std::string(40, 'u');
  req.value = Str("value");
  EXPECT_EQ(Reason(svc_.CreateSecret(req)), "ResourceExistsException");
}

TEST_F(SecretServiceTest, BinaryValueRoundTrips) {
  CreateSecretRequest req;
  req.name = "bin";
  req.value = Bin(std::string("\x00\x01\xff", 3));
  ASSERT_TRUE(svc_.CreateSecret(req).has_value());
  auto v = svc_.GetSecretValue("bin", std::nullopt, std::nullopt);
  ASSERT_TRUE(v.has_value());
  EXPECT_TRUE(v->binary);
  EXPECT_EQ(v->bytes.Reveal(), std::string("\x00\x01\xff", 3));
}

TEST_F(SecretServiceTest, VersionAndStagingLifeCycle) {
  const VersionRef v1 = Create("life", "one");
  clock_.Advance(hours(1));
  auto v2 = Put("life", "two");
  ASSERT_TRUE(v2.has_value());
  EXPECT_EQ(Current("life"), "two");
  EXPECT_EQ(StagesOf("life", v1.version_id), std::vector<std::string>{"AWSPREVIOUS"});
  EXPECT_EQ(StagesOf("life", v2->version_id), std::vector<std::string>{"AWSCURRENT"});

  clock_.Advance(hours(1));
  auto v3 = Put("life", "three");
  ASSERT_TRUE(v3.has_value());
  EXPECT_EQ(StagesOf("life", v2->version_id), std::vector<std::string>{"AWSPREVIOUS"});
  EXPECT_TRUE(StagesOf("life", v1.version_id).empty());  // deprecated

  auto prev = svc_.GetSecretValue("life", std::nullopt, std::string_view("AWSPREVIOUS"));
  ASSERT_TRUE(prev.has_value());
  EXPECT_EQ(prev->bytes.Reveal(), "two");
  auto by_id = svc_.GetSecretValue("life", std::string_view(v1.version_id), std::nullopt);
  ASSERT_TRUE(by_id.has_value());
  EXPECT_EQ(by_id->bytes.Reveal(), "one");
  EXPECT_TRUE(by_id->stages.empty());
  EXPECT_EQ(Reason(svc_.GetSecretValue("life", std::string_view(v1.version_id),
                                       std::string_view("AWSCURRENT"))),
            "InvalidParameterException");
  auto no_stage = svc_.GetSecretValue("life", std::nullopt, std::string_view("AWSPENDING"));
  EXPECT_EQ(Reason(no_stage), "ResourceNotFoundException");
  EXPECT_EQ(no_stage.error().message,
            "Secrets Manager can't find the specified secret value for staging label: AWSPENDING");

  auto listed = svc_.ListSecretVersionIds("life", false, std::nullopt, std::nullopt);
  ASSERT_TRUE(listed.has_value());
  ASSERT_EQ(listed->versions.size(), 2u);
  EXPECT_EQ(listed->versions[0].version_id, v3->version_id);  // newest first
  auto all = svc_.ListSecretVersionIds("life", true, std::nullopt, std::nullopt);
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(all->versions.size(), 3u);
  auto page = svc_.ListSecretVersionIds("life", true, 2, std::nullopt);
  ASSERT_TRUE(page.has_value());
  EXPECT_EQ(page->versions.size(), 2u);
  ASSERT_FALSE(page->next_token.empty());
  auto rest = svc_.ListSecretVersionIds("life", true, 2, page->next_token);
  ASSERT_TRUE(rest.has_value());
  ASSERT_EQ(rest->versions.size(), 1u);
  EXPECT_EQ(rest->versions[0].version_id, v1.version_id);
  EXPECT_TRUE(rest->next_token.empty());
  EXPECT_EQ(Reason(svc_.ListSecretVersionIds("life", true, 2, std::string("garbage"))),
            "InvalidNextTokenException");
}

TEST_F(SecretServiceTest, ClientRequestTokenIsIdempotent) {
  Create("tok", "a");
  const std::string token(32, 'x');
  auto first = Put("tok", "b", token);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->version_id, token);
  auto retry = Put("tok", "b", token);
  ASSERT_TRUE(retry.has_value());
  EXPECT_EQ(retry->version_id, token);
  auto all = svc_.ListSecretVersionIds("tok", true, std::nullopt, std::nullopt);
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(all->versions.size(), 2u);  // the retry made no version
  EXPECT_EQ(Current("tok"), "b");

  auto conflict = Put("tok", "other", token);
  EXPECT_EQ(Reason(conflict), "ResourceExistsException");
  EXPECT_EQ(Current("tok"), "b");
  EXPECT_EQ(Reason(Put("tok", "c", std::string(31, 'y'))), "ValidationError");
  EXPECT_EQ(Reason(Put("tok", "c", std::string(65, 'y'))), "ValidationError");
}

TEST_F(SecretServiceTest, PutWithStagesLeavesCurrentAndMovesLabels) {
  const VersionRef v1 = Create("stg", "one");
  auto pending = Put("stg", "pending", std::nullopt, std::vector<std::string>{"AWSPENDING"});
  ASSERT_TRUE(pending.has_value());
  EXPECT_EQ(Current("stg"), "one");
  EXPECT_EQ(pending->stages, std::vector<std::string>{"AWSPENDING"});

  // Moving AWSCURRENT needs RemoveFromVersionId naming its holder.
  UpdateStageRequest move{"stg", "AWSCURRENT", pending->version_id, std::nullopt};
  EXPECT_EQ(Reason(svc_.UpdateSecretVersionStage(move)), "InvalidParameterException");
  move.remove_from_version_id = pending->version_id;  // not the holder
  EXPECT_EQ(Reason(svc_.UpdateSecretVersionStage(move)), "InvalidParameterException");
  move.remove_from_version_id = v1.version_id;
  ASSERT_TRUE(svc_.UpdateSecretVersionStage(move).has_value());
  EXPECT_EQ(Current("stg"), "pending");
  EXPECT_EQ(StagesOf("stg", v1.version_id), std::vector<std::string>{"AWSPREVIOUS"});
  EXPECT_EQ(StagesOf("stg", pending->version_id),
            (std::vector<std::string>{"AWSCURRENT", "AWSPENDING"}));

  // AWSCURRENT cannot just be removed.
  UpdateStageRequest remove{"stg", "AWSCURRENT", std::nullopt, pending->version_id};
  EXPECT_EQ(Reason(svc_.UpdateSecretVersionStage(remove)), "InvalidParameterException");
  // Other labels can.
  UpdateStageRequest remove_pending{"stg", "AWSPENDING", std::nullopt, pending->version_id};
  ASSERT_TRUE(svc_.UpdateSecretVersionStage(remove_pending).has_value());
  EXPECT_EQ(StagesOf("stg", pending->version_id), std::vector<std::string>{"AWSCURRENT"});
  // A custom label onto an unknown version.
  UpdateStageRequest unknown{"stg", "MINE", std::string("no-such-version"), std::nullopt};
  EXPECT_EQ(Reason(svc_.UpdateSecretVersionStage(unknown)), "ResourceNotFoundException");
  UpdateStageRequest mine{"stg", "MINE", v1.version_id, std::nullopt};
  ASSERT_TRUE(svc_.UpdateSecretVersionStage(mine).has_value());
  auto by_label = svc_.GetSecretValue("stg", std::nullopt, std::string_view("MINE"));
  ASSERT_TRUE(by_label.has_value());
  EXPECT_EQ(by_label->bytes.Reveal(), "one");
}

TEST_F(SecretServiceTest, DeprecatedVersionsArePrunedBeyondTheLimit) {
  Create("many", "v0");
  for (int i = 1; i <= 105; ++i) ASSERT_TRUE(Put("many", "v" + std::to_string(i)).has_value());
  auto all = svc_.ListSecretVersionIds("many", true, 100, std::nullopt);
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(all->versions.size(), kMaxVersions);
  EXPECT_TRUE(all->next_token.empty());
  EXPECT_EQ(Current("many"), "v105");
  auto rows = store_.List("sm_versions", {});
  ASSERT_TRUE(rows.has_value());
  EXPECT_EQ(rows->size(), kMaxVersions);
  auto prev = svc_.GetSecretValue("many", std::nullopt, std::string_view("AWSPREVIOUS"));
  ASSERT_TRUE(prev.has_value());
  EXPECT_EQ(prev->bytes.Reveal(), "v104");
}

TEST_F(SecretServiceTest, DeleteRestoreAndPurgeAfterTheWindow) {
  const VersionRef ref = Create("gone", "v");
  const TimePoint t0 = clock_.Now();
  auto deleted = svc_.DeleteSecret({"gone", std::nullopt, false});
  ASSERT_TRUE(deleted.has_value());
  EXPECT_EQ(deleted->deletion_date, t0 + 30 * kDay);
  EXPECT_EQ(deleted->arn, ref.arn);

  auto refused = svc_.GetSecretValue("gone", std::nullopt, std::nullopt);
  EXPECT_EQ(Reason(refused), "InvalidRequestException");
  EXPECT_EQ(refused.error().message,
            "You can't perform this operation on the secret because it was marked for deletion.");
  EXPECT_EQ(Reason(Put("gone", "x")), "InvalidRequestException");
  EXPECT_EQ(Reason(svc_.DeleteSecret({"gone", std::nullopt, false})), "InvalidRequestException");
  auto described = svc_.DescribeSecret("gone");
  ASSERT_TRUE(described.has_value());
  EXPECT_EQ(described->deleted_date, t0);
  CreateSecretRequest same;
  same.name = "gone";
  EXPECT_EQ(Reason(svc_.CreateSecret(same)), "InvalidRequestException");

  ASSERT_TRUE(svc_.RestoreSecret("gone").has_value());
  EXPECT_EQ(Current("gone"), "v");

  ASSERT_TRUE(svc_.DeleteSecret({"gone", 7, false}).has_value());
  clock_.Advance(7 * kDay - std::chrono::seconds(1));
  EXPECT_EQ(Reason(svc_.GetSecretValue("gone", std::nullopt, std::nullopt)),
            "InvalidRequestException");
  clock_.Advance(std::chrono::seconds(1));
  EXPECT_EQ(Reason(svc_.GetSecretValue("gone", std::nullopt, std::nullopt)),
            "ResourceNotFoundException");
  for (const char* table : {"sm_secrets", "sm_names", "sm_versions"}) {
    auto rows = store_.List(table, {});
    ASSERT_TRUE(rows.has_value());
    EXPECT_TRUE(rows->empty()) << table;
  }
  // The name is free again, under a new ARN suffix (almost surely).
  const VersionRef again = Create("gone", "new");
  EXPECT_EQ(Current("gone"), "new");
  (void)again;
}

TEST_F(SecretServiceTest, PurgeDueRemovesExpiredSecretsOnly) {
  Create("a", "1");
  Create("b", "2");
  Create("c", "3");
  ASSERT_TRUE(svc_.DeleteSecret({"a", 7, false}).has_value());
  ASSERT_TRUE(svc_.DeleteSecret({"b", 30, false}).has_value());
  clock_.Advance(30 * kDay);
  auto n = svc_.PurgeDue(clock_.Now() - 10 * kDay);  // only a's window has ended by then
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(*n, 1u);
  auto names = store_.List("sm_names", {});
  ASSERT_TRUE(names.has_value());
  ASSERT_EQ(names->size(), 2u);
  EXPECT_EQ((*names)[0].key, "b");
  n = svc_.PurgeDue(clock_.Now());
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(*n, 1u);
  EXPECT_EQ(Current("c"), "3");
}

TEST_F(SecretServiceTest, PurgeDueFollowsDeletesAndRestoresAfterItsFirstScan) {
  Create("early", "1");
  Create("late", "2");
  Create("restored", "3");
  ASSERT_TRUE(svc_.DeleteSecret({"early", 7, false}).has_value());
  ASSERT_TRUE(svc_.PurgeDue(clock_.Now()).has_value());  // the full scan: nothing due yet
  // Scheduled and restored after the scan: PurgeDue must learn both without rescanning.
  ASSERT_TRUE(svc_.DeleteSecret({"late", 7, false}).has_value());
  ASSERT_TRUE(svc_.DeleteSecret({"restored", 7, false}).has_value());
  ASSERT_TRUE(svc_.RestoreSecret("restored").has_value());
  clock_.Advance(8 * kDay);
  auto n = svc_.PurgeDue(clock_.Now());
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(*n, 2u);
  auto names = store_.List("sm_names", {});
  ASSERT_TRUE(names.has_value());
  ASSERT_EQ(names->size(), 1u);
  EXPECT_EQ((*names)[0].key, "restored");
  n = svc_.PurgeDue(clock_.Now());
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(*n, 0u);
}

TEST_F(SecretServiceTest, ResolvedSecretReadsAsTheIdWould) {
  Create("resolved", "value-r");
  const auto r = svc_.Resolve("resolved");
  EXPECT_EQ(r.arn(), svc_.ResourceArn("resolved"));
  EXPECT_EQ(r.policy(), nullptr);
  auto v = svc_.GetSecretValue(r, std::nullopt, std::nullopt);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->bytes.Reveal(), "value-r");
  EXPECT_EQ(v->name, "resolved");
  // Read twice (the second from the sealed-value cache): same answer.
  auto again = svc_.GetSecretValue(svc_.Resolve(r.arn()), std::nullopt, std::nullopt);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->bytes.Reveal(), "value-r");
  EXPECT_EQ(Reason(svc_.GetSecretValue(r, std::nullopt, std::string_view("AWSPENDING"))),
            "ResourceNotFoundException");

  const auto missing = svc_.Resolve("no-such-secret");
  EXPECT_EQ(missing.arn(), SecretArnPrefix(svc_.account()) + "no-such-secret");
  EXPECT_EQ(Reason(svc_.GetSecretValue(missing, std::nullopt, std::nullopt)),
            "ResourceNotFoundException");

  ASSERT_TRUE(svc_.DeleteSecret({"resolved", 7, false}).has_value());
  const auto deleted = svc_.Resolve("resolved");
  EXPECT_EQ(deleted.arn(), r.arn());  // authorization still names the secret
  EXPECT_EQ(Reason(svc_.GetSecretValue(deleted, std::nullopt, std::nullopt)),
            "InvalidRequestException");
}

TEST_F(SecretServiceTest, DeleteParameterRules) {
  Create("d", "v");
  auto both = svc_.DeleteSecret({"d", 7, true});
  EXPECT_EQ(Reason(both), "InvalidParameterException");
  EXPECT_EQ(both.error().message,
            "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.");
  EXPECT_EQ(Reason(svc_.DeleteSecret({"d", 6, false})), "InvalidParameterException");
  EXPECT_EQ(Reason(svc_.DeleteSecret({"d", 31, false})), "InvalidParameterException");
  EXPECT_EQ(Reason(svc_.DeleteSecret({"nope", std::nullopt, true})), "ResourceNotFoundException");
  // Scheduled, then forced: gone at once.
  ASSERT_TRUE(svc_.DeleteSecret({"d", std::nullopt, false}).has_value());
  auto forced = svc_.DeleteSecret({"d", std::nullopt, true});
  ASSERT_TRUE(forced.has_value());
  EXPECT_EQ(forced->deletion_date, clock_.Now());
  EXPECT_EQ(Reason(svc_.DescribeSecret("d")), "ResourceNotFoundException");
}

TEST_F(SecretServiceTest, ValidationAndLimits) {
  CreateSecretRequest req;
  req.name = "bad name!";
  auto bad = svc_.CreateSecret(req);
  EXPECT_EQ(Reason(bad), "InvalidParameterException");
  EXPECT_EQ(bad.error().message,
            "Invalid name. Must be a valid name containing alphanumeric characters, or any of the "
            "following: -/_+=.@!");
  req.name = std::string(513, 'a');
  EXPECT_EQ(Reason(svc_.CreateSecret(req)), "ValidationError");
  req.name = std::string(512, 'a');
  EXPECT_TRUE(svc_.CreateSecret(req).has_value());

  req.name = "big";
  req.value = Str(std::string(kMaxSecretBytes + 1, 'x'));
  EXPECT_EQ(Reason(svc_.CreateSecret(req)), "ValidationError");
  req.value = Bin(std::string(kMaxSecretBytes + 1, 'x'));
  EXPECT_EQ(Reason(svc_.CreateSecret(req)), "ValidationError");
  req.value = Bin(std::string(kMaxSecretBytes, 'x'));
  EXPECT_TRUE(svc_.CreateSecret(req).has_value());

  CreateSecretRequest desc;
  desc.name = "desc";
  desc.description = std::string(2049, 'd');
  EXPECT_EQ(Reason(svc_.CreateSecret(desc)), "ValidationError");
  desc.description = std::string(2048, 'd');
  EXPECT_TRUE(svc_.CreateSecret(desc).has_value());

  CreateSecretRequest tags;
  tags.name = "tags";
  for (int i = 0; i < 51; ++i) tags.tags.push_back({"k" + std::to_string(i), "v"});
  EXPECT_EQ(Reason(svc_.CreateSecret(tags)), "LimitExceededException");
  tags.tags.pop_back();
  ASSERT_TRUE(svc_.CreateSecret(tags).has_value());
  EXPECT_EQ(svc_.TagResource("tags", {{"k0", "new"}}).has_value(), true);  // replaces: still 50
  auto more = svc_.TagResource("tags", {{"extra", "v"}});
  ASSERT_FALSE(more.has_value());
  EXPECT_EQ(more.error().reason, "LimitExceededException");

  PutSecretValueRequest none;
  none.secret_id = "desc";
  EXPECT_EQ(Reason(svc_.PutSecretValue(none)), "InvalidRequestException");
}

TEST_F(SecretServiceTest, TagAndUntag) {
  Create("t", "v", {{"team", "a"}, {"env", "dev"}});
  ASSERT_TRUE(svc_.TagResource("t", {{"env", "prod"}, {"owner", "me"}}).has_value());
  ASSERT_TRUE(svc_.UntagResource("t", {"team", "absent"}).has_value());
  auto d = svc_.DescribeSecret("t");
  ASSERT_TRUE(d.has_value());
  ASSERT_EQ(d->tags.size(), 2u);
  EXPECT_EQ(d->tags[0].key, "env");
  EXPECT_EQ(d->tags[0].value, "prod");
  EXPECT_EQ(d->tags[1].key, "owner");
  EXPECT_FALSE(svc_.TagResource("t", {{"aws:reserved", "x"}}).has_value());
}

TEST_F(SecretServiceTest, CiphertextMovedToAnotherRowFailsToDecrypt) {
  const VersionRef v1 = Create("enc", "first-value");
  auto v2 = Put("enc", "second-value");
  ASSERT_TRUE(v2.has_value());
  const VersionRef other = Create("enc-other", "other-value");

  auto rows = store_.List("sm_versions", {});
  ASSERT_TRUE(rows.has_value());
  std::string key1, key2, key_other, value1;
  for (const auto& item : *rows) {
    if (item.key.ends_with("/" + v1.version_id)) {
      key1 = item.key;
      value1 = item.value;
    }
    if (item.key.ends_with("/" + v2->version_id)) key2 = item.key;
    if (item.key.ends_with("/" + other.version_id)) key_other = item.key;
  }
  ASSERT_FALSE(key1.empty());
  ASSERT_FALSE(key2.empty());
  // Version 1's ciphertext in version 2's row: AWSCURRENT no longer opens.
  ASSERT_TRUE(store_
                  .Transact([&](store::Txn& txn) -> Status {
                    KW_RETURN_IF_ERROR(txn.Put("sm_versions", key2, value1));
                    KW_RETURN_IF_ERROR(txn.Put("sm_versions", key_other, value1));
                    return OkStatus();
                  })
                  .has_value());
  auto moved = svc_.GetSecretValue("enc", std::nullopt, std::nullopt);
  ASSERT_FALSE(moved.has_value());
  EXPECT_EQ(moved.error().reason, "DecryptionFailure");
  EXPECT_EQ(moved.error().message.find("first-value"), std::string::npos);
  auto other_secret = svc_.GetSecretValue("enc-other", std::nullopt, std::nullopt);
  EXPECT_EQ(Reason(other_secret), "DecryptionFailure");
  // The untouched row still opens.
  auto prev = svc_.GetSecretValue("enc", std::string_view(v1.version_id), std::nullopt);
  ASSERT_TRUE(prev.has_value());
  EXPECT_EQ(prev->bytes.Reveal(), "first-value");
}

TEST_F(SecretServiceTest, NoPlaintextInTheStore) {
  Create("plain", "PLAINTEXT-MARKER-1");
  ASSERT_TRUE(Put("plain", "PLAINTEXT-MARKER-2").has_value());
  CreateSecretRequest bin;
  bin.name = "bin";
  bin.value = Bin("PLAINTEXT-MARKER-3");
  ASSERT_TRUE(svc_.CreateSecret(bin).has_value());
  int rows_seen = 0;
  for (const char* table : {"sm_secrets", "sm_names", "sm_versions"}) {
    auto rows = store_.List(table, {});
    ASSERT_TRUE(rows.has_value());
    for (const auto& item : *rows) {
      ++rows_seen;
      EXPECT_EQ(item.value.find("PLAINTEXT-MARKER"), std::string::npos) << table << " " << item.key;
      EXPECT_EQ(item.value.find("UExBSU5URVhU"), std::string::npos);  // base64 of it
    }
  }
  EXPECT_EQ(rows_seen, 2 + 2 + 3);
}

TEST_F(SecretServiceTest, LastAccessedDateIsWrittenOncePerDay) {
  Create("acc", "v");
  auto before = svc_.DescribeSecret("acc");
  ASSERT_TRUE(before.has_value());
  EXPECT_FALSE(before->last_accessed.has_value());
  ASSERT_TRUE(svc_.GetSecretValue("acc", std::nullopt, std::nullopt).has_value());
  auto after = svc_.DescribeSecret("acc");
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->last_accessed, ParseIso8601("2026-03-01T00:00:00Z"));
  auto row = [&] {
    auto names = store_.Get("sm_names", "acc");
    auto item = store_.Get("sm_secrets", (*names)->value);
    return (*item)->revision;
  };
  const auto rev = row();
  clock_.Advance(hours(5));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(svc_.GetSecretValue("acc", std::nullopt, std::nullopt));
  EXPECT_EQ(row(), rev);  // same day: no write
  clock_.Advance(kDay);
  ASSERT_TRUE(svc_.GetSecretValue("acc", std::nullopt, std::nullopt).has_value());
  EXPECT_EQ(row(), rev + 1);
  auto versions = svc_.ListSecretVersionIds("acc", false, std::nullopt, std::nullopt);
  ASSERT_TRUE(versions.has_value());
  EXPECT_EQ(versions->versions[0].last_accessed, ParseIso8601("2026-03-02T00:00:00Z"));
}

TEST_F(SecretServiceTest, UpdateSecretChangesMetadataAndValue) {
  const VersionRef v1 = Create("upd", "one");
  UpdateSecretRequest meta;
  meta.secret_id = "upd";
  meta.description = "new description";
  meta.kms_key_id = "alias/mine";
  auto r = svc_.UpdateSecret(meta);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->version_id.empty());
  EXPECT_EQ(Current("upd"), "one");
  UpdateSecretRequest value;
  value.secret_id = "upd";
  value.value = Str("two");
  r = svc_.UpdateSecret(value);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->version_id.empty());
  EXPECT_EQ(Current("upd"), "two");
  auto d = svc_.DescribeSecret("upd");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->description, "new description");
  EXPECT_EQ(d->kms_key_id, "alias/mine");
  EXPECT_EQ(d->version_stages[v1.version_id], std::vector<std::string>{"AWSPREVIOUS"});
}

TEST_F(SecretServiceTest, ResourcePolicies) {
  Create("pol", "v");
  EXPECT_EQ(svc_.ResourcePolicy("pol"), nullptr);
  EXPECT_EQ(Reason(svc_.PutResourcePolicy("pol", "{not json", false)),
            "MalformedPolicyDocumentException");
  // A resource policy needs a Principal.
  const std::string no_principal =
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}]})";
  EXPECT_EQ(Reason(svc_.PutResourcePolicy("pol", no_principal, false)),
            "MalformedPolicyDocumentException");
  auto validation = svc_.ValidateResourcePolicy(std::nullopt, no_principal);
  ASSERT_TRUE(validation.has_value());
  EXPECT_FALSE(validation->passed);
  EXPECT_FALSE(validation->errors.empty());
  EXPECT_EQ(Reason(svc_.ValidateResourcePolicy(std::nullopt, "[")),
            "MalformedPolicyDocumentException");

  const std::string pub =
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*"}]})";
  EXPECT_EQ(Reason(svc_.PutResourcePolicy("pol", pub, true)), "PublicPolicyException");
  const std::string user =
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/bob"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]})";
  auto ok = svc_.ValidateResourcePolicy(std::string_view("pol"), user);
  ASSERT_TRUE(ok.has_value());
  EXPECT_TRUE(ok->passed);
  ASSERT_TRUE(svc_.PutResourcePolicy("pol", user, true).has_value());
  auto stored = svc_.GetResourcePolicy("pol");
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->policy, user);

  auto parsed = svc_.ResourcePolicy("pol");
  ASSERT_NE(parsed, nullptr);
  policy::RequestContext ctx;
  ctx.action = "secretsmanager:GetSecretValue";
  ctx.resource = svc_.ResourceArn("pol");
  ctx.principal_arn = "arn:aws:iam::123456789012:user/bob";
  ctx.principal_account = "123456789012";
  EXPECT_EQ(policy::Evaluate({parsed.get()}, ctx), policy::Decision::kAllow);
  ctx.principal_arn = "arn:aws:iam::123456789012:user/eve";
  EXPECT_EQ(policy::Evaluate({parsed.get()}, ctx), policy::Decision::kImplicitDeny);
  EXPECT_EQ(svc_.ResourcePolicy("pol"), parsed);  // cached, not parsed again

  // Public is fine without BlockPublicPolicy.
  ASSERT_TRUE(svc_.PutResourcePolicy("pol", pub, false).has_value());
  ASSERT_TRUE(svc_.DeleteResourcePolicy("pol").has_value());
  EXPECT_EQ(svc_.ResourcePolicy("pol"), nullptr);
  auto gone = svc_.GetResourcePolicy("pol");
  ASSERT_TRUE(gone.has_value());
  EXPECT_FALSE(gone->policy.has_value());
}

TEST_F(SecretServiceTest, ListSecretsFiltersSortsAndPages) {
  Create("prod/db", "v", {{"team", "payments"}});
  clock_.Advance(hours(1));
  Create("prod/api", "v", {{"team", "search"}});
  clock_.Advance(hours(1));
  Create("dev/db", "v");
  UpdateSecretRequest desc{"dev/db", std::nullopt, std::string("Database For Tests"), std::nullopt,
                           std::nullopt};
  ASSERT_TRUE(svc_.UpdateSecret(desc).has_value());

  auto names = [&](const ListSecretsRequest& req) {
    std::vector<std::string> out;
    auto page = svc_.ListSecrets(req);
    EXPECT_TRUE(page.has_value()) << (page ? "" : page.error().message);
    if (page) {
      for (const auto& s : page->secrets) out.push_back(s.name);
    }
    return out;
  };
  ListSecretsRequest req;
  EXPECT_EQ(names(req), (std::vector<std::string>{"prod/db", "prod/api", "dev/db"}));
  req.sort_order = "desc";
  EXPECT_EQ(names(req), (std::vector<std::string>{"dev/db", "prod/api", "prod/db"}));
  req.sort_order = "asc";
  req.sort_by = "name";
  EXPECT_EQ(names(req), (std::vector<std::string>{"dev/db", "prod/api", "prod/db"}));
  req.sort_by.reset();
  req.filters = {{"name", {"prod/"}}};
  EXPECT_EQ(names(req), (std::vector<std::string>{"prod/db", "prod/api"}));
  req.filters = {{"name", {"!prod/"}}};
  EXPECT_EQ(names(req), (std::vector<std::string>{"dev/db"}));
  req.filters = {{"name", {"Prod/"}}};  // name is case-sensitive
  EXPECT_TRUE(names(req).empty());
  req.filters = {{"description", {"database"}}};  // description is not
  EXPECT_EQ(names(req), (std::vector<std::string>{"dev/db"}));
  req.filters = {{"tag-key", {"team"}}, {"tag-value", {"pay"}}};
  EXPECT_EQ(names(req), (std::vector<std::string>{"prod/db"}));
  req.filters = {{"tag-value", {"pay", "sea"}}};  // values ORed
  EXPECT_EQ(names(req), (std::vector<std::string>{"prod/db", "prod/api"}));
  req.filters = {{"all", {"TESTS"}}};
  EXPECT_EQ(names(req), (std::vector<std::string>{"dev/db"}));
  req.filters = {{"all", {"db"}}};
  EXPECT_EQ(names(req), (std::vector<std::string>{"prod/db", "dev/db"}));
  req.filters = {{"bogus", {"x"}}};
  EXPECT_EQ(Reason(svc_.ListSecrets(req)), "ValidationError");

  ListSecretsRequest paged;
  paged.max_results = 2;
  auto first = svc_.ListSecrets(paged);
  ASSERT_TRUE(first.has_value());
  ASSERT_EQ(first->secrets.size(), 2u);
  ASSERT_FALSE(first->next_token.empty());
  paged.next_token = first->next_token;
  auto second = svc_.ListSecrets(paged);
  ASSERT_TRUE(second.has_value());
  ASSERT_EQ(second->secrets.size(), 1u);
  EXPECT_EQ(second->secrets[0].name, "dev/db");
  EXPECT_TRUE(second->next_token.empty());

  ASSERT_TRUE(svc_.DeleteSecret({"prod/api", std::nullopt, false}).has_value());
  ListSecretsRequest plain;
  EXPECT_EQ(names(plain), (std::vector<std::string>{"prod/db", "dev/db"}));
  plain.include_planned_deletion = true;
  EXPECT_EQ(names(plain), (std::vector<std::string>{"prod/db", "prod/api", "dev/db"}));
}

TEST_F(SecretServiceTest, RotationConfigurationIsStoredAndReported) {
  const VersionRef ref = Create("rot", "v");
  RotateSecretRequest bad{"rot", std::nullopt, std::nullopt, RotationRules{0, {}, {}}, true};
  EXPECT_EQ(Reason(svc_.RotateSecret(bad)), "ValidationError");
  RotateSecretRequest both{"rot", std::nullopt, std::nullopt,
                           RotationRules{30, std::string("rate(10 days)"), {}}, true};
  EXPECT_EQ(Reason(svc_.RotateSecret(both)), "InvalidParameterException");

  RotateSecretRequest req{"rot", std::nullopt,
                          std::string("arn:aws:lambda:us-east-1:123456789012:function:rot"),
                          RotationRules{30, {}, std::string("3h")}, false};
  ASSERT_TRUE(svc_.RotateSecret(req).has_value());
  auto d = svc_.DescribeSecret("rot");
  ASSERT_TRUE(d.has_value());
  EXPECT_TRUE(d->rotation_enabled);
  EXPECT_EQ(d->rotation_lambda_arn, req.rotation_lambda_arn);
  ASSERT_TRUE(d->rotation_rules.has_value());
  EXPECT_EQ(d->rotation_rules->automatically_after_days, 30);
  EXPECT_EQ(d->rotation_rules->duration, "3h");
  EXPECT_EQ(d->next_rotation, d->created + 30 * kDay);
  EXPECT_EQ(Current("rot"), "v");  // nothing rotated

  ASSERT_TRUE(svc_.CancelRotateSecret(ref.arn).has_value());
  d = svc_.DescribeSecret("rot");
  ASSERT_TRUE(d.has_value());
  EXPECT_FALSE(d->rotation_enabled);
  EXPECT_FALSE(d->next_rotation.has_value());
}

TEST_F(SecretServiceTest, RandomPasswords) {
  auto pw = svc_.GetRandomPassword({});
  ASSERT_TRUE(pw.has_value());
  EXPECT_EQ(pw->size(), 32u);

  PasswordRequest digits;
  digits.length = 64;
  digits.exclude_lowercase = digits.exclude_uppercase = digits.exclude_punctuation = true;
  digits.exclude_characters = "0";
  pw = svc_.GetRandomPassword(digits);
  ASSERT_TRUE(pw.has_value());
  for (char c : pw->Reveal()) EXPECT_TRUE(c >= '1' && c <= '9') << c;

  PasswordRequest each;
  each.length = 5;
  each.include_space = true;
  for (int i = 0; i < 20; ++i) {
    pw = svc_.GetRandomPassword(each);
    ASSERT_TRUE(pw.has_value());
    const std::string s(pw->Reveal());
    EXPECT_NE(s.find_first_of("abcdefghijklmnopqrstuvwxyz"), std::string::npos) << s;
    EXPECT_NE(s.find_first_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), std::string::npos) << s;
    EXPECT_NE(s.find_first_of("0123456789"), std::string::npos) << s;
    EXPECT_NE(s.find(' '), std::string::npos) << s;
  }
  each.length = 4;  // five types required
  EXPECT_EQ(Reason(svc_.GetRandomPassword(each)), "InvalidParameterException");
  PasswordRequest nothing;
  nothing.exclude_lowercase = nothing.exclude_uppercase = nothing.exclude_numbers =
      nothing.exclude_punctuation = true;
  EXPECT_EQ(Reason(svc_.GetRandomPassword(nothing)), "InvalidParameterException");
  PasswordRequest too_long;
  too_long.length = 4097;
  EXPECT_EQ(Reason(svc_.GetRandomPassword(too_long)), "ValidationError");
  too_long.length = 0;
  EXPECT_EQ(Reason(svc_.GetRandomPassword(too_long)), "ValidationError");
}

TEST_F(SecretServiceTest, ConcurrentPutsKeepOneCurrent) {
  Create("race", "v0");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        EXPECT_TRUE(Put("race", "t" + std::to_string(t) + "-" + std::to_string(i)).has_value());
        EXPECT_TRUE(svc_.GetSecretValue("race", std::nullopt, std::nullopt).has_value());
      }
    });
  }
  for (auto& th : threads) th.join();
  auto all = svc_.ListSecretVersionIds("race", true, 100, std::nullopt);
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(all->versions.size(), 41u);
  int current = 0;
  for (const auto& v : all->versions) {
    current += std::count(v.stages.begin(), v.stages.end(), "AWSCURRENT");
  }
  EXPECT_EQ(current, 1);
}

// A store whose transactions wait at a gate until `want` of them are inside at once (or
// `patience` passes), and which remembers how many ever were: shows whether writes
// through the service can share one durable commit.
class GateStore : public store::KvStore {
 public:
  GateStore(store::KvStore& inner, int want, std::chrono::milliseconds patience)
      : inner_(inner), want_(want), patience_(patience) {}
  Status Transact(const std::function<Status(store::Txn&)>& fn) override {
    {
      std::unique_lock lock(mu_);
      ++inside_;
      most_ = std::max(most_, inside_);
      cv_.notify_all();
      cv_.wait_for(lock, patience_, [&] { return most_ >= want_; });
    }
    Status s = inner_.Transact(fn);
    std::lock_guard lock(mu_);
    --inside_;
    return s;
  }
  Result<std::optional<store::Item>> Get(std::string_view table, std::string_view key) override {
    return inner_.Get(table, key);
  }
  Result<std::vector<store::Item>> List(std::string_view table,
                                        const store::ListOptions& options) override {
    return inner_.List(table, options);
  }
  int most() {
    std::lock_guard lock(mu_);
    return most_;
  }

 private:
  store::KvStore& inner_;
  const int want_;
  const std::chrono::milliseconds patience_;
  std::mutex mu_;
  std::condition_variable cv_;
  int inside_ = 0;
  int most_ = 0;
};

class ConcurrentWritesTest : public SecretServiceTest {
 protected:
  // Two PutSecretValue calls at once through a service over a GateStore.
  int PutTwoAtOnce(const std::string& first, const std::string& second,
                   std::chrono::milliseconds patience) {
    GateStore gate(store_, 2, patience);
    SecretService svc(gate, envelope_, clock_, random_, account_);
    auto put = [&](const std::string& id, const std::string& value) {
      PutSecretValueRequest req;
      req.secret_id = id;
      req.value = Str(value);
      auto r = svc.PutSecretValue(req);
      EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
    };
    std::thread a(put, first, "from-a");
    std::thread b(put, second, "from-b");
    a.join();
    b.join();
    return gate.most();
  }
};

TEST_F(ConcurrentWritesTest, WritesOfDifferentSecretsReachTheStoreTogether) {
  Create("one", "1");
  Create("two", "2");
  // With one lock for every write, the second would reach the store only after the
  // first committed, and no sync could ever carry both.
  EXPECT_EQ(PutTwoAtOnce("one", "two", std::chrono::seconds(10)), 2);
  EXPECT_EQ(Current("one"), "from-a");
  EXPECT_EQ(Current("two"), "from-b");
}

TEST_F(ConcurrentWritesTest, WritesOfOneSecretTakeTurnsAndNeitherIsLost) {
  const VersionRef first = Create("shared", "0");
  // By name and by ARN: two spellings of one secret still share its lock.
  EXPECT_EQ(PutTwoAtOnce("shared", first.arn, std::chrono::milliseconds(300)), 1);
  // Neither write lost the other: one is current, the other previous.
  auto current = svc_.GetSecretValue("shared", std::nullopt, std::nullopt);
  auto previous = svc_.GetSecretValue("shared", std::nullopt, "AWSPREVIOUS");
  ASSERT_TRUE(current.has_value());
  ASSERT_TRUE(previous.has_value());
  const std::set<std::string> values{std::string(current->bytes.Reveal()),
                                     std::string(previous->bytes.Reveal())};
  EXPECT_EQ(values, (std::set<std::string>{"from-a", "from-b"}));
}

}  // namespace
}  // namespace kw::secrets
