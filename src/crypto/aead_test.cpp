#include "crypto/aead.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "crypto/csprng.hpp"

namespace kw::crypto {
namespace {

Keyring::Key NewKey(std::string id, Random& random) {
  return {std::move(id), SecretBytes(random.Bytes(kAeadKeySize))};
}

// Keys are move-only, so no initializer_list.
template <typename... Keys>
Keyring Ring(std::string primary, Keys&&... keys) {
  Keyring ring;
  (ring.keys.push_back(std::forward<Keys>(keys)), ...);
  ring.primary = std::move(primary);
  return ring;
}

Keyring::Key K(std::string id, const SecretBytes& key) { return {std::move(id), key.Clone()}; }

std::string Reason(const Result<SecretBytes>& r) { return r.has_value() ? "ok" : r.error().reason; }

TEST(Envelope, BindsCiphertextToItsAssociatedData) {
  Csprng random;
  Envelope env("mk-1", SecretBytes(random.Bytes(32)), random);
  const std::string sealed = env.Seal("wJalrXUtnFEMI/K7MDENG", "iam/access-key/AKIA1");
  EXPECT_EQ(sealed.rfind("kw2:mk-1:", 0), 0u);
  EXPECT_EQ(sealed.find("wJalrXUtnFEMI"), std::string::npos);
  auto opened = env.Open(sealed, "iam/access-key/AKIA1");
  ASSERT_TRUE(opened.has_value());
  EXPECT_EQ(opened->Reveal(), "wJalrXUtnFEMI/K7MDENG");
  auto moved = env.Open(sealed, "iam/access-key/AKIA2");
  ASSERT_FALSE(moved.has_value());
  EXPECT_EQ(moved.error().reason, "DecryptionFailure");
  Envelope other("mk-1", SecretBytes(random.Bytes(32)), random);
  EXPECT_FALSE(other.Open(sealed, "iam/access-key/AKIA1").has_value());
  // A character outside base64's last quantum, so all six of its bits are significant.
  std::string flipped = sealed;
  char& c = flipped[flipped.size() - 10];
  c = c == 'A' ? 'B' : 'A';
  EXPECT_FALSE(env.Open(flipped, "iam/access-key/AKIA1").has_value());
  // A flipped byte in the wrapped data key fails too.
  std::string flipped_wrap = sealed;
  char& w = flipped_wrap[std::string("kw2:mk-1:").size() + 20];
  w = w == 'A' ? 'B' : 'A';
  EXPECT_FALSE(env.Open(flipped_wrap, "iam/access-key/AKIA1").has_value());
  auto not_envelope = env.Open("not an envelope", "x");
  ASSERT_FALSE(not_envelope.has_value());
  EXPECT_EQ(not_envelope.error().code, ErrorCode::kInvalidArgument);
}

TEST(Keyring, ValidateRejectsBadRings) {
  Csprng random;
  EXPECT_TRUE(Ring("a", NewKey("a", random)).Validate().has_value());
  EXPECT_FALSE(Ring("a").Validate().has_value());
  EXPECT_FALSE(Ring("b", NewKey("a", random)).Validate().has_value());
  EXPECT_FALSE(Ring("a", NewKey("a", random), NewKey("a", random)).Validate().has_value());
  EXPECT_FALSE(Ring("a:b", NewKey("a:b", random)).Validate().has_value());
  EXPECT_FALSE(
      Ring("a", Keyring::Key{"a", SecretBytes(std::string(16, 'k'))}).Validate().has_value());
}

TEST(Envelope, RotatedPrimaryOpensOldAndNewAndRewrapMovesToIt) {
  Csprng random;
  Keyring::Key a = NewKey("mk-a", random);
  Keyring::Key b = NewKey("mk-b", random);
  SecretBytes a_copy = a.key.Clone();
  SecretBytes b_copy = b.key.Clone();
  Envelope env(Ring("mk-a", std::move(a)), random);
  const std::string old_text = env.Seal("value", "row/1");
  EXPECT_EQ(env.key_id(), "mk-a");

  ASSERT_TRUE(env.Reload(Ring("mk-b", K("mk-a", a_copy), std::move(b))).has_value());
  EXPECT_EQ(env.key_id(), "mk-b");
  const std::string new_text = env.Seal("value2", "row/2");
  EXPECT_EQ(*Envelope::KeyIdOf(new_text), "mk-b");
  EXPECT_EQ(env.Open(old_text, "row/1")->Reveal(), "value");
  EXPECT_EQ(env.Open(new_text, "row/2")->Reveal(), "value2");

  auto rewrapped = env.Rewrap(old_text);
  ASSERT_TRUE(rewrapped.has_value());
  EXPECT_EQ(*Envelope::KeyIdOf(*rewrapped), "mk-b");
  // The sealed value is untouched; only the wrapped data key changed.
  EXPECT_EQ(rewrapped->substr(rewrapped->rfind(':')), old_text.substr(old_text.rfind(':')));
  EXPECT_EQ(env.Open(*rewrapped, "row/1")->Reveal(), "value");
  EXPECT_FALSE(env.Open(*rewrapped, "row/2").has_value());  // still bound to its aad
  EXPECT_EQ(*env.Rewrap(*rewrapped), *rewrapped);           // already on the primary

  // Key B alone opens the re-wrapped text but not the old one.
  Envelope only_b(Ring("mk-b", K("mk-b", b_copy)), random);
  EXPECT_EQ(only_b.Open(*rewrapped, "row/1")->Reveal(), "value");
  auto unknown = only_b.Open(old_text, "row/1");
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(unknown.error().reason, "DecryptionFailure");
  EXPECT_FALSE(only_b.Rewrap(old_text).has_value());
}

TEST(Envelope, CachedDataKeysStillCheckAadAndDieWithTheirMasterKey) {
  Csprng random;
  Keyring::Key a = NewKey("mk-a", random);
  Keyring::Key b = NewKey("mk-b", random);
  Envelope env(Ring("mk-a", std::move(a)), random);
  const std::string text = env.Seal("value", "row/1");
  ASSERT_EQ(env.Open(text, "row/1")->Reveal(), "value");  // unwraps and caches the data key
  // A cached data key must not weaken the checks on the sealed part.
  EXPECT_EQ(env.Open(text, "row/1")->Reveal(), "value");
  EXPECT_EQ(Reason(env.Open(text, "row/2")), "DecryptionFailure");
  std::string tampered = text;
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(env.Open(tampered, "row/1").has_value());
  // Once mk-a leaves the keyring, its values stop opening, cached or not.
  ASSERT_TRUE(env.Reload(Ring("mk-b", std::move(b))).has_value());
  EXPECT_EQ(Reason(env.Open(text, "row/1")), "DecryptionFailure");
}

TEST(Envelope, RenamedKeyIdFailsToOpen) {
  Csprng random;
  Keyring::Key a = NewKey("mk-a", random);
  Keyring::Key a_again{"mk-z", a.key.Clone()};
  Envelope env(Ring("mk-a", std::move(a), std::move(a_again)), random);
  const std::string text = env.Seal("v", "aad");
  // Same key bytes under another id: the wrap's aad names the id, so this fails.
  std::string renamed = "kw2:mk-z:" + text.substr(std::string("kw2:mk-a:").size());
  EXPECT_FALSE(env.Open(renamed, "aad").has_value());
  EXPECT_TRUE(env.Open(text, "aad").has_value());
}

TEST(Envelope, ReloadsOnUnknownKeyAtMostOncePerInterval) {
  Csprng random;
  FakeClock clock(TimePoint(std::chrono::hours(1000)));
  Keyring::Key a = NewKey("mk-a", random);
  Keyring::Key b = NewKey("mk-b", random);
  SecretBytes a_copy = a.key.Clone();
  SecretBytes b_copy = b.key.Clone();
  // The "file" the hook reads; starts with A only.
  Keyring file = Ring("mk-a", std::move(a));
  int reloads = 0;
  auto hook = [&]() -> Result<Keyring> {
    ++reloads;
    Keyring copy;
    copy.primary = file.primary;
    for (const auto& k : file.keys) copy.keys.push_back({k.id, k.key.Clone()});
    return copy;
  };
  Envelope server(*hook(), random, hook, &clock);
  const std::string before = server.Seal("old", "r");  // Seal may reload too
  EXPECT_EQ(*Envelope::KeyIdOf(before), "mk-a");
  clock.Advance(std::chrono::seconds(5));
  reloads = 0;

  // Another process rotates: B primary, A kept.
  Envelope rotator(Ring("mk-b", K("mk-a", a_copy), std::move(b)), random);
  const std::string after = rotator.Seal("new", "r");
  const std::string garbage = "kw2:mk-x:" + after.substr(std::string("kw2:mk-b:").size());

  // Unknown id before the file changed: one reload, nothing learnt.
  EXPECT_FALSE(server.Open(after, "r").has_value());
  EXPECT_EQ(reloads, 1);
  file = Ring("mk-b", K("mk-a", a_copy), K("mk-b", b_copy));
  // Within the interval: no second reload, still fails.
  clock.Advance(std::chrono::milliseconds(500));
  EXPECT_FALSE(server.Open(after, "r").has_value());
  EXPECT_EQ(reloads, 1);
  // After the interval: reloads once and opens.
  clock.Advance(std::chrono::milliseconds(600));
  auto opened = server.Open(after, "r");
  ASSERT_TRUE(opened.has_value());
  EXPECT_EQ(opened->Reveal(), "new");
  EXPECT_EQ(reloads, 2);
  // Known ids never reload; writes now seal with the new primary.
  EXPECT_EQ(server.Open(before, "r")->Reveal(), "old");
  EXPECT_EQ(*Envelope::KeyIdOf(server.Seal("x", "r")), "mk-b");
  EXPECT_EQ(reloads, 2);
  // Garbage ids cannot force a file read per request.
  EXPECT_FALSE(server.Open(garbage, "r").has_value());
  EXPECT_FALSE(server.Open(garbage, "r").has_value());
  EXPECT_EQ(reloads, 2);
}

TEST(Envelope, SealMovesToANewPrimaryWithinOneInterval) {
  Csprng random;
  FakeClock clock(TimePoint(std::chrono::hours(1000)));
  Keyring::Key a = NewKey("mk-a", random);
  Keyring::Key b = NewKey("mk-b", random);
  std::string primary = "mk-a";
  int reloads = 0;
  auto hook = [&]() -> Result<Keyring> {
    ++reloads;
    return Ring(primary, K("mk-a", a.key), K("mk-b", b.key));
  };
  Envelope env(*hook(), random, hook, &clock);
  EXPECT_EQ(*Envelope::KeyIdOf(env.Seal("v", "r")), "mk-a");
  primary = "mk-b";  // the rotation rewrites the file
  clock.Advance(std::chrono::milliseconds(300));
  EXPECT_EQ(*Envelope::KeyIdOf(env.Seal("v", "r")), "mk-a");  // within the interval
  clock.Advance(std::chrono::milliseconds(800));
  const int before = reloads;
  EXPECT_EQ(*Envelope::KeyIdOf(env.Seal("v", "r")), "mk-b");
  EXPECT_EQ(reloads, before + 1);
  EXPECT_EQ(*Envelope::KeyIdOf(env.Seal("v", "r")), "mk-b");
  EXPECT_EQ(reloads, before + 1);
}

TEST(Envelope, InvalidReloadResultKeepsTheKeyring) {
  Csprng random;
  FakeClock clock(TimePoint(std::chrono::hours(1)));
  Keyring::Key a = NewKey("mk-a", random);
  Envelope env(
      Ring("mk-a", std::move(a)), random, []() -> Result<Keyring> { return Keyring{}; }, &clock);
  const std::string text = env.Seal("v", "r");
  EXPECT_FALSE(env.Open("kw2:mk-q:" + text.substr(9), "r").has_value());
  EXPECT_EQ(env.Open(text, "r")->Reveal(), "v");
  EXPECT_FALSE(env.Reload(Keyring{}).has_value());
  EXPECT_EQ(env.key_id(), "mk-a");
}

TEST(Envelope, ConcurrentSealOpenAndReload) {
  Csprng random;
  Keyring::Key a = NewKey("mk-a", random);
  SecretBytes a_copy = a.key.Clone();
  Envelope env(Ring("mk-a", std::move(a)), random);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&env] {
      for (int i = 0; i < 200; ++i) {
        const std::string s = env.Seal("v", "r");
        ASSERT_TRUE(env.Open(s, "r").has_value());
      }
    });
  }
  SecretBytes b_key(random.Bytes(kAeadKeySize));
  for (int i = 0; i < 50; ++i) {
    // Both keys stay in every keyring, so whatever a thread sealed under either
    // primary still opens after the next swap.
    Keyring ring = Ring(i % 2 == 0 ? "mk-a" : "mk-b", K("mk-a", a_copy), K("mk-b", b_key));
    ASSERT_TRUE(env.Reload(std::move(ring)).has_value());
  }
  for (auto& t : threads) t.join();
}

}  // namespace
}  // namespace kw::crypto
