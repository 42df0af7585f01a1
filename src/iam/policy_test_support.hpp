#pragma once

// Test helpers shared by the policy, STS and API tests: a fake UserDirectory and a
// PolicyService fixture over the memory store. Header-only; for tests only.

#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "common/clock.hpp"
#include "common/strings.hpp"
#include "crypto/csprng.hpp"
#include "iam/ids.hpp"
#include "iam/policy_service.hpp"
#include "iam/principal.hpp"
#include "store/memory/memory_kv_store.hpp"

namespace kw::iam::testing {

inline constexpr std::string_view kTestAccount = "123456789012";

// Users by case-insensitive name. Thread-safe.
class FakeUserDirectory final : public UserDirectory {
 public:
  // Each call mints a new user ID, as AWS does for a user created again.
  UserSummary Add(std::string name, std::string path = "/") {
    std::lock_guard lock(mu_);
    UserSummary u;
    u.name = name;
    std::string serial = std::to_string(++created_);
    u.user_id = "AIDA" + std::string(17 - serial.size(), 'Q') + serial;
    u.path = path;
    u.arn = IamArn("aws", kTestAccount, "user", path, name);
    users_[ToLowerAscii(name)] = u;
    return u;
  }
  // UpdateUser's NewUserName: same user ID, new name and ARN.
  UserSummary Rename(std::string_view old_name, std::string new_name) {
    std::lock_guard lock(mu_);
    UserSummary u = users_.at(ToLowerAscii(old_name));
    users_.erase(ToLowerAscii(old_name));
    u.name = new_name;
    u.arn = IamArn("aws", kTestAccount, "user", u.path, new_name);
    users_[ToLowerAscii(new_name)] = u;
    return u;
  }
  void Remove(std::string_view name) {
    std::lock_guard lock(mu_);
    users_.erase(ToLowerAscii(name));
  }
  Result<UserSummary> FindUser(std::string_view name) override {
    std::lock_guard lock(mu_);
    auto it = users_.find(ToLowerAscii(name));
    if (it == users_.end()) {
      return NotFound("The user with name " + std::string(name) + " cannot be found.",
                      "NoSuchEntity");
    }
    return it->second;
  }

 private:
  std::mutex mu_;
  std::map<std::string, UserSummary> users_;  // guarded by mu_
  int created_ = 0;                           // guarded by mu_
};

// What a test of PolicyService, or of code built on it, starts from: a memory store, a
// fake clock at 2023-11-14T22:13:20Z, the real CSPRNG, a FakeUserDirectory and the
// service for account kTestAccount. Derive the fixture from it beside ::testing::Test:
// these members are constructed before the fixture's own, which may use them.
class PolicyServiceFixture {
 protected:
  Account account_{std::string(kTestAccount)};
  store::MemoryKvStore store_;
  FakeClock clock_{TimePoint(std::chrono::seconds(1700000000))};
  crypto::Csprng random_;
  FakeUserDirectory users_;
  PolicyService policies_{store_, clock_, random_, account_, users_};
};

inline Principal UserPrincipal(const UserSummary& u) {
  Principal p;
  p.type = PrincipalType::kUser;
  p.account_id = std::string(kTestAccount);
  p.arn = u.arn;
  p.user_id = u.user_id;
  p.name = u.name;
  p.access_key_id = "AKIAEXAMPLEEXAMPLE00";
  return p;
}

inline constexpr std::string_view kAllowAllDoc =
    R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]})";

inline std::string TrustDoc(std::string_view principal_aws) {
  return R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":")" +
         std::string(principal_aws) + R"("},"Action":"sts:AssumeRole"}]})";
}

inline std::string AllowDoc(std::string_view action, std::string_view resource) {
  return R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":")" +
         std::string(action) + R"(","Resource":")" + std::string(resource) + R"("}]})";
}

inline std::string DenyDoc(std::string_view action, std::string_view resource) {
  return R"({"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":")" +
         std::string(action) + R"(","Resource":")" + std::string(resource) + R"("}]})";
}

}  // namespace kw::iam::testing
