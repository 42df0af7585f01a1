#include "crypto/csprng.hpp"

#include <openssl/rand.h>

#include <climits>
#include <cstdlib>

namespace kw::crypto {

void Csprng::Fill(std::uint8_t* out, std::size_t n) {
  while (n > 0) {
    const int chunk = n > INT_MAX ? INT_MAX : static_cast<int>(n);
    if (RAND_bytes(out, chunk) != 1) std::abort();  // no entropy: refuse to go on
    out += chunk;
    n -= static_cast<std::size_t>(chunk);
  }
}

}  // namespace kw::crypto
