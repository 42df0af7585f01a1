#include "iam/policy_service.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <utility>

#include "common/strings.hpp"
#include "iam/ids.hpp"

namespace kw::iam {
namespace {

using nlohmann::json;

constexpr std::string_view kRoles = "iam_roles";
constexpr std::string_view kUserPolicies = "iam_user_policies";
constexpr std::string_view kRolePolicies = "iam_role_policies";
constexpr std::string_view kManaged = "iam_managed_policies";
constexpr std::string_view kVersions = "iam_policy_versions";
constexpr std::string_view kAttachments = "iam_attachments";

// '|' cannot occur in IAM names, paths or ARNs, so it separates key parts without
// one prefix matching another entity's keys.
constexpr char kSep = '|';
constexpr long long kDefaultMaxItems = 100;

std::string Join(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts) {
    if (!out.empty()) out.push_back(kSep);
    out.append(p);
  }
  return out;
}

std::int64_t ToSecs(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
TimePoint FromSecs(std::int64_t s) { return TimePoint(std::chrono::seconds(s)); }

std::string Dump(const json& j) {
  // Replace rather than throw on invalid UTF-8 in free text (descriptions, tags).
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Error Validation(std::string message) {
  return InvalidArgument(std::move(message), "ValidationError");
}
Error NoSuchEntity(std::string message) { return NotFound(std::move(message), "NoSuchEntity"); }
Error Conflict(std::string message) {
  return FailedPrecondition(std::move(message), "DeleteConflict");
}
Error Limit(std::string message) { return FailedPrecondition(std::move(message), "LimitExceeded"); }
Error InvalidInput(std::string message) {
  return InvalidArgument(std::move(message), "InvalidInput");
}
Error Corrupt(std::string_view what) {
  return Internal("stored " + std::string(what) + " record is unreadable", "ServiceFailure");
}

// AWS's wording of one failed constraint.
Error ConstraintError(std::string_view value, std::string_view member,
                      std::string_view constraint) {
  return Validation("1 validation error detected: Value '" + std::string(value) + "' at '" +
                    std::string(member) +
                    "' failed to satisfy constraint: " + std::string(constraint));
}

bool IsNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '+' || c == '=' ||
         c == ',' || c == '.' || c == '@' || c == '-';
}

Status CheckName(std::string_view value, std::string_view member, std::size_t max) {
  if (value.empty() || value.size() > max) {
    return ConstraintError(value, member,
                           "Member must have length between 1 and " + std::to_string(max));
  }
  if (!std::all_of(value.begin(), value.end(), IsNameChar)) {
    return ConstraintError(value, member,
                           "Member must satisfy regular expression pattern: [\\w+=,.@-]+");
  }
  return OkStatus();
}

// "/" or "/a/b/" of printable ASCII, at most 512 characters. Managed policy paths are
// narrower ([A-Za-z0-9.,+@=_-] between slashes).
Result<std::string> NormalizePath(std::string_view path, bool policy_path) {
  if (path.empty()) return std::string("/");
  bool ok = path.size() <= 512 && path.front() == '/' && path.back() == '/';
  for (char c : path) {
    if (policy_path) {
      ok = ok && (c == '/' || IsNameChar(c));
    } else {
      ok = ok && c >= 0x21 && c <= 0x7e;
    }
  }
  if (ok && path.find("//") != std::string_view::npos) ok = false;
  if (!ok) {
    return Validation(
        "The specified value for path is invalid. It must begin and end with / "
        "and contain only alphanumeric characters and/or / characters.");
  }
  return std::string(path);
}

std::size_t NonWhitespaceChars(std::string_view doc) {
  return static_cast<std::size_t>(std::count_if(
      doc.begin(), doc.end(), [](char c) { return !std::isspace(static_cast<unsigned char>(c)); }));
}

Result<std::shared_ptr<const policy::Policy>> ParseDocument(std::string_view doc,
                                                            policy::PolicyKind kind) {
  if (doc.empty())
    return MakeError(ErrorCode::kInvalidArgument, "Syntax errors in policy.",
                     "MalformedPolicyDocument");
  auto parsed = policy::Parse(doc, kind);
  if (!parsed) {
    Error e = std::move(parsed).error();
    if (e.reason.empty()) e.reason = "MalformedPolicyDocument";
    return e;
  }
  return std::make_shared<const policy::Policy>(std::move(parsed).value());
}

Status CheckDescription(std::string_view description) {
  if (description.size() > 1000) {
    return Validation("Description must be at most 1000 characters.");
  }
  return OkStatus();
}

Status CheckMaxSessionDuration(long long seconds) {
  if (seconds < 3600 || seconds > 43200) {
    return ConstraintError(std::to_string(seconds), "maxSessionDuration",
                           "Member must have value between 3600 and 43200");
  }
  return OkStatus();
}

// A role's trust policy: within the ACLSizePerRole quota and parsable.
Status CheckTrustDocument(std::string_view doc) {
  if (NonWhitespaceChars(doc) > kMaxTrustPolicyChars) {
    return Limit("Cannot exceed quota for ACLSizePerRole: " + std::to_string(kMaxTrustPolicyChars));
  }
  KW_RETURN_IF_ERROR(ParseDocument(doc, policy::PolicyKind::kResource));
  return OkStatus();
}

// A managed policy version's document: within the PolicySize quota and parsable.
Status CheckManagedDocument(std::string_view doc) {
  if (NonWhitespaceChars(doc) > kMaxManagedPolicyChars) {
    return Limit("Cannot exceed quota for PolicySize: " + std::to_string(kMaxManagedPolicyChars));
  }
  KW_RETURN_IF_ERROR(ParseDocument(doc, policy::PolicyKind::kIdentity));
  return OkStatus();
}

Status CheckTags(const std::map<std::string, std::string>& tags) {
  for (const auto& [k, v] : tags) {
    if (k.empty() || k.size() > 128) return Validation("Tag keys must be 1 to 128 characters.");
    if (v.size() > 256) return Validation("Tag values must be at most 256 characters.");
    if (ToLowerAscii(k).rfind("aws:", 0) == 0)
      return InvalidInput("Tag keys cannot start with aws:.");
  }
  return OkStatus();
}

int MaxItems(const PageRequest& page) {
  long long n = page.max_items.value_or(kDefaultMaxItems);
  return static_cast<int>(std::clamp<long long>(n, 1, 1000));
}

// Takes one page from `items`, sorted ascending by their cursor keys: those after
// `page.marker`.
template <typename T>
PolicyServicePage<T> Paginate(std::vector<std::pair<std::string, T>> items,
                              const PageRequest& page) {
  PolicyServicePage<T> out;
  const std::size_t max = static_cast<std::size_t>(MaxItems(page));
  for (auto& [key, item] : items) {
    if (!page.marker.empty() && key <= page.marker) continue;
    if (out.items.size() == max) {
      out.is_truncated = true;
      break;
    }
    out.marker = key;
    out.items.push_back(std::move(item));
  }
  if (!out.is_truncated) out.marker.clear();
  return out;
}

json TagsJson(const std::map<std::string, std::string>& tags) {
  json j = json::object();
  for (const auto& [k, v] : tags) j[k] = v;
  return j;
}
std::map<std::string, std::string> TagsFrom(const json& j) {
  std::map<std::string, std::string> tags;
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) tags[it.key()] = it.value().get<std::string>();
  }
  return tags;
}

