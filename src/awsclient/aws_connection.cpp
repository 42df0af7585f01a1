#include "awsclient/aws_connection.hpp"

namespace kw::awsclient {
namespace {

HttpClientOptions MainOptions(const AwsConnectionSettings& s) {
  HttpClientOptions o;
  o.total_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(s.timeout);
  o.connect_timeout =
      std::min<std::chrono::milliseconds>(o.total_timeout, std::chrono::seconds(10));
  return o;
}

HttpClientOptions ImdsOptions() {
  HttpClientOptions o;
  o.connect_timeout = std::chrono::milliseconds(500);
  o.total_timeout = std::chrono::seconds(2);
  return o;
}

}  // namespace

AwsConnection::AwsConnection(const AwsConnectionSettings& settings, const Clock& clock,
                             Random& random, EnvLookup env, SleepFn sleep, std::string region,
                             CredentialProvider* credentials)
    : clock_(clock),
      region_(std::move(region)),
      http_(MainOptions(settings)),
      imds_http_(ImdsOptions()),
      chain_(ChainOptions{settings.profile, settings.region},
             DefaultChainDeps{env, &clock, &http_, &imds_http_, ShellProcessRunner(),
                              std::chrono::seconds(30)}),
      credentials_(chain_, clock),
      active_(credentials != nullptr ? credentials : &credentials_),
      retry_(RetryOptions{settings.max_attempts, std::chrono::milliseconds(100),
                          std::chrono::seconds(20)},
             random, sleep) {
  if (settings.calls_per_second > 0) {
    limiter_ = std::make_unique<RateLimiter>(settings.calls_per_second, settings.burst, clock,
                                             std::move(sleep));
  }
}

Result<std::unique_ptr<AwsConnection>> AwsConnection::Create(const AwsConnectionSettings& settings,
                                                             const Clock& clock, Random& random,
                                                             EnvLookup env, SleepFn sleep,
                                                             CredentialProvider* credentials) {
  if (settings.max_attempts < 1) return InvalidArgument("max_attempts must be at least 1");
  if (settings.timeout.count() < 1) return InvalidArgument("timeout_seconds must be at least 1");
  if (settings.credentials_secret && credentials == nullptr) {
    return InvalidArgument("credentials_secret needs a provider of keyward's own secrets");
  }
  // The region does not depend on the credentials; resolve it now so that a client's
  // signing scope is fixed. A malformed shared file is reported here, at startup.
  KW_ASSIGN_OR_RETURN(StaticChainResult chain,
                      ResolveStaticChain(ChainOptions{settings.profile, settings.region}, env));
  return std::unique_ptr<AwsConnection>(new AwsConnection(
      settings, clock, random, std::move(env), std::move(sleep), chain.region, credentials));
}

ClientPolicy AwsConnection::PolicyWith(CredentialProvider& credentials) const {
  ClientPolicy p;
  p.credentials = &credentials;
  p.limiter = limiter_.get();
  p.retry = &retry_;
  return p;
}

Result<QueryClient> AwsConnection::Client(std::string endpoint) const {
  return QueryClient::Create(http_, clock_, std::move(endpoint), PolicyWith(*active_), region_);
}

}  // namespace kw::awsclient
