#include "rotation/external/cloudtrail_key_sources.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include "common/time_format.hpp"
#include "rotation/external/aws_json_errors.hpp"

namespace kw::rotation::external {
namespace {

using nlohmann::json;

// EventTime is epoch seconds (a JSON number) on the wire; accept ISO text as well.
TimePoint EventTime(const json& e, TimePoint fallback) {
  auto it = e.find("EventTime");
  if (it == e.end()) return fallback;
  if (it->is_number()) {
    return TimePoint(std::chrono::duration_cast<TimePoint::duration>(
        std::chrono::duration<double>(it->get<double>())));
  }
  if (it->is_string()) return ParseIso8601(it->get<std::string>()).value_or(fallback);
  return fallback;
}

double Epoch(TimePoint t) { return std::floor(ToEpochSeconds(t)); }

}  // namespace

Result<std::vector<KeySource>> LookupKeySources(const awsclient::QueryClient& cloudtrail,
                                                std::string_view access_key_id, TimePoint since,
                                                TimePoint until, int max_pages) {
  json input{
      {"LookupAttributes",
       json::array({json{{"AttributeKey", "AccessKeyId"}, {"AttributeValue", access_key_id}}})},
      {"StartTime", Epoch(since)},
      {"EndTime", Epoch(until)},
      {"MaxResults", 50}};
  std::map<std::string, KeySource> by_source;
  for (int page = 0; page < max_pages; ++page) {
    KW_ASSIGN_OR_RETURN(json out, Mapped(cloudtrail.CallJson(kCloudTrail, "LookupEvents", input)));
    for (const json& e : out.value("Events", json::array())) {
      const TimePoint when = EventTime(e, since);
      std::string source = "unknown";
      std::string agent;
      if (auto raw = e.find("CloudTrailEvent"); raw != e.end() && raw->is_string()) {
        json detail = json::parse(raw->get<std::string>(), nullptr, false);
        if (detail.is_object()) {
          source = detail.value("sourceIPAddress", source);
          agent = detail.value("userAgent", std::string());
        }
      }
      KeySource& s = by_source[source];
      s.source_address = source;
      s.events++;
      if (s.events == 1 || when >= s.last_seen) {
        s.last_seen = when;
        s.last_event = e.value("EventName", std::string());
        s.user_agent = agent;
      }
    }
    auto next = out.find("NextToken");
    if (next == out.end() || !next->is_string() || next->get<std::string>().empty()) break;
    input["NextToken"] = *next;
  }
  std::vector<KeySource> result;
  for (auto& [_, s] : by_source) result.push_back(std::move(s));
  std::sort(result.begin(), result.end(),
            [](const KeySource& a, const KeySource& b) { return a.last_seen > b.last_seen; });
  return result;
}

}  // namespace kw::rotation::external