std::string EncodeRole(const Role& r) {
  return Dump(json{{"name", r.name},
                   {"id", r.role_id},
                   {"arn", r.arn},
                   {"path", r.path},
                   {"created", ToSecs(r.create_date)},
                   {"trust", r.assume_role_policy_document},
                   {"description", r.description},
                   {"max_session", r.max_session_duration},
                   {"tags", TagsJson(r.tags)}});
}

Result<Role> DecodeRole(std::string_view text) {
  try {
    json j = json::parse(text);
    Role r;
    r.name = j.at("name").get<std::string>();
    r.role_id = j.at("id").get<std::string>();
    r.arn = j.at("arn").get<std::string>();
    r.path = j.at("path").get<std::string>();
    r.create_date = FromSecs(j.at("created").get<std::int64_t>());
    r.assume_role_policy_document = j.at("trust").get<std::string>();
    r.description = j.value("description", std::string());
    r.max_session_duration = j.value("max_session", kDefaultMaxSessionDuration);
    r.tags = TagsFrom(j.value("tags", json::object()));
    return r;
  } catch (const json::exception&) {
    return Corrupt("role");
  }
}

std::string EncodeManaged(const ManagedPolicy& p, int next_version) {
  return Dump(json{{"name", p.name},
                   {"id", p.policy_id},
                   {"arn", p.arn},
                   {"path", p.path},
                   {"default", p.default_version_id},
                   {"next_version", next_version},
                   {"attachments", p.attachment_count},
                   {"aws", p.aws_managed},
                   {"description", p.description},
                   {"created", ToSecs(p.create_date)},
                   {"updated", ToSecs(p.update_date)},
                   {"tags", TagsJson(p.tags)}});
}

struct StoredManaged {
  ManagedPolicy policy;
  int next_version = 2;
};

Result<StoredManaged> DecodeManaged(std::string_view text) {
  try {
    json j = json::parse(text);
    StoredManaged s;
    ManagedPolicy& p = s.policy;
    p.name = j.at("name").get<std::string>();
    p.policy_id = j.at("id").get<std::string>();
    p.arn = j.at("arn").get<std::string>();
    p.path = j.at("path").get<std::string>();
    p.default_version_id = j.at("default").get<std::string>();
    s.next_version = j.at("next_version").get<int>();
    p.attachment_count = j.at("attachments").get<long long>();
    p.aws_managed = j.value("aws", false);
    p.description = j.value("description", std::string());
    p.create_date = FromSecs(j.at("created").get<std::int64_t>());
    p.update_date = FromSecs(j.at("updated").get<std::int64_t>());
    p.tags = TagsFrom(j.value("tags", json::object()));
    return s;
  } catch (const json::exception&) {
    return Corrupt("managed policy");
  }
}

std::string EncodeVersion(const PolicyVersion& v) {
  return Dump(
      json{{"id", v.version_id}, {"document", v.document}, {"created", ToSecs(v.create_date)}});
}

Result<PolicyVersion> DecodeVersion(std::string_view text) {
  try {
    json j = json::parse(text);
    PolicyVersion v;
    v.version_id = j.at("id").get<std::string>();
    v.document = j.at("document").get<std::string>();
    v.create_date = FromSecs(j.at("created").get<std::int64_t>());
    return v;
  } catch (const json::exception&) {
    return Corrupt("policy version");
  }
}

std::string EncodeInline(const InlinePolicy& p) {
  return Dump(json{{"entity", p.entity_name}, {"name", p.policy_name}, {"document", p.document}});
}

Result<InlinePolicy> DecodeInline(std::string_view text) {
  try {
    json j = json::parse(text);
    InlinePolicy p;
    p.entity_name = j.at("entity").get<std::string>();
    p.policy_name = j.at("name").get<std::string>();
    p.document = j.at("document").get<std::string>();
    return p;
  } catch (const json::exception&) {
    return Corrupt("inline policy");
  }
}

// One attachment, stored under both directions' keys.
struct Attachment {
  std::string policy_arn;
  std::string policy_name;
  std::string policy_path;
  std::string entity_name;
  std::string entity_id;
  std::string entity_path;
};

std::string EncodeAttachment(const Attachment& a) {
  return Dump(json{{"policy_arn", a.policy_arn},
                   {"policy_name", a.policy_name},
                   {"policy_path", a.policy_path},
                   {"entity", a.entity_name},
                   {"entity_id", a.entity_id},
                   {"entity_path", a.entity_path}});
}

Result<Attachment> DecodeAttachment(std::string_view text) {
  try {
    json j = json::parse(text);
    Attachment a;
    a.policy_arn = j.at("policy_arn").get<std::string>();
    a.policy_name = j.at("policy_name").get<std::string>();
    a.policy_path = j.at("policy_path").get<std::string>();
    a.entity_name = j.at("entity").get<std::string>();
    a.entity_id = j.at("entity_id").get<std::string>();
    a.entity_path = j.at("entity_path").get<std::string>();
    return a;
  } catch (const json::exception&) {
    return Corrupt("attachment");
  }
}

std::string_view EntityTag(bool is_user) { return is_user ? "u" : "r"; }
std::string_view InlineTable(bool is_user) { return is_user ? kUserPolicies : kRolePolicies; }

std::string VersionKey(std::string_view policy_arn, std::string_view version_id) {
  return Join({ToLowerAscii(policy_arn), version_id});
}

// "v12" -> 12; 0 if malformed.
int VersionNumber(std::string_view id) {
  if (id.size() < 2 || id.size() > 10 || id[0] != 'v' || id[1] == '0') return 0;
  int n = 0;
  for (char c : id.substr(1)) {
    if (c < '0' || c > '9') return 0;
    n = n * 10 + (c - '0');
  }
  return n;
}

Result<int> CheckVersionId(std::string_view id) {
  const int n = VersionNumber(id);
  if (n == 0) {
    return ConstraintError(id, "versionId",
                           "Member must satisfy regular expression pattern: "
                           "v[1-9][0-9]*(\\.[A-Za-z0-9-]*)?");
  }
  return n;
}

Error NoSuchPolicy(std::string_view arn) {
  return NoSuchEntity("Policy " + std::string(arn) + " was not found.");
}

Error NoSuchRole(std::string_view name) {
  return NoSuchEntity("The role with name " + std::string(name) + " cannot be found.");
}

Error NoSuchVersion(std::string_view policy_arn, std::string_view version_id) {
  return NoSuchEntity("Policy " + std::string(policy_arn) + " version " + std::string(version_id) +
                      " does not exist.");
}

Error NoSuchInline(bool is_user, std::string_view policy_name) {
  return NoSuchEntity(std::string("The ") + (is_user ? "user" : "role") + " policy with name " +
                      std::string(policy_name) + " cannot be found.");
}

