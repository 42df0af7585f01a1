#include "events/event.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include "common/time_format.hpp"
#include "events/redaction.hpp"

namespace kw::events {
namespace {

using nlohmann::json;

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

std::string StringAt(const json& obj, const char* key) {
  if (!obj.is_object()) return {};
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

json IdentityJson(const UserIdentity& id) {
  json out = json::object();
  out["type"] = id.type;
  if (!id.principal_id.empty()) out["principalId"] = id.principal_id;
  if (!id.arn.empty()) out["arn"] = id.arn;
  if (!id.account_id.empty()) out["accountId"] = id.account_id;
  if (!id.access_key_id.empty()) out["accessKeyId"] = id.access_key_id;
  if (!id.user_name.empty()) out["userName"] = id.user_name;
  if (!id.invoked_by.empty()) out["invokedBy"] = id.invoked_by;
  if (!id.session_issuer_arn.empty()) {
    out["sessionContext"] = {{"sessionIssuer",
                              {{"type", "Role"},
                               {"principalId", id.session_issuer_principal_id},
                               {"arn", id.session_issuer_arn},
                               {"accountId", id.account_id},
                               {"userName", id.session_issuer_name}}},
                             {"attributes", {{"mfaAuthenticated", "false"}}}};
    if (!id.instance_id.empty()) out["sessionContext"]["ec2RoleDelivery"] = "keyward";
  }
  if (!id.instance_id.empty()) out["instanceId"] = id.instance_id;
  return out;
}

// Appends `s` as a JSON string exactly as nlohmann::json::dump writes it (no
// ensure_ascii); strings that are not valid UTF-8 go through nlohmann's replacement.
void AppendString(std::string& out, std::string_view s) {
  // Nearly every string (names, IDs, ARNs, addresses) is printable ASCII with nothing to
  // escape: one append instead of a validation and an escape pass a byte at a time.
  if (std::all_of(s.begin(), s.end(), [](char ch) {
        const auto c = static_cast<unsigned char>(ch);
        return c >= 0x20 && c < 0x7f && ch != '"' && ch != '\\';
      })) {
    out.push_back('"');
    out.append(s);
    out.push_back('"');
    return;
  }
  std::size_t i = 0;
  bool valid = true;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80           ? 1
                    : (c >> 5) == 0x6  ? 2
                    : (c >> 4) == 0xe  ? 3
                    : (c >> 3) == 0x1e ? 4
                                       : 0;
    if (n == 0 || i + n > s.size() || (n == 2 && c < 0xc2)) {
      valid = false;
      break;
    }
    for (std::size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) valid = false;
    }
    if (n == 3) {
      const auto c1 = static_cast<unsigned char>(s[i + 1]);
      if ((c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 >= 0xa0)) valid = false;
    } else if (n == 4) {
      const auto c1 = static_cast<unsigned char>(s[i + 1]);
      if ((c == 0xf0 && c1 < 0x90) || (c == 0xf4 && c1 >= 0x90) || c > 0xf4) valid = false;
    }
    if (!valid) break;
    i += n;
  }
  if (!valid) {
    out += json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace);
    return;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0xf]);
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

// Writes `"key":` after a comma when `first` is false.
void Key(std::string& out, bool& first, std::string_view key) {
  if (!first) out.push_back(',');
  first = false;
  out.push_back('"');
  out.append(key);
  out += "\":";
}

void StringMember(std::string& out, bool& first, std::string_view key, std::string_view value) {
  Key(out, first, key);
  AppendString(out, value);
}

// value.dump() (invalid UTF-8 replaced), written directly: dump() allocates a serializer
// and its output adapter per call, a noticeable share of the writer's time.
void AppendJson(std::string& out, const json& value) {
  switch (value.type()) {
    case json::value_t::object: {
      out.push_back('{');
      bool first = true;
      for (const auto& [k, v] : value.items()) {
        if (!first) out.push_back(',');
        first = false;
        AppendString(out, k);
        out.push_back(':');
        AppendJson(out, v);
      }
      out.push_back('}');
      return;
    }
    case json::value_t::array: {
      out.push_back('[');
      bool first = true;
      for (const auto& v : value) {
        if (!first) out.push_back(',');
        first = false;
        AppendJson(out, v);
      }
      out.push_back(']');
      return;
    }
    case json::value_t::string:
      AppendString(out, value.get_ref<const std::string&>());
      return;
    case json::value_t::null:
      out += "null";
      return;
    case json::value_t::boolean:
      out += value.get<bool>() ? "true" : "false";
      return;
    case json::value_t::number_integer:
      out += std::to_string(value.get<std::int64_t>());
      return;
    case json::value_t::number_unsigned:
      out += std::to_string(value.get<std::uint64_t>());
      return;
    default:  // floats, binary, discarded: rare; nlohmann's formatting
      out += value.dump(-1, ' ', false, json::error_handler_t::replace);
      return;
  }
}

