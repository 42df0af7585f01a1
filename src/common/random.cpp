#include "common/random.hpp"

#include <limits>

namespace kw {

std::uint64_t Random::Uniform(std::uint64_t bound) {
  // Rejection sampling: discard draws from the incomplete top range.
  const std::uint64_t limit =
      std::numeric_limits<std::uint64_t>::max() - std::numeric_limits<std::uint64_t>::max() % bound;
  for (;;) {
    std::uint64_t x = 0;
    Fill(reinterpret_cast<std::uint8_t*>(&x), sizeof x);
    if (x < limit) return x % bound;
  }
}

std::string Random::String(std::size_t n, std::string_view alphabet) {
  std::string s;
  s.reserve(n);
  for (std::size_t i = 0; i < n; ++i) s.push_back(alphabet[Uniform(alphabet.size())]);
  return s;
}

}  // namespace kw
