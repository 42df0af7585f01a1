// Policy evaluation: on every request, so it only compares what Parse precompiled.

#include <string>
#include <string_view>

#include "policy/detail/internal.hpp"
#include "policy/detail/statement.hpp"
#include "policy/policy.hpp"

namespace kw::policy {
namespace {

using detail::PrincipalEntry;
using detail::PrincipalType;

std::string_view RequestAccount(const RequestContext& request) {
  if (!request.principal_account.empty()) return request.principal_account;
  std::array<std::string_view, 6> parts;
  if (detail::SplitArn(request.principal_arn, parts)) return parts[4];
  return {};
}

// A role ARN principal also matches the role's sessions,
// "arn:aws:sts::ACCT:assumed-role/RoleName/Session", by account and role name. Role
// paths are not part of a session ARN, so only the name is compared.
bool IsSessionOfRole(const PrincipalEntry& role, std::string_view principal_arn) {
  std::array<std::string_view, 6> parts;
  if (!detail::SplitArn(principal_arn, parts) || parts[2] != "sts" || parts[4] != role.account) {
    return false;
  }
  constexpr std::string_view kPrefix = "assumed-role/";
  std::string_view rest = parts[5];
  if (rest.substr(0, kPrefix.size()) != kPrefix) return false;
  rest.remove_prefix(kPrefix.size());
  const std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return false;
  return rest.substr(0, slash) == role.role_name;
}

bool PrincipalMatches(const PrincipalEntry& e, const RequestContext& request) {
  switch (e.type) {
    case PrincipalType::kAny:
      return true;
    case PrincipalType::kAccount: {
      const std::string_view account = RequestAccount(request);
      return !account.empty() && account == e.value;
    }
    case PrincipalType::kArn:
    case PrincipalType::kNamed:
      return !request.principal_arn.empty() && request.principal_arn == e.value;
    case PrincipalType::kRole:
      return request.principal_arn == e.value || IsSessionOfRole(e, request.principal_arn);
  }
  return false;
}

bool StatementApplies(const Statement& s, bool resource_policy, const RequestContext& request) {
  bool action = false;
  for (const detail::Pattern& p : s.actions) {
    if (detail::MatchPattern(p, request.action, /*case_insensitive=*/true, request)) {
      action = true;
      break;
    }
  }
  if (action == s.not_action) return false;

  if (s.has_resource) {
    bool resource = false;
    for (const detail::Pattern& p : s.resources) {
      if (detail::MatchPattern(p, request.resource, false, request)) {
        resource = true;
        break;
      }
    }
    if (resource == s.not_resource) return false;
  }

  if (resource_policy && s.has_principal) {
    bool principal = false;
    for (const PrincipalEntry& e : s.principals) {
      if (PrincipalMatches(e, request)) {
        principal = true;
        break;
      }
    }
    if (principal == s.not_principal) return false;
  }

  for (const detail::ConditionClause& c : s.conditions) {
    if (!detail::EvaluateClause(c, request)) return false;
  }
  return true;
}

}  // namespace

Decision Evaluate(const std::vector<const Policy*>& policies, const RequestContext& request) {
  bool allowed = false;
  for (const Policy* policy : policies) {
    if (policy == nullptr) continue;
    const bool resource_policy = policy->kind() == PolicyKind::kResource;
    for (const Statement& s : policy->statements()) {
      // Once allowed, only a Deny can change the outcome.
      if (s.allow && allowed) continue;
      if (!StatementApplies(s, resource_policy, request)) continue;
      if (!s.allow) return Decision::kExplicitDeny;
      allowed = true;
    }
  }
  return allowed ? Decision::kAllow : Decision::kImplicitDeny;
}

}  // namespace kw::policy
