#pragma once

// api::SsmTagAccess for the fleet's taggable types over fleet::FleetService:
// "ManagedInstance" (ResourceId mi-..., authorized on the managed-instance ARN) and
// keyward's "Activation" (its UUID, authorized on "*" as AWS does for activations).
// Thread-safe, as the service.

#include "api/ssm/tag_access.hpp"
#include "fleet/fleet_service.hpp"
#include "iam/principal.hpp"

namespace kw::api {

class FleetTagAccess final : public SsmTagAccess {
 public:
  // `fleet` must outlive this object.
  FleetTagAccess(fleet::FleetService& fleet, fleet::TagResourceType type,
                 const iam::Account& account)
      : fleet_(fleet), type_(type), account_(account) {}

  Result<SsmTagList> List(std::string_view resource_id) override;
  Status Add(std::string_view resource_id, const SsmTagList& tags) override;
  Status Remove(std::string_view resource_id, const std::vector<std::string>& keys) override;
  std::string Arn(std::string_view resource_id) const override;

 private:
  fleet::FleetService& fleet_;
  const fleet::TagResourceType type_;
  const iam::Account account_;
};

}  // namespace kw::api
