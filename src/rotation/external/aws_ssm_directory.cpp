#include "rotation/external/aws_ssm_directory.hpp"

#include <algorithm>
#include <map>

#include "rotation/external/aws_json_errors.hpp"

namespace kw::rotation::external {
namespace {

using awsclient::kSsm;
using nlohmann::json;

constexpr std::size_t kMaxFilterValues = 100;  // InstanceInformationFilterValueSet
constexpr int kMaxPages = 1000;                // 50 000 instances

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

fleet::InstanceSummary Summary(const json& i) {
  fleet::InstanceSummary s;
  s.instance_id = Str(i, "InstanceId");
  s.ping_status = Str(i, "PingStatus");
  s.platform_type = Str(i, "PlatformType");
  s.platform_name = Str(i, "PlatformName");
  s.computer_name = Str(i, "ComputerName");
  s.ip_address = Str(i, "IPAddress");
  s.iam_role = Str(i, "IamRole");
  return s;
}

}  // namespace

Result<std::unique_ptr<AwsSsmInstanceDirectory>> AwsSsmInstanceDirectory::Create(
    awsclient::AwsConnection& connection, std::string endpoint) {
  if (endpoint.empty()) endpoint = "https://ssm." + connection.region() + ".amazonaws.com";
  KW_ASSIGN_OR_RETURN(awsclient::QueryClient client, connection.Client(std::move(endpoint)));
  return std::make_unique<AwsSsmInstanceDirectory>(std::move(client));
}

Result<std::vector<fleet::InstanceSummary>> AwsSsmInstanceDirectory::Describe(const json& filters) {
  std::map<std::string, fleet::InstanceSummary> by_id;
  json input{{"MaxResults", 50}};
  if (!filters.empty()) input["Filters"] = filters;
  for (int page = 0; page < kMaxPages; ++page) {
    KW_ASSIGN_OR_RETURN(json out,
                        Mapped(client_.CallJson(kSsm, "DescribeInstanceInformation", input)));
    for (const json& i : out.value("InstanceInformationList", json::array())) {
      fleet::InstanceSummary s = Summary(i);
      if (!s.instance_id.empty()) by_id[s.instance_id] = std::move(s);
    }
    const std::string next = Str(out, "NextToken");
    if (next.empty()) {
      std::vector<fleet::InstanceSummary> result;
      for (auto& [_, s] : by_id) result.push_back(std::move(s));
      return result;
    }
    if (input.contains("NextToken") && input["NextToken"] == next) {
      return Internal("DescribeInstanceInformation returned the same NextToken twice");
    }
    input["NextToken"] = next;
  }
  return Internal("DescribeInstanceInformation: too many pages");
}

Result<std::optional<fleet::InstanceSummary>> AwsSsmInstanceDirectory::FindInstance(
    std::string_view instance_id) {
  auto found = Describe(json::array(
      {json{{"Key", "InstanceIds"}, {"Values", json::array({std::string(instance_id)})}}}));
  if (!found) {
    // AWS answers an ID it does not know with InvalidInstanceId rather than an empty list.
    if (found.error().reason == "InvalidInstanceId") {
      return std::optional<fleet::InstanceSummary>();
    }
    return std::move(found).error();
  }
  for (auto& s : *found) {
    if (s.instance_id == instance_id) return std::optional<fleet::InstanceSummary>(std::move(s));
  }
  return std::optional<fleet::InstanceSummary>();
}

Result<std::vector<fleet::InstanceSummary>> AwsSsmInstanceDirectory::ListInstances() {
  return Describe(json::array());
}

Result<std::vector<fleet::InstanceSummary>> AwsSsmInstanceDirectory::ListInstancesWithTag(
    std::string_view key, const std::vector<std::string>& values) {
  if (key.empty() || values.empty()) {
    return InvalidArgument("a tag target needs a tag name and at least one value",
                           "ValidationException");
  }
  std::map<std::string, fleet::InstanceSummary> by_id;
  for (std::size_t at = 0; at < values.size(); at += kMaxFilterValues) {
    const std::vector<std::string> chunk(
        values.begin() + at, values.begin() + std::min(values.size(), at + kMaxFilterValues));
    KW_ASSIGN_OR_RETURN(
        std::vector<fleet::InstanceSummary> tagged,
        Describe(json::array({json{{"Key", "tag:" + std::string(key)}, {"Values", chunk}}})));
    for (auto& s : tagged) by_id[s.instance_id] = std::move(s);
  }
  std::vector<fleet::InstanceSummary> out;
  for (auto& [_, s] : by_id) out.push_back(std::move(s));
  return out;
}

}  // namespace kw::rotation::external
