#include "api/cloudtrail/cloudtrail_api.hpp"

#include <cmath>

#include "api/http/json_input.hpp"
#include "common/time_format.hpp"
#include "crypto/digest.hpp"

namespace kw::api {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxResults = 50;

Error LookupAttributesError(std::string message) {
  return InvalidArgument(std::move(message), "InvalidLookupAttributesException");
}

// A timestamp member: epoch seconds (botocore's JSON protocol), or an ISO 8601 string.
Result<std::optional<TimePoint>> OptTime(const json& in, const char* name) {
  auto it = in.find(name);
  if (it == in.end() || it->is_null()) return std::optional<TimePoint>();
  if (it->is_number()) {
    const double s = it->get<double>();
    if (!std::isfinite(s) || s < 0 || s > 253402300799.0) return JsonTypeError(name);
    return std::optional<TimePoint>(TimePoint(
        std::chrono::duration_cast<TimePoint::duration>(std::chrono::duration<double>(s))));
  }
  if (it->is_string()) {
    auto t = ParseIso8601(it->get<std::string>());
    if (!t) return JsonTypeError(name);
    return std::optional<TimePoint>(*t);
  }
  return JsonTypeError(name);
}

// The part of a query a NextToken is bound to.
std::string QueryFingerprint(const events::LookupQuery& q) {
  std::string text;
  if (q.attribute) {
    text += std::to_string(static_cast<int>(q.attribute->first)) + "=" + q.attribute->second;
  }
  text += "|" + (q.start ? std::to_string(q.start->time_since_epoch().count()) : "-");
  text += "|" + (q.end ? std::to_string(q.end->time_since_epoch().count()) : "-");
  return crypto::Sha256Hex(text).substr(0, 16);
}

std::string EncodeToken(std::int64_t before, const events::LookupQuery& q) {
  return crypto::Base64Encode("v1:" + std::to_string(before) + ":" + QueryFingerprint(q));
}

Result<std::int64_t> DecodeToken(std::string_view token, const events::LookupQuery& q) {
  const Error bad = InvalidArgument("Invalid NextToken.", "InvalidNextTokenException");
  auto text = crypto::Base64Decode(token);
  if (!text || text->rfind("v1:", 0) != 0) return bad;
  const std::size_t colon = text->find(':', 3);
  if (colon == std::string::npos || text->substr(colon + 1) != QueryFingerprint(q)) return bad;
  try {
    std::size_t used = 0;
    const std::string number = text->substr(3, colon - 3);
    const long long before = std::stoll(number, &used);
    if (used != number.size() || before < 1) return bad;
    return static_cast<std::int64_t>(before);
  } catch (const std::exception&) {
    return bad;
  }
}

Result<events::LookupQuery> DecodeLookup(const json& in) {
  events::LookupQuery q;
  auto attrs = in.find("LookupAttributes");
  if (attrs != in.end() && !attrs->is_null()) {
    if (!attrs->is_array()) return JsonTypeError("LookupAttributes");
    if (attrs->size() > 1) {
      return LookupAttributesError("You can only specify one lookup attribute.");
    }
    for (const json& a : *attrs) {
      if (!a.is_object()) return JsonTypeError("LookupAttributes");
      KW_ASSIGN_OR_RETURN(std::string key, ReqString(a, "AttributeKey"));
      KW_ASSIGN_OR_RETURN(std::string value, ReqString(a, "AttributeValue"));
      auto attribute = events::ParseLookupAttribute(key);
      if (!attribute) {
        return LookupAttributesError("The attribute key '" + key + "' is not valid.");
      }
      if (value.empty() || value.size() > 2000) {
        return LookupAttributesError("The attribute value must be 1 to 2000 characters long.");
      }
      q.attribute = std::make_pair(*attribute, std::move(value));
    }
  }
  KW_ASSIGN_OR_RETURN(q.start, OptTime(in, "StartTime"));
  KW_ASSIGN_OR_RETURN(q.end, OptTime(in, "EndTime"));
  if (q.start && q.end && *q.start > *q.end) {
    return InvalidArgument("Start time must be before or equal to end time.",
                           "InvalidTimeRangeException");
  }
  KW_ASSIGN_OR_RETURN(auto max, OptInt(in, "MaxResults"));
  if (max && (*max < 1 || *max > static_cast<std::int64_t>(kMaxResults))) {
    return InvalidArgument("MaxResults must be between 1 and 50.", "InvalidMaxResultsException");
  }
  q.max_results = max ? static_cast<std::size_t>(*max) : kMaxResults;
  KW_ASSIGN_OR_RETURN(auto token, OptString(in, "NextToken"));
  if (token) {
    KW_ASSIGN_OR_RETURN(std::int64_t before, DecodeToken(*token, q));
    q.before_sequence = before;
  }
  return q;
}

json EncodeEvent(const events::StoredEvent& e) {
  const events::EventSummary& s = e.summary;
  json out = {
      {"EventId", s.event_id},
      {"EventName", s.event_name},
      {"ReadOnly", s.read_only ? "true" : "false"},
      {"EventTime",
       static_cast<std::int64_t>(
           std::chrono::duration_cast<std::chrono::seconds>(s.time.time_since_epoch()).count())},
      {"EventSource", s.event_source},
      {"CloudTrailEvent", e.record.dump(-1, ' ', false, json::error_handler_t::replace)}};
  if (!s.access_key_id.empty()) out["AccessKeyId"] = s.access_key_id;
  if (!s.username.empty()) out["Username"] = s.username;
  json resources = json::array();
  for (const auto& r : s.resources) {
    resources.push_back({{"ResourceType", r.type}, {"ResourceName", r.name}});
  }
  out["Resources"] = std::move(resources);
  return out;
}

}  // namespace

JsonService CloudTrailJsonService(const events::EventLog& log, events::EventRecorder* recorder) {
  const events::EventLog* events_log = &log;
  JsonService service;
  service.signing_name = "cloudtrail";
  service.target_prefix = kCloudTrailTargetPrefix;
  service.action_prefix = "cloudtrail";
  service.operations.push_back(MakeJsonOperation(
      "LookupEvents", true, [](const json&, const iam::Principal&) { return std::string("*"); },
      [events_log, recorder](const JsonCall& call) -> Result<json> {
        KW_ASSIGN_OR_RETURN(events::LookupQuery q, DecodeLookup(call.input));
        KW_ASSIGN_OR_RETURN(auto category, OptString(call.input, "EventCategory"));
        if (category && *category != "insight") {
          return InvalidArgument("EventCategory must be insight.", "InvalidEventCategoryException");
        }
        // keyward has no Insights events.
        if (category) return json{{"Events", json::array()}};
        if (recorder != nullptr) recorder->Flush();
        KW_ASSIGN_OR_RETURN(events::LookupPage page, events_log->Lookup(q));
        json events = json::array();
        for (const auto& e : page.events) events.push_back(EncodeEvent(e));
        json out = {{"Events", std::move(events)}};
        if (page.next_before) out["NextToken"] = EncodeToken(*page.next_before, q);
        return out;
      }));
  return service;
}

}  // namespace kw::api
