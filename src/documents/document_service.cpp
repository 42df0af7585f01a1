#include "documents/document_service.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <tuple>

#include "crypto/digest.hpp"
#include "documents/substitution.hpp"

namespace kw::documents {

using nlohmann::json;

namespace {

constexpr std::string_view kDocumentsTable = "ssm_documents";
constexpr std::string_view kContentTable = "ssm_document_content";
constexpr std::size_t kMaxParsedCache = 256;

constexpr std::string_view kRunShellScriptJson = R"json({
  "schemaVersion": "2.2",
  "description": "Run a shell script or specify the commands to run.",
  "parameters": {
    "commands": {
      "type": "StringList",
      "description": "(Required) Specify a shell script or a command to run.",
      "minItems": 1,
      "displayType": "textarea"
    },
    "workingDirectory": {
      "type": "String",
      "default": "",
      "description": "(Optional) The path to the working directory on your instance.",
      "maxChars": 4096
    },
    "executionTimeout": {
      "type": "String",
      "default": "3600",
      "description": "(Optional) The time in seconds for a command to complete before it is considered to have failed. Default is 3600 (1 hour). Maximum is 172800 (48 hours).",
      "allowedPattern": "([1-9][0-9]{0,4})|(1[0-6][0-9]{4})|(17[0-1][0-9]{3})|(172[0-7][0-9]{2})|(172800)"
    }
  },
  "mainSteps": [
    {
      "action": "aws:runShellScript",
      "name": "runShellScript",
      "inputs": {
        "runCommand": "{{ commands }}",
        "workingDirectory": "{{ workingDirectory }}",
        "timeoutSeconds": "{{ executionTimeout }}"
      }
    }
  ]
}
)json";

// keyward's own: the agent installs one version of a secret holding an access key
// (agent secret sync; docs/agent.md). The key itself never appears in the command: the
// agent fetches it with GetSecretValue under its instance credentials.
constexpr std::string_view kSyncSecretJson = R"json({
  "schemaVersion": "2.2",
  "description": "Install a version of a secret holding an access key on the host (keyward agent secret sync): a shared-credentials profile, an environment file, the secret's JSON or a credential_process key; then reload the consumer and check its health, restoring the previous key if either fails.",
  "parameters": {
    "SecretId": {"type": "String", "description": "(Required) The secret's name or ARN.", "maxChars": 2048},
    "VersionId": {"type": "String", "description": "(Required) The version to install.", "maxChars": 64},
    "Format": {"type": "String", "default": "credentials", "description": "credentials, env, json or credential-process.", "allowedValues": ["credentials", "env", "json", "credential-process"]},
    "Path": {"type": "String", "default": "", "description": "The absolute path of the file (not for credential-process).", "maxChars": 4096},
    "Profile": {"type": "String", "default": "default", "description": "The profile to update (credentials).", "maxChars": 128},
    "Owner": {"type": "String", "default": "", "description": "The file's owner (name or uid); default: the existing file's, else root.", "maxChars": 64},
    "Group": {"type": "String", "default": "", "description": "The file's group (name or gid); default: the owner's primary group, else the existing file's.", "maxChars": 64},
    "Mode": {"type": "String", "default": "0600", "description": "The file's mode, octal.", "allowedPattern": "[0-7]{3,4}"},
    "Reload": {"type": "String", "default": "", "description": "command:CMD, signal:SIGHUP:/path/to.pid or systemd:UNIT.", "maxChars": 4096},
    "ReloadTimeoutSeconds": {"type": "String", "default": "30", "description": "Seconds the reload may take.", "allowedPattern": "[1-9][0-9]{0,3}"},
    "HealthCheck": {"type": "String", "default": "", "description": "A command that exits 0 when the consumer works with the new key.", "maxChars": 4096},
    "HealthTimeoutSeconds": {"type": "String", "default": "30", "description": "Seconds the health check may take.", "allowedPattern": "[1-9][0-9]{0,3}"},
    "User": {"type": "String", "default": "", "description": "The local user who may read the key (credential-process).", "maxChars": 64}
  },
  "mainSteps": [
    {
      "action": "keyward:syncSecret",
      "name": "syncSecret",
      "inputs": {
        "SecretId": "{{ SecretId }}",
        "VersionId": "{{ VersionId }}",
        "Format": "{{ Format }}",
        "Path": "{{ Path }}",
        "Profile": "{{ Profile }}",
        "Owner": "{{ Owner }}",
        "Group": "{{ Group }}",
        "Mode": "{{ Mode }}",
        "Reload": "{{ Reload }}",
        "ReloadTimeoutSeconds": "{{ ReloadTimeoutSeconds }}",
        "HealthCheck": "{{ HealthCheck }}",
        "HealthTimeoutSeconds": "{{ HealthTimeoutSeconds }}",
        "User": "{{ User }}",
        "timeoutSeconds": 7800
      }
    }
  ]
}
)json";

