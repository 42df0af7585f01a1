#pragma once

// The pure half of the query-protocol client (IAM, STS): the form body of a call,
// the result element of a success, and the Error of an <ErrorResponse>. No I/O;
// thread-safe.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "awsclient/xml_reader.hpp"
#include "common/result.hpp"

namespace kw::awsclient {

// Parameters in the order they are given (Marker after UserName, ...).
using QueryParamList = std::vector<std::pair<std::string, std::string>>;

// "Action=ListUsers&Version=2010-05-08&UserName=a+b", each name and value encoded as
// botocore does (unreserved characters kept, space as '+', the rest %XX): moto refuses
// a body that spells a space "%20".
std::string EncodeQueryForm(std::string_view action, std::string_view version,
                            const QueryParamList& params);

// The <{action}Result> element of a 2xx response body; an empty node named
// "{action}Result" when the response has none (DeleteUser). kInternal when the body
// is not XML or its root is not <{action}Response>.
Result<xml::Node> ParseQueryResult(std::string_view action, std::string_view body);

// An Error from a >= 400 response: message "Code: Message", reason = the AWS error
// code, ErrorCode mapped from the code (NoSuchEntity -> kNotFound, AccessDenied ->
// kPermissionDenied, ...) or else from the HTTP status. The Error may sit in
// <ErrorResponse><Error> (AWS), <ErrorResponse><Errors><Error> (moto) or
// <Response><Errors><Error> (EC2 style). A body that is none of these gives "HTTP 503"
// with the status and no body text.
Error ParseQueryError(int http_status, std::string_view body);

}  // namespace kw::awsclient
