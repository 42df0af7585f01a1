#pragma once

// Exponential back-off for reconnecting and for hibernation. Not thread-safe: one owner.

#include <chrono>

#include "common/random.hpp"

namespace kw::agent {

class Backoff {
 public:
  // Delays start at `initial` and double up to `max`. With `jitter`, each delay is drawn
  // uniformly from [d/2, d] ("equal jitter"), so that many agents restarted together
  // spread out, yet no delay is ever shorter than half the nominal one (no busy loop).
  // `random` must outlive the Backoff.
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, bool jitter,
          Random& random);

  // The delay to wait before the next attempt; doubles the nominal delay.
  std::chrono::milliseconds Next();
  // Back to `initial` (after a success).
  void Reset();

 private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
  bool jitter_;
  Random& random_;
  std::chrono::milliseconds current_;
};

}  // namespace kw::agent
