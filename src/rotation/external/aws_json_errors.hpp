#pragma once

// AWS JSON 1.1 services answer most client errors with HTTP 400 whatever the error, so
// QueryClient::CallJson reports them all as kInvalidArgument with `reason` = the error
// code. The adapters here map the codes the rotation seams care about to the ErrorCode
// the seams promise (kNotFound, kAlreadyExists, ...). Pure; thread-safe.

#include <string_view>

#include "common/result.hpp"

namespace kw::rotation::external {

// `e` with its code set from its reason when the reason is one of the known AWS error
// codes (ResourceNotFoundException -> kNotFound, ResourceExistsException ->
// kAlreadyExists, AccessDeniedException -> kPermissionDenied, throttling -> kUnavailable,
// ...); otherwise `e` unchanged.
Error MapAwsJsonError(Error e);

// The same for a Result, so that `KW_ASSIGN_OR_RETURN(x, Mapped(client.CallJson(...)))`
// reads naturally.
template <typename T>
Result<T> Mapped(Result<T> r) {
  if (r) return r;
  return MapAwsJsonError(std::move(r).error());
}

}  // namespace kw::rotation::external
