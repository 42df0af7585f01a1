#include "server/integrations.hpp"

#include "rotation/secret_json.hpp"

namespace kw::server {

Result<awsclient::SecretKeyPair> SecretServiceKeyReader::ReadCurrent(std::string_view secret_name) {
  KW_ASSIGN_OR_RETURN(secrets::SecretValue value,
                      secrets_.GetSecretValue(secret_name, std::nullopt, "AWSCURRENT"));
  if (value.binary) {
    return FailedPrecondition("the secret holds SecretBinary, not a key pair JSON SecretString",
                              "InvalidSecretFormat");
  }
  KW_ASSIGN_OR_RETURN(rotation::KeyPair pair, rotation::ReadKeyPair(value.bytes));
  return awsclient::SecretKeyPair{std::move(pair.access_key_id), std::move(pair.secret_access_key)};
}

Result<ExternalIntegrations::Connection> ExternalIntegrations::Connect(
    const awsclient::AwsConnectionSettings& settings, const Clock& clock, Random& random,
    awsclient::EnvLookup env, awsclient::SecretKeyReader* own_secrets) {
  Connection out;
  if (settings.credentials_secret) {
    if (own_secrets == nullptr) {
      return InvalidArgument("credentials_secret is not available here");
    }
    out.credentials = std::make_unique<awsclient::SecretCredentialProvider>(
        *own_secrets, *settings.credentials_secret);
  }
  KW_ASSIGN_OR_RETURN(out.connection, awsclient::AwsConnection::Create(
                                          settings, clock, random, std::move(env),
                                          awsclient::RealSleep(), out.credentials.get()));
  return out;
}

Result<std::unique_ptr<ExternalIntegrations>> ExternalIntegrations::Build(
    const IntegrationsConfig& config, const Clock& clock, Random& random, awsclient::EnvLookup env,
    awsclient::SecretKeyReader* own_secrets) {
  auto out = std::make_unique<ExternalIntegrations>();
  for (const AwsIamIssuerEntry& e : config.issuers) {
    auto connection = Connect(e.connection, clock, random, env, own_secrets);
    if (!connection) {
      return InvalidArgument("issuer " + e.name + ": " + connection.error().message);
    }
    auto issuer = rotation::external::AwsIamIssuer::Create(
        *connection->connection,
        rotation::external::AwsIamEndpoints{e.endpoint, e.sts_endpoint, e.cloudtrail_endpoint,
                                            e.cloudtrail_region, e.cloudtrail_lookback});
    if (!issuer) return InvalidArgument("issuer " + e.name + ": " + issuer.error().message);
    out->issuers_.push_back({e.name, std::move(*connection), std::move(*issuer)});
  }
  for (const AwsServiceEntry& e : config.stores) {
    auto connection = Connect(e.connection, clock, random, env, own_secrets);
    if (!connection) return InvalidArgument("store " + e.name + ": " + connection.error().message);
    auto target = rotation::external::AwsSecretsTarget::Create(*connection->connection, e.endpoint);
    if (!target) return InvalidArgument("store " + e.name + ": " + target.error().message);
    out->stores_.push_back({e.name, std::move(*connection), std::move(*target)});
  }
  for (const AwsServiceEntry& e : config.deliveries) {
    auto connection = Connect(e.connection, clock, random, env, own_secrets);
    if (!connection) {
      return InvalidArgument("delivery " + e.name + ": " + connection.error().message);
    }
    auto delivery = rotation::external::AwsSsmDelivery::Create(*connection->connection, e.endpoint);
    if (!delivery) return InvalidArgument("delivery " + e.name + ": " + delivery.error().message);
    auto directory =
        rotation::external::AwsSsmInstanceDirectory::Create(*connection->connection, e.endpoint);
    if (!directory) {
      return InvalidArgument("delivery " + e.name + ": " + directory.error().message);
    }
    out->deliveries_.push_back(
        {e.name, std::move(*connection), std::move(*delivery), std::move(*directory)});
  }
  return out;
}

void ExternalIntegrations::RegisterWith(rotation::RotationEngine& engine) {
  for (auto& i : issuers_) engine.RegisterIssuer(i.name, *i.issuer);
  for (auto& s : stores_) engine.RegisterSecretTarget(s.name, *s.target);
  for (auto& d : deliveries_) engine.RegisterDelivery(d.name, *d.delivery, d.directory.get());
}

}  // namespace kw::server
