#pragma once

// The Secrets Manager JSON 1.1 API (`X-Amz-Target: secretsmanager.*`) over
// secrets::SecretService: decode the request, call the service, encode the answer.
// Timestamps are epoch seconds (numbers), binary values base64, as botocore expects.
//
// Authorization resources: the secret's full ARN (resolved from a name or partial
// ARN; an unknown secret is "arn:...:secret:" + the given id, so the caller gets
// AccessDenied or ResourceNotFoundException as in AWS); "*" for ListSecrets,
// GetRandomPassword and BatchGetSecretValue. Operations on a secret hand its resource
// policy to the dispatcher, which evaluates it together with the identity policies.

#include <functional>
#include <string_view>

#include "api/http/json_protocol.hpp"
#include "iam/principal.hpp"
#include "secrets/secret_service.hpp"

namespace kw::api {

// Authorizes `action` ("secretsmanager:GetSecretValue") on `resource` for the caller
// of `call`, with the secret's resource policy (may be null). Lets BatchGetSecretValue
// check GetSecretValue per secret, as AWS does; the composition root builds it over
// the dispatcher's policy evaluation.
using SecretAuthorizer =
    std::function<Status(const JsonCall& call, std::string_view action, std::string_view resource,
                         const policy::Policy* resource_policy)>;

// Without `authorize_each`, BatchGetSecretValue is authorized as the one action
// secretsmanager:BatchGetSecretValue on "*" and each secret is not checked again.
// References must outlive the service.
JsonService SecretsManagerJsonService(secrets::SecretService& secrets, const iam::Account& account,
                                      SecretAuthorizer authorize_each = nullptr);

}  // namespace kw::api
