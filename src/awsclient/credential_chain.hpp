#pragma once

// The credential and region resolution of the AWS CLI, for the keyward client
// commands: environment variables, then the shared credentials file, then the
// profile sections of the shared config file. credential_process, web identity and
// instance metadata are in credential_sources.hpp, for the server's external clients.
//
// Errors name every provider tried and why it gave nothing; they never contain a
// secret (not even a partial one) nor the line of a file that holds one.
// Thread-safe as long as the EnvLookup is (both provided ones are, absent setenv).

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "sigv4/sigv4.hpp"

namespace kw::awsclient {

// Reads an environment variable; nullopt when unset. Tests pass a map.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// The process environment (getenv). Empty values count as unset, as botocore does.
EnvLookup ProcessEnvironment();
// A fixed environment, for tests.
EnvLookup MapEnvironment(std::map<std::string, std::string, std::less<>> vars);

struct ChainOptions {
  std::optional<std::string> profile;  // --profile; explicit, so it disables the env provider
  std::optional<std::string> region;   // --region
};

struct ResolvedCredentials {
  sigv4::Credentials credentials;
  std::string region;
  std::string profile;  // the profile name in effect
  std::string source;   // "environment", "shared credentials file /x", "config file /y"
};

// Resolves as the AWS CLI does:
//  profile: --profile, else AWS_PROFILE (AWS_DEFAULT_PROFILE), else "default".
//  credentials:
//   1. environment: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN,
//      or the legacy AWS_SECURITY_TOKEN). Skipped when --profile is given, as
//      botocore does: an explicit profile means "use that profile".
//   2. shared credentials file: AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials,
//      section [PROFILE]: aws_access_key_id, aws_secret_access_key, aws_session_token.
//   3. config file: AWS_CONFIG_FILE, else ~/.aws/config, section [profile PROFILE]
//      ([default] or [profile default] for the default profile), same keys.
//  region: --region, AWS_REGION, AWS_DEFAULT_REGION, `region` of the config file's
//   profile section, else "us-east-1".
// Errors: kUnauthenticated "no credentials: tried environment (...), shared credentials
// file PATH (...), config file PATH (...)"; kInvalidArgument for a file that does not
// parse or a half-set key pair (an access key id without its secret), naming the
// file and line.
Result<ResolvedCredentials> ResolveCredentials(const ChainOptions& options, const EnvLookup& env);

// The three providers of ResolveCredentials without its final error, for longer chains
// (credential_sources.hpp) that go on where these find nothing: `tried` holds one
// entry per provider that gave nothing, and `config_profile` the profile's section of
// the config file (credential_process, role_arn, ...), empty when there is none.
struct StaticChainResult {
  std::optional<ResolvedCredentials> found;
  std::vector<std::string> tried;
  std::string profile;
  std::string region;
  std::map<std::string, std::string> config_profile;
};
Result<StaticChainResult> ResolveStaticChain(const ChainOptions& options, const EnvLookup& env);

// "no credentials: tried A (why), B (why)".
std::string NoCredentialsMessage(const std::vector<std::string>& tried);

// The shared files' paths, after ~ expansion. Exposed for messages and tests.
std::string SharedCredentialsPath(const EnvLookup& env);
std::string ConfigFilePath(const EnvLookup& env);

}  // namespace kw::awsclient
