#pragma once

// AWS schedule expressions as Systems Manager maintenance windows (and keyward's
// rotation) use them, parsed and evaluated as pure functions:
//
//   cron(min hour day-of-month month day-of-week year)   six fields, AWS syntax;
//        a seventh leading seconds field (a single number) is accepted as SSM does.
//        minute 0-59, hour 0-23, day-of-month 1-31 with `L` (last day), `LW` (last
//        weekday), `15W` (weekday nearest the 15th, within the month); month 1-12 or
//        JAN-DEC; day-of-week 1-7 = SUN-SAT or names, `L` (Saturday), `5L` (last
//        Thursday), `6#3` (third Friday); year 1970-2199. `*`, ranges `a-b` (wrapping
//        for every field but year: FRI-MON), lists `a,b`, steps `*/5` `0/15` `1-30/3`.
//        Exactly one of day-of-month and day-of-week is `?`.
//   rate(N minute|minutes|hour|hours|day|days)   singular unit only for N = 1,
//        plural only for N > 1.
//   at(yyyy-mm-ddThh:mm:ss)                       once.
//
// cron() and at() are read in the time zone passed to NextAfter (see time_zone.hpp
// for gaps and overlaps); rate() is a fixed interval from an anchor and ignores it.
//
// Errors: kInvalidArgument with reason "ValidationException" (what SSM answers for a
// bad Schedule; the operations' own error lists have no schedule exception), and a
// message that names the problem. Never throws; any input is safe (fuzzed).

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.hpp"
#include "common/result.hpp"
#include "schedule/time_zone.hpp"

namespace kw::schedule {

inline constexpr int kMinYear = 1970;
inline constexpr int kMaxYear = 2199;

enum class Kind { kCron, kRate, kAt };

// Value; thread-safe to share once built.
class Schedule {
 public:
  static Result<Schedule> Parse(std::string_view expression);

  Kind kind() const { return kind_; }
  // rate(): the interval.
  Seconds interval() const { return interval_; }

  // The first firing strictly after `after`. `rate_anchor` is where a rate() schedule
  // counts from (firings at anchor + k * interval, k >= 1). nullopt when there is
  // none (an at() in the past, a cron whose years are over or that names no real
  // date, such as 30 February).
  std::optional<TimePoint> NextAfter(TimePoint after, const TimeZone& zone,
                                     TimePoint rate_anchor = TimePoint()) const;

 private:
  struct Cron {
    std::bitset<60> minutes;
    std::bitset<24> hours;
    std::bitset<32> dom;  // 1..31
    bool dom_any = false;
    bool dom_last = false;          // L
    bool dom_last_weekday = false;  // LW
    int dom_nearest_weekday = 0;    // nW
    std::bitset<13> months;         // 1..12
    std::bitset<8> dow;             // 1..7 (SUN = 1)
    bool dow_any = false;
    int dow_last = 0;                  // nL: the last weekday n of the month
    int dow_nth_day = 0, dow_nth = 0;  // d#n
    std::bitset<kMaxYear - kMinYear + 1> years;
    int second = 0;
  };
  bool DayMatches(int y, unsigned m, unsigned d) const;

  Kind kind_ = Kind::kAt;
  Cron cron_;
  Seconds interval_{0};
  LocalSeconds at_local_ = 0;
};

}  // namespace kw::schedule
