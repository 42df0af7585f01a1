#pragma once

// rotation::Issuer over an AWS-compatible IAM endpoint reached with the query API
// (AWS IAM itself, moto, another keyward): ListAccessKeys (every page), CreateAccessKey,
// UpdateAccessKey, DeleteAccessKey, GetAccessKeyLastUsed; TestKey is an STS
// GetCallerIdentity signed with the key under test.
//
// Usage is GetAccessKeyLastUsed: it lags by hours and says nothing about rejected
// requests, so exact_usage() and observes_rejected() are false, and the engine's
// default quiet period for this issuer is 4 hours.
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
#include <string>

#include "awsclient/aws_client.hpp"
#include "awsclient/aws_connection.hpp"
#include "rotation/issuer.hpp"

namespace kw::rotation::external {

struct AwsIamEndpoints {
  std::string iam = "https://iam.amazonaws.com";
  std::string sts;  // empty: https://sts.{region}.amazonaws.com
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

 private:
  awsclient::QueryClient iam_;
  std::string sts_endpoint_;
  awsclient::HttpTransport& transport_;
  const Clock& clock_;
  awsclient::ClientPolicy policy_;  // its credentials are not used by TestKey
  std::string region_;
};

}  // namespace kw::rotation::external
