#include "cli/json_commands.hpp"

#include <gtest/gtest.h>

namespace kw::cli {
namespace {

TEST(ParseDuration, AcceptsUnitsAndCombinations) {
  EXPECT_EQ(ParseDuration("90s"), std::chrono::seconds(90));
  EXPECT_EQ(ParseDuration("1h30m"), std::chrono::seconds(5400));
  EXPECT_EQ(ParseDuration("7d"), std::chrono::seconds(7 * 86400));
  EXPECT_EQ(ParseDuration("0s"), std::chrono::seconds(0));
}

TEST(ParseDuration, RefusesMissingUnitsJunkAndOverTenYears) {
  EXPECT_FALSE(ParseDuration(""));
  EXPECT_FALSE(ParseDuration("15"));
  EXPECT_FALSE(ParseDuration("1x"));
  EXPECT_FALSE(ParseDuration("-1h"));
  EXPECT_FALSE(ParseDuration("3651d"));
}

TEST(SplitList, SplitsOnNewlinesAndCommasDroppingEmpties) {
  EXPECT_EQ(SplitList("a,b\nc,,"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(SplitList("").empty());
}

TEST(IsoDate, FormatsEpochSecondsAndNullsTheRest) {
  EXPECT_EQ(IsoDate(nlohmann::json(0)), "1970-01-01T00:00:00Z");
  EXPECT_TRUE(IsoDate(nlohmann::json("x")).is_null());
}

}  // namespace
}  // namespace kw::cli
