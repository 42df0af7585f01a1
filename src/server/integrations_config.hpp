#pragma once

// The integrations file (`keyward server --integrations FILE`, YAML): the external
// systems that rotation policies can name (docs/adr/0010-integrations-file.md).
//
//   issuers:                      # RotationPolicy::issuer names one of these
//     aws-prod:
//       type: aws-iam             # the only issuer type so far
//       endpoint: https://iam.amazonaws.com
//       sts_endpoint: https://sts.us-east-1.amazonaws.com   # for TestKey
//       cloudtrail_endpoint: https://cloudtrail.us-east-1.amazonaws.com  # optional: Usage
//       cloudtrail_region: us-east-1   # default: the connection's region   # names the
//       cloudtrail_lookback_seconds: 86400  # default 1 day        # old key's users
//       region: us-east-1
//       profile: rotator          # AWS profile for the credential chain, or else
//       # credentials_secret: NAME  # keyward's own secret holding the key (AWSCURRENT,
//                                   # re-read on every call), so a policy can rotate it
//       calls_per_second: 10      # shared by every call of this issuer; 0 = unpaced
//       burst: 1
//       timeout_seconds: 30       # per attempt
//       max_attempts: 8           # throttling / 5xx / timeouts, with jittered back-off
//   stores: {}                    # issue 7: external secret targets (same connection keys)
//   deliveries: {}                # issue 7: external deliveries (same connection keys)
//
// Every section is a map from a name to an entry with a `type`; the connection keys
// (region, profile or credentials_secret, calls_per_second, burst, timeout_seconds,
// max_attempts) mean the same in every section. Unknown keys are errors, so a typo does not pass
// silently. Pure parsing: no I/O but reading the file; thread-compatible.

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "awsclient/aws_connection.hpp"
#include "common/result.hpp"

namespace kw::server {

struct AwsIamIssuerEntry {
  std::string name;
  std::string endpoint = "https://iam.amazonaws.com";
  std::string sts_endpoint;  // empty: https://sts.{region}.amazonaws.com
  // Set: Usage also asks CloudTrail LookupEvents which source addresses used the key.
  std::string cloudtrail_endpoint;
  std::string cloudtrail_region;  // empty: the connection's region
  std::chrono::seconds cloudtrail_lookback{86400};
  awsclient::AwsConnectionSettings connection;
};

// A store (type aws-secretsmanager: RotationPolicy::secret_target names it) or a
// delivery (type aws-ssm: RotationPolicy::delivery.kind names it), issue 7:
//   stores:
//     sm-prod: {type: aws-secretsmanager, endpoint: https://..., region: ..., profile: ...}
//   deliveries:
//     ssm-prod: {type: aws-ssm, endpoint: https://..., region: ...}
struct AwsServiceEntry {
  std::string name;
  std::string endpoint;  // empty: the service's endpoint in the connection's region
  awsclient::AwsConnectionSettings connection;
};

struct IntegrationsConfig {
  std::vector<AwsIamIssuerEntry> issuers;  // in file order
  std::vector<AwsServiceEntry> stores;
  std::vector<AwsServiceEntry> deliveries;
};

// kInvalidArgument naming the file, the entry and the key ("integrations x.yaml:
// issuers.aws-prod.calls_per_second: must be a number >= 0").
Result<IntegrationsConfig> ParseIntegrations(std::string_view yaml_text, std::string_view where);
Result<IntegrationsConfig> LoadIntegrationsFile(const std::filesystem::path& path);

// The names a section entry may have: 1-64 of [A-Za-z0-9._-], not "builtin" (the
// built-in adapters' name).
bool ValidIntegrationName(std::string_view name);

}  // namespace kw::server
