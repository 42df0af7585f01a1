#pragma once

// Builds the external integrations an integrations file declares (one AwsConnection
// and one adapter per entry) and registers them with the rotation engine under
// their names. Owns everything it builds; must outlive the engine's use of them.

#include <memory>
#include <vector>

#include "awsclient/aws_connection.hpp"
#include "awsclient/secret_credentials.hpp"
#include "rotation/external/aws_iam_issuer.hpp"
#include "rotation/external/aws_secrets_target.hpp"
#include "rotation/external/aws_ssm_delivery.hpp"
#include "rotation/external/aws_ssm_directory.hpp"
#include "rotation/rotation_engine.hpp"
#include "secrets/secret_service.hpp"
#include "server/integrations_config.hpp"

namespace kw::server {

// The key pair in AWSCURRENT of one of keyward's own secrets (SecretString JSON, as
// rotation::ReadKeyPair reads it), for entries with `credentials_secret`. Reads
// through the service (which caches), with no authorization: the server reads its own
// configuration. Thread-safe (SecretService is).
class SecretServiceKeyReader final : public awsclient::SecretKeyReader {
 public:
  explicit SecretServiceKeyReader(secrets::SecretService& secrets) : secrets_(secrets) {}
  Result<awsclient::SecretKeyPair> ReadCurrent(std::string_view secret_name) override;

 private:
  secrets::SecretService& secrets_;
};

class ExternalIntegrations {
 public:
  // Clock and random must outlive the result. Credentials are not resolved here (a
  // missing credential shows up as the waiting reason of the rotations that need it).
  // `own_secrets` (borrowed, must outlive the result) reads the entries'
  // credentials_secret; null: such an entry is an error.
  static Result<std::unique_ptr<ExternalIntegrations>> Build(
      const IntegrationsConfig& config, const Clock& clock, Random& random,
      awsclient::EnvLookup env, awsclient::SecretKeyReader* own_secrets = nullptr);
  // Not thread-safe; call from the composition root before the engine runs.
  void RegisterWith(rotation::RotationEngine& engine);
  std::size_t issuer_count() const { return issuers_.size(); }

 private:
  // The connection of one entry, with the secret-backed provider it borrows (declared
  // first so that it outlives the connection).
  struct Connection {
    std::unique_ptr<awsclient::CredentialProvider> credentials;  // null: the chain
    std::unique_ptr<awsclient::AwsConnection> connection;
  };
  static Result<Connection> Connect(const awsclient::AwsConnectionSettings& settings,
                                    const Clock& clock, Random& random, awsclient::EnvLookup env,
                                    awsclient::SecretKeyReader* own_secrets);

  struct Issuer {
    std::string name;
    Connection connection;
    std::unique_ptr<rotation::external::AwsIamIssuer> issuer;
  };
  std::vector<Issuer> issuers_;
  struct Store {
    std::string name;
    Connection connection;
    std::unique_ptr<rotation::external::AwsSecretsTarget> target;
  };
  std::vector<Store> stores_;
  struct Delivery {
    std::string name;
    Connection connection;
    std::unique_ptr<rotation::external::AwsSsmDelivery> delivery;
    // Resolves the "tag:" targets of policies with this delivery to managed instances.
    std::unique_ptr<rotation::external::AwsSsmInstanceDirectory> directory;
  };
  std::vector<Delivery> deliveries_;
};

}  // namespace kw::server