// The start of every attachment key of one entity (user by ID, role by lowercased name).
std::string EntityAttachmentsPrefix(bool is_user, std::string_view entity_key) {
  return Join({EntityTag(is_user), entity_key}) + kSep;
}

// One attachment is stored twice: under the entity (forward, for listing its policies)
// and under the policy (backward, for listing its entities).
struct AttachmentKeys {
  std::string forward;
  std::string backward;
};
AttachmentKeys KeysOfAttachment(bool is_user, std::string_view entity_key,
                                std::string_view policy_arn) {
  return {Join({EntityTag(is_user), entity_key, ToLowerAscii(policy_arn)}),
          Join({"p", ToLowerAscii(policy_arn), EntityTag(is_user), entity_key})};
}

Result<Role> LoadRole(store::Txn& txn, std::string_view role_name) {
  KW_ASSIGN_OR_RETURN(auto item, txn.Get(kRoles, ToLowerAscii(role_name)));
  if (!item) return NoSuchRole(role_name);
  return DecodeRole(item->value);
}

struct AwsManagedSpec {
  std::string_view name;
  std::string_view id;
  std::string_view description;
  std::string_view document;
};

// The AWS-managed policies keyward provides, with the IDs AWS gave them.
constexpr AwsManagedSpec kAwsManaged[] = {
    {"AdministratorAccess", "ANPAIWMBCKSKIEE64ZLYK",
     "Provides full access to AWS services and resources.",
     R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]})"},
    {"ReadOnlyAccess", "ANPAILL3HVNFSB6DCOWYQ",
     "Provides read-only access to AWS services and resources.",
     R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:Get*","iam:List*",)"
     R"("iam:GenerateCredentialReport","sts:GetCallerIdentity","secretsmanager:Describe*",)"
     R"("secretsmanager:List*","secretsmanager:GetResourcePolicy","ssm:Describe*","ssm:List*",)"
     R"("ssm:GetDocument","ssm:GetCommandInvocation","ssm:GetMaintenanceWindow*"],)"
     R"("Resource":"*"}]})"},
};

}  // namespace

PolicyService::PolicyService(store::KvStore& store, const Clock& clock, Random& random,
                             const Account& account, UserDirectory& users)
    : store_(store), clock_(clock), random_(random), account_(account), users_(users) {}

Status PolicyService::EnsureAwsManagedPolicies() {
  // 2015-02-06T18:39:46Z, when AWS published them.
  const TimePoint published = FromSecs(1423247986);
  for (const AwsManagedSpec& spec : kAwsManaged) {
    // They are evaluated on every request of whoever has them attached: a document the
    // engine cannot parse must stop the server at start, not deny everything later.
    auto parsed = ParseDocument(spec.document, policy::PolicyKind::kIdentity);
    if (!parsed) {
      return Internal("AWS-managed policy " + std::string(spec.name) +
                      " does not parse: " + parsed.error().message);
    }
    ManagedPolicy p;
    p.name = std::string(spec.name);
    p.policy_id = std::string(spec.id);
    p.arn = IamArn(account_.partition, "aws", "policy", "/", spec.name);
    p.aws_managed = true;
    p.description = std::string(spec.description);
    p.create_date = published;
    p.update_date = published;
    PolicyVersion v{"v1", std::string(spec.document), true, published};
    KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
      KW_ASSIGN_OR_RETURN(auto existing, txn.Get(kManaged, ToLowerAscii(p.arn)));
      if (existing) return OkStatus();
      KW_RETURN_IF_ERROR(txn.Put(kManaged, ToLowerAscii(p.arn), EncodeManaged(p, 2)));
      KW_RETURN_IF_ERROR(txn.Put(kVersions, VersionKey(p.arn, "v1"), EncodeVersion(v)));
      return OkStatus();
    }));
  }
  Invalidate();
  return OkStatus();
}

// ---------------------------------------------------------------------------------
// Roles

Result<Role> PolicyService::CreateRole(const CreateRoleRequest& request) {
  KW_RETURN_IF_ERROR(CheckName(request.role_name, "roleName", 64));
  KW_ASSIGN_OR_RETURN(std::string path, NormalizePath(request.path, false));
  KW_RETURN_IF_ERROR(CheckDescription(request.description));
  const long long max_session = request.max_session_duration.value_or(kDefaultMaxSessionDuration);
  KW_RETURN_IF_ERROR(CheckMaxSessionDuration(max_session));
  KW_RETURN_IF_ERROR(CheckTrustDocument(request.assume_role_policy_document));
  KW_RETURN_IF_ERROR(CheckTags(request.tags));
  if (request.tags.size() > kMaxTagsPerEntity) {
    return Limit("Cannot exceed quota for TagsPerRole: " + std::to_string(kMaxTagsPerEntity));
  }

  Role role;
  role.name = request.role_name;
  role.role_id = NewUniqueId("AROA", random_);
  role.path = path;
  role.arn = IamArn(account_.partition, account_.id, "role", path, role.name);
  role.create_date = clock_.Now();
  role.assume_role_policy_document = request.assume_role_policy_document;
  role.description = request.description;
  role.max_session_duration = static_cast<int>(max_session);
  role.tags = request.tags;

  KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(auto existing, txn.Get(kRoles, ToLowerAscii(role.name)));
    if (existing) {
      return AlreadyExists("Role with name " + role.name + " already exists.",
                           "EntityAlreadyExists");
    }
    KW_ASSIGN_OR_RETURN(auto all, txn.List(kRoles, {}));
    if (all.size() >= kMaxRolesPerAccount) {
      return Limit("Cannot exceed quota for RolesPerAccount: " +
                   std::to_string(kMaxRolesPerAccount));
    }
    KW_RETURN_IF_ERROR(txn.Insert(kRoles, ToLowerAscii(role.name), EncodeRole(role)));
    return OkStatus();
  }));
  Invalidate();
  return role;
}

Result<Role> PolicyService::GetRole(std::string_view role_name) {
  KW_RETURN_IF_ERROR(CheckName(role_name, "roleName", 64));
  KW_ASSIGN_OR_RETURN(auto item, store_.Get(kRoles, ToLowerAscii(role_name)));
  if (!item) return NoSuchRole(role_name);
  return DecodeRole(item->value);
}

Result<std::optional<Role>> PolicyService::FindRole(std::string_view role_name) {
  const std::string key = ToLowerAscii(role_name);
  const std::uint64_t gen = generation_.load(std::memory_order_acquire);
  {
    std::lock_guard lock(cache_mu_);
    auto it = role_cache_.find(key);
    if (it != role_cache_.end() && it->second.generation == gen) return it->second.role;
  }
  KW_ASSIGN_OR_RETURN(auto item, store_.Get(kRoles, key));
  std::optional<Role> role;
  if (item) {
    KW_ASSIGN_OR_RETURN(Role r, DecodeRole(item->value));
    role = std::move(r);
  }
  std::lock_guard lock(cache_mu_);
  if (role_cache_.size() > 10000) role_cache_.clear();
  role_cache_[key] = RoleCacheEntry{gen, role};
  return role;
}

