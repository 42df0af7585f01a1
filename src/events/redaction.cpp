#include "events/redaction.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "events/event.hpp"

namespace kw::events {
namespace {

using nlohmann::json;

// Members that name or describe things, never carry a value. Sorted (binary search).
// Deliberately absent, among others: SecretString, SecretBinary, RandomPassword,
// SecretAccessKey, SessionToken, Password, NewPassword, OldPassword, ActivationCode,
// Parameters (SendCommand's may carry anything), Content (a document may embed
// values), Value (SSM parameters), TokenCode, ExternalId, Credentials.
constexpr std::array<std::string_view, 112> kSafe = {
    "ARN",
    "AccessKeyId",
    "ActivationId",
    "AddReplicaRegions",
    "AgentVersion",
    "AllowUnassociatedTargets",
    "Arn",
    "AssumedRoleId",
    "AttributeKey",
    "AttributeValue",
    "AutomaticallyAfterDays",
    "BlockPublicPolicy",
    "ClientRequestToken",
    "CloudWatchOutputConfig",
    "CommandId",
    "Comment",
    "CreateDate",
    "CreatedDate",
    "Cutoff",
    "DefaultInstanceName",
    "DeletedDate",
    "DeletionDate",
    "Description",
    "DetailedStatus",
    "DocumentFormat",
    "DocumentHash",
    "DocumentName",
    "DocumentType",
    "DocumentVersion",
    "Duration",
    "DurationSeconds",
    "Enabled",
    "EndTime",
    "EventCategory",
    "ExcludeCharacters",
    "ExcludeLowercase",
    "ExcludeNumbers",
    "ExcludePunctuation",
    "ExcludeUppercase",
    "ExpirationDate",
    "Expired",
    "Filters",
    "ForceDeleteWithoutRecovery",
    "ForceOverwriteReplicaSecret",
    "IamRole",
    "Id",
    "IncludeDeprecated",
    "IncludePlannedDeletion",
    "IncludeSpace",
    "InstanceId",
    "InstanceIds",
    "Key",
    "KmsKeyId",
    "LastAccessedDate",
    "LastChangedDate",
    "LastRotatedDate",
    "LookupAttributes",
    "Marker",
    "MaxConcurrency",
    "MaxErrors",
    "MaxItems",
    "MaxResults",
    "Name",
    "NewPath",
    "NewUserName",
    "NextToken",
    "OutputS3BucketName",
    "OutputS3KeyPrefix",
    "OwningService",
    "PasswordLength",
    "Path",
    "PathPrefix",
    "PermissionsBoundary",
    "PolicyArn",
    "PolicyDocument",
    "PolicyName",
    "PrimaryRegion",
    "Priority",
    "RecoveryWindowInDays",
    "Region",
    "RegistrationLimit",
    "RemoveReplicaRegions",
    "RequireEachIncludedType",
    "ResourceId",
    "ResourcePolicy",
    "ResourceType",
    "RoleArn",
    "RoleName",
    "RoleSessionName",
    "RotateImmediately",
    "RotationEnabled",
    "RotationLambdaARN",
    "RotationRules",
    "Schedule",
    "ScheduleExpression",
    "SecretId",
    "SecretIdList",
    "ServiceRoleArn",
    "SortOrder",
    "StartTime",
    "Status",
    "TagKeys",
    "Tags",
    "Targets",
    "TimeoutSeconds",
    "UserName",
    "Values",
    "VersionId",
    "VersionIdsToStages",
    "VersionStage",
    "VersionStages",
    "WindowId",
};

bool InSafeList(std::string_view member) {
  return std::binary_search(kSafe.begin(), kSafe.end(), member);
}

// IAM/STS result structures: kept as containers only (their members checked one by one),
// never as a scalar of the same name ("Policy" is also AssumeRole's session policy
// document, a string). Sorted.
constexpr std::array<std::string_view, 7> kQueryStructures = {
    "AccessKey", "AssumedRoleUser", "Credentials", "Policy", "PolicyVersion", "Role", "User",
};

// Identifier and setting members of IAM/STS results, beyond kSafe. Sorted. Deliberately
// absent: SecretAccessKey, SessionToken, Content (the credential report), Document.
constexpr std::array<std::string_view, 15> kQueryScalars = {
    "AssumeRolePolicyDocument",
    "AttachmentCount",
    "DefaultVersionId",
    "Expiration",
    "IsAttachable",
    "IsDefaultVersion",
    "MaxSessionDuration",
    "PackedPolicySize",
    "PermissionsBoundaryUsageCount",
    "PolicyId",
    "RoleId",
    "SourceIdentity",
    "State",
    "UpdateDate",
    "UserId",
};

bool IsSafeQueryOutputMember(std::string_view parent, std::string_view member, const json& value) {
  if (IsSafeMember(parent, member)) return true;
  if (value.is_object() || value.is_array()) {
    return std::binary_search(kQueryStructures.begin(), kQueryStructures.end(), member);
  }
  return std::binary_search(kQueryScalars.begin(), kQueryScalars.end(), member);
}

// `array` as a JSON array whose elements `append_element` writes.
template <class AppendElement>
void AppendArray(std::string& out, const json& array, AppendElement&& append_element) {
  out.push_back('[');
  bool first = true;
  for (const json& v : array) {
    if (!first) out.push_back(',');
    first = false;
    append_element(v);
  }
  out.push_back(']');
}

// The key with its first letter lowered, as a JSON string: "AccessKeyId" -> "accessKeyId".
void AppendLowerCamelKey(std::string& out, std::string_view key) {
  const std::size_t at = out.size();
  AppendJsonString(out, key);
  // out[at] is the opening quote; an ASCII first letter is escaped by no one.
  if (key.size() > 0 && out.size() > at + 1) {
    out[at + 1] = static_cast<char>(std::tolower(static_cast<unsigned char>(out[at + 1])));
  }
}

void AppendRedactedQueryValue(std::string& out, std::string_view name, const json& value) {
  if (value.is_object()) {
    out.push_back('{');
    bool first = true;
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (!first) out.push_back(',');
      first = false;
      AppendLowerCamelKey(out, it.key());
      out.push_back(':');
      if (IsSafeQueryOutputMember(name, it.key(), it.value())) {
        AppendRedactedQueryValue(out, it.key(), it.value());
      } else {
        AppendJsonString(out, kRedacted);
      }
    }
    out.push_back('}');
  } else if (value.is_array()) {
    // List elements inherit the list's name as their parent, as in RedactValue.
    AppendArray(out, value, [&](const json& v) { AppendRedactedQueryValue(out, name, v); });
  } else {
    AppendJsonValue(out, value);
  }
}

json RedactValue(std::string_view name, const json& value);

json RedactObject(std::string_view parent, const json& obj) {
  json out = json::object();
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (!IsSafeMember(parent, it.key())) {
      out[it.key()] = kRedacted;
    } else {
      out[it.key()] = RedactValue(it.key(), it.value());
    }
  }
  return out;
}

