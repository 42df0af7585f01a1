#pragma once

// rotation::Issuer over an AWS-compatible IAM endpoint reached with the query API
// (AWS IAM itself, moto, another keyward): ListAccessKeys (every page), CreateAccessKey,
// UpdateAccessKey, DeleteAccessKey, GetAccessKeyLastUsed; TestKey is an STS
// GetCallerIdentity signed with the key under test.
//
// Usage is GetAccessKeyLastUsed: it lags by hours and says nothing about rejected
// requests, so exact_usage() and observes_rejected() are false, and the engine's
// default quiet period for this issuer is 4 hours. With a CloudTrail endpoint
// (AwsIamEndpoints::cloudtrail), Usage also looks up the events the key signed during
// the lookback window (cloudtrail_key_sources.hpp): the latest of them becomes the
// last use when it is newer than GetAccessKeyLastUsed's (which AWS rounds), and the
// use's `source` names the addresses that signed them, so the rotation's waiting
// reason says who still uses the old key. CloudTrail is an aid, never a requirement:
// when LookupEvents fails (AccessDeniedException where it is not allowed, or down),
// Usage is GetAccessKeyLastUsed's alone with a note in the source.
//
// Retries: every call but CreateAccessKey is idempotent in effect (DeleteAccessKey
// of a deleted key is NoSuchEntity, which the engine counts as done), so throttling,
// 5xx and timeouts are retried with back-off. CreateAccessKey is retried only on
// throttling: after a timeout the key may exist, and the engine's orphan rule (ADR
// 0009) finds and deletes it, which a blind retry here would defeat.
//
// Secrets: the new secret access key goes from the response straight into SecretBytes;
// neither it nor a tested secret appears in an error or a log.
// Thread-safe (QueryClient and AwsConnection are).

#include <memory>
#include <optional>
#include <string>

#include "awsclient/aws_client.hpp"
#include "awsclient/aws_connection.hpp"
#include "rotation/issuer.hpp"

namespace kw::rotation::external {

struct AwsIamEndpoints {
  std::string iam = "https://iam.amazonaws.com";
  std::string sts;                // empty: https://sts.{region}.amazonaws.com
  std::string cloudtrail;         // empty: Usage does not ask CloudTrail
  std::string cloudtrail_region;  // empty: the connection's region
  Seconds cloudtrail_lookback{86400};
};

// Where Usage looks for the source addresses of a key's uses.
struct CloudTrailLookup {
  awsclient::QueryClient client;
  // How far back from now Usage looks. The engine's quiet check ignores uses before the
  // hosts acknowledged, so a window longer than the quiet period costs only pages.
  Seconds lookback{86400};
};

class AwsIamIssuer final : public Issuer {
 public:
  // `connection` must outlive the issuer. kInvalidArgument for a malformed endpoint.
  static Result<std::unique_ptr<AwsIamIssuer>> Create(awsclient::AwsConnection& connection,
                                                      AwsIamEndpoints endpoints);
  // For tests: explicit clients (the STS client's credentials are replaced per TestKey).
  AwsIamIssuer(awsclient::QueryClient iam, std::string sts_endpoint,
               awsclient::HttpTransport& transport, const Clock& clock,
               awsclient::ClientPolicy policy, std::string region);

  bool exact_usage() const override { return false; }
  bool observes_rejected() const override { return false; }
  std::size_t max_keys_per_user() const override { return 2; }

  Result<std::vector<IssuedKey>> ListKeys(std::string_view user) override;
  Result<CreatedKey> CreateKey(std::string_view user) override;
  Status SetStatus(std::string_view user, std::string_view access_key_id,
                   KeyStatus status) override;
  Status DeleteKey(std::string_view user, std::string_view access_key_id) override;
  Result<KeyUsage> Usage(std::string_view access_key_id) override;
  Result<bool> TestKey(std::string_view access_key_id, const SecretBytes& secret) override;

  // Makes Usage consult CloudTrail too. Call before the issuer is shared.
  void SetCloudTrail(CloudTrailLookup lookup) { cloudtrail_.emplace(std::move(lookup)); }

 private:
  // Adds the CloudTrail sources of the key's uses to `usage` (never fails).
  void AddCloudTrailSources(std::string_view access_key_id, KeyUsage& usage) const;

  awsclient::QueryClient iam_;
  std::string sts_endpoint_;
  awsclient::HttpTransport& transport_;
  const Clock& clock_;
  awsclient::ClientPolicy policy_;  // its credentials are not used by TestKey
  std::string region_;
  std::optional<CloudTrailLookup> cloudtrail_;
};

}  // namespace kw::rotation::external