Result<PolicyServicePage<Role>> PolicyService::ListRoles(std::string_view path_prefix,
                                                         const PageRequest& page) {
  const std::string prefix = path_prefix.empty() ? "/" : std::string(path_prefix);
  KW_ASSIGN_OR_RETURN(auto items, store_.List(kRoles, {}));
  std::vector<std::pair<std::string, Role>> matched;
  for (auto& item : items) {
    KW_ASSIGN_OR_RETURN(Role r, DecodeRole(item.value));
    if (r.path.rfind(prefix, 0) != 0) continue;
    matched.emplace_back(item.key, std::move(r));
  }
  return Paginate(std::move(matched), page);
}

namespace {

// Read-modify-write of one role record inside a transaction.
Status MutateRole(store::KvStore& store, std::string_view role_name,
                  const std::function<Status(Role&)>& change) {
  return store.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(Role role, LoadRole(txn, role_name));
    KW_RETURN_IF_ERROR(change(role));
    KW_RETURN_IF_ERROR(txn.Put(kRoles, ToLowerAscii(role_name), EncodeRole(role)));
    return OkStatus();
  });
}

}  // namespace

Status PolicyService::UpdateRole(std::string_view role_name,
                                 const std::optional<std::string>& description,
                                 std::optional<long long> max_session_duration) {
  KW_RETURN_IF_ERROR(CheckName(role_name, "roleName", 64));
  if (description) KW_RETURN_IF_ERROR(CheckDescription(*description));
  if (max_session_duration) KW_RETURN_IF_ERROR(CheckMaxSessionDuration(*max_session_duration));
  KW_RETURN_IF_ERROR(MutateRole(store_, role_name, [&](Role& role) -> Status {
    if (description) role.description = *description;
    if (max_session_duration) role.max_session_duration = static_cast<int>(*max_session_duration);
    return OkStatus();
  }));
  Invalidate();
  return OkStatus();
}

Status PolicyService::UpdateAssumeRolePolicy(std::string_view role_name,
                                             std::string_view document) {
  KW_RETURN_IF_ERROR(CheckName(role_name, "roleName", 64));
  KW_RETURN_IF_ERROR(CheckTrustDocument(document));
  KW_RETURN_IF_ERROR(MutateRole(store_, role_name, [&](Role& role) -> Status {
    role.assume_role_policy_document = std::string(document);
    return OkStatus();
  }));
  Invalidate();
  return OkStatus();
}

Status PolicyService::DeleteRole(std::string_view role_name) {
  KW_RETURN_IF_ERROR(CheckName(role_name, "roleName", 64));
  const std::string key = ToLowerAscii(role_name);
  KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(auto item, txn.Get(kRoles, key));
    if (!item) return NoSuchRole(role_name);
    KW_ASSIGN_OR_RETURN(auto inline_policies, txn.List(kRolePolicies, {key + kSep, "", 1}));
    if (!inline_policies.empty())
      return Conflict("Cannot delete entity, must delete policies first.");
    KW_ASSIGN_OR_RETURN(auto attached,
                        txn.List(kAttachments, {EntityAttachmentsPrefix(false, key), "", 1}));
    if (!attached.empty()) return Conflict("Cannot delete entity, must detach all policies first.");
    return txn.Delete(kRoles, key);
  }));
  Invalidate();
  return OkStatus();
}

Status PolicyService::TagRole(std::string_view role_name,
                              const std::map<std::string, std::string>& tags) {
  KW_RETURN_IF_ERROR(CheckName(role_name, "roleName", 64));
  KW_RETURN_IF_ERROR(CheckTags(tags));
  KW_RETURN_IF_ERROR(MutateRole(store_, role_name, [&](Role& role) -> Status {
    for (const auto& [k, v] : tags) role.tags[k] = v;
    if (role.tags.size() > kMaxTagsPerEntity) {
      return Limit("Cannot exceed quota for TagsPerRole: " + std::to_string(kMaxTagsPerEntity));
    }
    return OkStatus();
  }));
  Invalidate();
  return OkStatus();
}

Status PolicyService::UntagRole(std::string_view role_name, const std::vector<std::string>& keys) {
  KW_RETURN_IF_ERROR(CheckName(role_name, "roleName", 64));
  KW_RETURN_IF_ERROR(MutateRole(store_, role_name, [&](Role& role) -> Status {
    for (const std::string& k : keys) role.tags.erase(k);
    return OkStatus();
  }));
  Invalidate();
  return OkStatus();
}

Result<PolicyServicePage<std::pair<std::string, std::string>>> PolicyService::ListRoleTags(
    std::string_view role_name, const PageRequest& page) {
  KW_ASSIGN_OR_RETURN(Role role, GetRole(role_name));
  std::vector<std::pair<std::string, std::pair<std::string, std::string>>> items;
  for (const auto& [k, v] : role.tags) items.push_back({k, {k, v}});
  return Paginate(std::move(items), page);
}

// ---------------------------------------------------------------------------------
// Inline policies

Result<UserSummary> PolicyService::RequireUser(std::string_view user_name) {
  KW_RETURN_IF_ERROR(CheckName(user_name, "userName", 128));
  auto user = users_.FindUser(user_name);
  if (!user) {
    Error e = std::move(user).error();
    if (e.code == ErrorCode::kNotFound) {
      return NoSuchEntity("The user with name " + std::string(user_name) + " cannot be found.");
    }
    return e;
  }
  return std::move(user).value();
}

Result<PolicyService::EntityRef> PolicyService::ResolveEntity(bool is_user,
                                                              std::string_view entity) {
  if (is_user) {
    KW_ASSIGN_OR_RETURN(UserSummary user, RequireUser(entity));
    return EntityRef{user.user_id, user.name, user.user_id, user.path};
  }
  KW_RETURN_IF_ERROR(CheckName(entity, "roleName", 64));
  return EntityRef{ToLowerAscii(entity), std::string(entity), "", ""};
}

Status PolicyService::PutInline(bool is_user, std::string_view entity, std::string_view policy_name,
                                std::string_view document) {
  KW_RETURN_IF_ERROR(CheckName(policy_name, "policyName", 128));
  KW_ASSIGN_OR_RETURN(EntityRef ref, ResolveEntity(is_user, entity));
  KW_RETURN_IF_ERROR(ParseDocument(document, policy::PolicyKind::kIdentity));
  const std::size_t quota = is_user ? kMaxUserInlinePolicyChars : kMaxRoleInlinePolicyChars;
  const std::string& entity_key = ref.key;
  const std::string key = Join({entity_key, ToLowerAscii(policy_name)});
  KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
    InlinePolicy p{ref.name, std::string(policy_name), std::string(document)};
    if (!is_user) {
      KW_ASSIGN_OR_RETURN(Role r, LoadRole(txn, entity));
      p.entity_name = r.name;
    }
    // The quota is on the sum over the entity's inline policies; a replaced policy
    // does not count twice.
    std::size_t total = NonWhitespaceChars(document);
    KW_ASSIGN_OR_RETURN(auto existing,
                        txn.List(InlineTable(is_user), {std::string(entity_key) + kSep, "", 0}));
    for (const auto& item : existing) {
      if (item.key == key) continue;
      KW_ASSIGN_OR_RETURN(InlinePolicy other, DecodeInline(item.value));
      total += NonWhitespaceChars(other.document);
    }
    if (total > quota) {
      return Limit("Maximum policy size of " + std::to_string(quota) + " bytes exceeded for " +
                   (is_user ? "user " : "role ") + p.entity_name);
    }
    KW_RETURN_IF_ERROR(txn.Put(InlineTable(is_user), key, EncodeInline(p)));
    return OkStatus();
  }));
  Invalidate();
  return OkStatus();
}

