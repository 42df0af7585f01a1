#pragma once

// What of a request and a response may enter the event log. An allow-list: a member is
// kept only if its name is on the list of members known to hold identifiers and
// settings, never values; every other member's value is replaced by kRedacted (the
// string CloudTrail itself writes). A new operation, or a new secret-bearing member of
// an old one, is therefore hidden until someone decides it is safe, instead of leaking
// until someone notices (docs/adr/0012-event-log.md). Pure functions; thread-safe.

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace kw::events {

inline constexpr const char* kRedacted = "HIDDEN_DUE_TO_SECURITY_REASONS";

// True if the member may be logged wherever it appears (`parent` is the enclosing
// member's name, "" at the top level: "Value" is safe only inside "Tags").
bool IsSafeMember(std::string_view parent, std::string_view member);

// requestParameters of a JSON 1.1 request: the input object with every member that is
// not safe replaced by kRedacted (recursively: safe containers keep only their safe
// members). null for a null input.
nlohmann::json RedactJsonInput(const nlohmann::json& input);

// requestParameters of a query-protocol request: the parameters but Action and Version,
// named in lowerCamelCase as CloudTrail names them ("UserName" -> "userName";
// "Tags.member.1.Key" -> "tags.member.1.key"), values of unsafe members kRedacted.
nlohmann::json RedactQueryInput(const std::map<std::string, std::string, std::less<>>& params);

// responseElements: null for read-only operations (CloudTrail logs no response for
// reads, and a read's response is where the secrets are: GetSecretValue,
// GetRandomPassword), else the output redacted as RedactJsonInput does.
nlohmann::json RedactJsonOutput(bool read_only, const nlohmann::json& output);

// RedactJsonInput(input).dump() (invalid UTF-8 replaced), appended to `out` without
// building the redacted tree: the request pipeline's cheap path (Event's *_text members).
void AppendRedactedJsonInput(std::string& out, const nlohmann::json& input);

// responseElements of a query-protocol (IAM, STS) write, appended to `out` as JSON text:
// `output` is the result as XmlWriter records it (XML element names, lists as arrays),
// written with member names in lowerCamelCase as CloudTrail writes them
// ("AccessKey" -> "accessKey"). The same allow-list, plus the IAM/STS result structures
// ("AccessKey", "Credentials", "User"...; kept only as containers, their members checked
// one by one) and their identifier members ("UserId", "Expiration"...): so
// CreateAccessKey keeps the key's ID and status and AssumeRole the credentials' key ID
// and expiration, while SecretAccessKey and SessionToken are kRedacted. Canonical
// (sorted keys) for a structure whose names all start with an uppercase letter, as XML
// element names of IAM and STS do. "null" for a null output.
void AppendRedactedQueryOutput(std::string& out, const nlohmann::json& output);

}  // namespace kw::events