// A safe member's value: scalars as they are, containers with their members checked
// (list elements inherit the list's name as their parent).
json RedactValue(std::string_view name, const json& value) {
  if (value.is_object()) return RedactObject(name, value);
  if (value.is_array()) {
    json out = json::array();
    for (const json& v : value) out.push_back(RedactValue(name, v));
    return out;
  }
  return value;
}

void AppendRedactedValue(std::string& out, std::string_view name, const json& value);

// RedactObject(parent, obj).dump(): both iterate the members in the same (sorted) order.
void AppendRedactedObject(std::string& out, std::string_view parent, const json& obj) {
  out.push_back('{');
  bool first = true;
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (!first) out.push_back(',');
    first = false;
    AppendJsonString(out, it.key());
    out.push_back(':');
    if (!IsSafeMember(parent, it.key())) {
      AppendJsonString(out, kRedacted);
    } else {
      AppendRedactedValue(out, it.key(), it.value());
    }
  }
  out.push_back('}');
}

// RedactValue(name, value).dump().
void AppendRedactedValue(std::string& out, std::string_view name, const json& value) {
  if (value.is_object()) {
    AppendRedactedObject(out, name, value);
  } else if (value.is_array()) {
    AppendArray(out, value, [&](const json& v) { AppendRedactedValue(out, name, v); });
  } else {
    AppendJsonValue(out, value);
  }
}

std::string LowerFirst(std::string_view s) {
  std::string out(s);
  if (!out.empty()) out[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(out[0])));
  return out;
}

bool IsDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

bool IsSafeMember(std::string_view parent, std::string_view member) {
  // A tag's value and a filter's values are labels, not secrets; an SSM parameter's
  // "Value" (top level) may be a SecureString.
  if (member == "Value") return parent == "Tags";
  return InSafeList(member);
}

json RedactJsonInput(const json& input) {
  if (input.is_null()) return nullptr;
  if (!input.is_object()) return kRedacted;
  return RedactObject("", input);
}

json RedactQueryInput(const std::map<std::string, std::string, std::less<>>& params) {
  json out = json::object();
  for (const auto& [name, value] : params) {
    if (name == "Action" || name == "Version") continue;
    // Every named segment of "Tags.member.1.Key" must be safe under its parent.
    bool safe = true;
    std::string parent;
    std::string lowered;
    std::size_t start = 0;
    while (start <= name.size()) {
      const std::size_t dot = std::min(name.find('.', start), name.size());
      const std::string_view segment = std::string_view(name).substr(start, dot - start);
      if (segment != "member" && !IsDigits(segment)) {
        safe = safe && IsSafeMember(parent, segment);
        parent = std::string(segment);
      }
      if (!lowered.empty()) lowered.push_back('.');
      lowered += LowerFirst(segment);
      start = dot + 1;
    }
    out[lowered] = safe ? json(value) : json(kRedacted);
  }
  return out;
}

void AppendRedactedJsonInput(std::string& out, const json& input) {
  if (input.is_null()) {
    out += "null";
  } else if (!input.is_object()) {
    AppendJsonString(out, kRedacted);
  } else {
    AppendRedactedObject(out, "", input);
  }
}

void AppendRedactedQueryOutput(std::string& out, const json& output) {
  if (output.is_null()) {
    out += "null";
  } else if (!output.is_object()) {
    AppendJsonString(out, kRedacted);
  } else {
    AppendRedactedQueryValue(out, "", output);
  }
}

json RedactJsonOutput(bool read_only, const json& output) {
  if (read_only || output.is_null()) return nullptr;
  return RedactJsonInput(output);
}

}  // namespace kw::events