Result<InlinePolicy> PolicyService::GetInline(bool is_user, std::string_view entity,
                                              std::string_view policy_name) {
  KW_RETURN_IF_ERROR(CheckName(policy_name, "policyName", 128));
  KW_ASSIGN_OR_RETURN(EntityRef ref, ResolveEntity(is_user, entity));
  if (!is_user) KW_RETURN_IF_ERROR(GetRole(entity));
  KW_ASSIGN_OR_RETURN(auto item,
                      store_.Get(InlineTable(is_user), Join({ref.key, ToLowerAscii(policy_name)})));
  if (!item) return NoSuchInline(is_user, policy_name);
  KW_ASSIGN_OR_RETURN(InlinePolicy p, DecodeInline(item->value));
  if (is_user) p.entity_name = ref.name;  // the user may have been renamed since
  return p;
}

Result<PolicyServicePage<std::string>> PolicyService::ListInline(bool is_user,
                                                                 std::string_view entity,
                                                                 const PageRequest& page) {
  KW_ASSIGN_OR_RETURN(EntityRef ref, ResolveEntity(is_user, entity));
  if (!is_user) KW_RETURN_IF_ERROR(GetRole(entity));
  KW_ASSIGN_OR_RETURN(auto items, store_.List(InlineTable(is_user), {ref.key + kSep, "", 0}));
  std::vector<std::pair<std::string, std::string>> names;
  for (const auto& item : items) {
    KW_ASSIGN_OR_RETURN(InlinePolicy p, DecodeInline(item.value));
    names.emplace_back(item.key, p.policy_name);
  }
  return Paginate(std::move(names), page);
}

Status PolicyService::DeleteInline(bool is_user, std::string_view entity,
                                   std::string_view policy_name) {
  KW_RETURN_IF_ERROR(CheckName(policy_name, "policyName", 128));
  KW_ASSIGN_OR_RETURN(EntityRef ref, ResolveEntity(is_user, entity));
  if (!is_user) KW_RETURN_IF_ERROR(GetRole(entity));
  const std::string key = Join({ref.key, ToLowerAscii(policy_name)});
  KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(auto item, txn.Get(InlineTable(is_user), key));
    if (!item) return NoSuchInline(is_user, policy_name);
    return txn.Delete(InlineTable(is_user), key);
  }));
  Invalidate();
  return OkStatus();
}

Status PolicyService::PutUserPolicy(std::string_view user_name, std::string_view policy_name,
                                    std::string_view document) {
  return PutInline(true, user_name, policy_name, document);
}
Result<InlinePolicy> PolicyService::GetUserPolicy(std::string_view user_name,
                                                  std::string_view policy_name) {
  return GetInline(true, user_name, policy_name);
}
Result<PolicyServicePage<std::string>> PolicyService::ListUserPolicies(std::string_view user_name,
                                                                       const PageRequest& page) {
  return ListInline(true, user_name, page);
}
Status PolicyService::DeleteUserPolicy(std::string_view user_name, std::string_view policy_name) {
  return DeleteInline(true, user_name, policy_name);
}
Status PolicyService::PutRolePolicy(std::string_view role_name, std::string_view policy_name,
                                    std::string_view document) {
  return PutInline(false, role_name, policy_name, document);
}
Result<InlinePolicy> PolicyService::GetRolePolicy(std::string_view role_name,
                                                  std::string_view policy_name) {
  return GetInline(false, role_name, policy_name);
}
Result<PolicyServicePage<std::string>> PolicyService::ListRolePolicies(std::string_view role_name,
                                                                       const PageRequest& page) {
  return ListInline(false, role_name, page);
}
Status PolicyService::DeleteRolePolicy(std::string_view role_name, std::string_view policy_name) {
  return DeleteInline(false, role_name, policy_name);
}

// ---------------------------------------------------------------------------------
// Managed policies

namespace {

// Checks that `arn` names a managed policy this account can see: its own
// (arn:aws:iam::ACCT:policy/...) or an AWS-managed one (arn:aws:iam::aws:policy/...).
Status CheckPolicyArn(std::string_view arn, const Account& account) {
  const std::string own = "arn:" + account.partition + ":iam::" + account.id + ":policy/";
  const std::string aws = "arn:" + account.partition + ":iam::aws:policy/";
  if (arn.size() < 20 || arn.size() > 2048) {
    return Validation(
        "1 validation error detected: Value at 'policyArn' failed to satisfy "
        "constraint: Member must have length between 20 and 2048");
  }
  if (arn.rfind(own, 0) != 0 && arn.rfind(aws, 0) != 0) {
    return InvalidInput("ARN " + std::string(arn) + " is not valid.");
  }
  return OkStatus();
}

Result<StoredManaged> LoadManaged(store::Txn& txn, std::string_view arn) {
  KW_ASSIGN_OR_RETURN(auto item, txn.Get(kManaged, ToLowerAscii(arn)));
  if (!item) return NoSuchPolicy(arn);
  return DecodeManaged(item->value);
}

// A managed policy whose versions may change: not an AWS-managed one.
Result<StoredManaged> LoadModifiable(store::Txn& txn, std::string_view arn) {
  KW_ASSIGN_OR_RETURN(StoredManaged s, LoadManaged(txn, arn));
  if (s.policy.aws_managed) {
    return InvalidInput("AWS-managed policy " + s.policy.arn + " cannot be modified.");
  }
  return s;
}

}  // namespace

