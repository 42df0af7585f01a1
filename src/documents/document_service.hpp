#pragma once

// keyward's SSM documents: CreateDocument, GetDocument, DescribeDocument, ListDocuments,
// UpdateDocument, UpdateDocumentDefaultVersion, ListDocumentVersions, DeleteDocument,
// and the Run Command seam commands::DocumentResolver. The domain behind
// api/ssm/documents. Only Command documents (document_parser.hpp) exist; the built-in
// AWS-RunShellScript (Owner "Amazon", version 1) is always there and read-only.
//
// Errors carry the SSM model's exception name in Error::reason: "InvalidDocument"
// (kNotFound: no such document), "InvalidDocumentVersion" (kNotFound: no such version,
// or an UpdateDocument that does not name the latest), "DocumentAlreadyExists",
// "DuplicateDocumentContent", "DuplicateDocumentVersionName", "InvalidDocumentContent",
// "InvalidDocumentSchemaVersion", "MaxDocumentSizeExceeded", "InvalidDocumentType",
// "InvalidDocumentOperation" (deleting the default version, changing a built-in),
// "DocumentVersionLimitExceeded", "InvalidFilterKey",
// "InvalidNextToken", "InvalidParameters" (Resolve), and "ValidationError" for the
// model's own constraints (name pattern, reserved prefixes, MaxResults range), which
// api/http reports as ValidationException.
//
// Storage (KvStore tables, JSON values):
//   ssm_documents         name -> the document: owner, type, tags, default and latest
//                         version, and per version its name, date, hash, format,
//                         schema version and platforms
//   ssm_document_content  name + "/" + version -> the content as the caller sent it
// Each write runs in one Transact. Parsed documents are cached by content hash (the
// cache cannot go stale: equal hash, equal content).

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "commands/document_resolver.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"
#include "documents/document_parser.hpp"
#include "iam/principal.hpp"
#include "store/kv_store.hpp"

namespace kw::documents {

inline constexpr const char* kAmazonOwner = "Amazon";
inline constexpr const char* kRunShellScript = "AWS-RunShellScript";
// keyward's built-in document for agent secret sync (action keyward:syncSecret).
inline constexpr const char* kSyncSecret = "Keyward-SyncSecret";
inline constexpr const char* kKeywardOwner = "Keyward";
inline constexpr std::size_t kMaxVersions = 1000;    // SSM's per-document limit
inline constexpr std::size_t kMaxTags = 1000;        // the model's TagList limit
inline constexpr std::size_t kMaxResourceTags = 50;  // SSM's tags per resource (AddTags)
inline constexpr int kMaxListResults = 50;

struct Tag {
  std::string key;
  std::string value;
};

struct ParameterInfo {
  std::string name;
  std::string type;  // "String", "StringList", ...
  std::string description;
  std::optional<std::string> default_value;
};

// DescribeDocument's DocumentDescription (and, for the default version, the fields of
// ListDocuments' DocumentIdentifier).
struct DocumentDescription {
  std::string name;
  std::optional<std::string> display_name;
  std::optional<std::string> version_name;
  std::string owner;  // account id, or "Amazon"
  std::string hash;   // SHA-256 hex of the content
  std::string hash_type = "Sha256";
  TimePoint created;  // the document's creation
  std::string status = "Active";
  std::string document_version;  // the version described
  std::string description;
  std::vector<ParameterInfo> parameters;
  std::vector<std::string> platform_types;
  std::string document_type = "Command";
  std::string schema_version;
  std::string latest_version;
  std::string default_version;
  DocumentFormat format = DocumentFormat::kJson;
  std::optional<std::string> target_type;
  std::vector<Tag> tags;
};

// GetDocument's answer.
struct DocumentContent {
  std::string name;
  std::optional<std::string> display_name;
  std::optional<std::string> version_name;
  std::string document_version;
  TimePoint created;  // the version's creation
  std::string status = "Active";
  std::string content;  // in `format`
  std::string document_type = "Command";
  DocumentFormat format = DocumentFormat::kJson;
};

struct DocumentVersionInfo {
  std::string name;
  std::optional<std::string> display_name;
  std::string document_version;
  std::optional<std::string> version_name;
  TimePoint created;
  bool is_default = false;
  DocumentFormat format = DocumentFormat::kJson;
  std::string status = "Active";
};

struct DefaultVersionDescription {
  std::string name;
  std::string default_version;
  std::optional<std::string> default_version_name;
};

// Which version: DocumentVersion ("$DEFAULT" or absent: the default, "$LATEST", or a
// number) and/or VersionName (both must then match one version).
struct VersionSelector {
  std::optional<std::string> document_version;
  std::optional<std::string> version_name;
};

struct CreateDocumentRequest {
  std::string name;
  std::string content;
  std::optional<std::string> document_type;    // only "Command"
  std::optional<std::string> document_format;  // "JSON" (default) or "YAML"
  std::optional<std::string> version_name;
  std::optional<std::string> display_name;
  std::optional<std::string> target_type;
  std::vector<Tag> tags;
};

struct UpdateDocumentRequest {
  std::string name;
  std::string content;
  std::optional<std::string> document_version;  // "$LATEST" or the latest number
  std::optional<std::string> document_format;
  std::optional<std::string> version_name;
  std::optional<std::string> display_name;
  std::optional<std::string> target_type;
};

struct DocumentFilter {
  std::string key;  // Owner, Name (prefix), DocumentType, PlatformTypes, TargetType,
                    // SearchKeyword (substring of the name), tag:KEY
  std::vector<std::string> values;  // any of them matches; every key must match
};

struct ListDocumentsRequest {
  std::vector<DocumentFilter> filters;  // Filters and the older DocumentFilterList
  std::optional<int> max_results;       // 1..50, default 50
  std::optional<std::string> next_token;
};

struct DocumentPage {
  std::vector<DocumentDescription> documents;  // by name; default versions
  std::string next_token;                      // empty: last page
};

struct VersionPage {
  std::vector<DocumentVersionInfo> versions;  // by version number
  std::string next_token;
};

// Thread-safe: every write is one store transaction; the parse cache has its own mutex.
class DocumentService final : public commands::DocumentResolver {
 public:
  // All references must outlive the service.
  DocumentService(store::KvStore& store, const Clock& clock, const iam::Account& account);
  ~DocumentService() override;