void JsonMember(std::string& out, bool& first, std::string_view key, const json& value) {
  Key(out, first, key);
  AppendJson(out, value);
}

// IdentityJson(id).dump(), written directly.
void AppendIdentity(std::string& out, const UserIdentity& id) {
  bool first = true;
  out.push_back('{');
  if (!id.access_key_id.empty()) StringMember(out, first, "accessKeyId", id.access_key_id);
  if (!id.account_id.empty()) StringMember(out, first, "accountId", id.account_id);
  if (!id.arn.empty()) StringMember(out, first, "arn", id.arn);
  if (!id.instance_id.empty()) StringMember(out, first, "instanceId", id.instance_id);
  if (!id.invoked_by.empty()) StringMember(out, first, "invokedBy", id.invoked_by);
  if (!id.principal_id.empty()) StringMember(out, first, "principalId", id.principal_id);
  if (!id.session_issuer_arn.empty()) {
    Key(out, first, "sessionContext");
    out += R"({"attributes":{"mfaAuthenticated":"false"},)";
    if (!id.instance_id.empty()) out += R"("ec2RoleDelivery":"keyward",)";
    out += R"("sessionIssuer":{)";
    bool f = true;
    StringMember(out, f, "accountId", id.account_id);
    StringMember(out, f, "arn", id.session_issuer_arn);
    StringMember(out, f, "principalId", id.session_issuer_principal_id);
    StringMember(out, f, "type", "Role");
    StringMember(out, f, "userName", id.session_issuer_name);
    out += "}}";
  }
  StringMember(out, first, "type", id.type);
  if (!id.user_name.empty()) StringMember(out, first, "userName", id.user_name);
  out.push_back('}');
}

}  // namespace

std::string RecordJson(const Event& e) {
  std::string out;
  out.reserve(1024);
  AppendRecordJson(out, e);
  return out;
}

void AppendJsonValue(std::string& out, const json& value) { AppendJson(out, value); }

void AppendJsonString(std::string& out, std::string_view s) { AppendString(out, s); }

void AppendRecordJson(std::string& out, const Event& e) {
  out.push_back('{');
  bool first = true;
  // Members in byte order of their names, as nlohmann's std::map-backed objects dump.
  if (!e.additional_event_data.is_null()) {
    JsonMember(out, first, "additionalEventData", e.additional_event_data);
  }
  StringMember(out, first, "awsRegion", e.region);
  if (!e.error_code.empty()) {
    StringMember(out, first, "errorCode", e.error_code);
    StringMember(out, first, "errorMessage", e.error_message);
  }
  StringMember(out, first, "eventCategory", "Management");
  StringMember(out, first, "eventID", e.event_id);
  StringMember(out, first, "eventName", e.event_name);
  StringMember(out, first, "eventSource", e.event_source);
  StringMember(out, first, "eventTime", FormatEventTime(e.time));
  StringMember(out, first, "eventType", e.event_type);
  StringMember(out, first, "eventVersion", kEventVersion);
  Key(out, first, "managementEvent");
  out += "true";
  Key(out, first, "readOnly");
  out += e.read_only ? "true" : "false";
  StringMember(out, first, "recipientAccountId", e.recipient_account_id);
  StringMember(out, first, "requestID", e.request_id);
  Key(out, first, "requestParameters");
  if (!e.request_parameters_text.empty()) {
    out.append(e.request_parameters_text);
  } else {
    AppendJson(out, e.request_parameters);
  }
  if (!e.resources.empty()) {
    Key(out, first, "resources");
    out.push_back('[');
    for (std::size_t i = 0; i < e.resources.size(); ++i) {
      if (i > 0) out.push_back(',');
      bool f = true;
      out.push_back('{');
      StringMember(out, f, "ARN", e.resources[i].name);
      StringMember(out, f, "type", e.resources[i].type);
      out.push_back('}');
    }
    out.push_back(']');
  }
  Key(out, first, "responseElements");
  if (!e.response_elements_text.empty()) {
    out.append(e.response_elements_text);
  } else {
    AppendJson(out, e.response_elements);
  }
  StringMember(out, first, "sourceIPAddress", e.source_ip);
  StringMember(out, first, "userAgent", e.user_agent);
  Key(out, first, "userIdentity");
  AppendIdentity(out, e.identity);
  out.push_back('}');
}

