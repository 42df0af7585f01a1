#include "awsclient/rate_limiter.hpp"

#include <algorithm>
#include <cmath>

namespace kw::awsclient {

RateLimiter::RateLimiter(double rate, double burst, const Clock& clock, SleepFn sleep)
    : rate_(rate > 0 ? rate : 1.0),
      burst_(std::max(1.0, burst)),
      clock_(clock),
      sleep_(std::move(sleep)),
      tokens_(burst_),
      updated_(clock.Now()) {}

std::chrono::milliseconds RateLimiter::Acquire() {
  std::chrono::milliseconds wait{0};
  {
    std::lock_guard lock(mu_);
    const TimePoint now = clock_.Now();
    if (now > updated_) {
      const double elapsed = std::chrono::duration<double>(now - updated_).count();
      tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
      updated_ = now;
    }
    tokens_ -= 1.0;
    if (tokens_ < 0) {
      // The deficit is paid back at `rate` tokens per second.
      wait = std::chrono::milliseconds(
          static_cast<std::int64_t>(std::ceil(-tokens_ / rate_ * 1000.0)));
    }
  }
  if (wait.count() > 0) sleep_(wait);
  return wait;
}

}  // namespace kw::awsclient
