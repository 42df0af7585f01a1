// Condition operators: parsing an operator block and evaluating a clause.
//
// Semantics follow the IAM documentation:
//   - keys within one operator block are ANDed (one clause each); the policy values of
//     one key are ORed;
//   - a key absent from the request (or present with no values) makes a positive
//     operator false and a negated one (StringNotEquals, NotIpAddress, ...) true;
//     ...IfExists makes it true either way; ForAllValues is true and ForAnyValue false;
//   - a multi-valued request key without a set qualifier behaves like ForAnyValue.

#include <arpa/inet.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

#include "common/time_format.hpp"
#include "policy/detail/internal.hpp"

namespace kw::policy::detail {
namespace {

using nlohmann::json;

struct OperatorInfo {
  std::string_view name;  // lowercase
  ConditionOp op;
  bool negated;
};

constexpr OperatorInfo kOperators[] = {
    {"stringequals", ConditionOp::kStringEquals, false},
    {"stringnotequals", ConditionOp::kStringEquals, true},
    {"stringequalsignorecase", ConditionOp::kStringEqualsIgnoreCase, false},
    {"stringnotequalsignorecase", ConditionOp::kStringEqualsIgnoreCase, true},
    {"stringlike", ConditionOp::kStringLike, false},
    {"stringnotlike", ConditionOp::kStringLike, true},
    {"numericequals", ConditionOp::kNumericEquals, false},
    {"numericnotequals", ConditionOp::kNumericEquals, true},
    {"numericlessthan", ConditionOp::kNumericLessThan, false},
    {"numericlessthanequals", ConditionOp::kNumericLessThanEquals, false},
    {"numericgreaterthan", ConditionOp::kNumericGreaterThan, false},
    {"numericgreaterthanequals", ConditionOp::kNumericGreaterThanEquals, false},
    {"dateequals", ConditionOp::kDateEquals, false},
    {"datenotequals", ConditionOp::kDateEquals, true},
    {"datelessthan", ConditionOp::kDateLessThan, false},
    {"datelessthanequals", ConditionOp::kDateLessThanEquals, false},
    {"dategreaterthan", ConditionOp::kDateGreaterThan, false},
    {"dategreaterthanequals", ConditionOp::kDateGreaterThanEquals, false},
    {"bool", ConditionOp::kBool, false},
    {"binaryequals", ConditionOp::kBinaryEquals, false},
    {"ipaddress", ConditionOp::kIpAddress, false},
    {"notipaddress", ConditionOp::kIpAddress, true},
    {"arnequals", ConditionOp::kArnLike, false},
    {"arnnotequals", ConditionOp::kArnLike, true},
    {"arnlike", ConditionOp::kArnLike, false},
    {"arnnotlike", ConditionOp::kArnLike, true},
    {"null", ConditionOp::kNull, false},
};

bool IsNumeric(ConditionOp op) {
  return op >= ConditionOp::kNumericEquals && op <= ConditionOp::kNumericGreaterThanEquals;
}
bool IsDate(ConditionOp op) {
  return op >= ConditionOp::kDateEquals && op <= ConditionOp::kDateGreaterThanEquals;
}

bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && EqualsIgnoreCase(s.substr(0, prefix.size()), prefix);
}
bool EndsWithIgnoreCase(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && EqualsIgnoreCase(s.substr(s.size() - suffix.size()), suffix);
}

// Keeps error messages short whatever the document holds.
std::string Quote(std::string_view s) {
  constexpr std::size_t kMax = 64;
  if (s.size() > kMax) return std::string(s.substr(0, kMax)) + "...";
  return std::string(s);
}

Error InvalidOperator(std::string_view name) {
  return Malformed("Invalid Condition operator: " + Quote(name));
}

Error InvalidValue(std::string_view op_name, std::string_view value) {
  return Malformed("Invalid value for Condition operator " + Quote(op_name) + ": " + Quote(value));
}

// A condition value as text; numbers and booleans are accepted as IAM does.
std::optional<std::string> ScalarText(const json& v) {
  if (v.is_string()) return v.get_ref<const std::string&>();
  if (v.is_boolean()) return std::string(v.get<bool>() ? "true" : "false");
  if (v.is_number_integer() && !v.is_number_unsigned())
    return std::to_string(v.get<std::int64_t>());
  if (v.is_number_unsigned()) return std::to_string(v.get<std::uint64_t>());
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!std::isfinite(d)) return std::nullopt;
    return v.dump();
  }
  return std::nullopt;
}

