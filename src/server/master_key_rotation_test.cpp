#include "server/master_key_rotation.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/atomic_file.hpp"
#include "crypto/csprng.hpp"
#include "server/data_dir.hpp"
#include "store/sqlite/sqlite_kv_store.hpp"

namespace kw::server {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

Status Ok(const Result<std::int64_t>& r) {
  if (!r) return r.error();
  return OkStatus();
}

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    ::unsetenv(kMasterKeyEnv);
    dir_ = fs::temp_directory_path() /
           ("kw_mk_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    ASSERT_TRUE(EnsurePrivateDir(dir_).has_value());
  }
  void TearDown() override {
    ::unsetenv(kMasterKeyEnv);
    fs::remove_all(dir_);
  }
  std::unique_ptr<store::SqliteKvStore> OpenStore() {
    store::SqliteKvStore::Options o;
    o.durable = false;
    auto s = store::SqliteKvStore::Open(dir_ / "keyward.db", o);
    EXPECT_TRUE(s.has_value());
    return std::move(*s);
  }
  static RotateOptions Fast() {
    RotateOptions o;
    o.settle = std::chrono::milliseconds(0);
    o.rewrap.batch = 2;  // several batches even with a few rows
    return o;
  }
  static std::string Mode(const fs::path& p) {
    struct stat st {};
    ::stat(p.c_str(), &st);
    return std::to_string(st.st_mode & 0777);
  }

  fs::path dir_;
  crypto::Csprng random_;
};

using KeyringFile = TempDir;
using MasterKeyRotate = TempDir;

TEST_F(KeyringFile, FirstLoadCreatesOnePrimaryKeyWithMode0600AndThenReadsIt) {
  auto first = LoadOrCreateKeyring(dir_, random_);
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_TRUE(first->created);
  EXPECT_FALSE(first->from_env);
  ASSERT_EQ(first->keyring.keys.size(), 1u);
  EXPECT_EQ(first->keyring.primary, first->keyring.keys[0].id);
  EXPECT_EQ(first->keyring.primary, MasterKeyId(first->keyring.keys[0].key));
  EXPECT_EQ(Mode(dir_ / "master.key"), std::to_string(0600));

  auto second = LoadOrCreateKeyring(dir_, random_);
  ASSERT_TRUE(second.has_value());
  EXPECT_FALSE(second->created);
  EXPECT_EQ(second->keyring.primary, first->keyring.primary);
  EXPECT_EQ(second->keyring.keys[0].key.Reveal(), first->keyring.keys[0].key.Reveal());

  ::chmod((dir_ / "master.key").c_str(), 0640);
  auto loose = LoadOrCreateKeyring(dir_, random_);
  ASSERT_FALSE(loose.has_value());
  EXPECT_EQ(loose.error().code, ErrorCode::kPermissionDenied);
}

TEST_F(KeyringFile, ParsesItsOwnTextAndRejectsMalformedLines) {
  auto ring = AddPrimaryKey(LoadOrCreateKeyring(dir_, random_)->keyring, random_);
  ASSERT_TRUE(ring.has_value());
  const std::string text = KeyringFileText(*ring);
  auto parsed = ParseKeyringText(text);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_EQ(parsed->primary, ring->primary);
  ASSERT_EQ(parsed->keys.size(), 2u);
  EXPECT_EQ(parsed->keys[1].key.Reveal(), ring->keys[1].key.Reveal());

  const std::string key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
  EXPECT_TRUE(ParseKeyringText("a " + key + " primary\n\nb " + key + "\n").has_value());
  EXPECT_FALSE(ParseKeyringText("a " + key + "\n").has_value());  // no primary
  EXPECT_FALSE(ParseKeyringText("a " + key + " primary\nb " + key + " primary\n").has_value());
  EXPECT_FALSE(ParseKeyringText("a " + key + " main\n").has_value());
  EXPECT_FALSE(ParseKeyringText("a AAAA primary\n").has_value());  // not 32 bytes
  EXPECT_FALSE(ParseKeyringText(key + "\n").has_value());          // old single-key format
  auto bad = ParseKeyringText("a " + key + " primary\na " + key + "\n");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().message.find(key), std::string::npos);  // never echoes key material
}

TEST_F(KeyringFile, KeyFromTheEnvironmentIsTheOnlyPrimaryAndRotationRefusesIt) {
  ::setenv(kMasterKeyEnv, "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=", 1);
  auto loaded = LoadOrCreateKeyring(dir_, random_);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_TRUE(loaded->from_env);
  EXPECT_EQ(loaded->keyring.keys.size(), 1u);
  EXPECT_FALSE(fs::exists(dir_ / "master.key"));
  std::ostringstream out, err;
  EXPECT_EQ(RunMasterKeyRotate(dir_, out, err, Fast()), 1);
  EXPECT_NE(err.str().find("KEYWARD_MASTER_KEY"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir_ / "master.key"));
}

