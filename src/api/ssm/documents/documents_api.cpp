#include "api/ssm/documents/documents_api.hpp"

#include "api/http/json_input.hpp"
#include "common/time_format.hpp"

namespace kw::api {
namespace {

using nlohmann::json;
namespace docs = documents;

Result<std::string> Content(const json& in) {
  KW_ASSIGN_OR_RETURN(std::string content, ReqString(in, "Content", "content"));
  if (content.empty()) {
    return InvalidArgument(
        "1 validation error detected: Value at 'content' failed to satisfy constraint: Member "
        "must have length greater than or equal to 1",
        "ValidationError");
  }
  return content;
}

Result<std::optional<int>> MaxResults(const json& in) {
  KW_ASSIGN_OR_RETURN(auto n, OptInt(in, "MaxResults"));
  if (!n) return std::optional<int>();
  if (*n < 1 || *n > docs::kMaxListResults) {
    return InvalidArgument("1 validation error detected: Value '" + std::to_string(*n) +
                               "' at 'maxResults' failed to satisfy constraint: Member must have "
                               "value less than or equal to 50",
                           "ValidationError");
  }
  return std::optional<int>(static_cast<int>(*n));
}

// Attachments and Requires belong to other document types; refusing them beats
// silently dropping them.
Status NoAttachments(const json& in) {
  for (const char* member : {"Attachments", "Requires"}) {
    auto it = in.find(member);
    if (it != in.end() && !it->is_null() && !(it->is_array() && it->empty())) {
      return InvalidArgument(std::string(member) + " are not supported for Command documents.",
                             "InvalidDocumentContent");
    }
  }
  return OkStatus();
}

Result<std::vector<docs::Tag>> DecodeTags(const json& in) {
  std::vector<docs::Tag> tags;
  auto it = in.find("Tags");
  if (it == in.end() || it->is_null()) return tags;
  if (!it->is_array()) return JsonTypeError("Tags");
  for (const json& t : *it) {
    if (!t.is_object()) return JsonTypeError("Tags");
    KW_ASSIGN_OR_RETURN(auto key, OptString(t, "Key"));
    KW_ASSIGN_OR_RETURN(auto value, OptString(t, "Value"));
    if (!key) return NullMemberError("tags.member.key");
    if (!value) return NullMemberError("tags.member.value");
    tags.push_back({*key, *value});
  }
  return tags;
}

Result<docs::VersionSelector> DecodeSelector(const json& in) {
  docs::VersionSelector sel;
  KW_ASSIGN_OR_RETURN(sel.document_version, OptString(in, "DocumentVersion"));
  KW_ASSIGN_OR_RETURN(sel.version_name, OptString(in, "VersionName"));
  return sel;
}

Result<std::vector<docs::DocumentFilter>> DecodeFilters(const json& in) {
  std::vector<docs::DocumentFilter> filters;
  if (auto it = in.find("DocumentFilterList"); it != in.end() && !it->is_null()) {
    if (!it->is_array()) return JsonTypeError("DocumentFilterList");
    for (const json& f : *it) {
      if (!f.is_object()) return JsonTypeError("DocumentFilterList");
      KW_ASSIGN_OR_RETURN(auto key, OptString(f, "key"));
      KW_ASSIGN_OR_RETURN(auto value, OptString(f, "value"));
      if (!key) return NullMemberError("documentFilterList.member.key");
      if (!value) return NullMemberError("documentFilterList.member.value");
      filters.push_back({*key, {*value}});
    }
  }
  if (auto it = in.find("Filters"); it != in.end() && !it->is_null()) {
    if (!it->is_array()) return JsonTypeError("Filters");
    if (it->size() > 6) {
      return InvalidArgument(
          "1 validation error detected: Value at 'filters' failed to satisfy constraint: Member "
          "must have length less than or equal to 6",
          "ValidationError");
    }
    for (const json& f : *it) {
      if (!f.is_object()) return JsonTypeError("Filters");
      docs::DocumentFilter filter;
      KW_ASSIGN_OR_RETURN(auto key, OptString(f, "Key"));
      filter.key = key.value_or("");
      KW_ASSIGN_OR_RETURN(filter.values, StringList(f, "Values"));
      filters.push_back(std::move(filter));
    }
  }
  return filters;
}

double Epoch(TimePoint t) { return ToEpochSeconds(t); }

json EncodeTags(const std::vector<docs::Tag>& tags) {
  json a = json::array();
  for (const auto& t : tags) a.push_back({{"Key", t.key}, {"Value", t.value}});
  return a;
}

json EncodeDescription(const docs::DocumentDescription& d) {
  json j;
  j["Hash"] = d.hash;
  j["HashType"] = d.hash_type;
  j["Name"] = d.name;
  if (d.display_name) j["DisplayName"] = *d.display_name;
  if (d.version_name) j["VersionName"] = *d.version_name;
  j["Owner"] = d.owner;
  j["CreatedDate"] = Epoch(d.created);
  j["Status"] = d.status;
  j["DocumentVersion"] = d.document_version;
  if (!d.description.empty()) j["Description"] = d.description;
  json params = json::array();
  for (const auto& p : d.parameters) {
    json e = {{"Name", p.name}, {"Type", p.type}, {"Description", p.description}};
    if (p.default_value) e["DefaultValue"] = *p.default_value;
    params.push_back(std::move(e));
  }
  j["Parameters"] = std::move(params);
  j["PlatformTypes"] = d.platform_types;
  j["DocumentType"] = d.document_type;
  j["SchemaVersion"] = d.schema_version;
  j["LatestVersion"] = d.latest_version;
  j["DefaultVersion"] = d.default_version;
  j["DocumentFormat"] = std::string(docs::FormatName(d.format));
  if (d.target_type) j["TargetType"] = *d.target_type;
  j["Tags"] = EncodeTags(d.tags);
  return j;
}

json EncodeIdentifier(const docs::DocumentDescription& d) {
  json j;
  j["Name"] = d.name;
  j["CreatedDate"] = Epoch(d.created);
  if (d.display_name) j["DisplayName"] = *d.display_name;
  j["Owner"] = d.owner;
  if (d.version_name) j["VersionName"] = *d.version_name;
  j["PlatformTypes"] = d.platform_types;
  j["DocumentVersion"] = d.document_version;
  j["DocumentType"] = d.document_type;
  j["SchemaVersion"] = d.schema_version;
  j["DocumentFormat"] = std::string(docs::FormatName(d.format));
  if (d.target_type) j["TargetType"] = *d.target_type;
  j["Tags"] = EncodeTags(d.tags);
  return j;
}

}  // namespace

std::vector<JsonOperation> DocumentOperations(docs::DocumentService& documents,
                                              const iam::Account& account) {
  docs::DocumentService* svc = &documents;
  auto document_arn = [svc](const json& in, const iam::Principal&) -> std::string {
    auto it = in.find("Name");
    return svc->DocumentArn(it != in.end() && it->is_string() ? it->get<std::string>() : "");
  };
  auto star = [](const json&, const iam::Principal&) { return std::string("*"); };
  std::vector<JsonOperation> ops;

  ops.push_back(MakeJsonOperation(
      "CreateDocument", false, document_arn, [svc](const JsonCall& call) -> Result<json> {
        const json& in = call.input;
        KW_RETURN_IF_ERROR(NoAttachments(in));
        docs::CreateDocumentRequest req;
        KW_ASSIGN_OR_RETURN(req.content, Content(in));
        KW_ASSIGN_OR_RETURN(req.name, ReqString(in, "Name", "name"));
        KW_ASSIGN_OR_RETURN(req.display_name, OptString(in, "DisplayName"));
        KW_ASSIGN_OR_RETURN(req.version_name, OptString(in, "VersionName"));
        KW_ASSIGN_OR_RETURN(req.document_type, OptString(in, "DocumentType"));
        KW_ASSIGN_OR_RETURN(req.document_format, OptString(in, "DocumentFormat"));
        KW_ASSIGN_OR_RETURN(req.target_type, OptString(in, "TargetType"));
        KW_ASSIGN_OR_RETURN(req.tags, DecodeTags(in));
        KW_ASSIGN_OR_RETURN(docs::DocumentDescription d, svc->CreateDocument(req));
        return json{{"DocumentDescription", EncodeDescription(d)}};
      }));

  ops.push_back(MakeJsonOperation(
      "GetDocument", true, document_arn, [svc](const JsonCall& call) -> Result<json> {
        const json& in = call.input;
        KW_ASSIGN_OR_RETURN(std::string name, ReqString(in, "Name", "name"));
        KW_ASSIGN_OR_RETURN(docs::VersionSelector sel, DecodeSelector(in));
        KW_ASSIGN_OR_RETURN(auto format, OptString(in, "DocumentFormat"));
        KW_ASSIGN_OR_RETURN(docs::DocumentContent c, svc->GetDocument(name, sel, format));
        json j;
        j["Name"] = c.name;
        j["CreatedDate"] = Epoch(c.created);
        if (c.display_name) j["DisplayName"] = *c.display_name;
        if (c.version_name) j["VersionName"] = *c.version_name;
        j["DocumentVersion"] = c.document_version;
        j["Status"] = c.status;
        j["Content"] = c.content;
        j["DocumentType"] = c.document_type;
        j["DocumentFormat"] = std::string(docs::FormatName(c.format));
        return j;
      }));

  ops.push_back(MakeJsonOperation(
      "DescribeDocument", true, document_arn, [svc](const JsonCall& call) -> Result<json> {
        const json& in = call.input;
        KW_ASSIGN_OR_RETURN(std::string name, ReqString(in, "Name", "name"));
        KW_ASSIGN_OR_RETURN(docs::VersionSelector sel, DecodeSelector(in));
        KW_ASSIGN_OR_RETURN(docs::DocumentDescription d, svc->DescribeDocument(name, sel));
        return json{{"Document", EncodeDescription(d)}};
      }));

  ops.push_back(
      MakeJsonOperation("ListDocuments", true, star, [svc](const JsonCall& call) -> Result<json> {
        const json& in = call.input;
        docs::ListDocumentsRequest req;
        KW_ASSIGN_OR_RETURN(req.filters, DecodeFilters(in));
        KW_ASSIGN_OR_RETURN(req.max_results, MaxResults(in));
        KW_ASSIGN_OR_RETURN(req.next_token, OptString(in, "NextToken"));
        KW_ASSIGN_OR_RETURN(docs::DocumentPage page, svc->ListDocuments(req));
        json list = json::array();
        for (const auto& d : page.documents) list.push_back(EncodeIdentifier(d));
        json out = {{"DocumentIdentifiers", std::move(list)}};
        if (!page.next_token.empty()) out["NextToken"] = page.next_token;
        return out;
      }));

  ops.push_back(MakeJsonOperation(
      "UpdateDocument", false, document_arn, [svc](const JsonCall& call) -> Result<json> {
        const json& in = call.input;
        KW_RETURN_IF_ERROR(NoAttachments(in));
        docs::UpdateDocumentRequest req;
        KW_ASSIGN_OR_RETURN(req.content, Content(in));
        KW_ASSIGN_OR_RETURN(req.name, ReqString(in, "Name", "name"));
        KW_ASSIGN_OR_RETURN(req.display_name, OptString(in, "DisplayName"));
        KW_ASSIGN_OR_RETURN(req.version_name, OptString(in, "VersionName"));
        KW_ASSIGN_OR_RETURN(req.document_version, OptString(in, "DocumentVersion"));
        KW_ASSIGN_OR_RETURN(req.document_format, OptString(in, "DocumentFormat"));
        KW_ASSIGN_OR_RETURN(req.target_type, OptString(in, "TargetType"));
        KW_ASSIGN_OR_RETURN(docs::DocumentDescription d, svc->UpdateDocument(req));
        return json{{"DocumentDescription", EncodeDescription(d)}};
      }));

  ops.push_back(
      MakeJsonOperation("UpdateDocumentDefaultVersion", false, document_arn,
                        [svc](const JsonCall& call) -> Result<json> {
                          const json& in = call.input;
                          KW_ASSIGN_OR_RETURN(std::string name, ReqString(in, "Name", "name"));
                          KW_ASSIGN_OR_RETURN(std::string version,
                                              ReqString(in, "DocumentVersion", "documentVersion"));
                          KW_ASSIGN_OR_RETURN(docs::DefaultVersionDescription d,
                                              svc->UpdateDocumentDefaultVersion(name, version));
                          json desc = {{"Name", d.name}, {"DefaultVersion", d.default_version}};
                          if (d.default_version_name)
                            desc["DefaultVersionName"] = *d.default_version_name;
                          return json{{"Description", std::move(desc)}};
                        }));

  ops.push_back(MakeJsonOperation(
      "ListDocumentVersions", true, document_arn, [svc](const JsonCall& call) -> Result<json> {
        const json& in = call.input;
        KW_ASSIGN_OR_RETURN(std::string name, ReqString(in, "Name", "name"));
        KW_ASSIGN_OR_RETURN(auto max, MaxResults(in));
        KW_ASSIGN_OR_RETURN(auto token, OptString(in, "NextToken"));
        KW_ASSIGN_OR_RETURN(docs::VersionPage page, svc->ListDocumentVersions(name, max, token));
        json list = json::array();
        for (const auto& v : page.versions) {
          json e;
          e["Name"] = v.name;
          if (v.display_name) e["DisplayName"] = *v.display_name;
          e["DocumentVersion"] = v.document_version;
          if (v.version_name) e["VersionName"] = *v.version_name;
          e["CreatedDate"] = Epoch(v.created);
          e["IsDefaultVersion"] = v.is_default;
          e["DocumentFormat"] = std::string(docs::FormatName(v.format));
          e["Status"] = v.status;
          list.push_back(std::move(e));
        }
        json out = {{"DocumentVersions", std::move(list)}};
        if (!page.next_token.empty()) out["NextToken"] = page.next_token;
        return out;
      }));

  ops.push_back(MakeJsonOperation(
      "DeleteDocument", false, document_arn, [svc](const JsonCall& call) -> Result<json> {
        const json& in = call.input;
        KW_ASSIGN_OR_RETURN(std::string name, ReqString(in, "Name", "name"));
        KW_ASSIGN_OR_RETURN(docs::VersionSelector sel, DecodeSelector(in));
        KW_ASSIGN_OR_RETURN(auto force, OptBool(in, "Force"));
        (void)force;  // associations do not exist in keyward; nothing to force past
        KW_RETURN_IF_ERROR(svc->DeleteDocument(name, sel));
        return json::object();
      }));

  (void)account;
  return ops;
}

}  // namespace kw::api
