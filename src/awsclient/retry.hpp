#pragma once

// Retries of AWS calls: which failures are worth another attempt, and full-jitter
// exponential back-off between attempts (the AWS SDKs' "standard" mode): attempt n
// (0-based) waits a uniform random time in [0, min(cap, base * 2^n)], so many clients
// throttled together do not retry in lockstep. Randomness and sleeping are injected,
// so tests neither sleep nor depend on chance.

#include <chrono>
#include <functional>
#include <string_view>

#include "common/random.hpp"
#include "common/result.hpp"

namespace kw::awsclient {

using SleepFn = std::function<void(std::chrono::milliseconds)>;

// A sleep that really sleeps (std::this_thread::sleep_for).
SleepFn RealSleep();

struct RetryOptions {
  int max_attempts = 8;  // including the first; 1 disables retries
  std::chrono::milliseconds base{100};
  std::chrono::milliseconds cap{20000};
};

// The AWS error codes that mean "slow down": the request was refused before it did
// anything, so even a non-idempotent call may be sent again.
bool IsThrottlingReason(std::string_view reason);

// How sure we are that a failed call had no effect.
enum class Idempotency {
  // Repeating the call is harmless (reads, Delete, Update to a fixed value): retry
  // throttling, 5xx and transport failures (timeouts included).
  kIdempotent,
  // Repeating it could do the thing twice (CreateAccessKey): retry only throttling,
  // where the service says it did nothing. A timeout or 5xx is returned to the caller,
  // who knows how to find out what happened (the rotation engine's orphan rule).
  kNotIdempotent,
};

// Whether an error is worth another attempt: a throttling reason always; kUnavailable
// (5xx, transport failure, timeout) only for idempotent calls. Other 4xx never.
bool IsRetryable(const Error& error, Idempotency idempotency);

// Thread-safe (Random is; the SleepFn must be).
class RetryPolicy {
 public:
  RetryPolicy(RetryOptions options, Random& random, SleepFn sleep);

  // Back-off before retry number `retry` (0 = after the first failure).
  std::chrono::milliseconds Delay(int retry) const;

  // Runs `attempt` until it succeeds, fails with a non-retryable error, or
  // max_attempts is reached; returns the last result. The last error is returned as
  // is, its message prefixed with the number of attempts when there were several.
  template <typename T>
  Result<T> Run(Idempotency idempotency, const std::function<Result<T>()>& attempt) const {
    for (int n = 1;; ++n) {
      Result<T> r = attempt();
      if (r || !IsRetryable(r.error(), idempotency)) return r;
      if (n >= options_.max_attempts) {
        if (n > 1) {
          Error e = r.error();
          e.message = "after " + std::to_string(n) + " attempts: " + e.message;
          return e;
        }
        return r;
      }
      sleep_(Delay(n - 1));
    }
  }

  const RetryOptions& options() const { return options_; }

 private:
  RetryOptions options_;
  Random& random_;
  SleepFn sleep_;
};

}  // namespace kw::awsclient
