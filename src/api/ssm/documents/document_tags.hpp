#pragma once

// api::SsmTagAccess for ResourceType "Document" over documents::DocumentService (the
// ResourceId is the document's name or ARN). Thread-safe, as the service.

#include "api/ssm/tag_access.hpp"
#include "documents/document_service.hpp"

namespace kw::api {

class DocumentTagAccess final : public SsmTagAccess {
 public:
  // `documents` must outlive this object.
  explicit DocumentTagAccess(documents::DocumentService& documents) : documents_(documents) {}

  Result<SsmTagList> List(std::string_view resource_id) override;
  Status Add(std::string_view resource_id, const SsmTagList& tags) override;
  Status Remove(std::string_view resource_id, const std::vector<std::string>& keys) override;
  std::string Arn(std::string_view resource_id) const override;

 private:
  documents::DocumentService& documents_;
};

}  // namespace kw::api