// 2017-03-01T00:00:00Z: a fixed creation date for the built-ins.
constexpr std::int64_t kBuiltinCreatedMs = 1488326400000;

Error Validation(std::string message) {
  return InvalidArgument(std::move(message), "ValidationError");
}

Error PatternError(std::string_view member, std::string_view value, std::string_view pattern) {
  return Validation("1 validation error detected: Value '" + std::string(value) + "' at '" +
                    std::string(member) +
                    "' failed to satisfy constraint: Member must satisfy regular expression "
                    "pattern: " +
                    std::string(pattern));
}

Error NoDocument(std::string_view name) {
  return NotFound("Document " + std::string(name) + " does not exist.", "InvalidDocument");
}

bool AllChars(std::string_view s, bool (*ok)(char)) { return std::all_of(s.begin(), s.end(), ok); }

bool NameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.';
}
bool WordChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

bool IsDocumentName(std::string_view s) {
  return s.size() >= 3 && s.size() <= 128 && AllChars(s, NameChar);
}
bool IsVersionName(std::string_view s) {
  return !s.empty() && s.size() <= 128 && AllChars(s, NameChar);
}
bool IsVersionNumber(std::string_view s) {
  return !s.empty() && s.size() <= 9 && s[0] >= '1' && s[0] <= '9' &&
         AllChars(s, [](char c) { return c >= '0' && c <= '9'; });
}

bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

// A document ARN names the document after "document/".
std::string_view StripArn(std::string_view name) {
  if (name.substr(0, 4) == "arn:") {
    std::size_t slash = name.find(":document/");
    if (slash != std::string_view::npos) return name.substr(slash + 10);
  }
  return name;
}

std::int64_t ToMs(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
TimePoint FromMs(std::int64_t ms) { return TimePoint(std::chrono::milliseconds(ms)); }

Status ValidateVersionSelector(const VersionSelector& v) {
  if (v.document_version && *v.document_version != "$LATEST" && *v.document_version != "$DEFAULT" &&
      !IsVersionNumber(*v.document_version)) {
    return PatternError("documentVersion", *v.document_version,
                        "([$]LATEST|[$]DEFAULT|^[1-9][0-9]*$)");
  }
  if (v.version_name && !IsVersionName(*v.version_name)) {
    return PatternError("versionName", *v.version_name, "^[a-zA-Z0-9_\\-.]{1,128}$");
  }
  return OkStatus();
}

Result<DocumentFormat> FormatOrDefault(const std::optional<std::string>& format) {
  if (!format) return DocumentFormat::kJson;
  if (auto f = ParseFormatName(*format)) return *f;
  if (*format == "TEXT") {
    return Validation(
        "DocumentFormat TEXT is not supported for Command documents; use JSON or "
        "YAML.");
  }
  return Validation("1 validation error detected: Value '" + *format +
                    "' at 'documentFormat' failed to satisfy constraint: Member must satisfy "
                    "enum value set: [YAML, JSON, TEXT]");
}

Status ValidateDisplayName(const std::optional<std::string>& d) {
  if (!d) return OkStatus();
  bool ok = d->size() <= 1024 && AllChars(*d, [](char c) {
              return WordChar(c) || c == '.' || c == '-' || c == ':' || c == '/' || c == ' ';
            });
  if (!ok) return PatternError("displayName", *d, "^[\\w\\.\\-\\:\\/ ]*$");
  return OkStatus();
}

Status ValidateTargetType(const std::optional<std::string>& t) {
  if (!t) return OkStatus();
  bool ok = !t->empty() && t->size() <= 200 && (*t)[0] == '/' &&
            AllChars(std::string_view(*t).substr(1), [](char c) {
              return WordChar(c) || c == '.' || c == '-' || c == ':' || c == '/';
            });
  if (!ok) return PatternError("targetType", *t, "^\\/[\\w\\.\\-\\:\\/]*$");
  return OkStatus();
}

Status ValidateTags(const std::vector<Tag>& tags) {
  if (tags.size() > kMaxTags) {
    return Validation(
        "1 validation error detected: Value at 'tags' failed to satisfy "
        "constraint: Member must have length less than or equal to 1000");
  }
  std::set<std::string> keys;
  for (const auto& t : tags) {
    if (t.key.empty() || t.key.size() > 128) {
      return Validation("1 validation error detected: Value '" + t.key +
                        "' at 'tags.member.key' failed to satisfy constraint: Member must have "
                        "length between 1 and 128");
    }
    if (t.value.size() > 256) {
      return Validation(
          "1 validation error detected: Value at 'tags.member.value' failed to "
          "satisfy constraint: Member must have length less than or equal to 256");
    }
    if (!keys.insert(t.key).second) return Validation("Duplicate tag key " + t.key + ".");
  }
  return OkStatus();
}

Result<std::size_t> DecodeToken(const std::optional<std::string>& token, char kind) {
  if (!token) return std::size_t{0};
  auto decoded = crypto::Base64Decode(*token);
  if (!decoded || decoded->size() < 3 || decoded->size() > 12 || (*decoded)[0] != kind ||
      (*decoded)[1] != ':' || !std::all_of(decoded->begin() + 2, decoded->end(), [](char c) {
        return c >= '0' && c <= '9';
      })) {
    return InvalidArgument("The specified token is not valid.", "InvalidNextToken");
  }
  return static_cast<std::size_t>(std::stoul(decoded->substr(2)));
}

std::string EncodeToken(char kind, std::size_t offset) {
  return crypto::Base64Encode(std::string(1, kind) + ":" + std::to_string(offset));
}

}  // namespace