TEST_F(MasterKeyRotate, RefusesWithoutAKeyring) {
  std::ostringstream out, err;
  EXPECT_EQ(RunMasterKeyRotate(dir_, out, err, Fast()), 1);
  EXPECT_NE(err.str().find("start the server once"), std::string::npos);
}

TEST_F(MasterKeyRotate, RewrapsEveryEnvelopeAndLeavesOtherValuesAlone) {
  auto loaded = LoadOrCreateKeyring(dir_, random_);
  ASSERT_TRUE(loaded.has_value());
  const std::string old_id = loaded->keyring.primary;
  const crypto::Envelope before(std::move(loaded->keyring), random_);
  auto store = OpenStore();

  struct Row {
    std::string table, key, aad, plaintext;
  };
  const std::vector<Row> rows = {
      {"iam_access_keys", "AKIA1", "iam/access-key/AKIA1", "secret-1"},
      {"iam_access_keys", "AKIA2", "iam/access-key/AKIA2", "secret-2"},
      {"iam_access_keys", "AKIA3", "iam/access-key/AKIA3", "secret-3"},
      {"sts_sessions", "ASIA1", "sts/session/ASIA1", "session-secret"},
  };
  ASSERT_TRUE(store
                  ->Transact([&](store::Txn& txn) -> Status {
                    for (const auto& r : rows) {
                      json j = {{"id", r.key},
                                {"secret", before.Seal(r.plaintext, r.aad)},
                                {"tags", json::array({"kw2:not-an-envelope", 7})}};
                      KW_RETURN_IF_ERROR(Ok(txn.Put(r.table, r.key, j.dump())));
                    }
                    // Secret versions store the bare envelope, not JSON.
                    KW_RETURN_IF_ERROR(
                        Ok(txn.Put("sm_versions", "s1/v1", before.Seal("the value", "sm/s1/v1"))));
                    KW_RETURN_IF_ERROR(
                        Ok(txn.Put("iam_users", "alice", R"({"name":"alice","n":1})")));
                    return OkStatus();
                  })
                  .has_value());
  auto tables = store->ListTables();
  ASSERT_TRUE(tables.has_value());
  EXPECT_EQ(*tables, (std::vector<std::string>{"iam_access_keys", "iam_users", "sm_versions",
                                               "sts_sessions"}));
  const auto plain_before = store->Get("iam_users", "alice");

  std::ostringstream out, err;
  ASSERT_EQ(RunMasterKeyRotate(dir_, out, err, Fast()), 0) << err.str();
  EXPECT_NE(out.str().find("re-wrapped 5 data key(s) in 5 value(s) across 4 table(s)"),
            std::string::npos)
      << out.str();
  EXPECT_EQ(Mode(dir_ / "master.key"), std::to_string(0600));

  auto after_ring = ReadKeyringFile(dir_);
  ASSERT_TRUE(after_ring.has_value());
  ASSERT_EQ(after_ring->keys.size(), 2u);
  const std::string new_id = after_ring->primary;
  EXPECT_NE(new_id, old_id);
  EXPECT_NE(after_ring->Find(old_id), nullptr);  // old keys stay
  EXPECT_NE(out.str().find(new_id), std::string::npos);

  // Only the new key: proves the old one is no longer needed for any value.
  crypto::Keyring only_new;
  only_new.primary = new_id;
  only_new.keys.push_back({new_id, after_ring->Find(new_id)->key.Clone()});
  const crypto::Envelope after(std::move(only_new), random_);
  for (const auto& r : rows) {
    auto item = store->Get(r.table, r.key);
    ASSERT_TRUE(item.has_value() && item->has_value());
    const json j = json::parse((*item)->value);
    const std::string sealed = j.at("secret").get<std::string>();
    EXPECT_EQ(*crypto::Envelope::KeyIdOf(sealed), new_id);
    auto opened = after.Open(sealed, r.aad);
    ASSERT_TRUE(opened.has_value()) << r.key;
    EXPECT_EQ(opened->Reveal(), r.plaintext);
    EXPECT_FALSE(after.Open(sealed, "iam/access-key/OTHER").has_value());
    EXPECT_EQ(j.at("tags"), json::array({"kw2:not-an-envelope", 7}));
  }
  auto version = store->Get("sm_versions", "s1/v1");
  EXPECT_EQ(*crypto::Envelope::KeyIdOf((*version)->value), new_id);
  EXPECT_EQ(after.Open((*version)->value, "sm/s1/v1")->Reveal(), "the value");
  const auto plain_after = store->Get("iam_users", "alice");
  EXPECT_EQ((*plain_after)->value, (*plain_before)->value);
  EXPECT_EQ((*plain_after)->revision, (*plain_before)->revision);

  // Idempotent on the data; a second rotation moves everything to a third key.
  std::ostringstream out2, err2;
  ASSERT_EQ(RunMasterKeyRotate(dir_, out2, err2, Fast()), 0) << err2.str();
  EXPECT_NE(out2.str().find("re-wrapped 5 data key(s)"), std::string::npos) << out2.str();
  auto third = ReadKeyringFile(dir_);
  ASSERT_EQ(third->keys.size(), 3u);
  version = store->Get("sm_versions", "s1/v1");
  EXPECT_EQ(*crypto::Envelope::KeyIdOf((*version)->value), third->primary);
}

