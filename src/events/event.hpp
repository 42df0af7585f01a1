#pragma once

// One event of the log, and its CloudTrail record (docs/events.md). An Event holds what
// a record needs, already redacted (events/redaction.hpp): nothing in it is secret.
// ToRecord gives the record as CloudTrail writes it (eventVersion 1.08); the log stores
// and hashes that record, so the record is the event's only durable form.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"

namespace kw::events {

inline constexpr const char* kEventVersion = "1.08";

struct UserIdentity {
  // "IAMUser", "AssumedRole", "AWSService" (agent events) or "Unknown" (the request was
  // refused before the caller was known: only the presented access key ID is).
  std::string type = "Unknown";
  std::string principal_id;  // AIDA... or AROA...:session
  std::string arn;
  std::string account_id;
  std::string access_key_id;  // as presented, also for refused signatures
  std::string user_name;      // IAMUser only
  // AssumedRole: the role that issued the session (sessionContext.sessionIssuer).
  std::string session_issuer_arn;
  std::string session_issuer_name;
  std::string session_issuer_principal_id;
  std::string instance_id;  // managed instance credentials ("mi-..."), else empty
  std::string invoked_by;   // AWSService: "keyward-agent"
};

struct Resource {
  std::string type;  // "AWS::SecretsManager::Secret"
  std::string name;
};

struct Event {
  TimePoint time;
  std::string event_source;  // "secretsmanager.amazonaws.com"
  std::string event_name;    // "GetSecretValue"
  std::string region;
  std::string source_ip;
  std::string user_agent;
  UserIdentity identity;
  nlohmann::json request_parameters;  // redacted; null when none
  nlohmann::json response_elements;   // redacted; null when none
  // The same two, already written as JSON text (AppendRedactedJsonInput); when not empty
  // they take the place of the members above. The request pipeline fills these: writing
  // text into buffers that events reuse costs far less on the request's thread than
  // building a JSON tree there and freeing it on the writer's.
  std::string request_parameters_text;
  std::string response_elements_text;
  nlohmann::json additional_event_data;
  std::string error_code;  // empty on success
  std::string error_message;
  std::string request_id;
  std::string event_id;  // set by the recorder when empty
  bool read_only = false;
  std::string event_type = "AwsApiCall";  // or "AwsServiceEvent"
  std::vector<Resource> resources;
  std::string recipient_account_id;
};

// The CloudTrail record. Keys come out sorted (nlohmann::json objects are ordered maps),
// so record.dump() is the canonical form the chain hashes.
nlohmann::json ToRecord(const Event& event);

// ToRecord(event).dump() (invalid UTF-8 replaced), written directly: the event log's
// writer uses it because building the JSON tree cost several times the rest of an
// event's recording.
std::string RecordJson(const Event& event);
// The same, appended to `out` (the writer reuses one buffer per record slot).
void AppendRecordJson(std::string& out, const Event& event);

// value.dump() (invalid UTF-8 replaced) and json(s).dump(), appended to `out`.
void AppendJsonValue(std::string& out, const nlohmann::json& value);
void AppendJsonString(std::string& out, std::string_view s);

// "secretsmanager" -> "secretsmanager.amazonaws.com".
std::string EventSourceFor(std::string_view signing_name);

// Get*, List*, Describe*, Lookup*, BatchGet*: CloudTrail's readOnly.
bool IsReadOnlyOperation(std::string_view operation);

// The resources a request names, from its (redacted) request parameters: SecretId,
// UserName, AccessKeyId, RoleArn, InstanceId, DocumentName... (LookupEvents'
// ResourceType and ResourceName attributes).
std::vector<Resource> ResourcesOf(std::string_view event_source,
                                  const nlohmann::json& request_parameters);
// The same into `out` (replaced; its elements' strings are reused), from parameters
// either already redacted (`redacted` true) or as the client sent them, in which case the
// result is what ResourcesOf(event_source, RedactJsonInput(input)) gives.
void ResourcesInto(std::string_view event_source, const nlohmann::json& params, bool redacted,
                   std::vector<Resource>& out);

// The fields of a stored record that lookups filter on, read back from its JSON.
struct EventSummary {
  std::int64_t sequence = 0;
  TimePoint time;
  std::string event_id;
  std::string event_name;
  std::string event_source;
  std::string access_key_id;
  std::string username;  // userName, else the session's role name, else ""
  std::string user_arn;
  std::string user_type;
  std::string instance_id;
  std::string source_ip;
  std::string error_code;
  bool read_only = false;
  std::vector<Resource> resources;
  // additionalEventData.keyInactive: refused, but validly signed by an Inactive key.
  bool key_inactive = false;
};

// nullopt if the record lacks eventTime or is not an object.
std::optional<EventSummary> Summarize(std::int64_t sequence, const nlohmann::json& record);

// Exactly what Summarize reads back from RecordJson(event) (sequence 0; time at second
// precision; invalid UTF-8 replaced as in the record), without building or parsing the
// record: the event log's writer indexes each record with it (event_log.hpp).
EventSummary SummaryOf(const Event& event);

// "2026-11-29T23:25:14Z" <-> TimePoint, at second precision, as CloudTrail writes it.
std::string FormatEventTime(TimePoint t);

}  // namespace kw::events
