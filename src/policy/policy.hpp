#pragma once

// The IAM policy language: parse a policy document and evaluate policies against a
// request. Pure; thread-safe (a parsed Policy is immutable).
//
// Evaluation follows AWS: an explicit Deny in any policy wins; otherwise an Allow in
// any policy allows; otherwise the request is implicitly denied.

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace kw::policy {

enum class PolicyKind {
  kIdentity,  // attached to a user or role: no Principal element allowed
  kResource,  // a role's trust policy or a resource policy: Principal required
};

struct Statement;  // defined in policy/detail/statement.hpp

class Policy {
 public:
  Policy();
  ~Policy();
  Policy(Policy&&) noexcept;
  Policy& operator=(Policy&&) noexcept;

  PolicyKind kind() const;
  const std::vector<Statement>& statements() const;

 private:
  friend Result<Policy> Parse(std::string_view, PolicyKind);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Parses a JSON policy document (Version "2012-10-17" or "2008-10-17"; Statement an
// object or array; Action/NotAction, Resource/NotResource, Principal/NotPrincipal,
// Condition). Errors: kInvalidArgument with reason "MalformedPolicyDocument" and a
// message that says what is wrong, like AWS's ("Syntax errors in policy.",
// "Policy statement must contain actions.", ...). Never throws.
Result<Policy> Parse(std::string_view json, PolicyKind kind);

// What is being asked, as the evaluator sees it.
struct RequestContext {
  std::string action;    // "iam:CreateUser"; matched case-insensitively
  std::string resource;  // an ARN, or "*" for actions that take no resource
  // Condition keys and their values. Keys are matched case-insensitively (store
  // them lowercase: "aws:sourceip", "aws:principaltag/team"); multi-valued keys have
  // several values. A key absent from the map, or present with no values, is "not
  // present" for ...IfExists, the Null operator and the set qualifiers. Policy variables
  // (${aws:username}, ${aws:PrincipalTag/team}) are read from these keys too; one
  // whose key is absent or multi-valued, without a default, makes its element not match.
  std::map<std::string, std::vector<std::string>> keys;
  // For resource policies (trust policies): who is asking. Principal elements match:
  //   "*" / {"AWS": "*"}: everyone;
  //   {"AWS": "123456789012"} or "arn:aws:iam::123456789012:root": every principal whose
  //     principal_account (or, if empty, the account field of principal_arn) is that;
  //   {"AWS": role ARN}: that role, and any of its sessions
  //     "arn:aws:sts::ACCT:assumed-role/RoleName/Session" (same account and role name;
  //     the role's path is not compared, a session ARN does not carry it);
  //   {"AWS": other ARN}: principal_arn exactly;
  //   {"Service" | "Federated" | "CanonicalUser": x}: principal_arn == x, so a service
  //     principal asks with principal_arn "ec2.amazonaws.com".
  std::string principal_arn;      // "arn:aws:iam::123456789012:user/alice"
  std::string principal_account;  // "123456789012"
};

enum class Decision { kImplicitDeny, kAllow, kExplicitDeny };

// Evaluates every statement of every policy. Identity and resource policies may be
// mixed; Principal elements are matched only in resource policies.
Decision Evaluate(const std::vector<const Policy*>& policies, const RequestContext& request);

// Glob match with IAM's wildcards: '*' any run, '?' one character.
bool WildcardMatch(std::string_view pattern, std::string_view value, bool case_insensitive);

}  // namespace kw::policy
