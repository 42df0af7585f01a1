#include "common/time_format.hpp"

#include <gtest/gtest.h>

namespace kw {
namespace {

TEST(TimeFormat, AmzDateRoundTrip) {
  auto t = ParseAmzDate("20150830T123600Z");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(FormatAmzDate(*t), "20150830T123600Z");
  EXPECT_EQ(FormatAmzDay(*t), "20150830");
  EXPECT_EQ(FormatIso8601(*t), "2015-08-30T12:36:00Z");
}

TEST(TimeFormat, RejectsMalformedAmzDates) {
  for (const char* bad :
       {"", "20150830T123600", "20150830 123600Z", "2015083aT123600Z", "20150231T000000Z",
        "20151330T000000Z", "20150830T246000Z", "99990830T000000Z"}) {
    EXPECT_FALSE(ParseAmzDate(bad).has_value()) << bad;
  }
}

TEST(TimeFormat, Iso8601AcceptsFractionsAndUtcOffsets) {
  const auto base = ParseIso8601("2026-11-29T10:00:00Z");
  ASSERT_TRUE(base.has_value());
  EXPECT_EQ(ParseIso8601("2026-11-29T10:00:00.123Z"), base);
  EXPECT_EQ(ParseIso8601("2026-11-29T10:00:00+00:00"), base);
  EXPECT_FALSE(ParseIso8601("2026-11-29T10:00:00+01:00").has_value());
  EXPECT_FALSE(ParseIso8601("2026-11-29").has_value());
  EXPECT_FALSE(ParseIso8601("5102-01-01T00:00:00Z").has_value());  // past time_point range
}

}  // namespace
}  // namespace kw
