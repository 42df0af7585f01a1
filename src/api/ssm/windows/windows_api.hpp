#pragma once

// The maintenance-window operations of the SSM JSON 1.1 API (`X-Amz-Target:
// AmazonSSM.*Maintenance*`) over windows::MaintenanceWindowService: decode, call the
// service, encode with botocore's member names (timestamps as epoch seconds; StartDate,
// EndDate, NextExecutionTime and ExecutionTime as the ISO-8601 strings of the model).
//
// Authorization resources: the window's ARN
// "arn:aws:ssm:REGION:ACCT:maintenancewindow/mw-..." for operations that name a WindowId;
// "*" for CreateMaintenanceWindow, DescribeMaintenanceWindows and the execution
// operations (which name an execution, not a window). The composition root appends
// these to the other SSM adapters' operations in one JsonService
// {"ssm", "AmazonSSM", "ssm", ...}.

#include <vector>

#include "api/http/json_protocol.hpp"
#include "iam/principal.hpp"
#include "windows/maintenance_window_service.hpp"

namespace kw::api {

// References must outlive the operations.
std::vector<JsonOperation> WindowOperations(windows::MaintenanceWindowService& windows,
                                            const iam::Account& account);

}  // namespace kw::api
