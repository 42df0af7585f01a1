#include "schedule/time_zone.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

namespace kw::schedule {
namespace {

constexpr std::size_t kMaxTzifBytes = 1 << 20;

Error Invalid(std::string message) {
  return InvalidArgument(std::move(message), "ValidationException");
}

std::int64_t DaysFromCivil(int y, unsigned m, unsigned d) {
  using namespace std::chrono;
  return sys_days(year_month_day(year(y), month(m), day(d))).time_since_epoch().count();
}

int YearOf(std::int64_t seconds) {
  using namespace std::chrono;
  std::int64_t d = seconds >= 0 ? seconds / 86400 : -((-seconds + 86399) / 86400);
  return static_cast<int>(year_month_day(sys_days(std::chrono::days(d))).year());
}

bool IsLeap(int y) { return std::chrono::year(y).is_leap(); }

class Reader {
 public:
  explicit Reader(std::string_view d) : d_(d) {}
  bool Has(std::size_t n) const { return d_.size() - pos_ >= n; }
  std::int64_t Be(int n) {
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(d_[pos_ + i]);
    pos_ += n;
    if (n == 4) return static_cast<std::int32_t>(static_cast<std::uint32_t>(v));
    return static_cast<std::int64_t>(v);
  }
  unsigned char Byte() { return static_cast<unsigned char>(d_[pos_++]); }
  void Skip(std::size_t n) { pos_ += n; }
  std::string_view Rest() const { return d_.substr(pos_); }

 private:
  std::string_view d_;
  std::size_t pos_ = 0;
};

struct Header {
  char version = 0;
  std::int64_t isut = 0, isstd = 0, leap = 0, time = 0, type = 0, chars = 0;
};

bool ReadHeader(Reader& r, Header& h) {
  if (!r.Has(44)) return false;
  std::string_view rest = r.Rest();
  if (rest.substr(0, 4) != "TZif") return false;
  h.version = rest[4];
  r.Skip(20);
  h.isut = r.Be(4);
  h.isstd = r.Be(4);
  h.leap = r.Be(4);
  h.time = r.Be(4);
  h.type = r.Be(4);
  h.chars = r.Be(4);
  return h.isut >= 0 && h.isstd >= 0 && h.leap >= 0 && h.time >= 0 && h.type >= 1 &&
         h.type <= 256 && h.chars >= 0 && h.time <= 100000 && h.leap <= 10000;
}

std::size_t BlockSize(const Header& h, int time_size) {
  return h.time * time_size + h.time + h.type * 6 + h.chars + h.leap * (time_size + 4) + h.isstd +
         h.isut;
}

// ---- POSIX TZ strings ------------------------------------------------------------

class PosixParser {
 public:
  explicit PosixParser(std::string_view s) : s_(s) {}

  bool Parse(TimeZone::PosixTz& tz) {
    if (!Name()) return false;
    std::int64_t off = 0;
    if (!Offset(off)) return false;
    tz.std_offset = -off;  // POSIX offsets are positive west of Greenwich
    if (pos_ == s_.size()) return true;
    if (!Name()) return false;
    tz.has_dst = true;
    tz.dst_offset = tz.std_offset + 3600;
    if (pos_ < s_.size() && s_[pos_] != ',') {
      if (!Offset(off)) return false;
      tz.dst_offset = -off;
    }
    if (pos_ == s_.size()) {  // no rules: the US rules, as POSIX implementations assume
      tz.start = {'M', 0, 2, 3, 7200};
      tz.end = {'M', 0, 1, 11, 7200};
      return true;
    }
    if (!Eat(',') || !Rule(tz.start) || !Eat(',') || !Rule(tz.end)) return false;
    return pos_ == s_.size();
  }