bool ToEscapedGlob(const Pattern& p, std::string& out) {
  switch (p.kind) {
    case Pattern::Kind::kAny:
      out = "*";
      return true;
    case Pattern::Kind::kExact:
      out.clear();
      for (char c : p.text) {
        if (c == '\\') out.push_back('\\');
        out.push_back(c);
      }
      return true;
    case Pattern::Kind::kGlob:
      out = p.text;
      return true;
    case Pattern::Kind::kVariables:
      return false;
  }
  return false;
}

Result<ConditionValue> CompileValue(ConditionOp op, std::string_view op_name, const json& v,
                                    bool variables) {
  const std::optional<std::string> text = ScalarText(v);
  if (!text) return Malformed("Syntax errors in policy.");
  ConditionValue cv;
  switch (op) {
    case ConditionOp::kStringEquals:
      cv.pattern = CompilePattern(*text, /*glob=*/false, variables, /*lower=*/false);
      break;
    case ConditionOp::kStringEqualsIgnoreCase:
      cv.pattern = CompilePattern(*text, false, variables, true);
      break;
    case ConditionOp::kStringLike:
      cv.pattern = CompilePattern(*text, true, variables, false);
      break;
    case ConditionOp::kBinaryEquals:
      cv.pattern = CompilePattern(*text, false, false, false);
      break;
    case ConditionOp::kBool: {
      const std::string lower = ToLowerAscii(*text);
      if (lower != "true" && lower != "false") return InvalidValue(op_name, *text);
      cv.pattern = CompilePattern(lower, false, false, false);
      break;
    }
    case ConditionOp::kNull: {
      const std::string lower = ToLowerAscii(*text);
      if (lower != "true" && lower != "false") return InvalidValue(op_name, *text);
      cv.null_wanted = lower == "true";
      break;
    }
    case ConditionOp::kIpAddress: {
      std::optional<Cidr> cidr = ParseCidr(*text);
      if (!cidr) return InvalidValue(op_name, *text);
      cv.cidr = *cidr;
      break;
    }
    case ConditionOp::kArnLike: {
      cv.pattern = CompilePattern(*text, true, variables, false);
      std::string escaped;
      if (ToEscapedGlob(cv.pattern, escaped)) {
        std::array<std::string_view, 6> parts;
        if (SplitArn(escaped, parts)) {
          cv.arn.split = true;
          for (int i = 0; i < 6; ++i) cv.arn.parts[i] = std::string(parts[i]);
        }
      }
      break;
    }
    default:
      if (IsNumeric(op)) {
        std::optional<double> n =
            v.is_number_float() ? std::optional<double>(v.get<double>()) : ParseNumber(*text);
        if (!n) return InvalidValue(op_name, *text);
        cv.number = *n;
      } else if (IsDate(op)) {
        std::optional<TimePoint> t = ParseDate(*text);
        if (!t) return InvalidValue(op_name, *text);
        cv.time = *t;
      }
      break;
  }
  return cv;
}

bool CompareNumbers(ConditionOp op, double request, double policy) {
  switch (op) {
    case ConditionOp::kNumericEquals:
      return request == policy;
    case ConditionOp::kNumericLessThan:
      return request < policy;
    case ConditionOp::kNumericLessThanEquals:
      return request <= policy;
    case ConditionOp::kNumericGreaterThan:
      return request > policy;
    case ConditionOp::kNumericGreaterThanEquals:
      return request >= policy;
    default:
      return false;
  }
}

