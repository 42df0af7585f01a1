#pragma once

// The built-in rotation services over one memory store and a fake clock, as the engine
// tests use them: IAM users, secrets, the built-in issuer and secret target. A test
// fixture derives from ::testing::Test and from BuiltinServices, and builds engines
// over these members (they outlive any engine, so a test can "crash" an engine and
// build another over the same store). Header-only, for *_test.cpp files.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "common/time_format.hpp"
#include "crypto/csprng.hpp"
#include "rotation/builtin/iam_issuer.hpp"
#include "rotation/builtin/secrets_target.hpp"
#include "rotation/rotation_engine.hpp"
#include "store/memory/memory_kv_store.hpp"

namespace kw::rotation::test_support {

class BuiltinServices {
 protected:
  BuiltinServices()
      : clock_(*ParseIso8601("2026-03-01T10:00:00Z")),
        envelope_("test-master", SecretBytes(random_.Bytes(32)), random_),
        users_(store_, envelope_, clock_, random_, iam::Account{"123456789012"}),
        secrets_(store_, envelope_, clock_, random_, iam::Account{"123456789012"}),
        issuer_(users_, clock_, &attempts_),
        target_(secrets_) {}

  struct SeededUser {
    std::string access_key_id;
    std::string version_id;  // the secret's first version, holding that key
  };

  // Creates `user` with one access key and the secret `secret_name` holding it in the
  // seed's JSON (plus `extra` members).
  SeededUser SeedUser(const std::string& user, const std::string& secret_name,
                      nlohmann::json extra = nlohmann::json::object()) {
    EXPECT_TRUE(users_.CreateUser({user, std::nullopt, {}}).has_value());
    auto k = users_.CreateAccessKey(user, nullptr);
    EXPECT_TRUE(k.has_value());
    if (!k) return {};
    nlohmann::json value = std::move(extra);
    value["aws_access_key_id"] = k->metadata.access_key_id;
    value["aws_secret_access_key"] = std::string(k->secret_access_key.Reveal());
    secrets::CreateSecretRequest cs;
    cs.name = secret_name;
    cs.value = secrets::SecretValueInput{false, SecretBytes(value.dump())};
    auto created = secrets_.CreateSecret(cs);
    EXPECT_TRUE(created.has_value());
    return {k->metadata.access_key_id, created ? created->version_id : std::string()};
  }

  // Registers the built-in issuer and secret target as "builtin".
  void RegisterBuiltins(RotationEngine& engine) {
    engine.RegisterIssuer("builtin", issuer_);
    engine.RegisterSecretTarget("builtin", target_);
  }

  crypto::Csprng random_;
  FakeClock clock_;
  store::MemoryKvStore store_;
  crypto::Envelope envelope_;
  iam::UserService users_;
  secrets::SecretService secrets_;
  builtin::KeyAttemptLog attempts_;
  builtin::IamIssuer issuer_;
  builtin::SecretsTarget target_;
};

}  // namespace kw::rotation::test_support
