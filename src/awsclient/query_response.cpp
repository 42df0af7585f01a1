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

// application/x-www-form-urlencoded as botocore writes it (Python's urlencode, i.e.
// quote_plus): SigV4's unreserved set kept, space as '+', everything else %XX. AWS
// hashes the body as sent, so either spelling of a space signs; moto re-encodes the
// parsed form with '+' before checking the signature and rejects "%20".
std::string FormEncode(std::string_view s) {
  std::string encoded = sigv4::UriEncode(s, false);
  std::string out;
  out.reserve(encoded.size());
  for (std::size_t i = 0; i < encoded.size(); ++i) {
    // '%' itself is encoded as %25, so "%20" here always stands for a space.
    if (encoded.compare(i, 3, "%20") == 0) {
      out += '+';
      i += 2;
    } else {
      out += encoded[i];
    }
  }
  return out;
}

}  // namespace

std::string EncodeQueryForm(std::string_view action, std::string_view version,
                            const QueryParamList& params) {
  std::string out = "Action=" + FormEncode(action) + "&Version=" + FormEncode(version);
  for (const auto& [name, value] : params) {
    out += '&';
    out += FormEncode(name);
    out += '=';
    out += FormEncode(value);
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
    // Query protocol: <ErrorResponse><Error>. Also accepted, since AWS-compatible
    // servers answer with them: <ErrorResponse><Errors><Error> (moto's query services)
    // and the EC2 style <Response><Errors><Error>.
    if (doc->name == "ErrorResponse" || doc->name == "Response") {
      err = doc->Child("Error");
      if (err == nullptr) err = doc->Find("Errors/Error");
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
