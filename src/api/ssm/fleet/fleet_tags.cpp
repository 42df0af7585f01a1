#include "api/ssm/fleet/fleet_tags.hpp"

namespace kw::api {

Result<SsmTagList> FleetTagAccess::List(std::string_view resource_id) {
  KW_ASSIGN_OR_RETURN(fleet::Tags tags, fleet_.ListTags(type_, resource_id));
  return SsmTagList(tags.begin(), tags.end());
}

Status FleetTagAccess::Add(std::string_view resource_id, const SsmTagList& tags) {
  // A later duplicate key in one request wins, as in the other services.
  fleet::Tags in;
  for (const auto& [k, v] : tags) in[k] = v;
  return fleet_.AddTags(type_, resource_id, in);
}

Status FleetTagAccess::Remove(std::string_view resource_id, const std::vector<std::string>& keys) {
  return fleet_.RemoveTags(type_, resource_id, keys);
}

std::string FleetTagAccess::Arn(std::string_view resource_id) const {
  if (type_ != fleet::TagResourceType::kManagedInstance) return "*";
  return fleet::ManagedInstanceArn(account_, resource_id);
}

}  // namespace kw::api