struct DocumentService::Record {
  struct Version {
    std::string version;
    std::optional<std::string> version_name;
    TimePoint created;
    std::string hash;
    DocumentFormat format = DocumentFormat::kJson;
    std::string schema_version;
    std::vector<std::string> platforms;
  };
  std::string name;
  std::optional<std::string> display_name;
  std::string owner;
  std::optional<std::string> target_type;
  std::vector<Tag> tags;
  TimePoint created;
  std::string default_version;
  std::string latest_version;
  std::int64_t next_version = 1;
  std::vector<Version> versions;  // ascending
  bool builtin = false;

  const Version* Find(std::string_view v) const {
    for (const auto& e : versions) {
      if (e.version == v) return &e;
    }
    return nullptr;
  }

  // The selected version; InvalidDocumentVersion when there is none.
  Result<const Version*> Select(const VersionSelector& sel) const {
    std::string v = default_version;
    if (sel.document_version && *sel.document_version == "$LATEST") v = latest_version;
    if (sel.document_version && IsVersionNumber(*sel.document_version)) v = *sel.document_version;
    const bool explicit_version = sel.document_version && *sel.document_version != "$DEFAULT";
    const Version* found = nullptr;
    if (sel.version_name && !explicit_version) {
      for (const auto& e : versions) {
        if (e.version_name == sel.version_name) found = &e;
      }
    } else {
      found = Find(v);
      if (found && sel.version_name && found->version_name != sel.version_name) found = nullptr;
    }
    if (found == nullptr) {
      return NotFound(
          "The document " + name + " has no version " +
              (sel.version_name ? "named " + *sel.version_name : sel.document_version.value_or(v)) +
              ".",
          "InvalidDocumentVersion");
    }
    return found;
  }

  json ToJson() const {
    json vs = json::array();
    for (const auto& v : versions) {
      json e = {{"v", v.version},
                {"created", ToMs(v.created)},
                {"hash", v.hash},
                {"format", std::string(FormatName(v.format))},
                {"schema", v.schema_version},
                {"platforms", v.platforms}};
      if (v.version_name) e["vn"] = *v.version_name;
      vs.push_back(std::move(e));
    }
    json tags_json = json::array();
    for (const auto& t : tags) tags_json.push_back({t.key, t.value});
    json j = {{"name", name},
              {"owner", owner},
              {"tags", tags_json},
              {"created", ToMs(created)},
              {"default", default_version},
              {"latest", latest_version},
              {"next", next_version},
              {"versions", vs}};
    if (display_name) j["display_name"] = *display_name;
    if (target_type) j["target_type"] = *target_type;
    return j;
  }

  static Result<Record> FromJson(std::string_view text) {
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return Internal("A stored document is corrupt.");
    try {
      Record r;
      r.name = j.at("name").get<std::string>();
      r.owner = j.at("owner").get<std::string>();
      for (const auto& t : j.at("tags")) r.tags.push_back({t.at(0), t.at(1)});
      r.created = FromMs(j.at("created").get<std::int64_t>());
      r.default_version = j.at("default").get<std::string>();
      r.latest_version = j.at("latest").get<std::string>();
      r.next_version = j.at("next").get<std::int64_t>();
      if (j.contains("display_name")) r.display_name = j["display_name"].get<std::string>();
      if (j.contains("target_type")) r.target_type = j["target_type"].get<std::string>();
      for (const auto& e : j.at("versions")) {
        Version v;
        v.version = e.at("v").get<std::string>();
        v.created = FromMs(e.at("created").get<std::int64_t>());
        v.hash = e.at("hash").get<std::string>();
        v.format =
            ParseFormatName(e.at("format").get<std::string>()).value_or(DocumentFormat::kJson);
        v.schema_version = e.at("schema").get<std::string>();
        v.platforms = e.at("platforms").get<std::vector<std::string>>();
        if (e.contains("vn")) v.version_name = e["vn"].get<std::string>();
        r.versions.push_back(std::move(v));
      }
      return r;
    } catch (const json::exception&) {
      return Internal("A stored document is corrupt.");
    }
  }
};

std::string_view RunShellScriptContent() { return kRunShellScriptJson; }

std::string_view SyncSecretContent() { return kSyncSecretJson; }

