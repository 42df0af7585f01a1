#pragma once

// The STS query-protocol service: AssumeRole, GetSessionToken, GetCallerIdentity.
//
// GetCallerIdentity is open to every authenticated caller (authorize=false).
// AssumeRole authorizes itself (authorize=false): it passes the caller's identity
// policies, from `policies`, to StsService::AssumeRole, which combines them with the
// role's trust policy as AWS does. GetSessionToken is authorized by the dispatcher on
// resource "*". Session policies (Policy, PolicyArns) are refused with
// ValidationError; session Tags, ExternalId and SourceIdentity are honoured;
// SerialNumber/TokenCode (MFA) are ignored, so a trust policy that requires MFA denies.

#include "api/http/query_protocol.hpp"
#include "iam/principal.hpp"
#include "sts/sts_service.hpp"

namespace kw::api {

// Holds references to `sts` and `policies` (which must outlive it) and a copy of
// `account`. signing_name/action_prefix "sts", version 2011-06-15.
QueryService StsQueryService(sts::StsService& sts, iam::PolicyResolver& policies,
                             const iam::Account& account);

}  // namespace kw::api
