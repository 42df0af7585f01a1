#pragma once

// IANA time zones read from TZif files (RFC 8536, versions 1 to 4), because GCC 12's
// libstdc++ has no std::chrono::tzdb. A zone answers one question: the UTC offset in
// force at an instant. Times after the file's last transition follow the POSIX TZ
// string in the file's footer ("EST5EDT,M3.2.0,M11.1.0"), so slim zone files work.
//
// Local-to-UTC conversion (LocalToUtc) decides the two hard cases this way, so that a
// schedule fires exactly once per local time it names:
//   - a local time inside a gap (spring forward: 02:30 in New York on the second
//     Sunday of March does not exist) maps to the instant the gap ends (03:00 EDT);
//     every nonexistent local time of that gap maps to that same instant.
//   - a local time inside an overlap (fall back: 01:30 happens twice) maps to its
//     first occurrence (01:30 EDT); the repetition is not a second firing.
// The mapping is monotonic (non-decreasing in local time), which the schedule search
// relies on.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"
#include "common/result.hpp"

namespace kw::schedule {

// Local civil time as seconds since 1970-01-01T00:00:00 of the local calendar.
using LocalSeconds = std::int64_t;

// Immutable after construction; thread-safe.
class TimeZone {
 public:
  // The zone "UTC" (offset 0 forever).
  static std::shared_ptr<const TimeZone> Utc();

  // Parses TZif bytes. kInvalidArgument (reason "ValidationException") if malformed.
  static Result<std::shared_ptr<const TimeZone>> FromTzif(std::string name, std::string_view data);

  const std::string& name() const { return name_; }

  // The UTC offset (local minus UTC) in force at `utc_seconds`.
  std::int64_t OffsetAt(std::int64_t utc_seconds) const;
  Seconds OffsetAt(TimePoint t) const;

  // The instant a local time names (see the header comment for gaps and overlaps).
  std::int64_t LocalToUtc(LocalSeconds local) const;
  LocalSeconds UtcToLocal(std::int64_t utc_seconds) const {
    return utc_seconds + OffsetAt(utc_seconds);
  }

  // One rule of a POSIX TZ string: Jn, n or Mm.w.d, at `time` seconds local.
  struct PosixRule {
    char kind = 'M';  // 'J' (1..365, no Feb 29), 'D' (0..365), 'M' (month.week.day)
    int day = 0, week = 0, month = 0;
    std::int64_t time = 7200;
  };
  struct PosixTz {
    std::int64_t std_offset = 0;  // local minus UTC
    bool has_dst = false;
    std::int64_t dst_offset = 0;
    PosixRule start, end;
  };

 private:
  TimeZone() = default;
  std::int64_t FooterOffset(std::int64_t utc_seconds) const;

  std::string name_;
  std::vector<std::int64_t> transitions_;   // ascending UTC seconds
  std::vector<std::int64_t> offset_after_;  // offset in force from transitions_[i]
  std::int64_t initial_offset_ = 0;         // before the first transition
  bool has_footer_ = false;
  PosixTz footer_;
};

// Loads zones by IANA name from a zoneinfo directory and keeps them. Thread-safe.
class TimeZoneCache {
 public:
  explicit TimeZoneCache(std::string zoneinfo_dir = "/usr/share/zoneinfo");

  // "UTC", "Etc/UTC" and "" give UTC without reading a file. Names are
  // [A-Za-z0-9_+-] components joined by '/', without "." or ".." components.
  // kInvalidArgument (reason "ValidationException") for a malformed or unknown name.
  Result<std::shared_ptr<const TimeZone>> Get(std::string_view name);

  // A process-wide cache over /usr/share/zoneinfo.
  static TimeZoneCache& Default();

 private:
  const std::string dir_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<const TimeZone>, std::less<>> zones_;  // guarded by mu_
};

}  // namespace kw::schedule
