#include "awsclient/retry.hpp"

#include <algorithm>
#include <array>
#include <thread>

namespace kw::awsclient {

SleepFn RealSleep() {
  return [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
}

bool IsThrottlingReason(std::string_view reason) {
  static constexpr std::array<std::string_view, 8> kThrottling = {"Throttling",
                                                                  "ThrottlingException",
                                                                  "ThrottledException",
                                                                  "TooManyRequestsException",
                                                                  "RequestLimitExceeded",
                                                                  "RequestThrottled",
                                                                  "RequestThrottledException",
                                                                  "SlowDown"};
  return std::find(kThrottling.begin(), kThrottling.end(), reason) != kThrottling.end();
}

bool IsRetryable(const Error& error, Idempotency idempotency) {
  if (IsThrottlingReason(error.reason)) return true;
  return idempotency == Idempotency::kIdempotent && error.code == ErrorCode::kUnavailable;
}

RetryPolicy::RetryPolicy(RetryOptions options, Random& random, SleepFn sleep)
    : options_(options), random_(random), sleep_(std::move(sleep)) {
  options_.max_attempts = std::max(1, options_.max_attempts);
}

std::chrono::milliseconds RetryPolicy::Delay(int retry) const {
  // base * 2^retry, saturating at cap (and before the shift could overflow).
  const auto cap = std::max<std::int64_t>(0, options_.cap.count());
  std::int64_t ceiling = std::max<std::int64_t>(0, options_.base.count());
  for (int i = 0; i < retry && ceiling < cap; ++i) ceiling *= 2;
  ceiling = std::min(ceiling, cap);
  if (ceiling <= 0) return std::chrono::milliseconds(0);
  return std::chrono::milliseconds(
      static_cast<std::int64_t>(random_.Uniform(static_cast<std::uint64_t>(ceiling) + 1)));
}

}  // namespace kw::awsclient
