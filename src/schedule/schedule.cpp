#include "schedule/schedule.hpp"

#include <array>
#include <cctype>
#include <vector>

namespace kw::schedule {
namespace {

using namespace std::chrono;

Error Invalid(std::string why) {
  return InvalidArgument("Invalid schedule expression: " + why, "ValidationException");
}

constexpr std::array<std::string_view, 12> kMonths = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                      "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 7> kDays = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

// A decimal number of at most 4 digits, nothing else.
std::optional<int> Number(std::string_view s) {
  if (s.empty() || s.size() > 4) return std::nullopt;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

struct FieldSpec {
  const char* name;
  int min, max;
  const std::string_view* names;  // names[i] is min + i
  std::size_t name_count;
  bool wraps;
};

std::optional<int> Value(std::string_view s, const FieldSpec& f) {
  if (auto n = Number(s)) return n;
  if (f.names) {
    std::string u = Upper(s);
    for (std::size_t i = 0; i < f.name_count; ++i) {
      if (u == f.names[i]) return f.min + static_cast<int>(i);
    }
  }
  return std::nullopt;
}

// `*`, a, a-b, with an optional /step; comma-separated lists of those.
Result<std::vector<bool>> Field(std::string_view text, const FieldSpec& f) {
  std::vector<bool> set(f.max + 1, false);
  if (text.empty()) return Invalid(std::string("empty ") + f.name + " field");
  for (std::string_view term : Split(text, ',')) {
    std::string_view range = term;
    int step = 1;
    std::size_t slash = term.find('/');
    if (slash != std::string_view::npos) {
      auto s = Number(term.substr(slash + 1));
      if (!s || *s < 1 || *s > f.max - f.min + 1) {
        return Invalid(std::string("bad step in ") + f.name + " field");
      }
      step = *s;
      range = term.substr(0, slash);
    }
    int lo = f.min, hi = f.max;
    if (range == "*") {
      // every value
    } else {
      std::size_t dash = range.find('-');
      auto a = Value(range.substr(0, dash), f);
      if (!a || *a < f.min || *a > f.max) {
        return Invalid(std::string("bad value in ") + f.name + " field");
      }
      lo = *a;
      if (dash != std::string_view::npos) {
        auto b = Value(range.substr(dash + 1), f);
        if (!b || *b < f.min || *b > f.max) {
          return Invalid(std::string("bad value in ") + f.name + " field");
        }
        hi = *b;
        if (hi < lo && !f.wraps) {
          return Invalid(std::string("reversed range in ") + f.name + " field");
        }
      } else if (slash == std::string_view::npos) {
        hi = lo;
      }
    }
    // Walk lo..hi (wrapping past max to min) in steps.
    const int span = f.max - f.min + 1;
    const int count = hi >= lo ? hi - lo + 1 : span - (lo - hi) + 1;
    for (int i = 0; i < count; i += step) set[f.min + (lo - f.min + i) % span] = true;
  }
  return set;
}

template <std::size_t N>
void Copy(const std::vector<bool>& v, std::bitset<N>& out, int offset = 0) {
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i]) out.set(i - offset);
  }
}

unsigned DaysInMonth(int y, unsigned m) {
  return unsigned(year_month_day_last(year(y), month_day_last(month(m))).day());
}

// 1 = Sunday .. 7 = Saturday.
int Weekday(int y, unsigned m, unsigned d) {
  return static_cast<int>(
             weekday(sys_days(year_month_day(year(y), month(m), day(d)))).c_encoding()) +
         1;
}

std::int64_t Days(int y, unsigned m, unsigned d) {
  return sys_days(year_month_day(year(y), month(m), day(d))).time_since_epoch().count();
}

std::string_view Inner(std::string_view expr, std::string_view prefix) {
  return expr.substr(prefix.size(), expr.size() - prefix.size() - 1);
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

}  // namespace

