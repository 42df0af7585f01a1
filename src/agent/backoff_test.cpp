#include "agent/backoff.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "crypto/csprng.hpp"

namespace kw::agent {
namespace {

using std::chrono::milliseconds;
using namespace std::chrono_literals;

// All-zero bytes: Uniform always draws 0, the shortest delay jitter may give.
class ZeroRandom : public Random {
 public:
  void Fill(std::uint8_t* out, std::size_t n) override { std::fill(out, out + n, 0); }
};

TEST(Backoff, HibernationDoublesFromFiveSecondsUpToAnHour) {
  crypto::Csprng random;
  Backoff b(5s, 1h, false, random);
  std::vector<milliseconds> seen;
  for (int i = 0; i < 12; ++i) seen.push_back(b.Next());
  EXPECT_EQ(seen[0], 5s);
  EXPECT_EQ(seen[1], 10s);
  EXPECT_EQ(seen[2], 20s);
  EXPECT_EQ(seen[9], 2560s);
  EXPECT_EQ(seen[10], 1h);
  EXPECT_EQ(seen[11], 1h);
  b.Reset();
  EXPECT_EQ(b.Next(), 5s);
}

TEST(Backoff, JitterStaysWithinHalfAndWholeOfTheNominalDelay) {
  crypto::Csprng random;
  Backoff b(1s, 5min, true, random);
  milliseconds nominal = 1s;
  for (int i = 0; i < 40; ++i) {
    const milliseconds d = b.Next();
    EXPECT_GE(d, nominal / 2) << i;
    EXPECT_LE(d, nominal) << i;
    nominal = std::min<milliseconds>(nominal * 2, 5min);
  }
  ZeroRandom zero;
  Backoff low(1s, 5min, true, zero);
  EXPECT_EQ(low.Next(), 500ms);  // never zero: no busy loop
  EXPECT_EQ(low.Next(), 1s);
  for (int i = 0; i < 20; ++i) low.Next();
  EXPECT_EQ(low.Next(), 150s);  // half of the 5 minute cap
}

}  // namespace
}  // namespace kw::agent
