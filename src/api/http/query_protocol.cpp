#include "api/http/query_protocol.hpp"

#include <array>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "common/time_format.hpp"
#include "sigv4/sigv4.hpp"

namespace kw::api {
namespace {

constexpr std::size_t kMaxParams = 10000;

// Parses the N of "prefix.N" or "prefix.N.rest"; 0 if not such a key.
std::size_t MemberIndex(std::string_view key, std::string_view prefix, std::string_view* rest) {
  if (key.size() <= prefix.size() || key.substr(0, prefix.size()) != prefix) return 0;
  std::string_view tail = key.substr(prefix.size());
  std::size_t n = 0;
  auto [p, ec] = std::from_chars(tail.data(), tail.data() + tail.size(), n);
  if (ec != std::errc() || n == 0 || n > kMaxParams) return 0;
  std::string_view after(p, static_cast<std::size_t>(tail.data() + tail.size() - p));
  if (!after.empty() && after.front() != '.') return 0;
  if (rest) *rest = after.empty() ? after : after.substr(1);
  return n;
}

}  // namespace

Error ValidationError(std::string_view member, std::string_view value,
                      std::string_view constraint) {
  return InvalidArgument("1 validation error detected: Value '" + std::string(value) + "' at '" +
                             std::string(member) +
                             "' failed to satisfy constraint: " + std::string(constraint),
                         "ValidationError");
}

Error EnumValueError(std::string_view member, std::string_view value, std::string_view set) {
  return ValidationError(member, value,
                         "Member must satisfy enum value set: [" + std::string(set) + "]");
}

Result<std::map<std::string, std::string>> DecodeTagMap(const QueryParams& params) {
  std::map<std::string, std::string> tags;
  const auto structs = params.Structs("Tags");
  for (std::size_t i = 0; i < structs.size(); ++i) {
    const auto key = structs[i].find("Key");
    const auto value = structs[i].find("Value");
    if (key == structs[i].end() || value == structs[i].end()) {
      return InvalidArgument("1 validation error detected: Value null at 'tags." +
                                 std::to_string(i + 1) +
                                 ".member' failed to satisfy constraint: Member must not be null",
                             "ValidationError");
    }
    tags[key->second] = value->second;
  }
  return tags;
}

Result<QueryParams> QueryParams::Parse(std::string_view form) {
  QueryParams q;
  KW_RETURN_IF_ERROR(q.Merge(form));
  return q;
}

Status QueryParams::Merge(std::string_view form) {
  std::size_t count = 0;
  while (!form.empty()) {
    const std::size_t amp = form.find('&');
    const std::string_view pair = form.substr(0, amp);
    form = amp == std::string_view::npos ? std::string_view() : form.substr(amp + 1);
    if (pair.empty()) continue;
    if (++count > kMaxParams) {
      return InvalidArgument("Too many parameters in the request.", "MalformedQueryString");
    }
    const std::size_t eq = pair.find('=');
    auto name = sigv4::UriDecode(pair.substr(0, eq), true);
    auto value = sigv4::UriDecode(
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), true);
    if (!name || !value) {
      return InvalidArgument("The query string is malformed: bad percent-encoding.",
                             "MalformedQueryString");
    }
    params_.emplace(std::move(*name), std::move(*value));
  }
  return OkStatus();
}

std::optional<std::string> QueryParams::Get(std::string_view name) const {
  auto it = params_.find(name);
  if (it == params_.end()) return std::nullopt;
  return it->second;
}

Result<std::string> QueryParams::Required(std::string_view name) const {
  auto it = params_.find(name);
  if (it == params_.end()) {
    return InvalidArgument("The request must contain the parameter " + std::string(name) + ".",
                           "MissingParameter");
  }
  return it->second;
}

Result<std::optional<long long>> QueryParams::Int(std::string_view name, long long min,
                                                  long long max) const {
  auto it = params_.find(name);
  if (it == params_.end()) return std::optional<long long>();
  const std::string& s = it->second;
  long long v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) {
    return ValidationError(name, s, "Member must be a number");
  }
  if (v < min) {
    return ValidationError(
        name, s, "Member must have value greater than or equal to " + std::to_string(min));
  }
  if (v > max) {
    return ValidationError(name, s,
                           "Member must have value less than or equal to " + std::to_string(max));
  }
  return std::optional<long long>(v);
}

Result<std::optional<bool>> QueryParams::Bool(std::string_view name) const {
  auto it = params_.find(name);
  if (it == params_.end()) return std::optional<bool>();
  if (it->second == "true") return std::optional<bool>(true);
  if (it->second == "false") return std::optional<bool>(false);
  return ValidationError(name, it->second, "Member must be a boolean (true or false)");
}

