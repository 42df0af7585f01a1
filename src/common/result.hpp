#pragma once

// A small Result<T> with std::expected's member names (GCC 12's <expected> lacks the
// monadic operations and clang 14's tools cannot parse it). Status is Result<void>.

#include <cstdlib>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

#include "common/error.hpp"

namespace kw {

// Wraps an Error so that `return Unexpected(err);` reads like std::unexpected.
struct Unexpected {
  Error error;
  explicit Unexpected(Error e) : error(std::move(e)) {}
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}     // NOLINT
  Result(Unexpected u) : v_(std::in_place_index<1>, std::move(u.error)) {}  // NOLINT

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & {
    Check();
    return std::get<0>(v_);
  }
  const T& value() const& {
    Check();
    return std::get<0>(v_);
  }
  T&& value() && {
    Check();
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }

  template <typename U>
  T value_or(U&& fallback) const& {
    return has_value() ? std::get<0>(v_) : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  void Check() const {
    if (!has_value()) std::abort();  // a broken invariant: the caller did not check
  }
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}     // NOLINT
  Result(Unexpected u) : error_(std::move(u.error)) {}  // NOLINT

  bool has_value() const { return !error_.has_value(); }
  explicit operator bool() const { return has_value(); }
  void value() const {
    if (error_) std::abort();
  }
  const Error& error() const& { return *error_; }
  Error&& error() && { return std::move(*error_); }

 private:
  std::optional<Error> error_;
};

using Status = Result<void>;

inline Status OkStatus() { return {}; }

}  // namespace kw

// `decl` is a declaration and cannot be parenthesized.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define KW_CONCAT_INNER_(a, b) a##b
#define KW_CONCAT_(a, b) KW_CONCAT_INNER_(a, b)

// KW_RETURN_IF_ERROR(expr): returns the error of a Status/Result expression.
#define KW_RETURN_IF_ERROR(expr)                                       \
  do {                                                                 \
    auto&& kw_status_ = (expr);                                        \
    if (!kw_status_.has_value()) return std::move(kw_status_).error(); \
  } while (0)

// KW_ASSIGN_OR_RETURN(decl, expr): `decl = *expr` or return its error.
#define KW_ASSIGN_OR_RETURN(decl, expr) \
  KW_ASSIGN_OR_RETURN_IMPL_(KW_CONCAT_(kw_result_, __LINE__), decl, expr)
#define KW_ASSIGN_OR_RETURN_IMPL_(tmp, decl, expr)     \
  auto tmp = (expr);                                   \
  if (!tmp.has_value()) return std::move(tmp).error(); \
  decl = std::move(tmp).value()
// NOLINTEND(bugprone-macro-parentheses)