// A store whose first transaction is preceded by a write from "the server".
class InterferingStore final : public store::KvStore {
 public:
  InterferingStore(store::KvStore& inner, std::function<void()> before_first)
      : inner_(inner), before_first_(std::move(before_first)) {}
  Status Transact(const std::function<Status(store::Txn&)>& fn) override {
    if (before_first_) std::exchange(before_first_, nullptr)();
    return inner_.Transact(fn);
  }
  Result<std::optional<store::Item>> Get(std::string_view t, std::string_view k) override {
    return inner_.Get(t, k);
  }
  Result<std::vector<store::Item>> List(std::string_view t, const store::ListOptions& o) override {
    return inner_.List(t, o);
  }

 private:
  store::KvStore& inner_;
  std::function<void()> before_first_;
};

TEST_F(MasterKeyRotate, ConcurrentWriteIsKeptAndThenRewrapped) {
  auto loaded = LoadOrCreateKeyring(dir_, random_);
  const std::string old_id = loaded->keyring.primary;
  const crypto::Envelope old_env(loaded->keyring.Clone(), random_);
  auto next = AddPrimaryKey(loaded->keyring, random_);
  const crypto::Envelope new_env(std::move(*next), random_);
  auto store = OpenStore();
  ASSERT_TRUE(store
                  ->Transact([&](store::Txn& txn) {
                    return Ok(txn.Put("t", "k", json{{"s", old_env.Seal("v1", "a")}}.dump()));
                  })
                  .has_value());
  InterferingStore racing(*store, [&] {
    // The server rewrites the row (still under the old key) after the walk read it.
    ASSERT_TRUE(store
                    ->Transact([&](store::Txn& txn) {
                      return Ok(txn.Put("t", "k", json{{"s", old_env.Seal("v2", "a")}}.dump()));
                    })
                    .has_value());
  });
  auto stats = RewrapTables(racing, {"t"}, new_env);
  ASSERT_TRUE(stats.has_value()) << stats.error().message;
  EXPECT_EQ(stats->conflicts, 1);
  EXPECT_EQ(stats->values, 1);
  auto item = store->Get("t", "k");
  const std::string sealed = json::parse((*item)->value).at("s").get<std::string>();
  EXPECT_EQ(*crypto::Envelope::KeyIdOf(sealed), new_env.key_id());
  EXPECT_EQ(new_env.Open(sealed, "a")->Reveal(), "v2");  // the server's write survived
}

TEST_F(MasterKeyRotate, RunningServerEnvelopeLearnsTheNewKeyFromTheFile) {
  auto loaded = LoadOrCreateKeyring(dir_, random_);
  FakeClock clock(TimePoint(std::chrono::hours(100)));
  const fs::path dir = dir_;
  const crypto::Envelope server(
      std::move(loaded->keyring), random_, [dir] { return ReadKeyringFile(dir); }, &clock);
  auto store = OpenStore();
  ASSERT_TRUE(store
                  ->Transact([&](store::Txn& txn) {
                    return Ok(txn.Put("sm_versions", "x", server.Seal("v", "aad")));
                  })
                  .has_value());
  std::ostringstream out, err;
  ASSERT_EQ(RunMasterKeyRotate(dir_, out, err, Fast()), 0) << err.str();
  clock.Advance(std::chrono::seconds(2));  // the rotation's settle time
  auto item = store->Get("sm_versions", "x");
  auto opened = server.Open((*item)->value, "aad");
  ASSERT_TRUE(opened.has_value());
  EXPECT_EQ(opened->Reveal(), "v");
  EXPECT_EQ(server.key_id(), ReadKeyringFile(dir_)->primary);
}

}  // namespace
}  // namespace kw::server
