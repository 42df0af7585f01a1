#include "api/ssm/windows/window_tags.hpp"

namespace kw::api {

Result<SsmTagList> WindowTagAccess::List(std::string_view resource_id) {
  KW_ASSIGN_OR_RETURN(auto tags, windows_.ListTags(resource_id));
  SsmTagList out;
  for (auto& t : tags) out.emplace_back(std::move(t.key), std::move(t.value));
  return out;
}

Status WindowTagAccess::Add(std::string_view resource_id, const SsmTagList& tags) {
  std::vector<windows::Tag> in;
  for (const auto& [k, v] : tags) in.push_back({k, v});
  return windows_.AddTags(resource_id, in);
}

Status WindowTagAccess::Remove(std::string_view resource_id, const std::vector<std::string>& keys) {
  return windows_.RemoveTags(resource_id, keys);
}

std::string WindowTagAccess::Arn(std::string_view resource_id) const {
  return windows_.WindowArn(resource_id);
}

}  // namespace kw::api
