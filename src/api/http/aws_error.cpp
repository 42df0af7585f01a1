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
      // CloudTrail LookupEvents (botocore cloudtrail model).
      {"InvalidLookupAttributesException", {400, nullptr}},
      {"InvalidTimeRangeException", {400, nullptr}},
      {"InvalidMaxResultsException", {400, nullptr}},
      {"InvalidEventCategoryException", {400, nullptr}},
      {"OperationNotPermittedException", {400, nullptr}},
      // (UnsupportedOperationException: in the SSM rows.)
      // SSM (botocore ssm model: every exception shape).
      {"AccessDeniedException", {400, nullptr}},
      {"AlreadyExistsException", {400, nullptr}},
      {"AssociatedInstances", {400, nullptr}},
      {"AssociationAlreadyExists", {400, nullptr}},
      {"AssociationDoesNotExist", {400, nullptr}},
      {"AssociationExecutionDoesNotExist", {400, nullptr}},
      {"AssociationLimitExceeded", {400, nullptr}},
      {"AssociationVersionLimitExceeded", {400, nullptr}},
      {"AutomationDefinitionNotApprovedException", {400, nullptr}},
      {"AutomationDefinitionNotFoundException", {400, nullptr}},
      {"AutomationDefinitionVersionNotFoundException", {400, nullptr}},
      {"AutomationExecutionLimitExceededException", {400, nullptr}},
      {"AutomationExecutionNotFoundException", {400, nullptr}},
      {"AutomationStepNotFoundException", {400, nullptr}},
      {"ComplianceTypeCountLimitExceededException", {400, nullptr}},
      {"CustomSchemaCountLimitExceededException", {400, nullptr}},
      {"DocumentAlreadyExists", {400, nullptr}},
      {"DocumentLimitExceeded", {400, nullptr}},
      {"DocumentPermissionLimit", {400, nullptr}},
      {"DocumentVersionLimitExceeded", {400, nullptr}},
      {"DoesNotExistException", {400, nullptr}},
      {"DuplicateDocumentContent", {400, nullptr}},
      {"DuplicateDocumentVersionName", {400, nullptr}},
      {"DuplicateInstanceId", {400, nullptr}},
      {"FeatureNotAvailableException", {400, nullptr}},
      {"HierarchyLevelLimitExceededException", {400, nullptr}},
      {"HierarchyTypeMismatchException", {400, nullptr}},
      {"IdempotentParameterMismatch", {400, nullptr}},
      {"IncompatiblePolicyException", {400, nullptr}},
      {"InternalServerError", {500, nullptr}},
      {"InvalidActivation", {400, nullptr}},
      {"InvalidActivationId", {400, nullptr}},
      {"InvalidAggregatorException", {400, nullptr}},
      {"InvalidAllowedPatternException", {400, nullptr}},
      {"InvalidAssociation", {400, nullptr}},
      {"InvalidAssociationVersion", {400, nullptr}},
      {"InvalidAutomationExecutionParametersException", {400, nullptr}},
      {"InvalidAutomationSignalException", {400, nullptr}},
      {"InvalidAutomationStatusUpdateException", {400, nullptr}},
      {"InvalidCommandId", {400, nullptr}},
      {"InvalidDeleteInventoryParametersException", {400, nullptr}},
      {"InvalidDeletionIdException", {400, nullptr}},
      {"InvalidDocument", {400, nullptr}},
      {"InvalidDocumentContent", {400, nullptr}},
      {"InvalidDocumentOperation", {400, nullptr}},
      {"InvalidDocumentSchemaVersion", {400, nullptr}},
      {"InvalidDocumentType", {400, nullptr}},
      {"InvalidDocumentVersion", {400, nullptr}},
      {"InvalidFilter", {400, nullptr}},
      {"InvalidFilterKey", {400, nullptr}},
      {"InvalidFilterOption", {400, nullptr}},
      {"InvalidFilterValue", {400, nullptr}},
      {"InvalidInstanceId", {400, nullptr}},
      {"InvalidInstanceInformationFilterValue", {400, nullptr}},
      {"InvalidInstancePropertyFilterValue", {400, nullptr}},
      {"InvalidInventoryGroupException", {400, nullptr}},
      {"InvalidInventoryItemContextException", {400, nullptr}},
      {"InvalidInventoryRequestException", {400, nullptr}},
      {"InvalidItemContentException", {400, nullptr}},
      {"InvalidKeyId", {400, nullptr}},
      {"InvalidNextToken", {400, nullptr}},
      {"InvalidNotificationConfig", {400, nullptr}},
      {"InvalidOptionException", {400, nullptr}},
      {"InvalidOutputFolder", {400, nullptr}},
      {"InvalidOutputLocation", {400, nullptr}},
      {"InvalidParameters", {400, nullptr}},
      {"InvalidPermissionType", {400, nullptr}},
      {"InvalidPluginName", {400, nullptr}},
      {"InvalidPolicyAttributeException", {400, nullptr}},
      {"InvalidPolicyTypeException", {400, nullptr}},
      {"InvalidResourceId", {400, nullptr}},
      {"InvalidResourceType", {400, nullptr}},
      {"InvalidResultAttributeException", {400, nullptr}},
      {"InvalidRole", {400, nullptr}},
      {"InvalidSchedule", {400, nullptr}},
      {"InvalidTag", {400, nullptr}},
      {"InvalidTarget", {400, nullptr}},
      {"InvalidTargetMaps", {400, nullptr}},
      {"InvalidTypeNameException", {400, nullptr}},
      {"InvalidUpdate", {400, nullptr}},
      {"InvocationDoesNotExist", {400, nullptr}},
      {"ItemContentMismatchException", {400, nullptr}},
      {"ItemSizeLimitExceededException", {400, nullptr}},
      {"MalformedResourcePolicyDocumentException", {400, nullptr}},
      {"MaxDocumentSizeExceeded", {400, nullptr}},
      {"NoLongerSupportedException", {400, nullptr}},
      {"OpsItemAccessDeniedException", {400, nullptr}},
      {"OpsItemAlreadyExistsException", {400, nullptr}},
      {"OpsItemConflictException", {400, nullptr}},
      {"OpsItemInvalidParameterException", {400, nullptr}},
      {"OpsItemLimitExceededException", {400, nullptr}},
      {"OpsItemNotFoundException", {400, nullptr}},
      {"OpsItemRelatedItemAlreadyExistsException", {400, nullptr}},
      {"OpsItemRelatedItemAssociationNotFoundException", {400, nullptr}},
      {"OpsMetadataAlreadyExistsException", {400, nullptr}},
      {"OpsMetadataInvalidArgumentException", {400, nullptr}},
      {"OpsMetadataKeyLimitExceededException", {400, nullptr}},
      {"OpsMetadataLimitExceededException", {400, nullptr}},
      {"OpsMetadataNotFoundException", {400, nullptr}},
      {"OpsMetadataTooManyUpdatesException", {400, nullptr}},
      {"ParameterAlreadyExists", {400, nullptr}},
      {"ParameterLimitExceeded", {400, nullptr}},
      {"ParameterMaxVersionLimitExceeded", {400, nullptr}},
      {"ParameterNotFound", {400, nullptr}},
      {"ParameterPatternMismatchException", {400, nullptr}},
      {"ParameterVersionLabelLimitExceeded", {400, nullptr}},
      {"ParameterVersionNotFound", {400, nullptr}},
      {"PoliciesLimitExceededException", {400, nullptr}},
      {"ResourceDataSyncAlreadyExistsException", {400, nullptr}},
      {"ResourceDataSyncConflictException", {400, nullptr}},
      {"ResourceDataSyncCountExceededException", {400, nullptr}},
      {"ResourceDataSyncInvalidConfigurationException", {400, nullptr}},
      {"ResourceDataSyncNotFoundException", {400, nullptr}},
      {"ResourceInUseException", {400, nullptr}},
      {"ResourceLimitExceededException", {400, nullptr}},
      {"ResourcePolicyConflictException", {400, nullptr}},
      {"ResourcePolicyInvalidParameterException", {400, nullptr}},
      {"ResourcePolicyLimitExceededException", {400, nullptr}},
      {"ResourcePolicyNotFoundException", {400, nullptr}},
      {"ServiceQuotaExceededException", {400, nullptr}},
      {"ServiceSettingNotFound", {400, nullptr}},
      {"StatusUnchanged", {400, nullptr}},
      {"SubTypeCountLimitExceededException", {400, nullptr}},
      {"TargetInUseException", {400, nullptr}},
      {"TargetNotConnected", {400, nullptr}},
      {"ThrottlingException", {400, nullptr}},
      {"TooManyTagsError", {400, nullptr}},
      {"TooManyUpdates", {400, nullptr}},
      {"TotalSizeLimitExceededException", {400, nullptr}},
      {"UnsupportedCalendarException", {400, nullptr}},
      {"UnsupportedFeatureRequiredException", {400, nullptr}},
      {"UnsupportedInventoryItemContextException", {400, nullptr}},
      {"UnsupportedInventorySchemaVersionException", {400, nullptr}},
      {"UnsupportedOperatingSystem", {400, nullptr}},
      {"UnsupportedOperationException", {400, nullptr}},
      {"UnsupportedParameterType", {400, nullptr}},
      {"UnsupportedPlatformType", {400, nullptr}},
      {"ValidationException", {400, nullptr}},
      // keyward-agent (docs/agent-protocol.md): the host's fingerprint drifted too far.
      {"FingerprintMismatch", {403, nullptr}},
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
