#pragma once

#include <atomic>
#include <chrono>

namespace kw {

using TimePoint = std::chrono::system_clock::time_point;
using Seconds = std::chrono::seconds;

// Source of wall-clock time. Domain code takes a Clock& so tests control time.
// Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::system_clock::now(); }
};

// A clock that moves only when told to. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimePoint start) : now_(start.time_since_epoch().count()) {}
  TimePoint Now() const override {
    return TimePoint(TimePoint::duration(now_.load(std::memory_order_relaxed)));
  }
  void Advance(TimePoint::duration d) { now_.fetch_add(d.count(), std::memory_order_relaxed); }
  void Set(TimePoint t) { now_.store(t.time_since_epoch().count(), std::memory_order_relaxed); }

 private:
  std::atomic<TimePoint::duration::rep> now_;
};

}  // namespace kw
