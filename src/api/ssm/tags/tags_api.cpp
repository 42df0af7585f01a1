#include "api/ssm/tags/tags_api.hpp"

#include <cctype>

#include "api/http/json_input.hpp"

namespace kw::api {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxRequestTags = 1000;  // the model's TagList limit

Error Validation(std::string message) {
  return InvalidArgument("1 validation error detected: " + std::move(message), "ValidationError");
}

// The model's ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$ for ASCII; other bytes belong to UTF-8
// sequences, which we take as letters rather than decode.
bool TagChars(std::string_view s) {
  for (unsigned char c : s) {
    if (c >= 0x80 || std::isalnum(c) || c == ' ' || c == '_' || c == '.' || c == ':' || c == '/' ||
        c == '=' || c == '+' || c == '-' || c == '@') {
      continue;
    }
    return false;
  }
  return true;
}

bool Reserved(std::string_view key) {
  return key.size() >= 4 && std::tolower(static_cast<unsigned char>(key[0])) == 'a' &&
         std::tolower(static_cast<unsigned char>(key[1])) == 'w' &&
         std::tolower(static_cast<unsigned char>(key[2])) == 's' && key[3] == ':';
}

Status CheckKey(std::string_view key, const char* member) {
  if (key.empty() || key.size() > 128) {
    return Validation("Value at '" + std::string(member) +
                      "' failed to satisfy constraint: Member must have length between 1 and "
                      "128");
  }
  if (!TagChars(key)) {
    return Validation("Value at '" + std::string(member) +
                      "' failed to satisfy constraint: Member must satisfy regular expression "
                      "pattern: ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$");
  }
  if (Reserved(key)) {
    return InvalidArgument("Tag keys beginning with aws: are reserved for AWS use.",
                           "ValidationError");
  }
  return OkStatus();
}

Result<SsmTagList> DecodeTags(const json& in) {
  auto it = in.find("Tags");
  if (it == in.end() || it->is_null()) return NullMemberError("Tags");
  if (!it->is_array()) return JsonTypeError("Tags");
  if (it->size() > kMaxRequestTags) {
    return Validation(
        "Value at 'tags' failed to satisfy constraint: Member must have length less than or "
        "equal to 1000");
  }
  SsmTagList tags;
  for (const json& t : *it) {
    if (!t.is_object()) return JsonTypeError("Tags");
    KW_ASSIGN_OR_RETURN(std::string key, ReqString(t, "Key"));
    KW_ASSIGN_OR_RETURN(std::string value, ReqString(t, "Value"));
    KW_RETURN_IF_ERROR(CheckKey(key, "tags.member.key"));
    if (value.size() > 256) {
      return Validation(
          "Value at 'tags.member.value' failed to satisfy constraint: Member must have length "
          "less than or equal to 256");
    }
    if (!TagChars(value)) {
      return Validation(
          "Value at 'tags.member.value' failed to satisfy constraint: Member must satisfy "
          "regular expression pattern: ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$");
    }
    tags.emplace_back(std::move(key), std::move(value));
  }
  return tags;
}

// The access for the request's ResourceType, after checking ResourceType and ResourceId
// are there.
struct Target {
  SsmTagAccess* access;
  std::string id;
};

Result<Target> Resolve(const SsmTagAccessMap& access, const json& in) {
  KW_ASSIGN_OR_RETURN(std::string type, ReqString(in, "ResourceType"));
  KW_ASSIGN_OR_RETURN(std::string id, ReqString(in, "ResourceId"));
  auto it = access.find(type);
  if (it == access.end() || it->second == nullptr) {
    return InvalidArgument("keyward does not support tagging resources of type " + type + ".",
                           "InvalidResourceType");
  }
  return Target{it->second, std::move(id)};
}

JsonOperation Op(std::string name, bool read_only, const SsmTagAccessMap& access,
                 std::function<Result<json>(const Target&, const json&)> body) {
  JsonOperation op;
  op.name = std::move(name);
  op.read_only = read_only;
  op.resource = [access](const json& in, const iam::Principal&) -> std::string {
    auto it = access.find(StringMember(in, "ResourceType"));
    if (it == access.end() || it->second == nullptr) return "*";
    return it->second->Arn(StringMember(in, "ResourceId"));
  };
  op.handler = [access, body = std::move(body)](const JsonCall& call) -> Result<json> {
    KW_ASSIGN_OR_RETURN(Target target, Resolve(access, call.input));
    return body(target, call.input);
  };
  return op;
}

}  // namespace

std::vector<JsonOperation> TagOperations(const SsmTagAccessMap& access) {
  std::vector<JsonOperation> ops;
  ops.push_back(
      Op("AddTagsToResource", false, access, [](const Target& t, const json& in) -> Result<json> {
        KW_ASSIGN_OR_RETURN(SsmTagList tags, DecodeTags(in));
        KW_RETURN_IF_ERROR(t.access->Add(t.id, tags));
        return json::object();
      }));
  ops.push_back(Op("RemoveTagsFromResource", false, access,
                   [](const Target& t, const json& in) -> Result<json> {
                     if (in.find("TagKeys") == in.end() || in["TagKeys"].is_null()) {
                       return NullMemberError("TagKeys");
                     }
                     KW_ASSIGN_OR_RETURN(auto keys, StringList(in, "TagKeys"));
                     for (const auto& k : keys) {
                       if (k.empty() || k.size() > 128) {
                         return Validation(
                             "Value at 'tagKeys' failed to satisfy constraint: Member must "
                             "have length between 1 and 128");
                       }
                     }
                     KW_RETURN_IF_ERROR(t.access->Remove(t.id, keys));
                     return json::object();
                   }));
  ops.push_back(
      Op("ListTagsForResource", true, access, [](const Target& t, const json&) -> Result<json> {
        KW_ASSIGN_OR_RETURN(SsmTagList tags, t.access->List(t.id));
        json list = json::array();
        for (const auto& [k, v] : tags) list.push_back({{"Key", k}, {"Value", v}});
        return json{{"TagList", std::move(list)}};
      }));
  return ops;
}

}  // namespace kw::api