DocumentService::DocumentService(store::KvStore& store, const Clock& clock,
                                 const iam::Account& account)
    : store_(store), clock_(clock), account_(account) {
  for (const auto& [name, owner, content] :
       {std::tuple<const char*, const char*, std::string_view>{kRunShellScript, kAmazonOwner,
                                                               kRunShellScriptJson},
        {kSyncSecret, kKeywardOwner, kSyncSecretJson}}) {
    auto doc = ParseCommandDocument(content, DocumentFormat::kJson);
    if (!doc) std::abort();  // the built-ins are part of the program
    auto rec = std::make_unique<Record>();
    Record& r = *rec;
    r.name = name;
    r.owner = owner;
    r.created = FromMs(kBuiltinCreatedMs);
    r.default_version = r.latest_version = "1";
    r.next_version = 2;
    r.builtin = true;
    r.versions.push_back({"1", std::nullopt, r.created, crypto::Sha256Hex(content),
                          DocumentFormat::kJson, doc->schema_version, doc->platform_types});
    builtin_content_.emplace(r.name, std::string(content));
    builtins_.push_back(std::move(rec));
  }
}

const DocumentService::Record* DocumentService::Builtin(std::string_view name) const {
  for (const auto& b : builtins_) {
    if (b->name == name) return b.get();
  }
  return nullptr;
}

DocumentService::~DocumentService() = default;

Result<DocumentService::Record> DocumentService::Load(std::string_view raw_name) {
  std::string_view name = StripArn(raw_name);
  if (const Record* b = Builtin(name)) return *b;
  if (!IsDocumentName(name)) return NoDocument(name);
  KW_ASSIGN_OR_RETURN(auto item, store_.Get(kDocumentsTable, name));
  if (!item) return NoDocument(name);
  return Record::FromJson(item->value);
}

Result<std::string> DocumentService::LoadContent(const Record& rec, std::string_view version) {
  if (rec.builtin) return builtin_content_.at(rec.name);
  KW_ASSIGN_OR_RETURN(auto item, store_.Get(kContentTable, rec.name + "/" + std::string(version)));
  if (!item) return Internal("The content of a document version is missing.");
  return std::move(item->value);
}

Result<std::shared_ptr<const CommandDocument>> DocumentService::Parsed(std::string_view content,
                                                                       DocumentFormat format,
                                                                       std::string_view hash) {
  const std::string key = std::string(FormatName(format)) + ":" + std::string(hash);
  {
    std::lock_guard<std::mutex> lock(cache_mu_);
    auto it = parsed_.find(key);
    if (it != parsed_.end()) return it->second;
  }
  KW_ASSIGN_OR_RETURN(CommandDocument doc, ParseCommandDocument(content, format));
  auto ptr = std::make_shared<const CommandDocument>(std::move(doc));
  std::lock_guard<std::mutex> lock(cache_mu_);
  if (parsed_.size() >= kMaxParsedCache) parsed_.clear();
  parsed_.emplace(key, ptr);
  return ptr;
}

DocumentDescription DocumentService::Describe(const Record& rec, std::string_view version,
                                              const CommandDocument* doc) const {
  DocumentDescription d;
  const Record::Version* v = rec.Find(version);
  d.name = rec.name;
  d.display_name = rec.display_name;
  d.owner = rec.owner;
  d.created = rec.created;
  d.document_version = std::string(version);
  d.latest_version = rec.latest_version;
  d.default_version = rec.default_version;
  d.target_type = rec.target_type;
  d.tags = rec.tags;
  if (v != nullptr) {
    d.version_name = v->version_name;
    d.hash = v->hash;
    d.format = v->format;
    d.schema_version = v->schema_version;
    d.platform_types = v->platforms;
  }
  if (doc != nullptr) {
    d.description = doc->description;
    for (const auto& p : doc->parameters) {
      d.parameters.push_back(
          {p.name, std::string(ParameterTypeName(p.type)), p.description, DefaultValueText(p)});
    }
  }
  return d;
}

