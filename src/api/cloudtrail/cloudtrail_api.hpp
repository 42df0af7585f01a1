#pragma once

// The CloudTrail JSON 1.1 API over the event log: LookupEvents
// (`X-Amz-Target: com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents`,
// signing name cloudtrail, action cloudtrail:LookupEvents on "*"), as botocore's
// cloudtrail model describes it: at most one LookupAttribute, StartTime/EndTime
// inclusive, MaxResults 1..50 (default 50), NextToken tied to the query it came from.
// Events newest first; each carries its CloudTrail record as the CloudTrailEvent string.

#include "api/http/json_protocol.hpp"
#include "events/event_log.hpp"
#include "events/event_recorder.hpp"

namespace kw::api {

inline constexpr const char* kCloudTrailTargetPrefix =
    "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101";

// `recorder` may be null; when set, a lookup first waits for the events queued before
// it to be written, so a caller sees its own earlier calls. References must outlive the
// service.
JsonService CloudTrailJsonService(const events::EventLog& log, events::EventRecorder* recorder);

}  // namespace kw::api
