#pragma once

// The IAM query-protocol operations on users and access keys: CreateUser, GetUser,
// ListUsers, UpdateUser, DeleteUser, TagUser, UntagUser, ListUserTags,
// CreateAccessKey, ListAccessKeys, UpdateAccessKey, DeleteAccessKey,
// GetAccessKeyLastUsed, GenerateCredentialReport, GetCredentialReport.
//
// Each handler decodes the form parameters, calls iam::UserService once and writes
// the inside of <{Op}Result> with the element names of the botocore IAM model. The
// resource used for authorization is the target user's ARN (looked up for its path;
// "/" if the user does not exist), the caller's ARN when UserName is omitted, and
// "*" for the credential report.

#include <vector>

#include "api/http/query_protocol.hpp"
#include "iam/principal.hpp"
#include "iam/user_service.hpp"

namespace kw::api {

// The operations hold references to `users` and a copy of `account`; `users` must
// outlive them. Thread-safe as the service is.
std::vector<QueryOperation> UserOperations(iam::UserService& users, const iam::Account& account);

}  // namespace kw::api
