#pragma once

// A client for AWS query-protocol APIs (IAM, STS) at one endpoint: encodes the form,
// signs it with SigV4, sends it and decodes the XML result or error.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "awsclient/credential_sources.hpp"
#include "awsclient/http_client.hpp"
#include "awsclient/query_response.hpp"
#include "awsclient/rate_limiter.hpp"
#include "awsclient/retry.hpp"
#include "awsclient/xml_reader.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"
#include "sigv4/sigv4.hpp"

namespace kw::awsclient {

struct QueryService {
  std::string_view signing_name;  // credential scope service: "iam", "sts"
  std::string_view version;       // API version: "2010-05-08"
};

inline constexpr QueryService kIam{"iam", "2010-05-08"};
inline constexpr QueryService kSts{"sts", "2011-06-15"};

// An AWS JSON 1.1 service (POST /, X-Amz-Target: {target_prefix}.{Operation}).
struct JsonTarget {
  std::string_view signing_name;   // "ssm"
  std::string_view target_prefix;  // "AmazonSSM"
};
inline constexpr JsonTarget kSsm{"ssm", "AmazonSSM"};
inline constexpr JsonTarget kKeyward{"keyward", "Keyward"};

// What a long-running client adds to a call: credentials asked of a provider on
// every attempt (so renewed ones are used), pacing, and retries. Each is optional and
// borrowed; all must outlive the client.
struct ClientPolicy {
  CredentialProvider* credentials = nullptr;  // replaces the fixed credentials when set
  RateLimiter* limiter = nullptr;             // one token per attempt, retries included
  const RetryPolicy* retry = nullptr;         // null: one attempt
};

// Immutable after Create, so Call may run concurrently when the transport allows it.
// The transport and the clock are borrowed and must outlive the client.
class QueryClient {
 public:
  // kInvalidArgument if `endpoint` is not an http(s) URL.
  static Result<QueryClient> Create(HttpTransport& transport, const Clock& clock,
                                    std::string endpoint, sigv4::Credentials credentials,
                                    std::string region);
  // The same with a ClientPolicy (credentials from policy.credentials, which must be
  // set).
  static Result<QueryClient> Create(HttpTransport& transport, const Clock& clock,
                                    std::string endpoint, ClientPolicy policy, std::string region);

  // Calls `action`. On 2xx returns the <{action}Result> element; on >= 400 the Error
  // of the <ErrorResponse> ("AccessDenied: User: ... is not authorized ...");
  // kUnavailable when the endpoint is unreachable.
  // A 5xx answer is kUnavailable whatever its code. With a RetryPolicy, retryable
  // failures are retried as `idempotency` allows (retry.hpp).
  Result<xml::Node> Call(const QueryService& service, std::string_view action,
                         const QueryParamList& params = {},
                         Idempotency idempotency = Idempotency::kIdempotent) const;

  // Calls a JSON 1.1 `operation` with `input` (an object). On 2xx returns the decoded
  // body (an empty body reads as {}); on >= 400 the Error of the JSON error document
  // (reason = its __type, message "Type: message"); kUnavailable when unreachable.
  Result<nlohmann::json> CallJson(const JsonTarget& service, std::string_view operation,
                                  const nlohmann::json& input,
                                  Idempotency idempotency = Idempotency::kIdempotent) const;
  const std::string& endpoint() const { return endpoint_; }
  const std::string& region() const { return region_; }
  const ClientPolicy& policy() const { return policy_; }

 private:
  QueryClient(HttpTransport& transport, const Clock& clock, std::string endpoint, ParsedUrl url,
              sigv4::Credentials credentials, std::string region)
      : transport_(&transport),
        clock_(&clock),
        endpoint_(std::move(endpoint)),
        url_(std::move(url)),
        credentials_(std::move(credentials)),
        region_(std::move(region)) {}

  Result<xml::Node> CallOnce(const QueryService& service, std::string_view action,
                             const QueryParamList& params) const;
  Result<nlohmann::json> CallJsonOnce(const JsonTarget& service, std::string_view operation,
                                      const nlohmann::json& input) const;
  // Paces, resolves credentials and signs `request` for `signing_name`.
  Status Prepare(ClientRequest& request, std::string_view signing_name) const;

  HttpTransport* transport_;
  const Clock* clock_;
  std::string endpoint_;
  ParsedUrl url_;
  sigv4::Credentials credentials_;
  std::string region_;
  ClientPolicy policy_;
};

}  // namespace kw::awsclient
