#pragma once

// The seam between Run Command and the document store: turn a document name, version
// and the caller's parameters into the steps an agent runs, with every parameter
// validated and substituted. Implemented by documents::DocumentService.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agentproto/agent_protocol.hpp"
#include "common/result.hpp"

namespace kw::commands {

struct ResolvedDocument {
  std::string name;
  std::string document_version;  // the version actually used ("1", "2", ...)
  std::string document_hash;     // SHA-256 hex of the content, as SSM reports
  // The steps for an instance of `platform_type` (Resolve's argument): steps whose
  // precondition names another platform are left out.
  std::vector<agentproto::Step> steps;
  std::vector<std::string> platform_types;  // the document's own ("Linux", ...)
};

// Thread-safe.
class DocumentResolver {
 public:
  virtual ~DocumentResolver() = default;
  // `version`: nullopt or "$DEFAULT" for the default version, "$LATEST", or a number.
  // `parameters`: SSM's map of parameter name to list of values. Errors (reasons, as
  // the SSM model names them): InvalidDocument (no such document),
  // InvalidDocumentVersion, InvalidParameters (unknown name, missing required value,
  // not in allowedValues, not matching allowedPattern, wrong type).
  virtual Result<ResolvedDocument> Resolve(
      std::string_view name, const std::optional<std::string>& version,
      const std::map<std::string, std::vector<std::string>>& parameters,
      std::string_view platform_type) = 0;
};

}  // namespace kw::commands