Result<DocumentDescription> DocumentService::CreateDocument(const CreateDocumentRequest& req) {
  if (!IsDocumentName(req.name)) {
    return PatternError("name", req.name, "^[a-zA-Z0-9_\\-.]{3,128}$");
  }
  for (std::string_view reserved : {"aws", "amazon", "amzn"}) {
    if (StartsWithIgnoreCase(req.name, reserved)) {
      return Validation("Invalid document name " + req.name +
                        ": names that start with aws, amazon or amzn are reserved for documents "
                        "that AWS owns.");
    }
  }
  if (Builtin(req.name) != nullptr) {
    return AlreadyExists("Document with same name " + req.name + " already exists.",
                         "DocumentAlreadyExists");
  }
  const std::string type = req.document_type.value_or("Command");
  if (type != "Command") {
    static const std::set<std::string> kModelTypes = {"Policy",
                                                      "Automation",
                                                      "Session",
                                                      "Package",
                                                      "ApplicationConfiguration",
                                                      "ApplicationConfigurationSchema",
                                                      "DeploymentStrategy",
                                                      "ChangeCalendar",
                                                      "Automation.ChangeTemplate",
                                                      "ProblemAnalysis",
                                                      "ProblemAnalysisTemplate",
                                                      "CloudFormation",
                                                      "ConformancePackTemplate",
                                                      "QuickSetup",
                                                      "ManualApprovalPolicy",
                                                      "AutoApprovalPolicy"};
    if (kModelTypes.count(type) == 0) {
      return Validation("1 validation error detected: Value '" + type +
                        "' at 'documentType' failed to satisfy constraint: Member must satisfy "
                        "enum value set");
    }
    return InvalidArgument(
        "Document type " + type + " is not supported; keyward supports Command documents only.",
        "InvalidDocumentType");
  }
  KW_ASSIGN_OR_RETURN(DocumentFormat format, FormatOrDefault(req.document_format));
  if (req.version_name && !IsVersionName(*req.version_name)) {
    return PatternError("versionName", *req.version_name, "^[a-zA-Z0-9_\\-.]{1,128}$");
  }
  KW_RETURN_IF_ERROR(ValidateDisplayName(req.display_name));
  KW_RETURN_IF_ERROR(ValidateTargetType(req.target_type));
  KW_RETURN_IF_ERROR(ValidateTags(req.tags));
  const std::string hash = crypto::Sha256Hex(req.content);
  KW_ASSIGN_OR_RETURN(auto doc, Parsed(req.content, format, hash));

  Record rec;
  rec.name = req.name;
  rec.display_name = req.display_name;
  rec.owner = account_.id;
  rec.target_type = req.target_type;
  rec.tags = req.tags;
  rec.created = clock_.Now();
  rec.default_version = rec.latest_version = "1";
  rec.next_version = 2;
  rec.versions.push_back(
      {"1", req.version_name, rec.created, hash, format, doc->schema_version, doc->platform_types});
  const std::string record_json = rec.ToJson().dump();
  Status st = store_.Transact([&](store::Txn& txn) -> Status {
    auto inserted = txn.Insert(kDocumentsTable, rec.name, record_json);
    if (!inserted) {
      if (inserted.error().code == ErrorCode::kAlreadyExists) {
        return AlreadyExists("Document with same name " + rec.name + " already exists.",
                             "DocumentAlreadyExists");
      }
      return inserted.error();
    }
    KW_RETURN_IF_ERROR(txn.Put(kContentTable, rec.name + "/1", req.content));
    return OkStatus();
  });
  KW_RETURN_IF_ERROR(st);
  return Describe(rec, "1", doc.get());
}

Result<DocumentContent> DocumentService::GetDocument(std::string_view name,
                                                     const VersionSelector& version,
                                                     std::optional<std::string> format) {
  KW_RETURN_IF_ERROR(ValidateVersionSelector(version));
  std::optional<DocumentFormat> want;
  if (format) {
    KW_ASSIGN_OR_RETURN(want, FormatOrDefault(format));
  }
  KW_ASSIGN_OR_RETURN(Record rec, Load(name));
  KW_ASSIGN_OR_RETURN(const Record::Version* v, rec.Select(version));
  KW_ASSIGN_OR_RETURN(std::string content, LoadContent(rec, v->version));
  DocumentContent out;
  out.name = rec.name;
  out.display_name = rec.display_name;
  out.version_name = v->version_name;
  out.document_version = v->version;
  out.created = v->created;
  out.format = want.value_or(v->format);
  KW_ASSIGN_OR_RETURN(out.content, ConvertContent(content, v->format, out.format));
  return out;
}

Result<DocumentDescription> DocumentService::DescribeDocument(std::string_view name,
                                                              const VersionSelector& version) {
  KW_RETURN_IF_ERROR(ValidateVersionSelector(version));
  KW_ASSIGN_OR_RETURN(Record rec, Load(name));
  KW_ASSIGN_OR_RETURN(const Record::Version* v, rec.Select(version));
  KW_ASSIGN_OR_RETURN(std::string content, LoadContent(rec, v->version));
  KW_ASSIGN_OR_RETURN(auto doc, Parsed(content, v->format, v->hash));
  return Describe(rec, v->version, doc.get());
}

