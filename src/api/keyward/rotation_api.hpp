#pragma once

// keyward's own JSON 1.1 operations on access-key rotation (`X-Amz-Target:
// Keyward.*`, signing name and action prefix "keyward") over rotation::RotationEngine.
// The composition root appends them to the one "keyward" JsonService (with the fleet's
// KeywardFleetOperations).
//
//   CreateRotationPolicy {UserName, SecretId, Issuer?, SecretTarget?,
//       Delivery: {Type, Parameters?: {name: value}}, Targets?: [{Key, Values}],
//       ScheduleExpression? | AutomaticallyAfterDays?, QuietPeriodSeconds?,
//       AckTimeoutSeconds?, GracePeriodSeconds?, ReactivateOnUse?} -> {RotationPolicy}
//   GetRotationPolicy {PolicyId} -> {RotationPolicy}                         (read-only)
//   ListRotationPolicies {MaxResults?, NextToken?} -> {RotationPolicies, NextToken?}
//   DeleteRotationPolicy {PolicyId} -> {}
//   RotateNow {PolicyId} -> {Rotation}: queues a rotation; the server's scheduler runs it
//   ListRotations {PolicyId, MaxResults?, NextToken?} -> {Rotations (newest first),
//       NextToken?}                                                           (read-only)
//   GetRotation {RotationId} -> {Rotation}                                    (read-only)
//   PlanRotation {PolicyId} -> {Plan}: what RotateNow would do now, doing nothing: the key
//       it would replace (OldAccessKeyId, its status, creation and last use), the user's
//       keys and Preflight (slots), Blockers (why it would not run), Hosts [{InstanceId,
//       Registered, PingStatus?, IPAddress?, SeenWithCurrentKey, AckedDate?,
//       SeenInRotationId?}] with HostsNote (what "seen" means: the host acknowledged the
//       secret's current version in a rotation of this policy), Steps [{Step,
//       EarliestDate, LatestDate, Note}] from the policy's periods, NextRotationDate
//                                                                             (read-only)
//
// A Rotation carries its Step, History [{Step, EnteredDate}], WaitingReason,
// FailureReason, Hosts [{InstanceId, Status pending|acked|failed, AckedDate?, Reason?}],
// Findings (uses of the old key after deactivation) and the key IDs involved; never a
// secret. Dates are epoch seconds; durations are whole seconds. Targets use the SSM
// shape: Key "InstanceIds" or "tag:NAME".
//
// Errors: ValidationException (a bad or missing member, naming it; a bad policy),
// SerializationException (a member of the wrong type), ResourceNotFoundException,
// ResourceExistsException (a second policy on one secret), InvalidRequestException
// (RotateNow/DeleteRotationPolicy while a rotation is in progress), InvalidNextTokenException.
//
// Authorization resource: arn:aws:keyward:REGION:ACCT:rotation-policy/ID for the
// operations on one policy or its rotations (a rotation ID is the policy ID + "." +
// sequence), "*" for CreateRotationPolicy and ListRotationPolicies.

#include <string>
#include <string_view>
#include <vector>

#include "api/http/json_protocol.hpp"
#include "iam/principal.hpp"
#include "rotation/rotation_engine.hpp"

namespace kw::api {

// The ARN of a rotation policy.
std::string RotationPolicyArn(const iam::Account& account, std::string_view policy_id);

// References must outlive the operations. Thread-safe as the engine is.
std::vector<JsonOperation> RotationOperations(rotation::RotationEngine& engine,
                                              const iam::Account& account);

}  // namespace kw::api
