#pragma once

// Test doubles for the rotation engine's ports, shared by the tests that need an engine
// whose policies validate but whose steps never succeed (the composition root's glue,
// `rotate --once`'s loop). Header-only, for *_test.cpp files.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rotation/issuer.hpp"
#include "rotation/secret_target.hpp"

namespace kw::rotation::test_support {

// An issuer with no keys whose every change fails kUnavailable: registered so that
// policies validate; a step that reaches it fails and is retried.
class InertIssuer final : public Issuer {
 public:
  bool exact_usage() const override { return true; }
  bool observes_rejected() const override { return true; }
  std::size_t max_keys_per_user() const override { return 2; }
  Result<std::vector<IssuedKey>> ListKeys(std::string_view) override {
    return std::vector<IssuedKey>{};
  }
  Result<CreatedKey> CreateKey(std::string_view) override { return Unavailable("inert issuer"); }
  Status SetStatus(std::string_view, std::string_view, KeyStatus) override {
    return Unavailable("inert issuer");
  }
  Status DeleteKey(std::string_view, std::string_view) override {
    return Unavailable("inert issuer");
  }
  Result<KeyUsage> Usage(std::string_view) override { return KeyUsage{}; }
  Result<bool> TestKey(std::string_view, const SecretBytes&) override { return false; }
};

// A secret target that is down (every call kUnavailable) unless `current` is set, in
// which case GetCurrent returns it as version "v1"; changes always fail.
class InertTarget final : public SecretTarget {
 public:
  std::optional<std::string> current;

  Result<SecretVersion> GetCurrent(std::string_view) override {
    if (!current) return Unavailable("secrets endpoint down");
    return SecretVersion{"v1", SecretBytes(*current)};
  }
  Result<std::optional<SecretVersion>> GetVersion(std::string_view, std::string_view) override {
    return Unavailable("secrets endpoint down");
  }
  Status PutPending(std::string_view, std::string_view, const SecretBytes&) override {
    return Unavailable("secrets endpoint down");
  }
  Status Promote(std::string_view, std::string_view) override {
    return Unavailable("secrets endpoint down");
  }
};

}  // namespace kw::rotation::test_support
