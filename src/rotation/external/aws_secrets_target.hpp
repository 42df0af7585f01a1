#pragma once

// rotation::SecretTarget over an AWS-compatible Secrets Manager endpoint (AWS itself,
// moto, another keyward), JSON 1.1 with SigV4:
//   GetCurrent  GetSecretValue(VersionStage AWSCURRENT)
//   GetVersion  GetSecretValue(VersionId), DescribeSecret to tell a missing version from
//               a missing secret
//   PutPending  PutSecretValue(ClientRequestToken = the rotation's token, VersionStages
//               [AWSPENDING]); a token reused with another value is ResourceExists
//   Promote     DescribeSecret, then UpdateSecretVersionStage AWSCURRENT
//               (MoveToVersionId / RemoveFromVersionId; AWS moves AWSPREVIOUS itself)
//               and AWSPENDING removed from the promoted version
//
// The value is returned as stored: the engine's preflight reads it with ReadKeyPair,
// so a SecretString without aws_access_key_id / aws_secret_access_key (or not JSON)
// fails the rotation at preflight, before any key is created. A secret holding only
// SecretBinary is kInvalidArgument ("InvalidSecretFormat"), as with the built-in target.
//
// Errors keep the AWS error code as `reason`, with the code the seam promises
// (ResourceNotFoundException -> kNotFound, ...; aws_json_errors.hpp). Messages never
// hold the value. Thread-safe (QueryClient is).

#include <memory>
#include <string>

#include "awsclient/aws_client.hpp"
#include "awsclient/aws_connection.hpp"
#include "rotation/secret_target.hpp"

namespace kw::rotation::external {

inline constexpr awsclient::JsonTarget kSecretsManager{"secretsmanager", "secretsmanager"};

class AwsSecretsTarget final : public SecretTarget {
 public:
  // `connection` must outlive the target. kInvalidArgument for a malformed endpoint.
  // Empty endpoint: https://secretsmanager.{region}.amazonaws.com.
  static Result<std::unique_ptr<AwsSecretsTarget>> Create(awsclient::AwsConnection& connection,
                                                          std::string endpoint);
  explicit AwsSecretsTarget(awsclient::QueryClient client) : client_(std::move(client)) {}

  Result<SecretVersion> GetCurrent(std::string_view secret_id) override;
  Result<std::optional<SecretVersion>> GetVersion(std::string_view secret_id,
                                                  std::string_view version_id) override;
  Status PutPending(std::string_view secret_id, std::string_view token,
                    const SecretBytes& value) override;
  Status Promote(std::string_view secret_id, std::string_view version_id) override;

 private:
  Result<SecretVersion> Get(const nlohmann::json& input);

  awsclient::QueryClient client_;
};

}  // namespace kw::rotation::external
