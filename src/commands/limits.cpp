#include "commands/limits.hpp"

#include <string>

namespace kw::commands {
namespace {

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// "[1-9][0-9]*": a positive number without a leading zero.
bool PositiveNumber(std::string_view s) { return AllDigits(s) && s[0] != '0'; }

// The percentages both patterns accept: "[1-9][0-9]%", "[1-9]%", "100%"; with
// `allow_zero`, also "0%" (MaxErrors' "[0-9]%").
bool Percentage(std::string_view s, bool allow_zero) {
  if (s.size() < 2 || s.back() != '%') return false;
  const std::string_view n = s.substr(0, s.size() - 1);
  if (n == "100") return true;
  if (!AllDigits(n) || n.size() > 2) return false;
  if (n.size() == 2) return n[0] != '0';
  return allow_zero || n[0] != '0';
}

Error PatternError(std::string_view member, std::string_view value, std::string_view pattern) {
  return InvalidArgument("1 validation error detected: Value '" + std::string(value) + "' at '" +
                             std::string(member) +
                             "' failed to satisfy constraint: Member must satisfy regular "
                             "expression pattern: " +
                             std::string(pattern),
                         "ValidationError");
}

long long Number(std::string_view s) {
  long long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') break;
    v = v * 10 + (c - '0');
  }
  return v;
}

}  // namespace

Status ValidateMaxConcurrency(std::string_view value) {
  if (value.size() >= 1 && value.size() <= 7 &&
      (PositiveNumber(value) || Percentage(value, false))) {
    return OkStatus();
  }
  return PatternError("maxConcurrency", value, "^([1-9][0-9]*|[1-9][0-9]%|[1-9]%|100%)$");
}

Status ValidateMaxErrors(std::string_view value) {
  if (value.size() >= 1 && value.size() <= 7 &&
      (value == "0" || PositiveNumber(value) || Percentage(value, true))) {
    return OkStatus();
  }
  return PatternError("maxErrors", value, "^([1-9][0-9]*|[0]|[1-9][0-9]%|[0-9]%|100%)$");
}

int ConcurrencyLimit(std::string_view value, int target_count) {
  long long n = Number(value);
  if (!value.empty() && value.back() == '%') n = (n * target_count + 99) / 100;
  if (n < 1) n = 1;
  return static_cast<int>(n);
}

int ErrorLimit(std::string_view value, int target_count) {
  long long n = Number(value);
  if (!value.empty() && value.back() == '%') n = n * target_count / 100;
  return static_cast<int>(n);
}

}  // namespace kw::commands
