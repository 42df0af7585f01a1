// Parses the input as a schedule expression and, when it parses, evaluates it a few
// times in UTC and in a zone with DST (built from a fixed footer-only TZif, so the
// fuzzer reads no files). The first input byte picks the zone; the rest is the
// expression. Parse and NextAfter must never crash, hang or throw, and successive
// firings must move forward.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "schedule/schedule.hpp"

namespace {

// A TZif v2 file with no transitions and the footer "EST5EDT,M3.2.0,M11.1.0".
std::string NewYorkLike() {
  std::string header = "TZif2" + std::string(15, '\0');
  auto counts = [](int type_count, int char_count) {
    std::string c(16, '\0');
    c += std::string("\0\0\0", 3) + static_cast<char>(type_count);
    c += std::string("\0\0\0", 3) + static_cast<char>(char_count);
    return c;
  };
  std::string v1 =
      header + counts(1, 4) + std::string("\xff\xff\xb9\xb0\0\0", 6) + "EST" + std::string(1, '\0');
  return v1 + v1 + "\nEST5EDT,M3.2.0,M11.1.0\n";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace kw::schedule;
  static const auto ny = TimeZone::FromTzif("NY", NewYorkLike());
  if (!ny) std::abort();
  if (size == 0) return 0;
  const TimeZone& zone = (data[0] & 1) ? **ny : *TimeZone::Utc();
  std::string_view expr(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto s = Schedule::Parse(expr);
  if (!s) return 0;
  kw::TimePoint t{kw::Seconds(1767225600)};  // 2026-01-01T00:00:00Z
  const kw::TimePoint anchor = t;
  for (int i = 0; i < 4; ++i) {
    auto next = s->NextAfter(t, zone, anchor);
    if (!next) break;
    if (*next <= t) std::abort();
    t = *next;
  }
  return 0;
}
