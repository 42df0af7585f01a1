#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace kw {

// Source of random bytes. Production uses crypto::Csprng (OpenSSL RAND_bytes);
// tests may inject a deterministic one. Implementations are thread-safe.
class Random {
 public:
  virtual ~Random() = default;
  // Fills `out` with `n` random bytes. Aborts if the system cannot provide them:
  // continuing without randomness would mint guessable keys.
  virtual void Fill(std::uint8_t* out, std::size_t n) = 0;

  std::string Bytes(std::size_t n) {
    std::string s(n, '\0');
    Fill(reinterpret_cast<std::uint8_t*>(s.data()), n);
    return s;
  }
  // Uniform in [0, bound), without modulo bias. bound > 0.
  std::uint64_t Uniform(std::uint64_t bound);
  // `n` characters drawn uniformly from `alphabet`.
  std::string String(std::size_t n, std::string_view alphabet);
};

}  // namespace kw
