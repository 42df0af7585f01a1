#pragma once

// Test doubles shared by the awsclient tests (header-only, used only by *_test.cpp).

#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "awsclient/http_client.hpp"
#include "common/random.hpp"

namespace kw::awsclient::testing {

// The value of the request's header `name` (exact case), "" if absent.
inline std::string Header(const ClientRequest& r, const std::string& name) {
  for (const auto& h : r.headers) {
    if (h.name == name) return h.value;
  }
  return {};
}

// Deterministic randomness: a seeded mt19937_64.
class SeededRandom final : public Random {
 public:
  explicit SeededRandom(std::uint64_t seed) : gen_(seed) {}
  void Fill(std::uint8_t* out, std::size_t n) override {
    std::lock_guard lock(mu_);
    for (std::size_t i = 0; i < n; i += 8) {
      const std::uint64_t x = gen_();
      std::memcpy(out + i, &x, std::min<std::size_t>(8, n - i));
    }
  }

 private:
  std::mutex mu_;
  std::mt19937_64 gen_;
};

// Answers each Send with the next scripted response (or transport error) and records
// the requests. Thread-safe.
class ScriptedTransport final : public HttpTransport {
 public:
  void Push(int status, std::string body) {
    std::lock_guard lock(mu_);
    script_.push_back(ClientResponse{status, {}, std::move(body)});
  }
  void PushError(Error e) {
    std::lock_guard lock(mu_);
    script_.push_back(std::move(e));
  }
  Result<ClientResponse> Send(const ClientRequest& request) override {
    std::lock_guard lock(mu_);
    requests.push_back(request);
    if (script_.empty()) return Unavailable("script exhausted");
    Result<ClientResponse> r = std::move(script_.front());
    script_.pop_front();
    return r;
  }
  std::vector<ClientRequest> requests;

 private:
  std::mutex mu_;
  std::deque<Result<ClientResponse>> script_;
};

inline std::string QueryErrorBody(const std::string& code) {
  return "<ErrorResponse><Error><Type>Sender</Type><Code>" + code +
         "</Code><Message>m</Message></Error><RequestId>r</RequestId></ErrorResponse>";
}

}  // namespace kw::awsclient::testing
