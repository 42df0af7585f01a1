#include "agent/backoff.hpp"

#include <algorithm>

namespace kw::agent {

Backoff::Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, bool jitter,
                 Random& random)
    : initial_(std::max(initial, std::chrono::milliseconds(1))),
      max_(std::max(max, initial_)),
      jitter_(jitter),
      random_(random),
      current_(initial_) {}

std::chrono::milliseconds Backoff::Next() {
  std::chrono::milliseconds delay = current_;
  current_ = std::min(current_ * 2, max_);
  if (jitter_) {
    const auto half = delay.count() / 2;
    const auto spread = static_cast<std::uint64_t>(delay.count() - half) + 1;
    delay = std::chrono::milliseconds(half + static_cast<std::int64_t>(random_.Uniform(spread)));
  }
  return delay;
}

void Backoff::Reset() { current_ = initial_; }

}  // namespace kw::agent
