#include "common/time_format.hpp"

#include <cstdio>
#include <ctime>

namespace kw {
namespace {

std::tm ToUtc(TimePoint t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return tm;
}

std::string Format(TimePoint t, const char* fmt) {
  const std::tm tm = ToUtc(t);
  char buf[32];
  const std::size_t n = std::strftime(buf, sizeof buf, fmt, &tm);
  return std::string(buf, n);
}

bool Digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

std::optional<TimePoint> FromFields(int y, int mo, int d, int h, int mi, int s) {
  // system_clock's nanosecond time_point ends in April 2262; later dates would overflow.
  if (y < 1970 || y > 2261 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  const std::time_t tt = timegm(&tm);
  if (tt == static_cast<std::time_t>(-1)) return std::nullopt;
  // timegm normalises 31 February into March; refuse such dates.
  std::tm back{};
  gmtime_r(&tt, &back);
  if (back.tm_mday != d || back.tm_mon != mo - 1) return std::nullopt;
  return std::chrono::system_clock::from_time_t(tt);
}

}  // namespace

std::string FormatAmzDate(TimePoint t) { return Format(t, "%Y%m%dT%H%M%SZ"); }
std::string FormatAmzDay(TimePoint t) { return Format(t, "%Y%m%d"); }
std::string FormatIso8601(TimePoint t) { return Format(t, "%Y-%m-%dT%H:%M:%SZ"); }

std::optional<TimePoint> ParseAmzDate(std::string_view s) {
  int y, mo, d, h, mi, sec;
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') return std::nullopt;
  if (!Digits(s, 0, 4, y) || !Digits(s, 4, 2, mo) || !Digits(s, 6, 2, d) || !Digits(s, 9, 2, h) ||
      !Digits(s, 11, 2, mi) || !Digits(s, 13, 2, sec)) {
    return std::nullopt;
  }
  return FromFields(y, mo, d, h, mi, sec);
}

std::optional<TimePoint> ParseIso8601(std::string_view s) {
  int y, mo, d, h, mi, sec;
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
      s[13] != ':' || s[16] != ':') {
    return std::nullopt;
  }
  if (!Digits(s, 0, 4, y) || !Digits(s, 5, 2, mo) || !Digits(s, 8, 2, d) || !Digits(s, 11, 2, h) ||
      !Digits(s, 14, 2, mi) || !Digits(s, 17, 2, sec)) {
    return std::nullopt;
  }
  std::size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    const std::size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
    if (pos == start || pos - start > 9) return std::nullopt;
  }
  const std::string_view zone = s.substr(pos);
  if (zone != "Z" && zone != "z" && zone != "+00:00") return std::nullopt;
  return FromFields(y, mo, d, h, mi, sec);
}

double ToEpochSeconds(TimePoint t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

}  // namespace kw
