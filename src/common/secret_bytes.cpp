#include "common/secret_bytes.hpp"

namespace kw {

void SecretBytes::Wipe() {
  // A volatile store the optimizer may not elide (OPENSSL_cleanse lives in crypto/,
  // which common/ must not depend on).
  volatile char* p = bytes_.data();
  for (std::size_t i = 0; i < bytes_.size(); ++i) p[i] = 0;
  bytes_.clear();
}

}  // namespace kw
