#include "api/http/aws_error.hpp"

#include <nlohmann/json.hpp>
#include <unordered_map>

#include "api/http/query_protocol.hpp"

namespace kw::api {
namespace {

struct Known {
  int status;
  const char* json_code;  // nullptr: same as the query code
};

// HTTP statuses from the botocore models (error.httpStatusCode) and the AWS common
// errors; JSON spellings where the JSON-protocol services use another name.
const std::unordered_map<std::string_view, Known>& Table() {
  static const auto* table = new std::unordered_map<std::string_view, Known>{
      // Authentication (common to every service).
      {"MissingAuthenticationToken", {403, "MissingAuthenticationTokenException"}},
      {"IncompleteSignature", {400, "IncompleteSignatureException"}},
      {"SignatureDoesNotMatch", {403, "InvalidSignatureException"}},
      {"InvalidClientTokenId", {403, "UnrecognizedClientException"}},
      {"ExpiredToken", {403, "ExpiredTokenException"}},
      {"RequestExpired", {400, "RequestExpired"}},
      {"AccessDenied", {403, "AccessDeniedException"}},
      // Request shape.
      {"InvalidAction", {400, "UnknownOperationException"}},
      {"MissingAction", {400, "UnknownOperationException"}},
      {"MissingParameter", {400, "ValidationException"}},
      {"ValidationError", {400, "ValidationException"}},
      {"InvalidParameterValue", {400, "ValidationException"}},
      {"InvalidParameterCombination", {400, "ValidationException"}},
      {"MalformedQueryString", {400, "SerializationException"}},
      {"SerializationException", {400, nullptr}},
      {"RequestEntityTooLarge", {413, nullptr}},
      {"Throttling", {400, "ThrottlingException"}},
      {"InternalFailure", {500, nullptr}},
      {"ServiceUnavailable", {503, nullptr}},
      // IAM (botocore iam model).
      {"ConcurrentModification", {409, nullptr}},
      {"ReportExpired", {410, nullptr}},
      {"ReportNotPresent", {410, nullptr}},
      {"ReportInProgress", {404, nullptr}},
      {"DeleteConflict", {409, nullptr}},
      {"EntityAlreadyExists", {409, nullptr}},
      {"EntityTemporarilyUnmodifiable", {409, nullptr}},
      {"InvalidInput", {400, nullptr}},
      {"LimitExceeded", {409, nullptr}},
      {"MalformedPolicyDocument", {400, nullptr}},
      {"NoSuchEntity", {404, nullptr}},
      {"PolicyNotAttachable", {400, nullptr}},
      {"ServiceFailure", {500, nullptr}},
      {"UnmodifiableEntity", {400, nullptr}},
      {"InvalidUserType", {400, nullptr}},
      // STS (botocore sts model).
      {"ExpiredTokenException", {400, nullptr}},
      {"PackedPolicyTooLarge", {400, nullptr}},
      {"RegionDisabledException", {403, nullptr}},
      // JSON 1.1 protocol and Secrets Manager (botocore secretsmanager model; AWS answers
      // its client errors with 400).
      {"UnknownOperationException", {400, nullptr}},
      {"ResourceNotFoundException", {400, nullptr}},
      {"InvalidParameterException", {400, nullptr}},
      {"InvalidRequestException", {400, nullptr}},
      {"ResourceExistsException", {400, nullptr}},
      {"LimitExceededException", {400, nullptr}},
      {"MalformedPolicyDocumentException", {400, nullptr}},
      {"PreconditionNotMetException", {400, nullptr}},
      {"PublicPolicyException", {400, nullptr}},
      {"InvalidNextTokenException", {400, nullptr}},
      {"DecryptionFailure", {400, nullptr}},
      {"EncryptionFailure", {400, nullptr}},
      {"InternalServiceError", {500, nullptr}},
  };
  return *table;
}

std::string_view DefaultCode(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "ValidationError";
    case ErrorCode::kNotFound:
      return "NoSuchEntity";
    case ErrorCode::kAlreadyExists:
      return "EntityAlreadyExists";
    case ErrorCode::kFailedPrecondition:
      return "InvalidInput";
    case ErrorCode::kAborted:
      return "ConcurrentModification";
    case ErrorCode::kPermissionDenied:
      return "AccessDenied";
    case ErrorCode::kUnauthenticated:
      return "InvalidClientTokenId";
    case ErrorCode::kUnavailable:
      return "ServiceUnavailable";
    case ErrorCode::kInternal:
      return "InternalFailure";
  }
  return "InternalFailure";
}

int DefaultStatus(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return 400;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kAlreadyExists:
      return 409;
    case ErrorCode::kFailedPrecondition:
      return 409;
    case ErrorCode::kAborted:
      return 409;
    case ErrorCode::kPermissionDenied:
      return 403;
    case ErrorCode::kUnauthenticated:
      return 403;
    case ErrorCode::kUnavailable:
      return 503;
    case ErrorCode::kInternal:
      return 500;
  }
  return 500;
}

}  // namespace

AwsErrorInfo DescribeError(const Error& error, Protocol protocol) {
  const std::string_view code = error.reason.empty() ? DefaultCode(error.code) : error.reason;
  const auto& table = Table();
  const auto it = table.find(code);
  AwsErrorInfo info;
  info.http_status = it != table.end() ? it->second.status : DefaultStatus(error.code);
  info.code = std::string(code);
  if (protocol == Protocol::kJson && it != table.end() && it->second.json_code != nullptr) {
    info.code = it->second.json_code;
  }
  info.sender_fault = info.http_status < 500;
  return info;
}

HttpResponse QueryErrorResponse(const Error& error, std::string_view request_id,
                                std::string_view xmlns) {
  const AwsErrorInfo info = DescribeError(error, Protocol::kQuery);
  XmlWriter xml;
  xml.Open("Error")
      .Element("Type", info.sender_fault ? "Sender" : "Receiver")
      .Element("Code", info.code)
      .Element("Message", error.message)
      .Close("Error")
      .Element("RequestId", request_id);
  HttpResponse r;
  r.status = info.http_status;
  r.headers = {{"Content-Type", "text/xml"}, {"x-amzn-RequestId", std::string(request_id)}};
  r.body = "<ErrorResponse xmlns=\"" + std::string(xmlns) + "\">" + xml.str() + "</ErrorResponse>";
  return r;
}

HttpResponse JsonErrorResponse(const Error& error, std::string_view request_id) {
  const AwsErrorInfo info = DescribeError(error, Protocol::kJson);
  nlohmann::json body = {{"__type", info.code}, {"message", error.message}};
  HttpResponse r;
  r.status = info.http_status;
  r.headers = {{"Content-Type", "application/x-amz-json-1.1"},
               {"x-amzn-RequestId", std::string(request_id)},
               {"X-Amzn-ErrorType", info.code}};
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

}  // namespace kw::api