std::string FormatEventTime(TimePoint t) { return FormatIso8601(t); }

json ToRecord(const Event& e) {
  json r = json::object();
  r["eventVersion"] = kEventVersion;
  r["userIdentity"] = IdentityJson(e.identity);
  r["eventTime"] = FormatEventTime(e.time);
  r["eventSource"] = e.event_source;
  r["eventName"] = e.event_name;
  r["awsRegion"] = e.region;
  r["sourceIPAddress"] = e.source_ip;
  r["userAgent"] = e.user_agent;
  if (!e.error_code.empty()) {
    r["errorCode"] = e.error_code;
    r["errorMessage"] = e.error_message;
  }
  r["requestParameters"] = e.request_parameters_text.empty()
                               ? e.request_parameters
                               : json::parse(e.request_parameters_text, nullptr, false);
  r["responseElements"] = e.response_elements_text.empty()
                              ? e.response_elements
                              : json::parse(e.response_elements_text, nullptr, false);
  if (!e.additional_event_data.is_null()) r["additionalEventData"] = e.additional_event_data;
  r["requestID"] = e.request_id;
  r["eventID"] = e.event_id;
  r["readOnly"] = e.read_only;
  r["eventType"] = e.event_type;
  r["managementEvent"] = true;
  r["eventCategory"] = "Management";
  r["recipientAccountId"] = e.recipient_account_id;
  if (!e.resources.empty()) {
    json list = json::array();
    for (const Resource& res : e.resources) {
      list.push_back({{"type", res.type}, {"ARN", res.name}});
    }
    r["resources"] = std::move(list);
  }
  return r;
}

std::string EventSourceFor(std::string_view signing_name) {
  if (signing_name.empty() || signing_name == "unknown") return "unknown";
  return std::string(signing_name) + ".amazonaws.com";
}

bool IsReadOnlyOperation(std::string_view op) {
  return StartsWith(op, "Get") || StartsWith(op, "List") || StartsWith(op, "Describe") ||
         StartsWith(op, "Lookup") || StartsWith(op, "BatchGet");
}

std::vector<Resource> ResourcesOf(std::string_view event_source, const json& params) {
  std::vector<Resource> out;
  ResourcesInto(event_source, params, true, out);
  return out;
}

void ResourcesInto(std::string_view event_source, const json& params, bool redacted,
                   std::vector<Resource>& out) {
  std::size_t n = 0;
  // Assigns into the slots `out` already has, so a reused Event allocates nothing here.
  auto add = [&](std::string_view type, std::string_view name) {
    if (n == out.size()) out.emplace_back();
    out[n].type.assign(type);
    out[n].name.assign(name);
    ++n;
  };
  if (!params.is_object()) {
    out.clear();
    return;
  }
  struct Rule {
    const char* member;
    const char* type;
  };
  static constexpr std::array<Rule, 14> kRules = {{
      {"SecretId", "AWS::SecretsManager::Secret"},
      {"secretId", "AWS::SecretsManager::Secret"},
      {"Name", nullptr},  // the service decides (below)
      {"userName", "AWS::IAM::User"},
      {"UserName", "AWS::IAM::User"},
      {"accessKeyId", "AWS::IAM::AccessKey"},
      {"AccessKeyId", "AWS::IAM::AccessKey"},
      {"roleArn", "AWS::IAM::Role"},
      {"RoleArn", "AWS::IAM::Role"},
      {"roleName", "AWS::IAM::Role"},
      {"policyArn", "AWS::IAM::ManagedPolicy"},
      {"InstanceId", "AWS::SSM::ManagedInstance"},
      {"DocumentName", "AWS::SSM::Document"},
      {"ActivationId", "AWS::SSM::Activation"},
  }};
  for (const Rule& rule : kRules) {
    auto it = params.find(rule.member);
    if (it == params.end()) continue;
    // What RedactJsonInput would have left: an unsafe member's value is kRedacted.
    std::string_view value = !redacted && !IsSafeMember("", rule.member) ? kRedacted
                             : it->is_string() ? std::string_view(it->get_ref<const std::string&>())
                                               : std::string_view();
    if (value.empty()) continue;
    const char* type = rule.type;
    if (type == nullptr) {
      if (event_source == "secretsmanager.amazonaws.com") {
        type = "AWS::SecretsManager::Secret";
      } else if (event_source == "ssm.amazonaws.com") {
        type = "AWS::SSM::Document";
      } else {
        continue;
      }
    }
    add(type, value);
  }
  // InstanceIds is safe, and redaction keeps a safe list's strings as they are.
  auto ids = params.find("InstanceIds");
  if (ids != params.end() && ids->is_array()) {
    for (const json& id : *ids) {
      if (id.is_string()) add("AWS::SSM::ManagedInstance", id.get_ref<const std::string&>());
    }
  }
  out.resize(n);
}

