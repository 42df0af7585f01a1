#pragma once

// The compiled form of a policy statement. Parse() does all string work it can up
// front (lowercasing actions, escaping globs, splitting ARNs, parsing CIDRs, numbers
// and dates) so that Evaluate() only compares. Immutable after Parse; thread-safe to
// read.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "common/clock.hpp"

namespace kw::policy {
namespace detail {

// One piece of a pattern that contains policy variables: either literal text (already
// in the form the matcher wants: escaped glob or raw text) or a variable reference.
struct Piece {
  bool is_variable = false;
  std::string text;  // literal text, or the lowercase condition key of the variable
  bool has_default = false;
  std::string default_value;  // ${key, 'default'}: used when the key is absent (raw)
};

// A string to compare against a request value.
//   kAny:       "*" in glob mode; matches everything.
//   kExact:     no wildcards (or a non-glob operator) and no variables; `text` is raw.
//   kGlob:      `text` is an escaped glob: '*' and '?' are wildcards, '\' makes the
//               next character literal (how ${*} and variable values stay literal).
//   kVariables: `pieces` must be expanded with the request's keys first.
struct Pattern {
  enum class Kind { kAny, kExact, kGlob, kVariables };
  Kind kind = Kind::kExact;
  bool glob = false;  // wildcards are active (Resource, Action, StringLike, Arn*)
  std::string text;
  std::vector<Piece> pieces;
};

// An ARN pattern split into its 6 colon-separated parts (the last keeps its colons),
// each an escaped glob. `split` is false when the value has fewer than 6 parts; then
// the whole value is matched as one glob.
struct ArnPattern {
  bool split = false;
  std::array<std::string, 6> parts;
};

struct Cidr {
  int family = 0;  // AF_INET or AF_INET6
  std::array<std::uint8_t, 16> addr{};
  int prefix = 0;
};

enum class ConditionOp {
  kStringEquals,
  kStringEqualsIgnoreCase,
  kStringLike,
  kNumericEquals,
  kNumericLessThan,
  kNumericLessThanEquals,
  kNumericGreaterThan,
  kNumericGreaterThanEquals,
  kDateEquals,
  kDateLessThan,
  kDateLessThanEquals,
  kDateGreaterThan,
  kDateGreaterThanEquals,
  kBool,
  kBinaryEquals,
  kIpAddress,
  kArnLike,  // ArnEquals and ArnLike are the same operator in AWS
  kNull,
};

enum class SetQualifier { kNone, kForAnyValue, kForAllValues };

// One policy value of a condition, pre-parsed for the operator's family.
struct ConditionValue {
  Pattern pattern;  // String*, Binary, Bool (lowercase), Arn* (whole value)
  ArnPattern arn;   // Arn* without variables
  double number = 0;
  TimePoint time{};
  Cidr cidr;
  bool null_wanted = false;  // Null: true means "the key must be absent"
};

// One key of one operator block: {"StringEquals": {"aws:username": ["a", "b"]}}.
struct ConditionClause {
  ConditionOp op = ConditionOp::kStringEquals;
  bool negated = false;  // StringNotEquals, NotIpAddress, ...
  bool if_exists = false;
  SetQualifier qualifier = SetQualifier::kNone;
  std::string key;  // lowercase
  std::vector<ConditionValue> values;
};

enum class PrincipalType {
  kAny,      // "*" or {"AWS": "*"}
  kAccount,  // "123456789012" or "arn:aws:iam::123456789012:root"
  kArn,      // any other AWS ARN: exact match
  kRole,     // "arn:aws:iam::ACCT:role/[path/]Name": exact, or an assumed-role session
  kNamed,    // Service, Federated, CanonicalUser: exact match against principal_arn
};

struct PrincipalEntry {
  PrincipalType type = PrincipalType::kAny;
  std::string value;      // account ID for kAccount; full string otherwise
  std::string account;    // kRole
  std::string role_name;  // kRole: last path segment
};

}  // namespace detail

struct Statement {
  std::string sid;
  bool allow = false;  // Effect
  bool not_action = false;
  std::vector<detail::Pattern> actions;  // lowercase globs
  bool has_resource = false;             // optional in resource policies
  bool not_resource = false;
  std::vector<detail::Pattern> resources;
  bool has_principal = false;
  bool not_principal = false;
  std::vector<detail::PrincipalEntry> principals;
  std::vector<detail::ConditionClause> conditions;  // all must hold
};

}  // namespace kw::policy
