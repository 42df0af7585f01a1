#pragma once

// The one place where domain errors become AWS error responses. Error::reason, when
// set, is the AWS error code (query-protocol spelling, as the IAM and STS models and
// SigV4 name them); otherwise the code is derived from Error::code.

#include <string>
#include <string_view>

#include "common/error.hpp"
#include "common/http_message.hpp"

namespace kw::api {

enum class Protocol { kQuery, kJson };

struct AwsErrorInfo {
  int http_status;
  std::string code;  // spelled for the protocol: "AccessDenied" / "AccessDeniedException"
  bool sender_fault;
};

AwsErrorInfo DescribeError(const Error& error, Protocol protocol);

// <ErrorResponse><Error><Type>Sender</Type><Code>..</Code><Message>..</Message></Error>
// <RequestId>..</RequestId></ErrorResponse>
// `xmlns` is the service's namespace (IAM's before the service is known).
HttpResponse QueryErrorResponse(
    const Error& error, std::string_view request_id,
    std::string_view xmlns = "https://iam.amazonaws.com/doc/2010-05-08/");
// {"__type":"Code","message":"..."} with X-Amzn-ErrorType.
HttpResponse JsonErrorResponse(const Error& error, std::string_view request_id);

}  // namespace kw::api
