#pragma once

// Credential providers for long-running clients (the server's external issuer): the
// static chain of credential_chain.hpp, then web identity, credential_process and
// IMDSv2, behind one interface, and a cache that renews expiring credentials before
// they expire. Errors name every provider tried and never contain secret material
// (not a key, not a token, not the output of a credential process).

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "awsclient/credential_chain.hpp"
#include "awsclient/http_client.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"
#include "sigv4/sigv4.hpp"

namespace kw::awsclient {

struct ProvidedCredentials {
  sigv4::Credentials credentials;
  std::optional<TimePoint> expiration;  // nullopt: long-term keys
  std::string source;                   // "environment", "credential_process (profile x)"...

  ProvidedCredentials Clone() const;
};

// Implementations are thread-safe.
class CredentialProvider {
 public:
  virtual ~CredentialProvider() = default;
  // kUnauthenticated when nothing could be found or what was found has expired.
  virtual Result<ProvidedCredentials> Get() = 0;
};

// Fixed credentials (tests, explicit configuration).
class StaticCredentialProvider final : public CredentialProvider {
 public:
  explicit StaticCredentialProvider(ProvidedCredentials credentials)
      : credentials_(std::move(credentials)) {}
  Result<ProvidedCredentials> Get() override { return credentials_.Clone(); }

 private:
  const ProvidedCredentials credentials_;
};

// Caches what `inner` gives and asks again `refresh_before` ahead of the expiration,
// so a call never signs with credentials about to lapse. If renewal fails while the
// cached credentials are still valid, those are used (and renewal is tried again on
// the next Get); once they have expired, the error is returned. Long-term keys are
// cached for `recheck_every` (so a rotated credentials file is picked up).
// Thread-safe: one renewal at a time.
class CachingCredentialProvider final : public CredentialProvider {
 public:
  CachingCredentialProvider(CredentialProvider& inner, const Clock& clock,
                            std::chrono::seconds refresh_before = std::chrono::minutes(5),
                            std::chrono::seconds recheck_every = std::chrono::minutes(5));
  Result<ProvidedCredentials> Get() override;

 private:
  CredentialProvider& inner_;
  const Clock& clock_;
  const std::chrono::seconds refresh_before_;
  const std::chrono::seconds recheck_every_;
  std::mutex mu_;
  std::optional<ProvidedCredentials> cached_;  // guarded by mu_
  TimePoint fetched_at_;                       // guarded by mu_
};

// Runs a shell command line with a timeout and returns its standard output; stderr
// is discarded (a credential helper's diagnostics may quote secrets). kUnavailable on
// a timeout (the process is killed), a non-zero exit, or output beyond 64 KiB.
using ProcessRunner =
    std::function<Result<std::string>(const std::string& command, std::chrono::milliseconds)>;
ProcessRunner ShellProcessRunner();

// Parses credential_process output: {"Version": 1, "AccessKeyId", "SecretAccessKey",
// optional "SessionToken", optional "Expiration" (ISO 8601)}. kInvalidArgument naming
// the missing member (never quoting the output).
Result<ProvidedCredentials> ParseProcessCredentials(std::string_view output);

struct DefaultChainDeps {
  EnvLookup env;
  const Clock* clock = nullptr;
  // For STS AssumeRoleWithWebIdentity. Null: the web identity provider is skipped.
  HttpTransport* sts_transport = nullptr;
  // For instance metadata; should have short timeouts (a host without IMDS must not
  // stall startup). Null: IMDS is skipped.
  HttpTransport* imds_transport = nullptr;
  ProcessRunner run_process;  // empty: credential_process is skipped
  std::chrono::milliseconds process_timeout = std::chrono::seconds(30);
};

// The provider chain, in order:
//  1-3. environment, shared credentials file, config file (ResolveStaticChain);
//  4. web identity: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN (+ AWS_ROLE_SESSION_NAME),
//     else the profile's web_identity_token_file + role_arn (+ role_session_name):
//     an unsigned STS AssumeRoleWithWebIdentity at AWS_ENDPOINT_URL_STS, else
//     AWS_ENDPOINT_URL, else https://sts.REGION.amazonaws.com;
//  5. credential_process of the profile (config file), run with a timeout;
//  6. IMDSv2 at AWS_EC2_METADATA_SERVICE_ENDPOINT (default http://169.254.169.254):
//     PUT /latest/api/token, then the first role's credentials; skipped when
//     AWS_EC2_METADATA_DISABLED=true.
// Each Get resolves afresh; wrap it in a CachingCredentialProvider.
class DefaultChainProvider final : public CredentialProvider {
 public:
  DefaultChainProvider(ChainOptions options, DefaultChainDeps deps);
  Result<ProvidedCredentials> Get() override;

 private:
  ChainOptions options_;
  DefaultChainDeps deps_;
};

// The single providers, exposed for tests. Each returns nullopt (with `why_not`) when
// it is not configured or finds nothing, an error when it is configured but fails.
Result<std::optional<ProvidedCredentials>> WebIdentityCredentials(
    const EnvLookup& env, const std::map<std::string, std::string>& profile,
    const std::string& region, HttpTransport& transport, std::string& why_not);
Result<std::optional<ProvidedCredentials>> ImdsCredentials(const EnvLookup& env,
                                                           HttpTransport& transport,
                                                           std::string& why_not);

}  // namespace kw::awsclient