Result<DocumentPage> DocumentService::ListDocuments(const ListDocumentsRequest& request) {
  const int max = request.max_results.value_or(kMaxListResults);
  if (max < 1 || max > kMaxListResults) {
    return Validation("1 validation error detected: Value '" + std::to_string(max) +
                      "' at 'maxResults' failed to satisfy constraint: Member must have value "
                      "between 1 and 50");
  }
  KW_ASSIGN_OR_RETURN(std::size_t offset, DecodeToken(request.next_token, 'o'));
  for (const auto& f : request.filters) {
    static const std::set<std::string> kKeys = {"Owner",         "Name",       "DocumentType",
                                                "PlatformTypes", "TargetType", "SearchKeyword"};
    if (kKeys.count(f.key) == 0 && f.key.rfind("tag:", 0) != 0) {
      return InvalidArgument("The filter key " + f.key + " is not valid.", "InvalidFilterKey");
    }
  }
  KW_ASSIGN_OR_RETURN(auto items, store_.List(kDocumentsTable, {}));
  std::vector<Record> all;
  all.reserve(items.size() + 1);
  for (const auto& b : builtins_) all.push_back(*b);
  for (const auto& item : items) {
    KW_ASSIGN_OR_RETURN(Record r, Record::FromJson(item.value));
    all.push_back(std::move(r));
  }
  std::sort(all.begin(), all.end(),
            [](const Record& a, const Record& b) { return a.name < b.name; });

  auto any_of = [](const std::vector<std::string>& values, auto pred) {
    return std::any_of(values.begin(), values.end(), pred);
  };
  auto matches = [&](const Record& r) {
    const Record::Version* def = r.Find(r.default_version);
    for (const auto& f : request.filters) {
      bool ok = true;
      if (f.key == "Owner") {
        ok = any_of(f.values, [&](const std::string& v) {
          if (v == "All") return true;
          if (v == "Self" || v == "Private") return !r.builtin;
          if (v == "Amazon") return r.builtin && r.owner == kAmazonOwner;
          return v == r.owner;
        });
      } else if (f.key == "Name") {
        ok = any_of(f.values, [&](const std::string& v) { return r.name.rfind(v, 0) == 0; });
      } else if (f.key == "SearchKeyword") {
        ok = any_of(f.values,
                    [&](const std::string& v) { return r.name.find(v) != std::string::npos; });
      } else if (f.key == "DocumentType") {
        ok = any_of(f.values, [](const std::string& v) { return v == "Command"; });
      } else if (f.key == "PlatformTypes") {
        ok = def != nullptr && any_of(f.values, [&](const std::string& v) {
               return std::find(def->platforms.begin(), def->platforms.end(), v) !=
                      def->platforms.end();
             });
      } else if (f.key == "TargetType") {
        ok = any_of(f.values, [&](const std::string& v) { return r.target_type == v; });
      } else {
        const std::string key = f.key.substr(4);
        ok = std::any_of(r.tags.begin(), r.tags.end(), [&](const Tag& t) {
          return t.key == key && (f.values.empty() || std::find(f.values.begin(), f.values.end(),
                                                                t.value) != f.values.end());
        });
      }
      if (!ok) return false;
    }
    return true;
  };

  DocumentPage page;
  std::size_t index = 0;
  for (const auto& r : all) {
    if (!matches(r)) continue;
    if (index++ < offset) continue;
    if (page.documents.size() == static_cast<std::size_t>(max)) {
      page.next_token = EncodeToken('o', offset + page.documents.size());
      break;
    }
    page.documents.push_back(Describe(r, r.default_version, nullptr));
  }
  return page;
}

Result<DocumentDescription> DocumentService::UpdateDocument(const UpdateDocumentRequest& req) {
  std::string_view name = StripArn(req.name);
  if (Builtin(name) != nullptr) {
    return FailedPrecondition("The document " + std::string(name) +
                                  " is owned by Amazon and "
                                  "cannot be changed.",
                              "InvalidDocumentOperation");
  }
  if (!IsDocumentName(name)) return PatternError("name", name, "^[a-zA-Z0-9_\\-.]{3,128}$");
  if (req.document_version && *req.document_version != "$LATEST" &&
      !IsVersionNumber(*req.document_version)) {
    return PatternError("documentVersion", *req.document_version,
                        "([$]LATEST|[$]DEFAULT|^[1-9][0-9]*$)");
  }
  KW_ASSIGN_OR_RETURN(DocumentFormat format, FormatOrDefault(req.document_format));
  if (req.version_name && !IsVersionName(*req.version_name)) {
    return PatternError("versionName", *req.version_name, "^[a-zA-Z0-9_\\-.]{1,128}$");
  }
  KW_RETURN_IF_ERROR(ValidateDisplayName(req.display_name));
  KW_RETURN_IF_ERROR(ValidateTargetType(req.target_type));
  const std::string hash = crypto::Sha256Hex(req.content);
  KW_ASSIGN_OR_RETURN(auto doc, Parsed(req.content, format, hash));

  Record rec;
  std::string new_version;
  Status st = store_.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(auto item, txn.Get(kDocumentsTable, name));
    if (!item) return NoDocument(name);
    KW_ASSIGN_OR_RETURN(rec, Record::FromJson(item->value));
    if (req.document_version && *req.document_version != "$LATEST" &&
        *req.document_version != rec.latest_version) {
      return NotFound("Only the latest version (" + rec.latest_version + ") of " + rec.name +
                          " can be updated.",
                      "InvalidDocumentVersion");
    }
    const Record::Version* latest = rec.Find(rec.latest_version);
    if (latest != nullptr && latest->hash == hash) {
      return InvalidArgument("The content of the new version is the same as the latest version.",
                             "DuplicateDocumentContent");
    }
    if (req.version_name) {
      for (const auto& v : rec.versions) {
        if (v.version_name == req.version_name) {
          return InvalidArgument("The version name " + *req.version_name + " is already used.",
                                 "DuplicateDocumentVersionName");
        }
      }
    }
    if (rec.versions.size() >= kMaxVersions) {
      return FailedPrecondition(
          "The document has reached the limit of " + std::to_string(kMaxVersions) + " versions.",
          "DocumentVersionLimitExceeded");
    }
    new_version = std::to_string(rec.next_version++);
    rec.latest_version = new_version;
    if (req.display_name) rec.display_name = req.display_name;
    if (req.target_type) rec.target_type = req.target_type;
    rec.versions.push_back({new_version, req.version_name, clock_.Now(), hash, format,
                            doc->schema_version, doc->platform_types});
    KW_RETURN_IF_ERROR(txn.Put(kDocumentsTable, rec.name, rec.ToJson().dump()));
    KW_RETURN_IF_ERROR(txn.Put(kContentTable, rec.name + "/" + new_version, req.content));
    return OkStatus();
  });
  KW_RETURN_IF_ERROR(st);
  return Describe(rec, new_version, doc.get());
}

