#include "awsclient/query_response.hpp"

#include <string_view>

#include "sigv4/sigv4.hpp"

namespace kw::awsclient {
namespace {

struct CodeMapping {
  std::string_view aws_code;
  ErrorCode code;
};

// The error codes of the IAM and STS models and SigV4, by meaning.
constexpr CodeMapping kCodes[] = {
    {"NoSuchEntity", ErrorCode::kNotFound},
    {"ReportNotPresent", ErrorCode::kNotFound},
    {"EntityAlreadyExists", ErrorCode::kAlreadyExists},
    {"AccessDenied", ErrorCode::kPermissionDenied},
    {"AccessDeniedException", ErrorCode::kPermissionDenied},
    {"InvalidClientTokenId", ErrorCode::kUnauthenticated},
    {"SignatureDoesNotMatch", ErrorCode::kUnauthenticated},
    {"IncompleteSignature", ErrorCode::kUnauthenticated},
    {"MissingAuthenticationToken", ErrorCode::kUnauthenticated},
    {"ExpiredToken", ErrorCode::kUnauthenticated},
    {"RequestExpired", ErrorCode::kUnauthenticated},
    {"LimitExceeded", ErrorCode::kFailedPrecondition},
    {"DeleteConflict", ErrorCode::kFailedPrecondition},
    {"EntityTemporarilyUnmodifiable", ErrorCode::kFailedPrecondition},
    {"ReportInProgress", ErrorCode::kFailedPrecondition},
    {"ReportExpired", ErrorCode::kFailedPrecondition},
    {"ConcurrentModification", ErrorCode::kAborted},
    {"InvalidInput", ErrorCode::kInvalidArgument},
    {"ValidationError", ErrorCode::kInvalidArgument},
    {"MalformedQueryString", ErrorCode::kInvalidArgument},
    {"MissingParameter", ErrorCode::kInvalidArgument},
    {"InvalidAction", ErrorCode::kInvalidArgument},
    {"Throttling", ErrorCode::kUnavailable},
    {"ServiceUnavailable", ErrorCode::kUnavailable},
    {"ServiceFailure", ErrorCode::kInternal},
    {"InternalFailure", ErrorCode::kInternal},
};

ErrorCode CodeFromStatus(int status) {
  switch (status) {
    case 400:
      return ErrorCode::kInvalidArgument;
    case 401:
      return ErrorCode::kUnauthenticated;
    case 403:
      return ErrorCode::kPermissionDenied;
    case 404:
      return ErrorCode::kNotFound;
    case 409:
      return ErrorCode::kFailedPrecondition;
    case 429:
      return ErrorCode::kUnavailable;
    default:
      break;
  }
  if (status == 500) return ErrorCode::kInternal;
  if (status >= 500) return ErrorCode::kUnavailable;
  return ErrorCode::kInvalidArgument;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\n' || s.front() == '\r' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

std::string EncodeQueryForm(std::string_view action, std::string_view version,
                            const QueryParamList& params) {
  std::string out =
      "Action=" + sigv4::UriEncode(action, false) + "&Version=" + sigv4::UriEncode(version, false);
  for (const auto& [name, value] : params) {
    out += '&';
    out += sigv4::UriEncode(name, false);
    out += '=';
    out += sigv4::UriEncode(value, false);
  }
  return out;
}

Result<xml::Node> ParseQueryResult(std::string_view action, std::string_view body) {
  auto doc = xml::Parse(body);
  if (!doc) {
    return Internal("the " + std::string(action) + " response is not XML (" + doc.error().message +
                    ")");
  }
  const std::string response_name = std::string(action) + "Response";
  const std::string result_name = std::string(action) + "Result";
  if (doc->name != response_name) {
    return Internal("expected <" + response_name + ">, the response has <" + doc->name + ">");
  }
  if (const xml::Node* result = doc->Child(result_name)) return *result;
  xml::Node empty;
  empty.name = result_name;
  return empty;
}

Error ParseQueryError(int http_status, std::string_view body) {
  const std::string status_text = "HTTP " + std::to_string(http_status);
  auto doc = xml::Parse(body);
  const xml::Node* err = nullptr;
  if (doc) {
    // Query protocol: <ErrorResponse><Error>; the EC2 style <Response><Errors><Error>
    // is accepted too, since some AWS-compatible servers answer with it.
    if (doc->name == "ErrorResponse") {
      err = doc->Child("Error");
    } else if (doc->name == "Response") {
      err = doc->Find("Errors/Error");
    }
  }
  if (err == nullptr) {
    return MakeError(CodeFromStatus(http_status),
                     status_text + " (the response is not an AWS error document)");
  }
  const std::string code(Trim(err->TextAt("Code")));
  const std::string message(Trim(err->TextAt("Message")));
  ErrorCode kind = CodeFromStatus(http_status);
  for (const auto& m : kCodes) {
    if (m.aws_code == code) {
      kind = m.code;
      break;
    }
  }
  std::string text = code.empty() ? status_text : code;
  if (!message.empty()) text += ": " + message;
  return MakeError(kind, std::move(text), code);
}

}  // namespace kw::awsclient
