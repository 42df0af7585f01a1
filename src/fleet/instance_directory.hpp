#pragma once

// The managed instances as other services see them (Run Command targets, maintenance
// windows, rotation delivery), without depending on the fleet service itself.

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
};

}  // namespace kw::fleet
