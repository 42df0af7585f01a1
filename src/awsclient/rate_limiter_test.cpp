#include "awsclient/rate_limiter.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace kw::awsclient {
namespace {

using std::chrono::milliseconds;

TEST(RateLimiterTest, BurstPassesThenCallsAreSpacedAtTheRate) {
  FakeClock clock(TimePoint(std::chrono::seconds(1000)));
  // Sleeping advances the fake clock, as time would.
  RateLimiter limiter(10.0, 2.0, clock, [&](milliseconds d) { clock.Advance(d); });
  const TimePoint start = clock.Now();
  EXPECT_EQ(limiter.Acquire().count(), 0);
  EXPECT_EQ(limiter.Acquire().count(), 0);
  EXPECT_EQ(limiter.Acquire().count(), 100);
  for (int i = 0; i < 7; ++i) limiter.Acquire();
  // 10 calls: 2 from the burst, 8 more at 10/s.
  EXPECT_EQ(std::chrono::duration_cast<milliseconds>(clock.Now() - start).count(), 800);
}

TEST(RateLimiterTest, IdleTimeRefillsOnlyUpToTheBurst) {
  FakeClock clock(TimePoint(std::chrono::seconds(1000)));
  RateLimiter limiter(5.0, 1.0, clock, [&](milliseconds d) { clock.Advance(d); });
  limiter.Acquire();
  clock.Advance(std::chrono::seconds(60));
  EXPECT_EQ(limiter.Acquire().count(), 0);
  EXPECT_EQ(limiter.Acquire().count(), 200);
}

TEST(RateLimiterTest, ConcurrentCallersShareOneBucket) {
  // The clock stands still and sleeping is recorded: each waiter's promised delay
  // must be distinct (one token each), so N callers wait 0..N-1 intervals in total.
  FakeClock clock(TimePoint(std::chrono::seconds(1000)));
  std::mutex mu;
  std::vector<long> waits;
  RateLimiter limiter(100.0, 1.0, clock, [](milliseconds) {});
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        const auto w = limiter.Acquire().count();
        std::lock_guard lock(mu);
        waits.push_back(w);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::sort(waits.begin(), waits.end());
  ASSERT_EQ(waits.size(), 40u);
  for (std::size_t i = 0; i < waits.size(); ++i) EXPECT_EQ(waits[i], 10 * static_cast<long>(i));
}

}  // namespace
}  // namespace kw::awsclient
