#include "rotation/failpoints.hpp"

#include <gtest/gtest.h>

namespace kw::rotation {
namespace {

TEST(FailpointsTest, InertUnlessConfigured) {
  Failpoints fp;
  EXPECT_TRUE(fp.Hit("rotation.after_create").has_value());
  fp.Set("rotation.after_create", {FailpointAction::kError});
  EXPECT_TRUE(fp.Hit("rotation.after_store").has_value());
  auto s = fp.Hit("rotation.after_create");
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, ErrorCode::kUnavailable);
  // times = 1: fires once.
  EXPECT_TRUE(fp.Hit("rotation.after_create").has_value());
  EXPECT_EQ(fp.Hits("rotation.after_create"), 2u);
}

TEST(FailpointsTest, CrashCarriesItsReasonAndSkipCounts) {
  Failpoints fp;
  ASSERT_TRUE(fp.Configure("rotation.after_store=crash@1").has_value());
  EXPECT_TRUE(fp.Hit("rotation.after_store").has_value());
  auto s = fp.Hit("rotation.after_store");
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().reason, kFailpointCrashReason);
}

TEST(FailpointsTest, ConfigureRejectsGarbageWithoutApplyingAnything) {
  Failpoints fp;
  EXPECT_FALSE(fp.Configure("a=error,b=explode").has_value());
  EXPECT_FALSE(fp.Configure("=error").has_value());
  EXPECT_FALSE(fp.Configure("a=error@x").has_value());
  EXPECT_TRUE(fp.Hit("a").has_value());
}

TEST(FailpointsTest, AbortKillsTheProcess) {
  Failpoints fp;
  fp.Set("p", {FailpointAction::kAbort});
  EXPECT_DEATH((void)fp.Hit("p"), "");
}

}  // namespace
}  // namespace kw::rotation
