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

// BatchGetSecretValue checks secretsmanager:GetSecretValue on each secret with
// JsonCall::authorize, as AWS does; a call without an authorizer gets nothing.
// References must outlive the service.
JsonService SecretsManagerJsonService(secrets::SecretService& secrets, const iam::Account& account);

}  // namespace kw::api