 private:
  bool Eat(char c) {
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool Name() {
    if (Eat('<')) {
      std::size_t end = s_.find('>', pos_);
      if (end == std::string_view::npos) return false;
      pos_ = end + 1;
      return true;
    }
    std::size_t start = pos_;
    while (pos_ < s_.size() && std::isalpha(static_cast<unsigned char>(s_[pos_]))) ++pos_;
    return pos_ - start >= 3;
  }
  bool Number(std::int64_t& v, int max_digits) {
    std::size_t start = pos_;
    v = 0;
    while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_])) &&
           pos_ - start < static_cast<std::size_t>(max_digits)) {
      v = v * 10 + (s_[pos_++] - '0');
    }
    return pos_ > start;
  }
  // [+-]hh[:mm[:ss]] in seconds.
  bool Offset(std::int64_t& out) {
    int sign = 1;
    if (Eat('-')) {
      sign = -1;
    } else {
      Eat('+');
    }
    std::int64_t h = 0, m = 0, sec = 0;
    if (!Number(h, 3) || h > 167) return false;
    if (Eat(':')) {
      if (!Number(m, 2) || m > 59) return false;
      if (Eat(':') && (!Number(sec, 2) || sec > 59)) return false;
    }
    out = sign * (h * 3600 + m * 60 + sec);
    return true;
  }
  bool Rule(TimeZone::PosixRule& r) {
    std::int64_t v = 0;
    if (Eat('M')) {
      std::int64_t w = 0, d = 0;
      r.kind = 'M';
      if (!Number(v, 2) || !Eat('.') || !Number(w, 1) || !Eat('.') || !Number(d, 1)) return false;
      if (v < 1 || v > 12 || w < 1 || w > 5 || d > 6) return false;
      r.month = static_cast<int>(v);
      r.week = static_cast<int>(w);
      r.day = static_cast<int>(d);
    } else if (Eat('J')) {
      r.kind = 'J';
      if (!Number(v, 3) || v < 1 || v > 365) return false;
      r.day = static_cast<int>(v);
    } else {
      r.kind = 'D';
      if (!Number(v, 3) || v > 365) return false;
      r.day = static_cast<int>(v);
    }
    r.time = 7200;
    if (Eat('/')) return Offset(r.time);
    return true;
  }

  std::string_view s_;
  std::size_t pos_ = 0;
};

// The UTC instant of `rule` in `year`, when the offset in force before it is `before`.
std::int64_t RuleUtc(const TimeZone::PosixRule& r, int year, std::int64_t before) {
  std::int64_t days = 0;
  if (r.kind == 'M') {
    using namespace std::chrono;
    std::int64_t first = DaysFromCivil(year, r.month, 1);
    int wd1 = static_cast<int>(weekday(sys_days(std::chrono::days(first))).c_encoding());
    int dom = 1 + (r.day - wd1 + 7) % 7 + (r.week - 1) * 7;
    int dim = static_cast<int>(unsigned(
        year_month_day_last(std::chrono::year(year), month_day_last(month(r.month))).day()));
    while (dom > dim) dom -= 7;
    days = first + dom - 1;
  } else if (r.kind == 'J') {
    int doy = r.day - 1;
    if (IsLeap(year) && r.day >= 60) ++doy;
    days = DaysFromCivil(year, 1, 1) + doy;
  } else {
    days = DaysFromCivil(year, 1, 1) + r.day;
  }
  return days * 86400 + r.time - before;
}

}  // namespace

std::shared_ptr<const TimeZone> TimeZone::Utc() {
  static const std::shared_ptr<const TimeZone> utc = [] {
    auto z = std::shared_ptr<TimeZone>(new TimeZone());
    z->name_ = "UTC";
    return z;
  }();
  return utc;
}

Result<std::shared_ptr<const TimeZone>> TimeZone::FromTzif(std::string name,
                                                           std::string_view data) {
  auto z = std::shared_ptr<TimeZone>(new TimeZone());
  z->name_ = std::move(name);
  Reader r(data);
  Header h;
  if (!ReadHeader(r, h)) return Invalid("not a TZif file");
  int time_size = 4;
  if (h.version >= '2') {
    std::size_t skip = BlockSize(h, 4);
    if (!r.Has(skip)) return Invalid("truncated TZif file");
    r.Skip(skip);
    if (!ReadHeader(r, h)) return Invalid("bad TZif v2 header");
    time_size = 8;
  }
  if (!r.Has(BlockSize(h, time_size))) return Invalid("truncated TZif file");
  std::vector<std::int64_t> times(h.time);
  for (auto& t : times) t = r.Be(time_size);
  std::vector<int> idx(h.time);
  for (auto& i : idx) i = r.Byte();
  std::vector<std::int64_t> offsets(h.type);
  std::vector<bool> isdst(h.type);
  for (std::int64_t i = 0; i < h.type; ++i) {
    offsets[i] = r.Be(4);
    isdst[i] = r.Byte() != 0;
    r.Skip(1);
    if (offsets[i] < -25 * 3600 || offsets[i] > 26 * 3600) return Invalid("bad TZif offset");
  }
  r.Skip(h.chars + h.leap * (time_size + 4) + h.isstd + h.isut);
  for (std::size_t i = 0; i < times.size(); ++i) {
    if (idx[i] >= h.type) return Invalid("bad TZif type index");
    if (i > 0 && times[i] <= times[i - 1]) return Invalid("TZif transitions out of order");
  }
  // RFC 8536: local time before the first transition uses type 0.
  z->initial_offset_ = offsets[0];
  z->transitions_ = std::move(times);
  z->offset_after_.reserve(idx.size());
  for (int i : idx) z->offset_after_.push_back(offsets[i]);
  if (time_size == 8) {
    std::string_view rest = r.Rest();
    if (rest.size() >= 2 && rest[0] == '\n') {
      std::size_t end = rest.find('\n', 1);
      if (end != std::string_view::npos && end > 1) {
        PosixParser p(rest.substr(1, end - 1));
        if (!p.Parse(z->footer_)) return Invalid("bad TZif footer");
        z->has_footer_ = true;
      }
    }
  }
  return std::shared_ptr<const TimeZone>(std::move(z));
}

