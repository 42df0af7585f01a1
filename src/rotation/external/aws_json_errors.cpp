#include "rotation/external/aws_json_errors.hpp"

#include <map>
#include <string>

namespace kw::rotation::external {

Error MapAwsJsonError(Error e) {
  static const std::map<std::string, ErrorCode, std::less<>> kCodes = {
      // Secrets Manager
      {"ResourceNotFoundException", ErrorCode::kNotFound},
      {"ResourceExistsException", ErrorCode::kAlreadyExists},
      {"InvalidRequestException", ErrorCode::kFailedPrecondition},
      {"InvalidParameterException", ErrorCode::kInvalidArgument},
      {"DecryptionFailure", ErrorCode::kFailedPrecondition},
      {"InternalServiceError", ErrorCode::kUnavailable},
      // SSM
      {"InvalidInstanceId", ErrorCode::kNotFound},
      {"InvalidDocument", ErrorCode::kNotFound},
      {"InvalidCommandId", ErrorCode::kNotFound},
      {"InvocationDoesNotExist", ErrorCode::kNotFound},
      {"DocumentAlreadyExists", ErrorCode::kAlreadyExists},
      {"InternalServerError", ErrorCode::kUnavailable},
      // Common
      {"AccessDeniedException", ErrorCode::kPermissionDenied},
      {"AccessDenied", ErrorCode::kPermissionDenied},
      {"UnrecognizedClientException", ErrorCode::kUnauthenticated},
      {"InvalidSignatureException", ErrorCode::kUnauthenticated},
      {"ExpiredTokenException", ErrorCode::kUnauthenticated},
      {"ThrottlingException", ErrorCode::kUnavailable},
      {"TooManyRequestsException", ErrorCode::kUnavailable},
      {"Throttling", ErrorCode::kUnavailable},
      {"TooManyUpdates", ErrorCode::kUnavailable},
  };
  if (auto it = kCodes.find(e.reason); it != kCodes.end()) e.code = it->second;
  return e;
}

}  // namespace kw::rotation::external