bool CompareDates(ConditionOp op, TimePoint request, TimePoint policy) {
  switch (op) {
    case ConditionOp::kDateEquals:
      return request == policy;
    case ConditionOp::kDateLessThan:
      return request < policy;
    case ConditionOp::kDateLessThanEquals:
      return request <= policy;
    case ConditionOp::kDateGreaterThan:
      return request > policy;
    case ConditionOp::kDateGreaterThanEquals:
      return request >= policy;
    default:
      return false;
  }
}

bool ArnPartsMatch(const std::array<std::string_view, 6>& pattern,
                   const std::array<std::string_view, 6>& value) {
  for (int i = 0; i < 6; ++i) {
    if (!GlobMatch(pattern[i], value[i], false)) return false;
  }
  return true;
}

bool ArnMatch(const ConditionValue& cv, std::string_view value, const RequestContext& request) {
  const Pattern& p = cv.pattern;
  if (p.kind == Pattern::Kind::kAny) return true;
  std::array<std::string_view, 6> vparts;
  if (p.kind == Pattern::Kind::kVariables) {
    std::string expanded;
    if (!ExpandPattern(p, request, expanded)) return false;
    std::array<std::string_view, 6> pparts;
    if (!SplitArn(expanded, pparts)) return GlobMatch(expanded, value, false);
    return SplitArn(value, vparts) && ArnPartsMatch(pparts, vparts);
  }
  if (!cv.arn.split) return MatchPattern(p, value, false, request);
  if (!SplitArn(value, vparts)) return false;
  std::array<std::string_view, 6> pparts;
  for (int i = 0; i < 6; ++i) pparts[i] = cv.arn.parts[i];
  return ArnPartsMatch(pparts, vparts);
}

// Whether one request value satisfies the positive form of the operator against any
// of the policy values.
bool MatchesAny(const ConditionClause& c, std::string_view value, const RequestContext& request) {
  switch (c.op) {
    case ConditionOp::kStringEquals:
    case ConditionOp::kStringLike:
    case ConditionOp::kBinaryEquals:
      for (const ConditionValue& cv : c.values) {
        if (MatchPattern(cv.pattern, value, false, request)) return true;
      }
      return false;
    case ConditionOp::kStringEqualsIgnoreCase:
    case ConditionOp::kBool:
      for (const ConditionValue& cv : c.values) {
        if (MatchPattern(cv.pattern, value, true, request)) return true;
      }
      return false;
    case ConditionOp::kIpAddress: {
      const std::optional<Cidr> addr = ParseCidr(value);
      if (!addr) return false;
      for (const ConditionValue& cv : c.values) {
        if (CidrContains(cv.cidr, *addr)) return true;
      }
      return false;
    }
    case ConditionOp::kArnLike:
      for (const ConditionValue& cv : c.values) {
        if (ArnMatch(cv, value, request)) return true;
      }
      return false;
    case ConditionOp::kNull:
      return false;  // handled by the caller
    default:
      break;
  }
  if (IsNumeric(c.op)) {
    const std::optional<double> n = ParseNumber(value);
    if (!n) return false;
    for (const ConditionValue& cv : c.values) {
      if (CompareNumbers(c.op, *n, cv.number)) return true;
    }
    return false;
  }
  if (IsDate(c.op)) {
    const std::optional<TimePoint> t = ParseDate(value);
    if (!t) return false;
    for (const ConditionValue& cv : c.values) {
      if (CompareDates(c.op, *t, cv.time)) return true;
    }
    return false;
  }
  return false;
}

}  // namespace

