#pragma once

// The SSM JSON 1.1 operations of Run Command (`X-Amz-Target: AmazonSSM.*`) over
// commands::CommandService: SendCommand, ListCommands, ListCommandInvocations,
// GetCommandInvocation, CancelCommand. Shapes and member names follow botocore's SSM
// model: Command.RequestedDateTime / ExpiresAfter, CommandInvocation.RequestedDateTime
// and CommandPlugin.ResponseStart/FinishDateTime are timestamps (epoch seconds, numbers);
// GetCommandInvocation's ExecutionStartDateTime / ExecutionEndDateTime /
// ExecutionElapsedTime are StringDateTime (ISO 8601 strings, "" until known). S3, SNS
// and CloudWatch output options are accepted and ignored (keyward keeps output itself).
//
// The composition root joins these operations with the other SSM adapters' into one
// JsonService {signing "ssm", target prefix "AmazonSSM", action prefix "ssm"}.
//
// Authorization: SendCommand is checked by the dispatcher on the document's ARN
// ("arn:aws:ssm:REGION:ACCT:document/NAME"; AWS-owned "AWS-*" documents have no account:
// "arn:aws:ssm:REGION::document/NAME"), and by the handler with JsonCall::authorize for
// ssm:SendCommand on every target instance's ARN
// ("arn:aws:ssm:REGION:ACCT:managed-instance/mi-..."), as AWS does; a refused instance
// refuses the whole request and nothing is sent. The other operations act on "*".

#include <vector>

#include "api/http/json_protocol.hpp"
#include "commands/command_service.hpp"
#include "iam/principal.hpp"

namespace kw::api {

// References must outlive the operations.
std::vector<JsonOperation> CommandOperations(commands::CommandService& commands,
                                             const iam::Account& account);

}  // namespace kw::api
