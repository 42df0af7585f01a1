#pragma once

// The managed instances as other services see them (Run Command targets, maintenance
// windows, rotation delivery), without depending on the fleet service itself.

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"
#include "common/result.hpp"

namespace kw::fleet {

struct InstanceSummary {
  std::string instance_id;    // mi-0123456789abcdef0
  std::string ping_status;    // "Online", "ConnectionLost", "Inactive"
  std::string platform_type;  // "Linux"
  std::string platform_name;
  std::string computer_name;
  std::string ip_address;
  std::string iam_role;  // role name
  std::map<std::string, std::string> tags;
};

// Thread-safe.
class InstanceDirectory {
 public:
  virtual ~InstanceDirectory() = default;
  // nullopt if no such instance is registered (never registered or deregistered).
  virtual Result<std::optional<InstanceSummary>> FindInstance(std::string_view instance_id) = 0;
  // Every registered instance, ordered by instance ID.
  virtual Result<std::vector<InstanceSummary>> ListInstances() = 0;
  // The instances whose tag `key` has one of `values`, ordered by instance ID. A
  // directory that can filter at the source (SSM DescribeInstanceInformation's
  // "tag:KEY" filter, whose listing carries no tags) overrides this.
  virtual Result<std::vector<InstanceSummary>> ListInstancesWithTag(
      std::string_view key, const std::vector<std::string>& values) {
    KW_ASSIGN_OR_RETURN(std::vector<InstanceSummary> all, ListInstances());
    std::vector<InstanceSummary> out;
    for (auto& inst : all) {
      auto it = inst.tags.find(std::string(key));
      if (it != inst.tags.end() &&
          std::find(values.begin(), values.end(), it->second) != values.end()) {
        out.push_back(std::move(inst));
      }
    }
    return out;
  }
};

}  // namespace kw::fleet
