#include <gtest/gtest.h>

#include "common/time_format.hpp"
#include "rotation/rotation_engine.hpp"

namespace kw::rotation {
namespace {

using std::chrono::hours;
using std::chrono::minutes;

TEST(RotationScheduleTest, MaxAgeCountsTheOverlapBackFromTheLimit) {
  const TimePoint created = *ParseIso8601("2026-01-01T00:00:00Z");
  const TimePoint due = NextDueForMaxAge(created, 90, hours(1), minutes(15), hours(1));
  EXPECT_EQ(due, *ParseIso8601("2026-04-01T00:00:00Z") - hours(2) - minutes(15));
}

TEST(RotationScheduleTest, QuietPeriodDefaultsDependOnUsageExactness) {
  RotationPolicy p;
  EXPECT_EQ(EffectiveQuietPeriod(p, true), minutes(15));
  EXPECT_EQ(EffectiveQuietPeriod(p, false), hours(4));
  p.quiet_period = minutes(3);
  EXPECT_EQ(EffectiveQuietPeriod(p, false), minutes(3));
}

}  // namespace
}  // namespace kw::rotation
