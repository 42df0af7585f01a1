#pragma once

// Functions shared by the policy module's .cpp files. Not part of the public API.

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "common/strings.hpp"
#include "policy/detail/statement.hpp"
#include "policy/policy.hpp"

namespace kw::policy::detail {

// Limits that keep a hostile document from costing much (callers bound its size).
inline constexpr std::size_t kMaxStatements = 1000;
inline constexpr std::size_t kMaxValues = 1000;            // per Action, Resource, condition key...
inline constexpr std::size_t kMaxConditionClauses = 1000;  // per statement
inline constexpr int kMaxJsonDepth = 32;

Error Malformed(std::string message);

// Glob match; the pattern may use '\' to make the next character literal. With
// `case_insensitive`, both sides are compared lowercased.
bool GlobMatch(std::string_view pattern, std::string_view value, bool case_insensitive);

// Compiles `text` (a policy string). `glob`: '*' and '?' are wildcards. `variables`:
// ${...} is expanded at evaluation time (Version 2012-10-17). `lower`: lowercase the
// literal parts (the request side is lowercased while matching).
Pattern CompilePattern(std::string_view text, bool glob, bool variables, bool lower);

// Expands a kVariables pattern into `out` (escaped for a glob pattern, raw otherwise).
// False when a variable has no value in the request and no default.
bool ExpandPattern(const Pattern& p, const RequestContext& request, std::string& out);

// Whether `value` matches. Case-insensitive patterns must have been compiled lowercase.
bool MatchPattern(const Pattern& p, std::string_view value, bool case_insensitive,
                  const RequestContext& request);

// Splits an ARN into 6 parts; false if it has fewer than 5 colons.
bool SplitArn(std::string_view arn, std::array<std::string_view, 6>& parts);

// The values of a condition key (case-insensitive), or nullptr if absent.
const std::vector<std::string>* FindKey(const RequestContext& request, const std::string& key);

// Parses one operator block of a Condition: `op_name` ("ForAnyValue:StringLikeIfExists")
// with `block` ({"key": value-or-array, ...}), appending clauses to `out`.
Status ParseConditionBlock(std::string_view op_name, const nlohmann::json& block, bool variables,
                           std::vector<ConditionClause>& out);

bool EvaluateClause(const ConditionClause& clause, const RequestContext& request);

// Date values as IAM accepts them: ISO 8601 ("2026-01-02T03:04:05Z", with fractional
// seconds, a "+hh:mm" offset, or date only) or epoch seconds.
std::optional<TimePoint> ParseDate(std::string_view s);
std::optional<double> ParseNumber(std::string_view s);
std::optional<Cidr> ParseCidr(std::string_view s);
bool CidrContains(const Cidr& net, const Cidr& addr);

}  // namespace kw::policy::detail