Result<Schedule> Schedule::Parse(std::string_view expr) {
  Schedule s;
  if (expr.size() > 256) return Invalid("longer than 256 characters");
  if (expr.empty() || expr.back() != ')')
    return Invalid("expected cron(...), rate(...) or at(...)");

  if (expr.substr(0, 5) == "rate(") {
    s.kind_ = Kind::kRate;
    auto parts = Split(Trim(Inner(expr, "rate(")), ' ');
    if (parts.size() != 2) return Invalid("rate() takes a number and a unit");
    auto n = Number(parts[0]);
    if (!n || *n < 1 || parts[0][0] == '0') return Invalid("rate() needs a positive integer");
    std::string_view unit = parts[1];
    std::int64_t unit_seconds = 0;
    bool plural = false;
    for (auto [name, secs] :
         {std::pair<std::string_view, int>{"minute", 60}, {"hour", 3600}, {"day", 86400}}) {
      if (unit == name) unit_seconds = secs;
      if (unit.size() == name.size() + 1 && unit.substr(0, name.size()) == name &&
          unit.back() == 's') {
        unit_seconds = secs;
        plural = true;
      }
    }
    if (unit_seconds == 0) return Invalid("rate() unit must be minute(s), hour(s) or day(s)");
    if ((*n == 1) == plural) return Invalid("rate() unit must be singular for 1, plural otherwise");
    s.interval_ = Seconds(*n * unit_seconds);
    return s;
  }

  if (expr.substr(0, 3) == "at(") {
    s.kind_ = Kind::kAt;
    std::string_view t = Inner(expr, "at(");
    // yyyy-mm-ddThh:mm:ss exactly.
    if (t.size() != 19 || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' ||
        t[16] != ':') {
      return Invalid("at() takes yyyy-mm-ddThh:mm:ss");
    }
    auto y = Number(t.substr(0, 4)), mo = Number(t.substr(5, 2)), d = Number(t.substr(8, 2)),
         h = Number(t.substr(11, 2)), mi = Number(t.substr(14, 2)), sec = Number(t.substr(17, 2));
    if (!y || !mo || !d || !h || !mi || !sec || *y < kMinYear || *y > kMaxYear || *mo < 1 ||
        *mo > 12 || *d < 1 || *d > static_cast<int>(DaysInMonth(*y, *mo)) || *h > 23 || *mi > 59 ||
        *sec > 59) {
      return Invalid("at() names no valid date and time");
    }
    s.at_local_ = Days(*y, *mo, *d) * 86400 + *h * 3600 + *mi * 60 + *sec;
    return s;
  }

  if (expr.substr(0, 5) != "cron(") return Invalid("expected cron(...), rate(...) or at(...)");
  s.kind_ = Kind::kCron;
  std::vector<std::string_view> fields;
  for (std::string_view f : Split(Trim(Inner(expr, "cron(")), ' ')) {
    if (!f.empty()) fields.push_back(f);
  }
  Cron& c = s.cron_;
  if (fields.size() == 7) {
    auto sec = Number(fields[0]);
    if (!sec || *sec > 59) return Invalid("the seconds field must be a number 0-59");
    c.second = *sec;
    fields.erase(fields.begin());
  }
  if (fields.size() != 6) return Invalid("cron() takes 6 fields");

  static const FieldSpec kMinute{"minutes", 0, 59, nullptr, 0, true};
  static const FieldSpec kHour{"hours", 0, 23, nullptr, 0, true};
  static const FieldSpec kDom{"day-of-month", 1, 31, nullptr, 0, true};
  static const FieldSpec kMonth{"month", 1, 12, kMonths.data(), kMonths.size(), true};
  static const FieldSpec kDow{"day-of-week", 1, 7, kDays.data(), kDays.size(), true};
  static const FieldSpec kYear{"year", kMinYear, kMaxYear, nullptr, 0, false};

  KW_ASSIGN_OR_RETURN(auto minutes, Field(fields[0], kMinute));
  Copy(minutes, c.minutes);
  KW_ASSIGN_OR_RETURN(auto hours, Field(fields[1], kHour));
  Copy(hours, c.hours);
  KW_ASSIGN_OR_RETURN(auto months, Field(fields[3], kMonth));
  Copy(months, c.months);
  KW_ASSIGN_OR_RETURN(auto years, Field(fields[5], kYear));
  for (int y = kMinYear; y <= kMaxYear; ++y) {
    if (years[y]) c.years.set(y - kMinYear);
  }

  const std::string dom = Upper(fields[2]);
  const std::string dow = Upper(fields[4]);
  c.dom_any = dom == "?";
  c.dow_any = dow == "?";
  if (c.dom_any == c.dow_any) {
    return Invalid("exactly one of day-of-month and day-of-week must be '?'");
  }
  if (!c.dom_any) {
    if (dom == "L") {
      c.dom_last = true;
    } else if (dom == "LW") {
      c.dom_last_weekday = true;
    } else if (dom.size() >= 2 && dom.back() == 'W') {
      auto n = Number(std::string_view(dom).substr(0, dom.size() - 1));
      if (!n || *n < 1 || *n > 31) return Invalid("bad W value in day-of-month field");
      c.dom_nearest_weekday = *n;
    } else {
      KW_ASSIGN_OR_RETURN(auto days, Field(dom, kDom));
      Copy(days, c.dom);
    }
  } else {
    std::size_t hash = dow.find('#');
    if (dow == "L") {
      c.dow_last = 7;
    } else if (dow.size() >= 2 && dow.back() == 'L') {
      auto d = Value(std::string_view(dow).substr(0, dow.size() - 1), kDow);
      if (!d || *d < 1 || *d > 7) return Invalid("bad L value in day-of-week field");
      c.dow_last = *d;
    } else if (hash != std::string::npos) {
      auto d = Value(std::string_view(dow).substr(0, hash), kDow);
      auto n = Number(std::string_view(dow).substr(hash + 1));
      if (!d || *d < 1 || *d > 7 || !n || *n < 1 || *n > 5) {
        return Invalid("bad # value in day-of-week field");
      }
      c.dow_nth_day = *d;
      c.dow_nth = *n;
    } else {
      KW_ASSIGN_OR_RETURN(auto days, Field(dow, kDow));
      Copy(days, c.dow);
    }
  }
  return s;
}