Result<ManagedPolicy> PolicyService::CreatePolicy(const CreatePolicyRequest& request) {
  KW_RETURN_IF_ERROR(CheckName(request.policy_name, "policyName", 128));
  KW_ASSIGN_OR_RETURN(std::string path, NormalizePath(request.path, true));
  KW_RETURN_IF_ERROR(CheckDescription(request.description));
  KW_RETURN_IF_ERROR(CheckTags(request.tags));
  if (request.tags.size() > kMaxTagsPerEntity) {
    return Limit("Cannot exceed quota for TagsPerPolicy: " + std::to_string(kMaxTagsPerEntity));
  }
  KW_RETURN_IF_ERROR(CheckManagedDocument(request.policy_document));

  ManagedPolicy p;
  p.name = request.policy_name;
  p.policy_id = NewUniqueId("ANPA", random_);
  p.path = path;
  p.arn = IamArn(account_.partition, account_.id, "policy", path, p.name);
  p.description = request.description;
  p.create_date = p.update_date = clock_.Now();
  p.tags = request.tags;
  const PolicyVersion v{"v1", request.policy_document, true, p.create_date};
  const std::string own_prefix =
      ToLowerAscii("arn:" + account_.partition + ":iam::" + account_.id + ":policy/");

  KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(auto all, txn.List(kManaged, {own_prefix, "", 0}));
    for (const auto& item : all) {
      KW_ASSIGN_OR_RETURN(StoredManaged other, DecodeManaged(item.value));
      // Names are unique in the account whatever the path, as in AWS.
      if (ToLowerAscii(other.policy.name) == ToLowerAscii(p.name)) {
        return AlreadyExists(
            "A policy called " + p.name + " already exists. Duplicate names are not allowed.",
            "EntityAlreadyExists");
      }
    }
    if (all.size() >= kMaxManagedPoliciesPerAccount) {
      return Limit("Cannot exceed quota for PoliciesPerAccount: " +
                   std::to_string(kMaxManagedPoliciesPerAccount));
    }
    KW_RETURN_IF_ERROR(txn.Insert(kManaged, ToLowerAscii(p.arn), EncodeManaged(p, 2)));
    KW_RETURN_IF_ERROR(txn.Put(kVersions, VersionKey(p.arn, "v1"), EncodeVersion(v)));
    return OkStatus();
  }));
  Invalidate();
  return p;
}

Result<ManagedPolicy> PolicyService::GetPolicy(std::string_view policy_arn) {
  KW_RETURN_IF_ERROR(CheckPolicyArn(policy_arn, account_));
  KW_ASSIGN_OR_RETURN(auto item, store_.Get(kManaged, ToLowerAscii(policy_arn)));
  if (!item) return NoSuchPolicy(policy_arn);
  KW_ASSIGN_OR_RETURN(StoredManaged s, DecodeManaged(item->value));
  return s.policy;
}

Result<PolicyServicePage<ManagedPolicy>> PolicyService::ListPolicies(
    const ListPoliciesRequest& request) {
  const std::string prefix = request.path_prefix.empty() ? "/" : request.path_prefix;
  KW_ASSIGN_OR_RETURN(auto items, store_.List(kManaged, {}));
  std::vector<std::pair<std::string, ManagedPolicy>> matched;
  for (auto& item : items) {
    KW_ASSIGN_OR_RETURN(StoredManaged s, DecodeManaged(item.value));
    ManagedPolicy& p = s.policy;
    if (request.scope == PolicyScope::kAws && !p.aws_managed) continue;
    if (request.scope == PolicyScope::kLocal && p.aws_managed) continue;
    if (request.only_attached && p.attachment_count == 0) continue;
    if (p.path.rfind(prefix, 0) != 0) continue;
    matched.emplace_back(item.key, std::move(p));
  }
  return Paginate(std::move(matched), request.page);
}

Status PolicyService::DeletePolicy(std::string_view policy_arn) {
  KW_RETURN_IF_ERROR(CheckPolicyArn(policy_arn, account_));
  KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(StoredManaged s, LoadManaged(txn, policy_arn));
    if (s.policy.aws_managed) {
      return InvalidInput("AWS-managed policy " + s.policy.arn + " cannot be deleted.");
    }
    if (s.policy.attachment_count > 0)
      return Conflict("Cannot delete a policy attached to entities.");
    KW_ASSIGN_OR_RETURN(auto versions,
                        txn.List(kVersions, {ToLowerAscii(policy_arn) + kSep, "", 0}));
    if (versions.size() > 1) {
      return Conflict(
          "This policy has more than one version. Before you delete a policy, you "
          "must delete the policy's versions. The default version is deleted with "
          "the policy.");
    }
    for (const auto& v : versions) KW_RETURN_IF_ERROR(txn.Delete(kVersions, v.key));
    return txn.Delete(kManaged, ToLowerAscii(policy_arn));
  }));
  Invalidate();
  return OkStatus();
}

Result<PolicyVersion> PolicyService::CreatePolicyVersion(std::string_view policy_arn,
                                                         std::string_view document,
                                                         bool set_as_default) {
  KW_RETURN_IF_ERROR(CheckPolicyArn(policy_arn, account_));
  KW_RETURN_IF_ERROR(CheckManagedDocument(document));
  PolicyVersion created;
  KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(StoredManaged s, LoadModifiable(txn, policy_arn));
    KW_ASSIGN_OR_RETURN(auto versions,
                        txn.List(kVersions, {ToLowerAscii(policy_arn) + kSep, "", 0}));
    if (versions.size() >= kMaxPolicyVersions) {
      return Limit("A managed policy can have up to " + std::to_string(kMaxPolicyVersions) +
                   " versions. Before you create a new version, you must delete an existing "
                   "version.");
    }
    const TimePoint now = clock_.Now();
    created = PolicyVersion{"v" + std::to_string(s.next_version), std::string(document),
                            set_as_default, now};
    KW_RETURN_IF_ERROR(
        txn.Insert(kVersions, VersionKey(policy_arn, created.version_id), EncodeVersion(created)));
    if (set_as_default) s.policy.default_version_id = created.version_id;
    s.policy.update_date = now;
    KW_RETURN_IF_ERROR(
        txn.Put(kManaged, ToLowerAscii(policy_arn), EncodeManaged(s.policy, s.next_version + 1)));
    return OkStatus();
  }));
  Invalidate();
  return created;
}

Result<PolicyVersion> PolicyService::GetPolicyVersion(std::string_view policy_arn,
                                                      std::string_view version_id) {
  KW_RETURN_IF_ERROR(CheckPolicyArn(policy_arn, account_));
  KW_RETURN_IF_ERROR(CheckVersionId(version_id));
  PolicyVersion out;
  KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(StoredManaged s, LoadManaged(txn, policy_arn));
    KW_ASSIGN_OR_RETURN(auto item, txn.Get(kVersions, VersionKey(policy_arn, version_id)));
    if (!item) {
      return NoSuchEntity("Policy " + std::string(policy_arn) + " version " +
                          std::string(version_id) + " does not exist or is not attachable.");
    }
    KW_ASSIGN_OR_RETURN(out, DecodeVersion(item->value));
    out.is_default = out.version_id == s.policy.default_version_id;
    return OkStatus();
  }));
  return out;
}

Result<PolicyServicePage<PolicyVersion>> PolicyService::ListPolicyVersions(
    std::string_view policy_arn, const PageRequest& page) {
  KW_RETURN_IF_ERROR(CheckPolicyArn(policy_arn, account_));
  std::vector<std::pair<std::string, PolicyVersion>> versions;
  KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
    versions.clear();
    KW_ASSIGN_OR_RETURN(StoredManaged s, LoadManaged(txn, policy_arn));
    KW_ASSIGN_OR_RETURN(auto items, txn.List(kVersions, {ToLowerAscii(policy_arn) + kSep, "", 0}));
    for (const auto& item : items) {
      KW_ASSIGN_OR_RETURN(PolicyVersion v, DecodeVersion(item.value));
      v.is_default = v.version_id == s.policy.default_version_id;
      // Cursor keys that sort newest first.
      char cursor[16];
      std::snprintf(cursor, sizeof cursor, "%010d", 999999999 - VersionNumber(v.version_id));
      versions.emplace_back(cursor, std::move(v));
    }
    return OkStatus();
  }));
  std::sort(versions.begin(), versions.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return Paginate(std::move(versions), page);
}