std::vector<std::string> QueryParams::List(std::string_view name) const {
  const std::string prefix = std::string(name) + ".member.";
  std::map<std::size_t, std::string> by_index;
  for (auto it = params_.lower_bound(prefix); it != params_.end(); ++it) {
    if (it->first.compare(0, prefix.size(), prefix) != 0) break;
    std::string_view rest;
    const std::size_t n = MemberIndex(it->first, prefix, &rest);
    if (n != 0 && rest.empty()) by_index.emplace(n, it->second);
  }
  std::vector<std::string> out;
  out.reserve(by_index.size());
  for (auto& [_, v] : by_index) out.push_back(v);
  return out;
}

std::vector<std::map<std::string, std::string>> QueryParams::Structs(std::string_view name) const {
  const std::string prefix = std::string(name) + ".member.";
  std::map<std::size_t, std::map<std::string, std::string>> by_index;
  for (auto it = params_.lower_bound(prefix); it != params_.end(); ++it) {
    if (it->first.compare(0, prefix.size(), prefix) != 0) break;
    std::string_view rest;
    const std::size_t n = MemberIndex(it->first, prefix, &rest);
    if (n != 0 && !rest.empty()) by_index[n].emplace(std::string(rest), it->second);
  }
  std::vector<std::map<std::string, std::string>> out;
  out.reserve(by_index.size());
  for (auto& [_, v] : by_index) out.push_back(std::move(v));
  return out;
}

std::string XmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '\r':
        out += "&#13;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

XmlWriter& XmlWriter::Open(std::string_view tag) {
  out_.append("<").append(tag).append(">");
  if (recording_) open_.push_back(&Slot(tag));
  return *this;
}

XmlWriter& XmlWriter::Close(std::string_view tag) {
  out_.append("</").append(tag).append(">");
  if (recording_ && open_.size() > 1) {
    if (open_.back()->is_null()) *open_.back() = nlohmann::json::array();
    open_.pop_back();
  }
  return *this;
}

XmlWriter& XmlWriter::Element(std::string_view tag, std::string_view text) {
  out_.append("<").append(tag).append(">");
  out_ += XmlEscape(text);
  out_.append("</").append(tag).append(">");
  if (recording_) Leaf(tag, nlohmann::json(text));
  return *this;
}

XmlWriter& XmlWriter::Element(std::string_view tag, long long number) {
  const std::string text = std::to_string(number);
  out_.append("<").append(tag).append(">").append(text).append("</").append(tag).append(">");
  if (recording_) Leaf(tag, nlohmann::json(number));
  return *this;
}

XmlWriter& XmlWriter::BoolElement(std::string_view tag, bool value) {
  out_.append("<").append(tag).append(">").append(value ? "true" : "false");
  out_.append("</").append(tag).append(">");
  if (recording_) Leaf(tag, nlohmann::json(value));
  return *this;
}

XmlWriter& XmlWriter::TimeElement(std::string_view tag, TimePoint t) {
  const std::string text = FormatIso8601(t);
  out_.append("<").append(tag).append(">").append(text).append("</").append(tag).append(">");
  if (recording_) Leaf(tag, nlohmann::json(FormatCloudTrailResponseDate(t)));
  return *this;
}

void XmlWriter::RecordStructure() {
  recording_ = true;
  structure_ = nullptr;
  open_.assign(1, &structure_);
}

nlohmann::json XmlWriter::TakeStructure() {
  recording_ = false;
  open_.clear();
  return std::move(structure_);
}

nlohmann::json& XmlWriter::Slot(std::string_view tag) {
  nlohmann::json& parent = *open_.back();
  if (tag == "member") {
    if (!parent.is_array()) parent = nlohmann::json::array();
    parent.push_back(nullptr);
    return parent.back();
  }
  if (!parent.is_object()) parent = nlohmann::json::object();
  return parent[std::string(tag)];
}

void XmlWriter::Leaf(std::string_view tag, nlohmann::json value) { Slot(tag) = std::move(value); }

std::string FormatCloudTrailResponseDate(TimePoint t) {
  static constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  const int hour12 = tm.tm_hour % 12 == 0 ? 12 : tm.tm_hour % 12;
  char buf[48];
  std::snprintf(buf, sizeof buf, "%s %d, %d %d:%02d:%02d %s", kMonths[tm.tm_mon], tm.tm_mday,
                tm.tm_year + 1900, hour12, tm.tm_min, tm.tm_sec, tm.tm_hour < 12 ? "AM" : "PM");
  return buf;
}

void WritePaging(XmlWriter& x, bool is_truncated, std::string_view marker) {
  x.BoolElement("IsTruncated", is_truncated);
  if (is_truncated) x.Element("Marker", marker);
}

QueryOperation MakeOperation(std::string name, bool read_only, QueryOperation::Resource resource,
                             QueryOperation::Handler handler, bool authorize) {
  QueryOperation op;
  op.name = std::move(name);
  op.read_only = read_only;
  op.authorize = authorize;
  op.resource = std::move(resource);
  op.handler = std::move(handler);
  return op;
}

}  // namespace kw::api
