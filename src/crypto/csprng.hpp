#pragma once

#include "common/random.hpp"

namespace kw::crypto {

// Random bytes from OpenSSL's RAND_bytes (the DRBG seeded by the OS). Thread-safe.
class Csprng final : public Random {
 public:
  void Fill(std::uint8_t* out, std::size_t n) override;
};

}  // namespace kw::crypto