  Result<DocumentDescription> CreateDocument(const CreateDocumentRequest& request);
  // `format`: the content converted to it (nullopt: as stored).
  Result<DocumentContent> GetDocument(std::string_view name, const VersionSelector& version,
                                      std::optional<std::string> format);
  Result<DocumentDescription> DescribeDocument(std::string_view name,
                                               const VersionSelector& version);
  Result<DocumentPage> ListDocuments(const ListDocumentsRequest& request);
  Result<DocumentDescription> UpdateDocument(const UpdateDocumentRequest& request);
  Result<DefaultVersionDescription> UpdateDocumentDefaultVersion(std::string_view name,
                                                                 std::string_view version);
  Result<VersionPage> ListDocumentVersions(std::string_view name, std::optional<int> max_results,
                                           std::optional<std::string> next_token);
  // Without a version: the document and every version. With one: that version, which
  // must not be the default (InvalidDocumentOperation).
  Status DeleteDocument(std::string_view name, const VersionSelector& version);

  // Tags of a document (AddTagsToResource & co. with ResourceType "Document"; `name` may
  // be the document's ARN). "InvalidResourceId" (kNotFound) for an unknown document and
  // for one owned by Amazon, which cannot be tagged; AddTags replaces the value of a key
  // already there and keeps at most kMaxResourceTags ("TooManyTagsError"). The caller
  // checks each key and value.
  Result<std::vector<Tag>> ListTags(std::string_view name);
  Status AddTags(std::string_view name, const std::vector<Tag>& tags);
  Status RemoveTags(std::string_view name, const std::vector<std::string>& keys);

  // commands::DocumentResolver.
  Result<commands::ResolvedDocument> Resolve(
      std::string_view name, const std::optional<std::string>& version,
      const std::map<std::string, std::vector<std::string>>& parameters,
      std::string_view platform_type) override;

  // For authorization: arn:PARTITION:ssm:REGION:ACCT:document/NAME, with an empty
  // account for built-ins (arn:aws:ssm:REGION::document/AWS-RunShellScript). `name` may
  // already be a document ARN. Never fails.
  std::string DocumentArn(std::string_view name) const;

  const iam::Account& account() const { return account_; }

 private:
  struct Record;

  Result<Record> Load(std::string_view name);
  Result<std::string> LoadContent(const Record& rec, std::string_view version);
  Result<std::shared_ptr<const CommandDocument>> Parsed(std::string_view content,
                                                        DocumentFormat format,
                                                        std::string_view hash);
  DocumentDescription Describe(const Record& rec, std::string_view version,
                               const CommandDocument* doc) const;

  store::KvStore& store_;
  const Clock& clock_;
  const iam::Account account_;
  const Record* Builtin(std::string_view name) const;  // nullptr if not a built-in

  // AWS-RunShellScript and Keyward-SyncSecret; immutable after construction.
  std::vector<std::unique_ptr<Record>> builtins_;
  std::map<std::string, std::string, std::less<>> builtin_content_;  // by name

  std::mutex cache_mu_;
  // Parsed documents by content hash.
  std::unordered_map<std::string, std::shared_ptr<const CommandDocument>>
      parsed_;  // guarded by cache_mu_
};

// The content of the built-in AWS-RunShellScript (schemaVersion 2.2, AWS's parameters).
std::string_view RunShellScriptContent();
// The content of the built-in Keyward-SyncSecret.
std::string_view SyncSecretContent();

}  // namespace kw::documents
