#pragma once

// The seam between the SSM tagging operations (api/ssm/tags: AddTagsToResource,
// RemoveTagsFromResource, ListTagsForResource) and the domain services that own taggable
// resources. One implementation per ResourceType ("ManagedInstance", "Activation",
// "Document", "MaintenanceWindow"), each a small adapter next to its service's API;
// the composition root maps ResourceType -> SsmTagAccess*.
//
// The tagging operations check each tag's key and value against the model (length,
// characters, the reserved "aws:" prefix) before calling Add; implementations enforce
// what needs the stored tags: at most kMaxSsmResourceTags tags per resource
// ("TooManyTagsError"), applied atomically with the change. An unknown resource, or one
// that cannot be tagged (a document owned by Amazon), is "InvalidResourceId".
//
// Implementations are thread-safe (their services are).

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.hpp"

namespace kw::api {

// SSM's limit on tags per resource.
inline constexpr std::size_t kMaxSsmResourceTags = 50;

// (key, value) pairs in the order the resource keeps them.
using SsmTagList = std::vector<std::pair<std::string, std::string>>;

class SsmTagAccess {
 public:
  virtual ~SsmTagAccess() = default;

  virtual Result<SsmTagList> List(std::string_view resource_id) = 0;
  // Adds tags, replacing the value of a key the resource already has.
  virtual Status Add(std::string_view resource_id, const SsmTagList& tags) = 0;
  // Keys the resource does not have are ignored.
  virtual Status Remove(std::string_view resource_id, const std::vector<std::string>& keys) = 0;
  // The resource's ARN for authorization ("*" when it has none). Never fails.
  virtual std::string Arn(std::string_view resource_id) const = 0;
};

}  // namespace kw::api