Result<DefaultVersionDescription> DocumentService::UpdateDocumentDefaultVersion(
    std::string_view raw_name, std::string_view version) {
  std::string_view name = StripArn(raw_name);
  if (!IsVersionNumber(version)) {
    return PatternError("documentVersion", version, "(^[1-9][0-9]*$)");
  }
  if (Builtin(name) != nullptr) {
    return FailedPrecondition("The document " + std::string(name) +
                                  " is owned by Amazon and "
                                  "cannot be changed.",
                              "InvalidDocumentOperation");
  }
  if (!IsDocumentName(name)) return NoDocument(name);
  DefaultVersionDescription out;
  Status st = store_.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(auto item, txn.Get(kDocumentsTable, name));
    if (!item) return NoDocument(name);
    KW_ASSIGN_OR_RETURN(Record rec, Record::FromJson(item->value));
    const Record::Version* v = rec.Find(version);
    if (v == nullptr) {
      return NotFound("The document " + rec.name + " has no version " + std::string(version) + ".",
                      "InvalidDocumentVersion");
    }
    rec.default_version = v->version;
    out = {rec.name, v->version, v->version_name};
    KW_RETURN_IF_ERROR(txn.Put(kDocumentsTable, rec.name, rec.ToJson().dump()));
    return OkStatus();
  });
  KW_RETURN_IF_ERROR(st);
  return out;
}

Result<VersionPage> DocumentService::ListDocumentVersions(std::string_view name,
                                                          std::optional<int> max_results,
                                                          std::optional<std::string> next_token) {
  const int max = max_results.value_or(kMaxListResults);
  if (max < 1 || max > kMaxListResults) {
    return Validation("1 validation error detected: Value '" + std::to_string(max) +
                      "' at 'maxResults' failed to satisfy constraint: Member must have value "
                      "between 1 and 50");
  }
  KW_ASSIGN_OR_RETURN(std::size_t offset, DecodeToken(next_token, 'v'));
  KW_ASSIGN_OR_RETURN(Record rec, Load(name));
  VersionPage page;
  for (std::size_t i = offset; i < rec.versions.size(); ++i) {
    if (page.versions.size() == static_cast<std::size_t>(max)) {
      page.next_token = EncodeToken('v', i);
      break;
    }
    const auto& v = rec.versions[i];
    page.versions.push_back({rec.name, rec.display_name, v.version, v.version_name, v.created,
                             v.version == rec.default_version, v.format, "Active"});
  }
  return page;
}

Status DocumentService::DeleteDocument(std::string_view raw_name, const VersionSelector& version) {
  std::string_view name = StripArn(raw_name);
  KW_RETURN_IF_ERROR(ValidateVersionSelector(version));
  if (Builtin(name) != nullptr) {
    return FailedPrecondition("The document " + std::string(name) +
                                  " is owned by Amazon and "
                                  "cannot be deleted.",
                              "InvalidDocumentOperation");
  }
  if (!IsDocumentName(name)) return NoDocument(name);
  const bool one_version = version.document_version.has_value() || version.version_name.has_value();
  return store_.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(auto item, txn.Get(kDocumentsTable, name));
    if (!item) return NoDocument(name);
    KW_ASSIGN_OR_RETURN(Record rec, Record::FromJson(item->value));
    if (!one_version) {
      for (const auto& v : rec.versions) {
        Status del = txn.Delete(kContentTable, rec.name + "/" + v.version);
        if (!del && del.error().code != ErrorCode::kNotFound) return del;
      }
      return txn.Delete(kDocumentsTable, rec.name);
    }
    KW_ASSIGN_OR_RETURN(const Record::Version* v, rec.Select(version));
    if (v->version == rec.default_version) {
      return FailedPrecondition("Version " + v->version + " is the default version of " + rec.name +
                                    "; delete the whole document, or make another version the "
                                    "default first.",
                                "InvalidDocumentOperation");
    }
    const std::string gone = v->version;
    rec.versions.erase(std::remove_if(rec.versions.begin(), rec.versions.end(),
                                      [&](const Record::Version& e) { return e.version == gone; }),
                       rec.versions.end());
    rec.latest_version = rec.versions.back().version;  // the default remains, so not empty
    Status del = txn.Delete(kContentTable, rec.name + "/" + gone);
    if (!del && del.error().code != ErrorCode::kNotFound) return del;
    KW_RETURN_IF_ERROR(txn.Put(kDocumentsTable, rec.name, rec.ToJson().dump()));
    return OkStatus();
  });
}