Status PolicyService::DeletePolicyVersion(std::string_view policy_arn,
                                          std::string_view version_id) {
  KW_RETURN_IF_ERROR(CheckPolicyArn(policy_arn, account_));
  KW_RETURN_IF_ERROR(CheckVersionId(version_id));
  KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(StoredManaged s, LoadModifiable(txn, policy_arn));
    const std::string key = VersionKey(policy_arn, version_id);
    KW_ASSIGN_OR_RETURN(auto item, txn.Get(kVersions, key));
    if (!item) return NoSuchVersion(policy_arn, version_id);
    if (s.policy.default_version_id == version_id) {
      return Conflict("Cannot delete the default version of a policy.");
    }
    return txn.Delete(kVersions, key);
  }));
  Invalidate();
  return OkStatus();
}

Status PolicyService::SetDefaultPolicyVersion(std::string_view policy_arn,
                                              std::string_view version_id) {
  KW_RETURN_IF_ERROR(CheckPolicyArn(policy_arn, account_));
  KW_RETURN_IF_ERROR(CheckVersionId(version_id));
  KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(StoredManaged s, LoadModifiable(txn, policy_arn));
    KW_ASSIGN_OR_RETURN(auto item, txn.Get(kVersions, VersionKey(policy_arn, version_id)));
    if (!item) return NoSuchVersion(policy_arn, version_id);
    s.policy.default_version_id = std::string(version_id);
    s.policy.update_date = clock_.Now();
    KW_RETURN_IF_ERROR(
        txn.Put(kManaged, ToLowerAscii(policy_arn), EncodeManaged(s.policy, s.next_version)));
    return OkStatus();
  }));
  Invalidate();
  return OkStatus();
}

// ---------------------------------------------------------------------------------
// Attachments

Status PolicyService::Attach(bool is_user, std::string_view entity, std::string_view policy_arn) {
  KW_RETURN_IF_ERROR(CheckPolicyArn(policy_arn, account_));
  KW_ASSIGN_OR_RETURN(EntityRef ref, ResolveEntity(is_user, entity));
  const std::string& entity_key = ref.key;
  const AttachmentKeys keys = KeysOfAttachment(is_user, entity_key, policy_arn);
  KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
    Attachment a;
    a.entity_name = ref.name;
    a.entity_id = ref.id;
    a.entity_path = ref.path;
    if (!is_user) {
      KW_ASSIGN_OR_RETURN(Role role, LoadRole(txn, entity));
      a.entity_name = role.name;
      a.entity_id = role.role_id;
      a.entity_path = role.path;
    }
    KW_ASSIGN_OR_RETURN(auto policy_item, txn.Get(kManaged, ToLowerAscii(policy_arn)));
    if (!policy_item) {
      return NoSuchEntity("Policy " + std::string(policy_arn) +
                          " does not exist or is not attachable.");
    }
    KW_ASSIGN_OR_RETURN(StoredManaged s, DecodeManaged(policy_item->value));
    KW_ASSIGN_OR_RETURN(auto existing, txn.Get(kAttachments, keys.forward));
    if (existing) return OkStatus();
    KW_ASSIGN_OR_RETURN(
        auto attached,
        txn.List(kAttachments, {EntityAttachmentsPrefix(is_user, entity_key), "", 0}));
    if (attached.size() >= kMaxAttachedPoliciesPerEntity) {
      return Limit(std::string("Cannot exceed quota for ") +
                   (is_user ? "PoliciesPerUser: " : "PoliciesPerRole: ") +
                   std::to_string(kMaxAttachedPoliciesPerEntity));
    }
    a.policy_arn = s.policy.arn;
    a.policy_name = s.policy.name;
    a.policy_path = s.policy.path;
    const std::string value = EncodeAttachment(a);
    KW_RETURN_IF_ERROR(txn.Put(kAttachments, keys.forward, value));
    KW_RETURN_IF_ERROR(txn.Put(kAttachments, keys.backward, value));
    s.policy.attachment_count += 1;
    KW_RETURN_IF_ERROR(
        txn.Put(kManaged, ToLowerAscii(policy_arn), EncodeManaged(s.policy, s.next_version)));
    return OkStatus();
  }));
  Invalidate();
  return OkStatus();
}

Status PolicyService::Detach(bool is_user, std::string_view entity, std::string_view policy_arn) {
  KW_RETURN_IF_ERROR(CheckPolicyArn(policy_arn, account_));
  KW_ASSIGN_OR_RETURN(EntityRef ref, ResolveEntity(is_user, entity));
  const std::string& entity_key = ref.key;
  const AttachmentKeys keys = KeysOfAttachment(is_user, entity_key, policy_arn);
  KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
    if (!is_user) {
      KW_ASSIGN_OR_RETURN(auto role_item, txn.Get(kRoles, entity_key));
      if (!role_item) return NoSuchRole(entity);
    }
    KW_ASSIGN_OR_RETURN(StoredManaged s, LoadManaged(txn, policy_arn));
    KW_ASSIGN_OR_RETURN(auto existing, txn.Get(kAttachments, keys.forward));
    if (!existing) {
      return NoSuchEntity("Policy " + std::string(policy_arn) + " was not found.");
    }
    KW_RETURN_IF_ERROR(txn.Delete(kAttachments, keys.forward));
    KW_RETURN_IF_ERROR(txn.Delete(kAttachments, keys.backward));
    s.policy.attachment_count = std::max<long long>(0, s.policy.attachment_count - 1);
    KW_RETURN_IF_ERROR(
        txn.Put(kManaged, ToLowerAscii(policy_arn), EncodeManaged(s.policy, s.next_version)));
    return OkStatus();
  }));
  Invalidate();
  return OkStatus();
}

Result<PolicyServicePage<AttachedPolicy>> PolicyService::ListAttached(bool is_user,
                                                                      std::string_view entity,
                                                                      std::string_view path_prefix,
                                                                      const PageRequest& page) {
  KW_ASSIGN_OR_RETURN(EntityRef ref, ResolveEntity(is_user, entity));
  if (!is_user) KW_RETURN_IF_ERROR(GetRole(entity));
  const std::string prefix = path_prefix.empty() ? "/" : std::string(path_prefix);
  KW_ASSIGN_OR_RETURN(
      auto items, store_.List(kAttachments, {EntityAttachmentsPrefix(is_user, ref.key), "", 0}));
  std::vector<std::pair<std::string, AttachedPolicy>> out;
  for (const auto& item : items) {
    KW_ASSIGN_OR_RETURN(Attachment a, DecodeAttachment(item.value));
    if (a.policy_path.rfind(prefix, 0) != 0) continue;
    out.emplace_back(item.key, AttachedPolicy{a.policy_name, a.policy_arn});
  }
  return Paginate(std::move(out), page);
}

