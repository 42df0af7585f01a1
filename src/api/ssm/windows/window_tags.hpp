#pragma once

// api::SsmTagAccess for ResourceType "MaintenanceWindow" over
// windows::MaintenanceWindowService (the ResourceId is the window ID, mw-...).
// Thread-safe, as the service.

#include "api/ssm/tag_access.hpp"
#include "windows/maintenance_window_service.hpp"

namespace kw::api {

class WindowTagAccess final : public SsmTagAccess {
 public:
  // `windows` must outlive this object.
  explicit WindowTagAccess(windows::MaintenanceWindowService& windows) : windows_(windows) {}

  Result<SsmTagList> List(std::string_view resource_id) override;
  Status Add(std::string_view resource_id, const SsmTagList& tags) override;
  Status Remove(std::string_view resource_id, const std::vector<std::string>& keys) override;
  std::string Arn(std::string_view resource_id) const override;

 private:
  windows::MaintenanceWindowService& windows_;
};

}  // namespace kw::api
