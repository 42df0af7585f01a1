#include "schedule/schedule.hpp"

#include <gtest/gtest.h>

#include "common/time_format.hpp"

namespace kw::schedule {
namespace {

TimePoint T(const char* iso) { return *ParseIso8601(iso); }

std::shared_ptr<const TimeZone> Zone(const char* name) {
  auto z = TimeZoneCache::Default().Get(name);
  EXPECT_TRUE(z.has_value()) << name;
  return z ? *z : TimeZone::Utc();
}

std::string Next(const char* expr, const char* after, const char* zone = "UTC") {
  auto s = Schedule::Parse(expr);
  if (!s) return "ERR " + s.error().message;
  auto t = s->NextAfter(T(after), *Zone(zone));
  return t ? FormatIso8601(*t) : "none";
}

TEST(ScheduleParse, RejectsMalformed) {
  for (const char* bad : {"",
                          "cron()",
                          "cron(0 9 * * * *)",
                          "cron(0 9 ? * ? *)",
                          "cron(0 9 * *)",
                          "cron(60 9 ? * * *)",
                          "cron(0 24 ? * * *)",
                          "cron(0 9 32 * ? *)",
                          "cron(0 9 ? 13 * *)",
                          "cron(0 9 ? * 8 *)",
                          "cron(0 9 ? * * 1969)",
                          "cron(0 9 ? * * 2200)",
                          "cron(0 9 ? * MON#6 *)",
                          "cron(0 9 ? * FOO *)",
                          "cron(*/0 9 ? * * *)",
                          "cron(0 9 ? * * 2030-2020)",
                          "rate(1 minutes)",
                          "rate(5 minute)",
                          "rate(0 days)",
                          "rate(-1 days)",
                          "rate(5 weeks)",
                          "rate(5)",
                          "rate(05 days)",
                          "at(2026-02-30T10:00:00)",
                          "at(2026-01-01 10:00:00)",
                          "at(2026-01-01T10:00)",
                          "daily",
                          "cron(0 9 ? * * *",
                          "cron(0 9 0W * ? *)",
                          "cron(0 9 L-3 * ? *)"}) {
    auto s = Schedule::Parse(bad);
    ASSERT_FALSE(s.has_value()) << bad;
    EXPECT_EQ(s.error().reason, "ValidationException") << bad;
    EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  }
}

TEST(ScheduleParse, AcceptsAwsExamples) {
  for (const char* ok : {"cron(0 10 * * ? *)",
                         "cron(15 12 * * ? *)",
                         "cron(0 18 ? * MON-FRI *)",
                         "cron(0 8 1 * ? *)",
                         "cron(0/15 * * * ? *)",
                         "cron(0/10 * ? * MON-FRI *)",
                         "cron(0/5 8-17 ? * MON-FRI *)",
                         "cron(30 23 ? * TUE#3 *)",
                         "cron(0 9 L * ? *)",
                         "cron(0 9 LW * ? *)",
                         "cron(0 9 15W * ? *)",
                         "cron(0 9 ? * 6L *)",
                         "cron(0 9 ? * L *)",
                         "cron(0 0 9 ? * FRI *)",
                         "cron(0 9 ? * fri-mon 2026,2027)",
                         "rate(1 minute)",
                         "rate(30 minutes)",
                         "rate(1 hour)",
                         "rate(2 hours)",
                         "rate(1 day)",
                         "rate(7 days)",
                         "at(2026-07-07T15:55:00)"}) {
    EXPECT_TRUE(Schedule::Parse(ok).has_value()) << ok;
  }
}

TEST(ScheduleNext, CronUtc) {
  EXPECT_EQ(Next("cron(0 10 * * ? *)", "2026-03-01T09:00:00Z"), "2026-03-01T10:00:00Z");
  EXPECT_EQ(Next("cron(0 10 * * ? *)", "2026-03-01T10:00:00Z"), "2026-03-02T10:00:00Z");
  EXPECT_EQ(Next("cron(0/15 * * * ? *)", "2026-03-01T10:07:30Z"), "2026-03-01T10:15:00Z");
  // 2026-03-06 is a Friday.
  EXPECT_EQ(Next("cron(0 18 ? * MON-FRI *)", "2026-03-06T18:00:00Z"), "2026-03-09T18:00:00Z");
  EXPECT_EQ(Next("cron(0 18 ? * FRI-MON *)", "2026-03-06T18:00:00Z"), "2026-03-07T18:00:00Z");
  // Third Tuesday of March 2026 is the 17th.
  EXPECT_EQ(Next("cron(30 23 ? * TUE#3 *)", "2026-03-01T00:00:00Z"), "2026-03-17T23:30:00Z");
  // Last day, last weekday (2026-02-28 is a Saturday), last Friday.
  EXPECT_EQ(Next("cron(0 9 L * ? *)", "2026-02-01T00:00:00Z"), "2026-02-28T09:00:00Z");
  EXPECT_EQ(Next("cron(0 9 LW * ? *)", "2026-02-01T00:00:00Z"), "2026-02-27T09:00:00Z");
  EXPECT_EQ(Next("cron(0 9 ? * 6L *)", "2026-02-01T00:00:00Z"), "2026-02-27T09:00:00Z");
  // 2026-03-15 is a Sunday: nearest weekday Monday the 16th; 2026-08-01 is a Saturday:
  // 1W stays in the month (Monday the 3rd).
  EXPECT_EQ(Next("cron(0 9 15W * ? *)", "2026-03-01T00:00:00Z"), "2026-03-16T09:00:00Z");
  EXPECT_EQ(Next("cron(0 9 1W 8 ? *)", "2026-07-01T00:00:00Z"), "2026-08-03T09:00:00Z");
  // Leap day only, and years that end.
  EXPECT_EQ(Next("cron(0 0 29 2 ? *)", "2026-03-01T00:00:00Z"), "2028-02-29T00:00:00Z");
  EXPECT_EQ(Next("cron(0 0 1 1 ? 2027)", "2027-06-01T00:00:00Z"), "none");
  EXPECT_EQ(Next("cron(0 0 30 2 ? *)", "2026-01-01T00:00:00Z"), "none");
  // Optional seconds field.
  EXPECT_EQ(Next("cron(0 30 23 ? * TUE#3 *)", "2026-03-01T00:00:00Z"), "2026-03-17T23:30:00Z");
}

TEST(ScheduleNext, CronInTokyo) {
  // 09:00 JST is 00:00 UTC; Japan has no DST.
  EXPECT_EQ(Next("cron(0 9 * * ? *)", "2026-03-01T01:00:00Z", "Asia/Tokyo"),
            "2026-03-02T00:00:00Z");
  EXPECT_EQ(Next("cron(0 9 ? * MON *)", "2026-07-01T00:00:00Z", "Asia/Tokyo"),
            "2026-07-06T00:00:00Z");
}

TEST(ScheduleNext, CronInNewYorkAcrossDst) {
  // EST (UTC-5) before 2026-03-08, EDT (UTC-4) after.
  EXPECT_EQ(Next("cron(0 9 * * ? *)", "2026-03-07T15:00:00Z", "America/New_York"),
            "2026-03-08T13:00:00Z");
  EXPECT_EQ(Next("cron(0 9 * * ? *)", "2026-03-06T15:00:00Z", "America/New_York"),
            "2026-03-07T14:00:00Z");
  // The gap: 02:30 does not exist on 2026-03-08; it fires when the gap ends (03:00 EDT).
  EXPECT_EQ(Next("cron(30 2 * * ? *)", "2026-03-08T05:00:00Z", "America/New_York"),
            "2026-03-08T07:00:00Z");
  EXPECT_EQ(Next("cron(30 2 * * ? *)", "2026-03-08T07:00:00Z", "America/New_York"),
            "2026-03-09T06:30:00Z");
  // Every 15 minutes through the gap: 01:45 EST, then 03:00 EDT once, then 03:15.
  EXPECT_EQ(Next("cron(0/15 * * * ? *)", "2026-03-08T06:45:00Z", "America/New_York"),
            "2026-03-08T07:00:00Z");
  EXPECT_EQ(Next("cron(0/15 * * * ? *)", "2026-03-08T07:00:00Z", "America/New_York"),
            "2026-03-08T07:15:00Z");
  // The overlap: 01:30 happens twice on 2026-11-01 (EDT then EST); it fires once, at the
  // first one (05:30Z), and not at the second (06:30Z).
  EXPECT_EQ(Next("cron(30 1 * * ? *)", "2026-11-01T04:00:00Z", "America/New_York"),
            "2026-11-01T05:30:00Z");
  EXPECT_EQ(Next("cron(30 1 * * ? *)", "2026-11-01T05:30:00Z", "America/New_York"),
            "2026-11-02T06:30:00Z");
  // Far in the future the footer rule applies.
  EXPECT_EQ(Next("cron(0 12 4 7 ? *)", "2100-01-01T00:00:00Z", "America/New_York"),
            "2100-07-04T16:00:00Z");
  EXPECT_EQ(Next("cron(0 12 25 12 ? *)", "2100-01-01T00:00:00Z", "America/New_York"),
            "2100-12-25T17:00:00Z");
}

TEST(ScheduleNext, Rate) {
  auto s = Schedule::Parse("rate(2 hours)");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->kind(), Kind::kRate);
  const TimePoint anchor = T("2026-03-01T10:00:00Z");
  EXPECT_EQ(FormatIso8601(*s->NextAfter(anchor, *TimeZone::Utc(), anchor)), "2026-03-01T12:00:00Z");
  EXPECT_EQ(FormatIso8601(*s->NextAfter(T("2026-03-01T09:00:00Z"), *TimeZone::Utc(), anchor)),
            "2026-03-01T12:00:00Z");
  EXPECT_EQ(FormatIso8601(*s->NextAfter(T("2026-03-01T12:00:00Z"), *TimeZone::Utc(), anchor)),
            "2026-03-01T14:00:00Z");
  EXPECT_EQ(FormatIso8601(*s->NextAfter(T("2026-03-02T13:59:59Z"), *TimeZone::Utc(), anchor)),
            "2026-03-02T14:00:00Z");
}

TEST(ScheduleNext, At) {
  EXPECT_EQ(Next("at(2026-07-07T15:55:00)", "2026-01-01T00:00:00Z"), "2026-07-07T15:55:00Z");
  EXPECT_EQ(Next("at(2026-07-07T15:55:00)", "2026-07-07T15:55:00Z"), "none");
  EXPECT_EQ(Next("at(2026-07-07T15:55:00)", "2026-01-01T00:00:00Z", "Asia/Tokyo"),
            "2026-07-07T06:55:00Z");
}

TEST(TimeZone, OffsetsAndNames) {
  auto ny = Zone("America/New_York");
  EXPECT_EQ(ny->OffsetAt(T("2026-01-15T12:00:00Z")).count(), -5 * 3600);
  EXPECT_EQ(ny->OffsetAt(T("2026-07-15T12:00:00Z")).count(), -4 * 3600);
  EXPECT_EQ(Zone("Asia/Tokyo")->OffsetAt(T("2026-07-15T12:00:00Z")).count(), 9 * 3600);
  EXPECT_EQ(Zone("UTC")->OffsetAt(T("2026-07-15T12:00:00Z")).count(), 0);
  for (const char* bad : {"Mars/Olympus", "../etc/passwd", "America/../../etc/passwd",
                          "/etc/passwd", "America//New_York", "America/New York"}) {
    auto z = TimeZoneCache::Default().Get(bad);
    ASSERT_FALSE(z.has_value()) << bad;
    EXPECT_EQ(z.error().reason, "ValidationException");
  }
  // Cached: the same object twice.
  EXPECT_EQ(Zone("Asia/Tokyo").get(), Zone("Asia/Tokyo").get());
}

TEST(TimeZone, RejectsGarbageTzif) {
  EXPECT_FALSE(TimeZone::FromTzif("x", "").has_value());
  EXPECT_FALSE(TimeZone::FromTzif("x", "TZif2").has_value());
  std::string header = "TZif2" + std::string(15, '\0') + std::string(24, '\xff');
  EXPECT_FALSE(TimeZone::FromTzif("x", header).has_value());
}

}  // namespace
}  // namespace kw::schedule
