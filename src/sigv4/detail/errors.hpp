#pragma once

// The AWS error reasons this module produces (see sigv4.hpp).

#include <string>

#include "common/error.hpp"

namespace kw::sigv4::detail {

// AWS answers IncompleteSignature with HTTP 400, hence kInvalidArgument.
inline Error Incomplete(std::string message) {
  return InvalidArgument(std::move(message), "IncompleteSignature");
}
inline Error Mismatch(std::string message) {
  return Unauthenticated(std::move(message), "SignatureDoesNotMatch");
}
inline constexpr const char* kMismatchMessage =
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details.";

}  // namespace kw::sigv4::detail