std::int64_t TimeZone::FooterOffset(std::int64_t t) const {
  const PosixTz& f = footer_;
  if (!f.has_dst) return f.std_offset;
  int year = YearOf(t + f.std_offset);
  std::int64_t start = RuleUtc(f.start, year, f.std_offset);
  std::int64_t end = RuleUtc(f.end, year, f.dst_offset);
  bool dst = start < end ? (t >= start && t < end) : (t < end || t >= start);
  return dst ? f.dst_offset : f.std_offset;
}

std::int64_t TimeZone::OffsetAt(std::int64_t t) const {
  if (transitions_.empty()) return has_footer_ ? FooterOffset(t) : initial_offset_;
  if (t < transitions_.front()) return initial_offset_;
  if (t >= transitions_.back() && has_footer_) return FooterOffset(t);
  auto it = std::upper_bound(transitions_.begin(), transitions_.end(), t);
  return offset_after_[static_cast<std::size_t>(it - transitions_.begin()) - 1];
}

Seconds TimeZone::OffsetAt(TimePoint t) const {
  auto s = std::chrono::floor<Seconds>(t.time_since_epoch()).count();
  return Seconds(OffsetAt(static_cast<std::int64_t>(s)));
}

std::int64_t TimeZone::LocalToUtc(LocalSeconds local) const {
  // Offsets in force a day either side cover every real zone's single transition.
  const std::int64_t a = OffsetAt(local - 86400);
  const std::int64_t b = OffsetAt(local + 86400);
  std::int64_t best = 0;
  bool found = false;
  for (std::int64_t o : {a, b, OffsetAt(local - a), OffsetAt(local - b)}) {
    std::int64_t t = local - o;
    if (OffsetAt(t) == o && (!found || t < best)) {
      best = t;
      found = true;
    }
  }
  if (found) return best;
  // A gap: the first instant whose local time is at or past `local`.
  std::int64_t lo = local - std::max(a, b), hi = local - std::min(a, b);
  if (lo > hi) std::swap(lo, hi);
  while (lo < hi) {
    std::int64_t mid = lo + (hi - lo) / 2;
    if (UtcToLocal(mid) >= local) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

TimeZoneCache::TimeZoneCache(std::string zoneinfo_dir) : dir_(std::move(zoneinfo_dir)) {}

TimeZoneCache& TimeZoneCache::Default() {
  static TimeZoneCache cache;
  return cache;
}

Result<std::shared_ptr<const TimeZone>> TimeZoneCache::Get(std::string_view name) {
  if (name.empty() || name == "UTC" || name == "Etc/UTC") return TimeZone::Utc();
  if (name.size() > 64) return Invalid("Invalid time zone: the name is too long.");
  std::size_t comp_start = 0;
  for (std::size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '/') {
      std::string_view comp = name.substr(comp_start, i - comp_start);
      if (comp.empty() || comp == "." || comp == ".." || comp[0] == '.') {
        return Invalid("Invalid time zone " + std::string(name) + ".");
      }
      comp_start = i + 1;
      continue;
    }
    char c = name[i];
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '+') {
      return Invalid("Invalid time zone " + std::string(name) + ".");
    }
  }
  {
    std::lock_guard lock(mu_);
    auto it = zones_.find(name);
    if (it != zones_.end()) return it->second;
  }
  std::ifstream in(dir_ + "/" + std::string(name), std::ios::binary);
  if (!in) return Invalid("Invalid time zone " + std::string(name) + ": no such IANA zone.");
  std::string data;
  data.resize(kMaxTzifBytes);
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  data.resize(static_cast<std::size_t>(in.gcount()));
  KW_ASSIGN_OR_RETURN(auto zone, TimeZone::FromTzif(std::string(name), data));
  std::lock_guard lock(mu_);
  zones_.emplace(std::string(name), zone);
  return zone;
}

}  // namespace kw::schedule