Status ParseConditionBlock(std::string_view op_name, const json& block, bool variables,
                           std::vector<ConditionClause>& out) {
  std::string_view name = op_name;
  SetQualifier qualifier = SetQualifier::kNone;
  if (StartsWithIgnoreCase(name, "ForAnyValue:")) {
    qualifier = SetQualifier::kForAnyValue;
    name.remove_prefix(12);
  } else if (StartsWithIgnoreCase(name, "ForAllValues:")) {
    qualifier = SetQualifier::kForAllValues;
    name.remove_prefix(13);
  }
  bool if_exists = false;
  if (EndsWithIgnoreCase(name, "IfExists")) {
    if_exists = true;
    name.remove_suffix(8);
  }
  const OperatorInfo* info = nullptr;
  for (const OperatorInfo& candidate : kOperators) {
    if (EqualsIgnoreCase(candidate.name, name)) {
      info = &candidate;
      break;
    }
  }
  // NullIfExists would contradict itself.
  if (info == nullptr || (info->op == ConditionOp::kNull && if_exists)) {
    return InvalidOperator(op_name);
  }
  if (!block.is_object()) return Malformed("Syntax errors in policy.");
  for (const auto& [key, value] : block.items()) {
    if (out.size() >= kMaxConditionClauses) return Malformed("Too many condition keys.");
    if (key.empty()) return Malformed("Syntax errors in policy.");
    ConditionClause clause;
    clause.op = info->op;
    clause.negated = info->negated;
    clause.if_exists = if_exists;
    clause.qualifier = qualifier;
    clause.key = ToLowerAscii(key);
    if (value.is_array()) {
      if (value.size() > kMaxValues) return Malformed("Too many values for condition key.");
      clause.values.reserve(value.size());
      for (const json& v : value) {
        KW_ASSIGN_OR_RETURN(ConditionValue cv, CompileValue(info->op, op_name, v, variables));
        clause.values.push_back(std::move(cv));
      }
    } else {
      KW_ASSIGN_OR_RETURN(ConditionValue cv, CompileValue(info->op, op_name, value, variables));
      clause.values.push_back(std::move(cv));
    }
    out.push_back(std::move(clause));
  }
  return OkStatus();
}

bool EvaluateClause(const ConditionClause& c, const RequestContext& request) {
  const std::vector<std::string>* values = FindKey(request, c.key);
  const bool present = values != nullptr && !values->empty();
  if (c.op == ConditionOp::kNull) {
    for (const ConditionValue& cv : c.values) {
      if (cv.null_wanted != present) return true;
    }
    return false;
  }
  if (!present) {
    if (c.if_exists) return true;
    switch (c.qualifier) {
      case SetQualifier::kForAllValues:
        return true;
      case SetQualifier::kForAnyValue:
        return false;
      case SetQualifier::kNone:
        return c.negated;
    }
  }
  if (c.qualifier == SetQualifier::kForAllValues) {
    for (const std::string& v : *values) {
      if (MatchesAny(c, v, request) == c.negated) return false;
    }
    return true;
  }
  for (const std::string& v : *values) {
    if (MatchesAny(c, v, request) != c.negated) return true;
  }
  return false;
}

std::optional<double> ParseNumber(std::string_view s) {
  if (s.empty()) return std::nullopt;
  double d = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(d)) return std::nullopt;
  return d;
}

