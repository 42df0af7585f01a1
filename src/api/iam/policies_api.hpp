#pragma once

// The IAM query-protocol operations on roles and policies:
//   roles: CreateRole, GetRole, ListRoles, UpdateRole, UpdateAssumeRolePolicy, DeleteRole,
//          TagRole, UntagRole, ListRoleTags
//   inline: Put/Get/List/DeleteUserPolicy(ies), Put/Get/List/DeleteRolePolicy(ies)
//   managed: CreatePolicy, GetPolicy, ListPolicies, DeletePolicy, CreatePolicyVersion,
//          GetPolicyVersion, ListPolicyVersions, DeletePolicyVersion,
//          SetDefaultPolicyVersion, Attach/DetachUserPolicy, Attach/DetachRolePolicy,
//          ListAttachedUserPolicies, ListAttachedRolePolicies, ListEntitiesForPolicy
//
// Each handler decodes the form parameters, calls iam::PolicyService once and writes
// the inside of <{Op}Result> with the botocore model's element names. Policy
// documents are URL-encoded in responses, as AWS returns them. Authorization
// resources: the role's ARN, the user's ARN (its path from the user directory, "/"
// if unknown), the policy ARN; "*" for account-wide lists.

#include <vector>

#include "api/http/query_protocol.hpp"
#include "iam/policy_service.hpp"
#include "iam/principal.hpp"

namespace kw::api {

// The operations hold a reference to `policies` and a copy of `account`; `policies`
// must outlive them. Thread-safe as the service is.
std::vector<QueryOperation> PolicyOperations(iam::PolicyService& policies,
                                             const iam::Account& account);

}  // namespace kw::api