Result<commands::ResolvedDocument> DocumentService::Resolve(
    std::string_view name, const std::optional<std::string>& version,
    const std::map<std::string, std::vector<std::string>>& parameters,
    std::string_view platform_type) {
  if (version && *version != "$LATEST" && *version != "$DEFAULT" && !IsVersionNumber(*version)) {
    return InvalidArgument("The document version " + *version + " is not valid.",
                           "InvalidDocumentVersion");
  }
  KW_ASSIGN_OR_RETURN(Record rec, Load(name));
  KW_ASSIGN_OR_RETURN(const Record::Version* v, rec.Select(VersionSelector{version, std::nullopt}));
  KW_ASSIGN_OR_RETURN(std::string content, LoadContent(rec, v->version));
  KW_ASSIGN_OR_RETURN(auto doc, Parsed(content, v->format, v->hash));
  commands::ResolvedDocument out;
  out.name = rec.name;
  out.document_version = v->version;
  out.document_hash = v->hash;
  out.platform_types = doc->platform_types;
  KW_ASSIGN_OR_RETURN(out.steps, SubstituteParameters(*doc, parameters, platform_type));
  return out;
}

namespace {

Error NoTaggableDocument(std::string_view name) {
  return NotFound("The resource ID " + std::string(name) + " is not valid.", "InvalidResourceId");
}

}  // namespace

Result<std::vector<Tag>> DocumentService::ListTags(std::string_view raw_name) {
  std::string_view name = StripArn(raw_name);
  if (Builtin(name) != nullptr || !IsDocumentName(name)) return NoTaggableDocument(name);
  KW_ASSIGN_OR_RETURN(auto item, store_.Get(kDocumentsTable, name));
  if (!item) return NoTaggableDocument(name);
  KW_ASSIGN_OR_RETURN(Record rec, Record::FromJson(item->value));
  return rec.tags;
}

Status DocumentService::AddTags(std::string_view raw_name, const std::vector<Tag>& tags) {
  std::string_view name = StripArn(raw_name);
  if (Builtin(name) != nullptr || !IsDocumentName(name)) return NoTaggableDocument(name);
  return store_.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(auto item, txn.Get(kDocumentsTable, name));
    if (!item) return NoTaggableDocument(name);
    KW_ASSIGN_OR_RETURN(Record rec, Record::FromJson(item->value));
    for (const auto& t : tags) {
      auto it = std::find_if(rec.tags.begin(), rec.tags.end(),
                             [&](const Tag& e) { return e.key == t.key; });
      if (it != rec.tags.end()) {
        it->value = t.value;
      } else {
        rec.tags.push_back(t);
      }
    }
    if (rec.tags.size() > kMaxResourceTags) {
      return FailedPrecondition(
          "A resource can have at most " + std::to_string(kMaxResourceTags) + " tags.",
          "TooManyTagsError");
    }
    KW_RETURN_IF_ERROR(txn.Put(kDocumentsTable, rec.name, rec.ToJson().dump()));
    return OkStatus();
  });
}

Status DocumentService::RemoveTags(std::string_view raw_name,
                                   const std::vector<std::string>& keys) {
  std::string_view name = StripArn(raw_name);
  if (Builtin(name) != nullptr || !IsDocumentName(name)) return NoTaggableDocument(name);
  return store_.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(auto item, txn.Get(kDocumentsTable, name));
    if (!item) return NoTaggableDocument(name);
    KW_ASSIGN_OR_RETURN(Record rec, Record::FromJson(item->value));
    const std::set<std::string> gone(keys.begin(), keys.end());
    rec.tags.erase(std::remove_if(rec.tags.begin(), rec.tags.end(),
                                  [&](const Tag& t) { return gone.count(t.key) > 0; }),
                   rec.tags.end());
    KW_RETURN_IF_ERROR(txn.Put(kDocumentsTable, rec.name, rec.ToJson().dump()));
    return OkStatus();
  });
}

std::string DocumentService::DocumentArn(std::string_view raw) const {
  if (raw.substr(0, 4) == "arn:") return std::string(raw);
  const bool amazon = Builtin(raw) != nullptr || StartsWithIgnoreCase(raw, "aws-");
  return "arn:" + account_.partition + ":ssm:" + account_.region + ":" +
         (amazon ? std::string() : account_.id) + ":document/" + std::string(raw);
}

}  // namespace kw::documents