bool Schedule::DayMatches(int y, unsigned m, unsigned d) const {
  const Cron& c = cron_;
  const unsigned dim = DaysInMonth(y, m);
  if (c.dow_any) {  // day-of-month decides
    if (c.dom_last) return d == dim;
    if (c.dom_last_weekday) {
      unsigned last = dim;
      while (Weekday(y, m, last) == 1 || Weekday(y, m, last) == 7) --last;
      return d == last;
    }
    if (c.dom_nearest_weekday) {
      unsigned n = static_cast<unsigned>(c.dom_nearest_weekday);
      if (n > dim) return false;
      int wd = Weekday(y, m, n);
      unsigned target = n;
      if (wd == 7) target = n == 1 ? 3 : n - 1;        // Saturday: Friday, or Monday the 3rd
      if (wd == 1) target = n == dim ? n - 2 : n + 1;  // Sunday: Monday, or Friday
      return d == target;
    }
    return c.dom.test(d);
  }
  const int wd = Weekday(y, m, d);
  if (c.dow_last) return wd == c.dow_last && d + 7 > dim;
  if (c.dow_nth) return wd == c.dow_nth_day && static_cast<int>((d - 1) / 7 + 1) == c.dow_nth;
  return c.dow.test(static_cast<std::size_t>(wd));
}

std::optional<TimePoint> Schedule::NextAfter(TimePoint after, const TimeZone& zone,
                                             TimePoint rate_anchor) const {
  if (kind_ == Kind::kRate) {
    if (after < rate_anchor + interval_) return rate_anchor + interval_;
    auto k = (after - rate_anchor) / interval_ + 1;
    TimePoint t = rate_anchor + k * interval_;
    while (t <= after) t += interval_;
    return t;
  }
  if (kind_ == Kind::kAt) {
    TimePoint t{Seconds(zone.LocalToUtc(at_local_))};
    if (t > after) return t;
    return std::nullopt;
  }
  const Cron& c = cron_;
  const std::int64_t after_s = floor<Seconds>(after.time_since_epoch()).count();
  const LocalSeconds local0 = zone.UtcToLocal(after_s);
  std::int64_t day0 = local0 >= 0 ? local0 / 86400 : -((-local0 + 86399) / 86400);
  const int minute0 = static_cast<int>((local0 - day0 * 86400) / 60);
  for (std::int64_t d = day0;;) {
    year_month_day ymd{sys_days(std::chrono::days(d))};
    const int y = static_cast<int>(ymd.year());
    if (y > kMaxYear) return std::nullopt;
    const unsigned m = unsigned(ymd.month());
    if (y < kMinYear || !c.years.test(static_cast<std::size_t>(y - kMinYear))) {
      d = Days(y + 1, 1, 1);
      if (y < kMinYear) d = Days(kMinYear, 1, 1);
      continue;
    }
    if (!c.months.test(m)) {
      d = m == 12 ? Days(y + 1, 1, 1) : Days(y, m + 1, 1);
      continue;
    }
    if (DayMatches(y, m, unsigned(ymd.day()))) {
      for (int h = 0; h < 24; ++h) {
        if (!c.hours.test(h)) continue;
        for (int mi = 0; mi < 60; ++mi) {
          if (!c.minutes.test(mi)) continue;
          if (d == day0 && h * 60 + mi < minute0) continue;
          const LocalSeconds local = d * 86400 + h * 3600 + mi * 60 + c.second;
          TimePoint t{Seconds(zone.LocalToUtc(local))};
          if (t > after) return t;
        }
      }
    }
    ++d;
  }
}

}  // namespace kw::schedule
