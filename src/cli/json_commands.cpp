#include "cli/json_commands.hpp"

#include <charconv>
#include <cmath>

#include "common/time_format.hpp"

namespace kw::cli {

using nlohmann::json;

namespace {
constexpr int kMaxPages = 10000;
}  // namespace

std::optional<std::chrono::seconds> ParseDuration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  long long total = 0;
  while (!text.empty()) {
    long long n = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || ptr == text.data() || n < 0 || n > 100000000) return std::nullopt;
    text.remove_prefix(static_cast<std::size_t>(ptr - text.data()));
    if (text.empty()) return std::nullopt;  // a unit is required
    long long unit = 0;
    switch (text.front()) {
      case 's':
        unit = 1;
        break;
      case 'm':
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'd':
        unit = 86400;
        break;
      default:
        return std::nullopt;
    }
    text.remove_prefix(1);
    total += n * unit;
    if (total > 10LL * 365 * 86400) return std::nullopt;
  }
  return std::chrono::seconds(total);
}

std::vector<std::string> SplitList(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const std::size_t cut = text.find_first_of(",\n");
    std::string_view item = text.substr(0, cut);
    if (!item.empty()) out.emplace_back(item);
    text.remove_prefix(cut == std::string_view::npos ? text.size() : cut + 1);
  }
  return out;
}

Result<std::vector<json>> ListAllJson(const QueryClient& client, const JsonTarget& service,
                                      std::string_view operation, json input,
                                      std::string_view list_key) {
  std::vector<json> out;
  for (int page = 0; page < kMaxPages; ++page) {
    KW_ASSIGN_OR_RETURN(json result, client.CallJson(service, operation, input));
    auto list = result.find(std::string(list_key));
    if (list != result.end() && list->is_array()) {
      for (auto& m : *list) out.push_back(std::move(m));
    }
    auto next = result.find("NextToken");
    if (next == result.end() || !next->is_string() || next->get<std::string>().empty()) return out;
    if (input.contains("NextToken") && input["NextToken"] == *next) {
      return Internal(std::string(operation) + ": the server repeated a NextToken");
    }
    input["NextToken"] = *next;
  }
  return Internal(std::string(operation) + ": too many pages");
}

nlohmann::ordered_json IsoDate(const json& v) {
  if (!v.is_number()) return nullptr;
  const auto secs = static_cast<long long>(std::floor(v.get<double>()));
  return FormatIso8601(TimePoint(std::chrono::seconds(secs)));
}

}  // namespace kw::cli
