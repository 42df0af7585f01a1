#pragma once

// The SSM tagging operations of the JSON 1.1 API (`X-Amz-Target:
// AmazonSSM.{AddTagsToResource,RemoveTagsFromResource,ListTagsForResource}`), for every
// ResourceType that has an SsmTagAccess; any other type is "InvalidResourceType".
//
// Checked here, for every type, before the resource is touched (as the model says):
// Tags present (ValidationError), at most 1,000 in a request; keys 1..128 characters,
// values 0..256, both of letters, digits, spaces and _.:/=+-@ (bytes outside ASCII are
// taken as letters); keys starting "aws:" (any case) are reserved for AWS
// (ValidationError, reported as ValidationException). The per-resource limit of 50
// ("TooManyTagsError") and unknown resources ("InvalidResourceId") come from the
// SsmTagAccess.
//
// Authorization resource: SsmTagAccess::Arn of the ResourceId for a known type, "*"
// otherwise (the handler then refuses the type).

#include <map>
#include <string>
#include <vector>

#include "api/http/json_protocol.hpp"
#include "api/ssm/tag_access.hpp"

namespace kw::api {

// ResourceType ("ManagedInstance", "Document", ...) -> its tags. The pointers must
// outlive the operations.
using SsmTagAccessMap = std::map<std::string, SsmTagAccess*, std::less<>>;

std::vector<JsonOperation> TagOperations(const SsmTagAccessMap& access);

}  // namespace kw::api
