#pragma once

// Everything a long-running client of one AWS account needs, built once from
// settings and shared by every endpoint it calls (IAM, STS, and for issue 7 Secrets
// Manager and SSM): a libcurl transport with timeouts, the full credential chain
// behind a renewing cache, a token bucket for pacing, and the retry policy. The
// rate applies to all calls of the connection together.

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "awsclient/aws_client.hpp"
#include "awsclient/credential_sources.hpp"
#include "awsclient/http_client.hpp"
#include "awsclient/rate_limiter.hpp"
#include "awsclient/retry.hpp"
#include "common/clock.hpp"
#include "common/random.hpp"

namespace kw::awsclient {

struct AwsConnectionSettings {
  std::optional<std::string> profile;  // unset: AWS_PROFILE, else "default"
  // The name of a secret of keyward's own holding the key to sign with (instead of the
  // chain). awsclient only carries it: Create then requires a `credentials` provider.
  std::optional<std::string> credentials_secret;
  std::optional<std::string> region;  // unset: AWS_REGION, the profile's, us-east-1
  double calls_per_second = 10;       // <= 0: unpaced
  double burst = 1;
  std::chrono::seconds timeout{30};  // per attempt, connect included
  int max_attempts = 8;
};

// Thread-safe: clients made from it may be used from any thread.
class AwsConnection {
 public:
  // Clock, random and the environment are borrowed / captured; the clock and random
  // must outlive the connection. Credentials are resolved on first use, so a server
  // starts even while they are missing (calls then fail with the chain's error).
  // `credentials` (borrowed, must outlive the connection), when given, replaces the
  // chain and its cache: it is asked on every call (e.g. SecretCredentialProvider,
  // whose key a rotation may replace at any moment). kInvalidArgument when the
  // settings name a credentials_secret and no provider is given.
  static Result<std::unique_ptr<AwsConnection>> Create(const AwsConnectionSettings& settings,
                                                       const Clock& clock, Random& random,
                                                       EnvLookup env, SleepFn sleep = RealSleep(),
                                                       CredentialProvider* credentials = nullptr);

  // A client for `endpoint` with this connection's credentials, pacing and retries.
  Result<QueryClient> Client(std::string endpoint) const;
  // The same policy with other credentials (e.g. to test a new key), still paced.
  ClientPolicy PolicyWith(CredentialProvider& credentials) const;

  const std::string& region() const { return region_; }
  HttpTransport& transport() { return http_; }
  const Clock& clock() const { return clock_; }

 private:
  AwsConnection(const AwsConnectionSettings& settings, const Clock& clock, Random& random,
                EnvLookup env, SleepFn sleep, std::string region, CredentialProvider* credentials);

  const Clock& clock_;
  std::string region_;
  // Thread-safe objects used from const methods.
  mutable CurlHttpClient http_;
  CurlHttpClient imds_http_;  // short timeouts: absent IMDS is skipped quickly
  DefaultChainProvider chain_;
  mutable CachingCredentialProvider credentials_;
  CredentialProvider* active_;            // &credentials_ or the provider given to Create
  std::unique_ptr<RateLimiter> limiter_;  // null: unpaced
  RetryPolicy retry_;
};

}  // namespace kw::awsclient
