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
#include <optional>
#include <string>
#include <string_view>

#include "api/http/json_protocol.hpp"
#include "iam/principal.hpp"
#include "secrets/secret_service.hpp"

namespace kw::api {

// keyward's own rotation of a secret (a rotation policy names it), as Secrets Manager
// shows and starts it. The composition root implements this over the rotation engine,
// so that this adapter does not depend on it. Thread-safe.
class SecretRotationLink {
 public:
  struct State {
    std::optional<TimePoint> next_rotation;
    std::optional<TimePoint> last_rotated;  // when a rotation last promoted a new version
  };
  virtual ~SecretRotationLink() = default;
  // nullopt when no rotation policy covers the secret (given by its name and its ARN).
  virtual Result<std::optional<State>> Find(std::string_view name, std::string_view arn) = 0;
  // Starts a rotation now. nullopt when no policy covers the secret; otherwise the ID of
  // the version the rotation will create, empty while it is not known (the rotation
  // names its version when it creates the key). "InvalidRequestException" while a
  // rotation is in progress.
  virtual Result<std::optional<std::string>> RotateNow(std::string_view name,
                                                       std::string_view arn) = 0;
};

// BatchGetSecretValue checks secretsmanager:GetSecretValue on each secret with
// JsonCall::authorize, as AWS does; a call without an authorizer gets nothing.
// With a `rotation` link (may be null): DescribeSecret and ListSecrets show a covered
// secret's RotationEnabled (true), NextRotationDate and LastRotatedDate from its policy,
// and RotateSecret on it stores any RotationRules / RotationLambdaARN as Secrets
// Manager does and then, unless RotateImmediately is false, starts a rotation now. For
// secrets no policy covers, RotateSecret only stores the configuration (nothing
// rotates). References must outlive the service.
JsonService SecretsManagerJsonService(secrets::SecretService& secrets, const iam::Account& account,
                                      SecretRotationLink* rotation = nullptr);

}  // namespace kw::api
