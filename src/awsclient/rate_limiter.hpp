#pragma once

// Client-side pacing: a token bucket that lets at most `rate` calls per second through
// on average, with bursts of up to `burst`. Every call of one client (every thread)
// takes its token from the same bucket, so a configured "10 calls/s" holds for the
// whole process, not per thread. Callers that find the bucket empty reserve the next
// token and sleep until it is due (first come, first served), outside the lock.

#include <chrono>
#include <mutex>

#include "awsclient/retry.hpp"
#include "common/clock.hpp"

namespace kw::awsclient {

// Thread-safe. The clock and sleep are injected (FakeClock in tests).
class RateLimiter {
 public:
  // rate > 0 calls per second; burst >= 1. The bucket starts full.
  RateLimiter(double rate, double burst, const Clock& clock, SleepFn sleep);

  // Blocks until the caller may make one call; returns how long it waited.
  std::chrono::milliseconds Acquire();

  double rate() const { return rate_; }

 private:
  const double rate_;
  const double burst_;
  const Clock& clock_;
  SleepFn sleep_;
  std::mutex mu_;
  double tokens_;      // guarded by mu_; negative = tokens already promised to waiters
  TimePoint updated_;  // guarded by mu_
};

}  // namespace kw::awsclient