std::optional<EventSummary> Summarize(std::int64_t sequence, const json& record) {
  if (!record.is_object()) return std::nullopt;
  auto time = ParseIso8601(StringAt(record, "eventTime"));
  if (!time) return std::nullopt;
  EventSummary s;
  s.sequence = sequence;
  s.time = *time;
  s.event_id = StringAt(record, "eventID");
  s.event_name = StringAt(record, "eventName");
  s.event_source = StringAt(record, "eventSource");
  s.source_ip = StringAt(record, "sourceIPAddress");
  s.error_code = StringAt(record, "errorCode");
  auto ro = record.find("readOnly");
  s.read_only = ro != record.end() && ro->is_boolean() && ro->get<bool>();
  auto id = record.find("userIdentity");
  if (id != record.end() && id->is_object()) {
    s.access_key_id = StringAt(*id, "accessKeyId");
    s.user_arn = StringAt(*id, "arn");
    s.user_type = StringAt(*id, "type");
    s.instance_id = StringAt(*id, "instanceId");
    s.username = StringAt(*id, "userName");
    // An assumed role's user name is its session name, as CloudTrail's Username.
    if (s.username.empty() && s.user_arn.find(":assumed-role/") != std::string::npos) {
      s.username = s.user_arn.substr(s.user_arn.rfind('/') + 1);
    }
  }
  auto extra = record.find("additionalEventData");
  if (extra != record.end() && extra->is_object()) {
    auto inactive = extra->find("keyInactive");
    s.key_inactive = inactive != extra->end() && inactive->is_boolean() && inactive->get<bool>();
  }
  auto res = record.find("resources");
  if (res != record.end() && res->is_array()) {
    for (const json& r : *res) s.resources.push_back({StringAt(r, "type"), StringAt(r, "ARN")});
  }
  return s;
}

namespace {

// A string as a record's reader gets it back: unchanged unless RecordJson had to escape
// or replace something in it (rare: then the same escape, read back).
std::string AsStored(const std::string& s) {
  if (std::all_of(s.begin(), s.end(), [](char ch) {
        const auto c = static_cast<unsigned char>(ch);
        return c >= 0x20 && c < 0x7f;
      })) {
    return s;
  }
  std::string quoted;
  AppendString(quoted, s);
  json back = json::parse(quoted, nullptr, false);
  return back.is_string() ? back.get<std::string>() : std::string();
}

}  // namespace

EventSummary SummaryOf(const Event& e) {
  EventSummary s;
  s.time = std::chrono::floor<std::chrono::seconds>(e.time);
  s.event_id = AsStored(e.event_id);
  s.event_name = AsStored(e.event_name);
  s.event_source = AsStored(e.event_source);
  s.source_ip = AsStored(e.source_ip);
  s.error_code = AsStored(e.error_code);
  s.read_only = e.read_only;
  s.access_key_id = AsStored(e.identity.access_key_id);
  s.user_arn = AsStored(e.identity.arn);
  s.user_type = AsStored(e.identity.type);
  s.instance_id = AsStored(e.identity.instance_id);
  s.username = AsStored(e.identity.user_name);
  if (s.username.empty() && s.user_arn.find(":assumed-role/") != std::string::npos) {
    s.username = s.user_arn.substr(s.user_arn.rfind('/') + 1);
  }
  if (e.additional_event_data.is_object()) {
    auto inactive = e.additional_event_data.find("keyInactive");
    s.key_inactive = inactive != e.additional_event_data.end() && inactive->is_boolean() &&
                     inactive->get<bool>();
  }
  s.resources.reserve(e.resources.size());
  for (const Resource& r : e.resources) s.resources.push_back({AsStored(r.type), AsStored(r.name)});
  return s;
}

}  // namespace kw::events
