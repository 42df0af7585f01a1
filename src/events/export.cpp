#include "events/export.hpp"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <map>
#include <tuple>

#include "crypto/digest.hpp"

namespace kw::events {
namespace {

std::tm Utc(TimePoint t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return tm;
}

std::string Format(TimePoint t, const char* fmt) {
  const std::tm tm = Utc(t);
  char buf[64];
  std::strftime(buf, sizeof buf, fmt, &tm);
  return buf;
}

}  // namespace

Result<std::vector<ExportFile>> BuildExport(const EventLog& log, std::string_view account_id,
                                            TimePoint since, TimePoint until) {
  // (region, hour) -> (sequence, record text), oldest first once sorted.
  std::map<std::pair<std::string, TimePoint>, std::vector<std::pair<std::int64_t, std::string>>>
      groups;
  KW_RETURN_IF_ERROR(log.Scan(since, until, [&](const StoredEvent& e) {
    const auto region_it = e.record.find("awsRegion");
    std::string region = region_it != e.record.end() && region_it->is_string()
                             ? region_it->get<std::string>()
                             : std::string("us-east-1");
    const TimePoint hour = std::chrono::floor<std::chrono::hours>(e.summary.time);
    groups[{std::move(region), hour}].emplace_back(
        e.sequence, e.record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    return true;
  }));
  std::vector<ExportFile> files;
  for (auto& [key, records] : groups) {
    const auto& [region, hour] = key;
    std::sort(records.begin(), records.end());
    ExportFile f;
    f.json = "{\"Records\":[";
    for (std::size_t i = 0; i < records.size(); ++i) {
      if (i > 0) f.json.push_back(',');
      f.json += records[i].second;
    }
    f.json += "]}";
    f.records = records.size();
    std::string unique = crypto::Sha256Hex(f.json).substr(0, 16);
    for (char& c : unique) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    const std::string account(account_id);
    f.relative_path = "AWSLogs/" + account + "/CloudTrail/" + region + "/" +
                      Format(hour, "%Y/%m/%d") + "/" + account + "_CloudTrail_" + region + "_" +
                      Format(hour, "%Y%m%dT%H%MZ") + "_" + unique + ".json.gz";
    files.push_back(std::move(f));
  }
  return files;
}

}  // namespace kw::events