Status PolicyService::AttachUserPolicy(std::string_view user_name, std::string_view policy_arn) {
  return Attach(true, user_name, policy_arn);
}
Status PolicyService::DetachUserPolicy(std::string_view user_name, std::string_view policy_arn) {
  return Detach(true, user_name, policy_arn);
}
Status PolicyService::AttachRolePolicy(std::string_view role_name, std::string_view policy_arn) {
  return Attach(false, role_name, policy_arn);
}
Status PolicyService::DetachRolePolicy(std::string_view role_name, std::string_view policy_arn) {
  return Detach(false, role_name, policy_arn);
}
Result<PolicyServicePage<AttachedPolicy>> PolicyService::ListAttachedUserPolicies(
    std::string_view user_name, std::string_view path_prefix, const PageRequest& page) {
  return ListAttached(true, user_name, path_prefix, page);
}
Result<PolicyServicePage<AttachedPolicy>> PolicyService::ListAttachedRolePolicies(
    std::string_view role_name, std::string_view path_prefix, const PageRequest& page) {
  return ListAttached(false, role_name, path_prefix, page);
}

Result<PolicyEntities> PolicyService::ListEntitiesForPolicy(std::string_view policy_arn,
                                                            EntityFilter filter,
                                                            std::string_view path_prefix,
                                                            const PageRequest& page) {
  KW_RETURN_IF_ERROR(GetPolicy(policy_arn));
  const std::string prefix = path_prefix.empty() ? "/" : std::string(path_prefix);
  KW_ASSIGN_OR_RETURN(
      auto items, store_.List(kAttachments, {Join({"p", ToLowerAscii(policy_arn)}) + kSep, "", 0}));
  // One ordered list of (cursor, is_user, entity) so that one marker pages both kinds.
  std::vector<std::pair<std::string, std::pair<bool, PolicyEntity>>> matched;
  const std::size_t tag_pos = Join({"p", ToLowerAscii(policy_arn)}).size() + 1;
  for (const auto& item : items) {
    const bool is_user = item.key.compare(tag_pos, 2, "u|") == 0;
    if (filter == EntityFilter::kUser && !is_user) continue;
    if (filter == EntityFilter::kRole && is_user) continue;
    KW_ASSIGN_OR_RETURN(Attachment a, DecodeAttachment(item.value));
    if (a.entity_path.rfind(prefix, 0) != 0) continue;
    matched.push_back({item.key, {is_user, PolicyEntity{a.entity_name, a.entity_id}}});
  }
  auto page_items = Paginate(std::move(matched), page);
  PolicyEntities out;
  for (auto& [is_user, entity] : page_items.items) {
    (is_user ? out.users : out.roles).push_back(std::move(entity));
  }
  out.is_truncated = page_items.is_truncated;
  out.marker = page_items.marker;
  return out;
}

// ---------------------------------------------------------------------------------
// PolicyResolver and UserDependents

Result<PolicyService::PolicyList> PolicyService::LoadPolicies(bool is_user,
                                                              std::string_view entity_key) {
  std::vector<std::string> documents;
  // One transaction: a consistent snapshot of inline policies, attachments and the
  // attached policies' default versions.
  KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
    documents.clear();
    KW_ASSIGN_OR_RETURN(auto inline_items,
                        txn.List(InlineTable(is_user), {std::string(entity_key) + kSep, "", 0}));
    for (const auto& item : inline_items) {
      KW_ASSIGN_OR_RETURN(InlinePolicy p, DecodeInline(item.value));
      documents.push_back(std::move(p.document));
    }
    KW_ASSIGN_OR_RETURN(
        auto attached,
        txn.List(kAttachments, {EntityAttachmentsPrefix(is_user, entity_key), "", 0}));
    for (const auto& item : attached) {
      KW_ASSIGN_OR_RETURN(Attachment a, DecodeAttachment(item.value));
      KW_ASSIGN_OR_RETURN(StoredManaged s, LoadManaged(txn, a.policy_arn));
      KW_ASSIGN_OR_RETURN(
          auto v, txn.Get(kVersions, VersionKey(a.policy_arn, s.policy.default_version_id)));
      if (!v) return Corrupt("policy version");
      KW_ASSIGN_OR_RETURN(PolicyVersion version, DecodeVersion(v->value));
      documents.push_back(std::move(version.document));
    }
    return OkStatus();
  }));
  PolicyList policies;
  for (const std::string& doc : documents) {
    // Stored documents parsed when they were written. If one no longer parses, fail
    // closed rather than drop it: it might hold the Deny that matters.
    auto parsed = ParseDocument(doc, policy::PolicyKind::kIdentity);
    if (!parsed) return Internal("a stored policy no longer parses", "ServiceFailure");
    policies.push_back(std::move(parsed).value());
  }
  return policies;
}

Result<std::vector<std::shared_ptr<const policy::Policy>>> PolicyService::IdentityPolicies(
    const Principal& principal) {
  const bool is_user = principal.type == PrincipalType::kUser;
  // Users by ID (see EntityRef), assumed roles by role name.
  const std::string entity_key = is_user ? principal.user_id : ToLowerAscii(principal.name);
  if (entity_key.empty()) return PolicyList{};
  const std::string key = Join({EntityTag(is_user), entity_key});
  // Read the generation before the store: a write that commits after this point
  // bumps it, so what we cache below is never served after that write.
  const std::uint64_t gen = generation_.load(std::memory_order_acquire);
  {
    std::lock_guard lock(cache_mu_);
    auto it = policy_cache_.find(key);
    if (it != policy_cache_.end() && it->second.generation == gen) return it->second.policies;
  }
  KW_ASSIGN_OR_RETURN(PolicyList policies, LoadPolicies(is_user, entity_key));
  std::lock_guard lock(cache_mu_);
  if (policy_cache_.size() > 10000) policy_cache_.clear();
  policy_cache_[key] = CacheEntry{gen, policies};
  return policies;
}

Result<std::optional<std::string>> PolicyService::DeleteBlocker(std::string_view user_name) {
  auto user = users_.FindUser(user_name);
  if (!user) {
    if (user.error().code == ErrorCode::kNotFound) return std::optional<std::string>();
    return std::move(user).error();
  }
  const std::string& key = user->user_id;
  KW_ASSIGN_OR_RETURN(auto inline_items, store_.List(kUserPolicies, {key + kSep, "", 1}));
  if (!inline_items.empty()) {
    return std::optional<std::string>("Cannot delete entity, must delete policies first.");
  }
  KW_ASSIGN_OR_RETURN(auto attached,
                      store_.List(kAttachments, {EntityAttachmentsPrefix(true, key), "", 1}));
  if (!attached.empty()) {
    return std::optional<std::string>("Cannot delete entity, must detach all policies first.");
  }
  return std::optional<std::string>();
}

}  // namespace kw::iam
