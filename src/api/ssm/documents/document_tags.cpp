#include "api/ssm/documents/document_tags.hpp"

namespace kw::api {

Result<SsmTagList> DocumentTagAccess::List(std::string_view resource_id) {
  KW_ASSIGN_OR_RETURN(auto tags, documents_.ListTags(resource_id));
  SsmTagList out;
  for (auto& t : tags) out.emplace_back(std::move(t.key), std::move(t.value));
  return out;
}

Status DocumentTagAccess::Add(std::string_view resource_id, const SsmTagList& tags) {
  std::vector<documents::Tag> in;
  for (const auto& [k, v] : tags) in.push_back({k, v});
  return documents_.AddTags(resource_id, in);
}

Status DocumentTagAccess::Remove(std::string_view resource_id,
                                 const std::vector<std::string>& keys) {
  return documents_.RemoveTags(resource_id, keys);
}

std::string DocumentTagAccess::Arn(std::string_view resource_id) const {
  return documents_.DocumentArn(resource_id);
}

}  // namespace kw::api
