#pragma once

// fleet::InstanceDirectory over AWS Systems Manager's managed instances (AWS itself, or
// another keyward; moto does not implement DescribeInstanceInformation), so that the
// "tag:NAME" targets of a policy whose delivery is an aws-ssm integration resolve to the
// managed instances that SendCommand reaches, not to keyward's own fleet.
//
// Why resolve the hosts here rather than pass the tag to SendCommand's Targets: the
// engine must know every host before it can call a delivery complete (and hold the
// rotation on each one that did not succeed). With Targets, SSM picks the instances
// and they are learned only as invocations appear, so a host that SSM never started
// (offline, or tagged a moment later) would be indistinguishable from "no such host",
// and a tag that matched nothing would look like a finished delivery.
//
// ListInstancesWithTag is one paged DescribeInstanceInformation with the filter
// {Key: "tag:NAME", Values: [...]}; FindInstance filters by InstanceIds. The listing
// carries no tags (DescribeInstanceInformation returns none), so `tags` of the
// summaries is empty. Thread-safe (QueryClient is).

#include <memory>
#include <string>
#include <vector>

#include "awsclient/aws_client.hpp"
#include "awsclient/aws_connection.hpp"
#include "fleet/instance_directory.hpp"

namespace kw::rotation::external {

class AwsSsmInstanceDirectory final : public fleet::InstanceDirectory {
 public:
  // `connection` must outlive the directory. Empty endpoint: https://ssm.{region}.amazonaws.com.
  static Result<std::unique_ptr<AwsSsmInstanceDirectory>> Create(
      awsclient::AwsConnection& connection, std::string endpoint);
  explicit AwsSsmInstanceDirectory(awsclient::QueryClient client) : client_(std::move(client)) {}

  Result<std::optional<fleet::InstanceSummary>> FindInstance(std::string_view instance_id) override;
  Result<std::vector<fleet::InstanceSummary>> ListInstances() override;
  Result<std::vector<fleet::InstanceSummary>> ListInstancesWithTag(
      std::string_view key, const std::vector<std::string>& values) override;

 private:
  // Every page of DescribeInstanceInformation with `filters` (a JSON array; empty: none).
  Result<std::vector<fleet::InstanceSummary>> Describe(const nlohmann::json& filters);

  awsclient::QueryClient client_;
};

}  // namespace kw::rotation::external
