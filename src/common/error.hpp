#pragma once

#include <string>
#include <string_view>

namespace kw {

// The closed set of failure kinds. Each has one retry meaning:
//   kUnavailable and kAborted may succeed when retried; the others will not until
//   the input or the state changes.
enum class ErrorCode {
  kInvalidArgument,     // the caller's input is wrong
  kNotFound,            // the named thing does not exist
  kAlreadyExists,       // a create found the thing already there
  kFailedPrecondition,  // the state forbids it (a conflict, a limit reached)
  kAborted,             // a concurrent change won; retry from a fresh read
  kPermissionDenied,    // authenticated, but not allowed
  kUnauthenticated,     // who is asking is unknown or unproven
  kUnavailable,         // a dependency is down; retry later
  kInternal,            // a bug or broken invariant; not the caller's fault
};

std::string_view ErrorCodeName(ErrorCode code);

// An error as the domain reports it. `reason` is an optional machine-readable
// refinement that protocol adapters may map to a wire error code (for the AWS
// services keyward emulates it is the AWS error code, e.g. "DeleteConflict");
// `message` is for humans and never holds secret material.
struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  std::string reason;
};

inline Error MakeError(ErrorCode code, std::string message, std::string reason = {}) {
  return Error{code, std::move(message), std::move(reason)};
}
inline Error InvalidArgument(std::string m, std::string reason = {}) {
  return MakeError(ErrorCode::kInvalidArgument, std::move(m), std::move(reason));
}
inline Error NotFound(std::string m, std::string reason = {}) {
  return MakeError(ErrorCode::kNotFound, std::move(m), std::move(reason));
}
inline Error AlreadyExists(std::string m, std::string reason = {}) {
  return MakeError(ErrorCode::kAlreadyExists, std::move(m), std::move(reason));
}
inline Error FailedPrecondition(std::string m, std::string reason = {}) {
  return MakeError(ErrorCode::kFailedPrecondition, std::move(m), std::move(reason));
}
inline Error Aborted(std::string m, std::string reason = {}) {
  return MakeError(ErrorCode::kAborted, std::move(m), std::move(reason));
}
inline Error PermissionDenied(std::string m, std::string reason = {}) {
  return MakeError(ErrorCode::kPermissionDenied, std::move(m), std::move(reason));
}
inline Error Unauthenticated(std::string m, std::string reason = {}) {
  return MakeError(ErrorCode::kUnauthenticated, std::move(m), std::move(reason));
}
inline Error Unavailable(std::string m, std::string reason = {}) {
  return MakeError(ErrorCode::kUnavailable, std::move(m), std::move(reason));
}
inline Error Internal(std::string m, std::string reason = {}) {
  return MakeError(ErrorCode::kInternal, std::move(m), std::move(reason));
}

}  // namespace kw