std::optional<TimePoint> ParseDate(std::string_view s) {
  constexpr double kMaxEpochSeconds = 9e9;  // year 2255
  constexpr int kMaxYear = 2261;
  if (s.empty()) return std::nullopt;
  const std::string_view unsigned_part = s.front() == '-' ? s.substr(1) : s;
  if (unsigned_part.find_first_not_of("0123456789.") == std::string_view::npos) {
    const std::optional<double> secs = ParseNumber(s);
    // TimePoint counts nanoseconds in 64 bits: it ends in 2262.
    if (!secs || std::fabs(*secs) > kMaxEpochSeconds) return std::nullopt;
    return TimePoint(
        std::chrono::duration_cast<TimePoint::duration>(std::chrono::duration<double>(*secs)));
  }
  // common's ParseIso8601 accepts years up to 9999, beyond what TimePoint holds.
  int year = 0;
  if (s.size() < 10 || std::from_chars(s.data(), s.data() + 4, year).ptr != s.data() + 4 ||
      year > kMaxYear) {
    return std::nullopt;
  }
  if (s.size() == 10 && s[4] == '-' && s[7] == '-') {
    return ParseIso8601(std::string(s) + "T00:00:00Z");
  }
  // "+hh:mm" / "-hh:mm" offsets: parse as UTC, then shift.
  if (s.size() >= 25 && (s[s.size() - 6] == '+' || s[s.size() - 6] == '-') &&
      s[s.size() - 3] == ':') {
    const std::string_view off = s.substr(s.size() - 5);
    int hh = 0, mm = 0;
    if (std::from_chars(off.data(), off.data() + 2, hh).ptr != off.data() + 2 ||
        std::from_chars(off.data() + 3, off.data() + 5, mm).ptr != off.data() + 5 || hh < 0 ||
        hh > 23 || mm < 0 || mm > 59) {
      return std::nullopt;
    }
    std::optional<TimePoint> base = ParseIso8601(std::string(s.substr(0, s.size() - 6)) + "Z");
    if (!base) return std::nullopt;
    const auto offset = std::chrono::hours(hh) + std::chrono::minutes(mm);
    return s[s.size() - 6] == '+' ? *base - offset : *base + offset;
  }
  return ParseIso8601(s);
}

std::optional<Cidr> ParseCidr(std::string_view s) {
  std::string_view addr = s;
  std::optional<int> prefix;
  const std::size_t slash = s.find('/');
  if (slash != std::string_view::npos) {
    addr = s.substr(0, slash);
    const std::string_view p = s.substr(slash + 1);
    int n = 0;
    const auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), n);
    if (p.empty() || p.size() > 3 || ec != std::errc() || ptr != p.data() + p.size()) {
      return std::nullopt;
    }
    prefix = n;
  }
  char buf[INET6_ADDRSTRLEN + 1];
  if (addr.empty() || addr.size() >= sizeof buf) return std::nullopt;
  std::memcpy(buf, addr.data(), addr.size());
  buf[addr.size()] = '\0';
  Cidr c;
  if (addr.find(':') == std::string_view::npos) {
    if (inet_pton(AF_INET, buf, c.addr.data()) != 1) return std::nullopt;
    c.family = AF_INET;
    c.prefix = prefix.value_or(32);
    if (c.prefix < 0 || c.prefix > 32) return std::nullopt;
  } else {
    if (inet_pton(AF_INET6, buf, c.addr.data()) != 1) return std::nullopt;
    c.family = AF_INET6;
    c.prefix = prefix.value_or(128);
    if (c.prefix < 0 || c.prefix > 128) return std::nullopt;
    // An IPv4-mapped address (::ffff:a.b.c.d) is the IPv4 address.
    static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (c.prefix >= 96 && std::memcmp(c.addr.data(), kMapped, 12) == 0) {
      std::memmove(c.addr.data(), c.addr.data() + 12, 4);
      std::memset(c.addr.data() + 4, 0, 12);
      c.family = AF_INET;
      c.prefix -= 96;
    }
  }
  return c;
}

bool CidrContains(const Cidr& net, const Cidr& addr) {
  if (net.family != addr.family || addr.prefix < net.prefix) return false;
  const int full = net.prefix / 8;
  if (std::memcmp(net.addr.data(), addr.addr.data(), full) != 0) return false;
  const int rest = net.prefix % 8;
  if (rest == 0) return true;
  const std::uint8_t mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (net.addr[full] & mask) == (addr.addr[full] & mask);
}

}  // namespace kw::policy::detail
