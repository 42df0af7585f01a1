#pragma once

// The SSM JSON 1.1 operations of the fleet (`X-Amz-Target: AmazonSSM.*`) over
// fleet::FleetService: activations and managed instances. Shapes and member names
// follow botocore's SSM model; timestamps are epoch seconds (numbers).
//
// The composition root joins these operations with the other SSM adapters' into one
// JsonService {signing "ssm", target prefix "AmazonSSM", action prefix "ssm"}. Tags on
// managed instances and activations go through api/ssm/tags, with one FleetTagAccess
// (fleet_tags.hpp) per type.
//
// keyward extensions: CreateActivation accepts "SourceCidrs" (a list of CIDR blocks the
// registering host's address must lie in), and Activation reports it.
//
// Authorization resources: "arn:aws:ssm:REGION:ACCT:managed-instance/mi-..." for
// operations on one managed instance, "*" for activations and listings, as AWS does.

#include <vector>

#include "api/http/json_protocol.hpp"
#include "fleet/fleet_service.hpp"
#include "iam/principal.hpp"

namespace kw::api {

// References must outlive the operations.
std::vector<JsonOperation> FleetOperations(fleet::FleetService& fleet, const iam::Account& account);

// keyward's own operator calls on the fleet, for a JsonService {signing name "keyward",
// target prefix "Keyward", action prefix "keyward"}:
//   ApproveInstanceRebind {InstanceId} -> {}: the instance's next valid credentials
//     request may present a new fingerprint (keyward:ApproveInstanceRebind on the
//     managed-instance ARN).
//   DescribeInstanceIdentity {InstanceId} -> {InstanceId, RebindApproved,
//     FingerprintHistory: [{Date, Reason, ChangedComponents}]} (read-only).
std::vector<JsonOperation> KeywardFleetOperations(fleet::FleetService& fleet,
                                                  const iam::Account& account);

}  // namespace kw::api
