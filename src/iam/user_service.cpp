#include "iam/user_service.hpp"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

#include "common/strings.hpp"
#include "iam/credential_report.hpp"
#include "iam/ids.hpp"

namespace kw::iam {
namespace {

using nlohmann::json;

constexpr std::string_view kUsers = "iam_users";
constexpr std::string_view kKeys = "iam_access_keys";
constexpr std::string_view kUserKeys = "iam_user_keys";
constexpr std::string_view kUsage = "iam_key_usage";
constexpr std::string_view kReports = "iam_credential_report";
constexpr std::string_view kCurrentReport = "current";
constexpr std::string_view kNA = "N/A";

constexpr std::string_view kUserNamePattern = "[\\w+=,.@-]+";
constexpr std::string_view kPathPattern = "(\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)";
constexpr std::string_view kPathPrefixPattern = "\\u002F[\\u0021-\\u007F]*";
constexpr std::string_view kTagKeyPattern = "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+";
constexpr std::string_view kTagValuePattern = "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*";
constexpr std::string_view kKeyIdPattern = "[\\w]+";
constexpr std::string_view kMarkerPattern = "[\\u0020-\\u00FF]+";

// ---- small helpers -------------------------------------------------------------

std::int64_t ToMillis(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
TimePoint FromMillis(std::int64_t ms) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::milliseconds(ms)));
}
// Stored times have millisecond precision; truncating at creation makes the value
// returned by a create equal to what later reads return.
TimePoint Truncate(TimePoint t) { return FromMillis(ToMillis(t)); }

// Characters, not bytes: the model's lengths count code points.
std::size_t Utf8Length(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

bool IsWordChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

bool IsUserNameChar(char c) {
  return IsWordChar(c) || c == '+' || c == '=' || c == ',' || c == '.' || c == '@' || c == '-';
}

bool AllOf(std::string_view s, bool (*pred)(char)) { return std::all_of(s.begin(), s.end(), pred); }

// [\p{L}\p{Z}\p{N}_.:/=+\-@]: ASCII letters, digits, space and the listed symbols;
// non-ASCII characters are accepted as letters (keyward does not carry Unicode
// tables; the model's classes cover nearly all of them).
bool IsTagChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x80) return true;
  return IsWordChar(c) || c == ' ' || c == '.' || c == ':' || c == '/' || c == '=' || c == '+' ||
         c == '-' || c == '@';
}

bool IsPathChar(char c) { return c >= 0x21 && c <= 0x7E; }
bool IsPathPrefixChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u >= 0x21 && u <= 0x7F;
}
bool IsMarkerChar(char c) { return static_cast<unsigned char>(c) >= 0x20; }

// Collects constraint violations and words them as AWS does:
// "1 validation error detected: Value 'x' at 'userName' failed to satisfy
// constraint: Member must have length less than or equal to 64".
class Validator {
 public:
  void Length(std::string_view value, std::string_view member, std::size_t min, std::size_t max) {
    const std::size_t n = Utf8Length(value);
    if (n < min) {
      Add(value, member, "Member must have length greater than or equal to " + std::to_string(min));
    } else if (n > max) {
      Add(value, member, "Member must have length less than or equal to " + std::to_string(max));
    }
  }
  void Pattern(bool ok, std::string_view value, std::string_view member, std::string_view pattern) {
    if (!ok) {
      Add(value, member, "Member must satisfy regular expression pattern: " + std::string(pattern));
    }
  }
  void Add(std::string_view value, std::string_view member, const std::string& constraint) {
    errors_.push_back("Value '" + std::string(value) + "' at '" + std::string(member) +
                      "' failed to satisfy constraint: " + constraint);
  }
  Status Done() const {
    if (errors_.empty()) return OkStatus();
    std::string msg =
        std::to_string(errors_.size()) +
        (errors_.size() == 1 ? " validation error detected: " : " validation errors detected: ");
    for (std::size_t i = 0; i < errors_.size(); ++i) {
      if (i > 0) msg += "; ";
      msg += errors_[i];
    }
    return InvalidArgument(std::move(msg), "ValidationError");
  }

 private:
  std::vector<std::string> errors_;
};

void CheckUserName(Validator& v, std::string_view name, std::string_view member, std::size_t max) {
  v.Length(name, member, 1, max);
  if (!name.empty()) v.Pattern(AllOf(name, IsUserNameChar), name, member, kUserNamePattern);
}

void CheckPath(Validator& v, std::string_view path, std::string_view member) {
  v.Length(path, member, 1, 512);
  const bool ok = path == "/" || (path.size() >= 3 && path.front() == '/' && path.back() == '/' &&
                                  AllOf(path, IsPathChar));
  if (!path.empty()) v.Pattern(ok, path, member, kPathPattern);
}

void CheckMarker(Validator& v, const std::optional<std::string>& marker) {
  if (!marker) return;
  v.Length(*marker, "marker", 1, 320);
  if (!marker->empty()) v.Pattern(AllOf(*marker, IsMarkerChar), *marker, "marker", kMarkerPattern);
}

void CheckMaxItems(Validator& v, const std::optional<int>& max_items) {
  if (!max_items) return;
  const std::string s = std::to_string(*max_items);
  if (*max_items < 1) v.Add(s, "maxItems", "Member must have value greater than or equal to 1");
  if (*max_items > 1000) {
    v.Add(s, "maxItems", "Member must have value less than or equal to 1000");
  }
}

void CheckKeyId(Validator& v, std::string_view id) {
  v.Length(id, "accessKeyId", 16, 128);
  if (!id.empty()) v.Pattern(AllOf(id, IsWordChar), id, "accessKeyId", kKeyIdPattern);
}

void CheckTagKey(Validator& v, std::string_view key, std::string_view member) {
  v.Length(key, member, 1, 128);
  if (!key.empty()) v.Pattern(AllOf(key, IsTagChar), key, member, kTagKeyPattern);
}

Status CheckTags(const std::vector<Tag>& tags) {
  Validator v;
  if (tags.size() > kMaxTagsPerUser) {
    v.Add("[...]", "tags", "Member must have length less than or equal to 50");
  }
  for (std::size_t i = 0; i < tags.size(); ++i) {
    const std::string prefix = "tags." + std::to_string(i + 1) + ".member.";
    CheckTagKey(v, tags[i].key, prefix + "key");
    v.Length(tags[i].value, prefix + "value", 0, 256);
    v.Pattern(AllOf(tags[i].value, IsTagChar), tags[i].value, prefix + "value", kTagValuePattern);
  }
  KW_RETURN_IF_ERROR(v.Done());
  for (std::size_t i = 0; i < tags.size(); ++i) {
    for (std::size_t j = i + 1; j < tags.size(); ++j) {
      if (EqualsIgnoreCase(tags[i].key, tags[j].key)) {
        return InvalidArgument(
            "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
            "InvalidInput");
      }
    }
  }
  return OkStatus();
}

Error NoSuchUser(std::string_view name) {
  return NotFound("The user with name " + std::string(name) + " cannot be found.", "NoSuchEntity");
}

Error NoSuchKey(std::string_view id) {
  return NotFound("The Access Key with id " + std::string(id) + " cannot be found.",
                  "NoSuchEntity");
}

Error InvalidToken() {
  return Unauthenticated("The security token included in the request is invalid.",
                         "InvalidClientTokenId");
}

Error Corrupt(std::string_view table, std::string_view key) {
  return Internal("Stored record " + std::string(table) + "/" + std::string(key) +
                  " is not readable.");
}

std::string AccessKeyAad(std::string_view id) { return "iam/access-key/" + std::string(id); }
std::string IndexKey(std::string_view user_key, std::string_view key_id) {
  return std::string(user_key) + "/" + std::string(key_id);
}
std::string IndexPrefix(std::string_view user_key) { return std::string(user_key) + "/"; }

// ---- records (JSON; nlohmann's exceptions stop here) ------------------------------

struct KeyRecord {
  std::string id;
  std::string user;  // the user's name as displayed
  KeyStatus status = KeyStatus::kActive;
  TimePoint created;
  std::string sealed_secret;  // Envelope ciphertext
};

struct UsageRecord {
  TimePoint when;
  std::string service;
  std::string region;
};

std::string EncodeUser(const User& u) {
  json tags = json::array();
  for (const Tag& t : u.tags) tags.push_back({{"k", t.key}, {"v", t.value}});
  json j = {{"name", u.name},
            {"id", u.user_id},
            {"path", u.path},
            {"created", ToMillis(u.create_date)},
            {"tags", std::move(tags)}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<User> DecodeUser(const store::Item& item, const Account& account) {
  try {
    const json j = json::parse(item.value);
    User u;
    u.name = j.at("name").get<std::string>();
    u.user_id = j.at("id").get<std::string>();
    u.path = j.at("path").get<std::string>();
    u.create_date = FromMillis(j.at("created").get<std::int64_t>());
    for (const json& t : j.at("tags")) {
      u.tags.push_back({t.at("k").get<std::string>(), t.at("v").get<std::string>()});
    }
    u.arn = IamArn(account.partition, account.id, "user", u.path, u.name);
    return u;
  } catch (const json::exception&) {
    return Corrupt(kUsers, item.key);
  }
}

std::string EncodeKey(const KeyRecord& k) {
  json j = {{"id", k.id},
            {"user", k.user},
            {"status", std::string(KeyStatusName(k.status))},
            {"created", ToMillis(k.created)},
            {"secret", k.sealed_secret}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<KeyRecord> DecodeKey(const store::Item& item) {
  try {
    const json j = json::parse(item.value);
    KeyRecord k;
    k.id = j.at("id").get<std::string>();
    k.user = j.at("user").get<std::string>();
    const std::string status = j.at("status").get<std::string>();
    if (status == "Active") {
      k.status = KeyStatus::kActive;
    } else if (status == "Inactive") {
      k.status = KeyStatus::kInactive;
    } else {
      return Corrupt(kKeys, item.key);
    }
    k.created = FromMillis(j.at("created").get<std::int64_t>());
    k.sealed_secret = j.at("secret").get<std::string>();
    return k;
  } catch (const json::exception&) {
    return Corrupt(kKeys, item.key);
  }
}

std::string EncodeUsage(const UsageRecord& u) {
  json j = {{"when", ToMillis(u.when)}, {"service", u.service}, {"region", u.region}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<UsageRecord> DecodeUsage(const store::Item& item) {
  try {
    const json j = json::parse(item.value);
    return UsageRecord{FromMillis(j.at("when").get<std::int64_t>()),
                       j.at("service").get<std::string>(), j.at("region").get<std::string>()};
  } catch (const json::exception&) {
    return Corrupt(kUsage, item.key);
  }
}

struct ReportRecord {
  TimePoint generated;
  std::string csv;
};

Result<ReportRecord> DecodeReport(const store::Item& item) {
  try {
    const json j = json::parse(item.value);
    return ReportRecord{FromMillis(j.at("generated").get<std::int64_t>()),
                        j.at("csv").get<std::string>()};
  } catch (const json::exception&) {
    return Corrupt(kReports, item.key);
  }
}

// Reads through either a Txn or the KvStore (same Get signature).
template <typename Reader>
Result<std::optional<User>> LoadUser(Reader& r, std::string_view name, const Account& account) {
  KW_ASSIGN_OR_RETURN(std::optional<store::Item> item, r.Get(kUsers, ToLowerAscii(name)));
  if (!item) return std::optional<User>();
  KW_ASSIGN_OR_RETURN(User u, DecodeUser(*item, account));
  return std::optional<User>(std::move(u));
}

template <typename Reader>
Result<User> RequireUser(Reader& r, std::string_view name, const Account& account) {
  KW_ASSIGN_OR_RETURN(std::optional<User> u, LoadUser(r, name, account));
  if (!u) return NoSuchUser(name);
  return std::move(*u);
}

template <typename Reader>
Result<std::optional<KeyRecord>> LoadKey(Reader& r, std::string_view id) {
  KW_ASSIGN_OR_RETURN(std::optional<store::Item> item, r.Get(kKeys, id));
  if (!item) return std::optional<KeyRecord>();
  KW_ASSIGN_OR_RETURN(KeyRecord k, DecodeKey(*item));
  return std::optional<KeyRecord>(std::move(k));
}

// Inserts the record of the user named `name` under `key` (its lowercased name);
// EntityAlreadyExists if a user of that name, in any case, exists.
Status InsertUser(store::Txn& txn, std::string_view key, std::string_view value,
                  std::string_view name) {
  auto inserted = txn.Insert(kUsers, key, value);
  if (!inserted) {
    if (inserted.error().code == ErrorCode::kAlreadyExists) {
      return AlreadyExists("User with name " + std::string(name) + " already exists.",
                           "EntityAlreadyExists");
    }
    return std::move(inserted).error();
  }
  return OkStatus();
}

// Key `id` of user `name`: NoSuchEntity if either is missing or the key is another
// user's, so a caller cannot learn of keys it does not own.
Result<KeyRecord> RequireOwnedKey(store::Txn& txn, std::string_view name, std::string_view id,
                                  const Account& account) {
  KW_RETURN_IF_ERROR(RequireUser(txn, name, account));
  KW_ASSIGN_OR_RETURN(std::optional<KeyRecord> key, LoadKey(txn, id));
  if (!key || !EqualsIgnoreCase(key->user, name)) return NoSuchKey(id);
  return std::move(*key);
}

// The key IDs indexed under a user, ascending.
Result<std::vector<std::string>> UserKeyIds(store::Txn& txn, std::string_view user_key) {
  store::ListOptions options;
  options.prefix = IndexPrefix(user_key);
  KW_ASSIGN_OR_RETURN(std::vector<store::Item> items, txn.List(kUserKeys, options));
  std::vector<std::string> ids;
  for (const store::Item& item : items) ids.push_back(item.key.substr(options.prefix.size()));
  return ids;
}

AccessKeyMetadata Metadata(const KeyRecord& k) {
  return AccessKeyMetadata{k.user, k.id, k.status, k.created};
}

UserSummary Summary(const User& u) {
  UserSummary s;
  s.name = u.name;
  s.user_id = u.user_id;
  s.arn = u.arn;
  s.path = u.path;
  s.create_date = u.create_date;
  for (const Tag& t : u.tags) s.tags[t.key] = t.value;
  return s;
}

Principal UserPrincipal(const User& u, const Account& account, std::string_view key_id) {
  Principal p;
  p.type = PrincipalType::kUser;
  p.account_id = account.id;
  p.arn = u.arn;
  p.user_id = u.user_id;
  p.name = u.name;
  p.access_key_id = std::string(key_id);
  for (const Tag& t : u.tags) p.tags[t.key] = t.value;
  return p;
}

bool Newer(const UsageRecord& a, const std::optional<UsageRecord>& b) {
  return !b || a.when > b->when;
}

}  // namespace

std::string_view KeyStatusName(KeyStatus status) {
  return status == KeyStatus::kActive ? "Active" : "Inactive";
}

UserService::UserService(store::KvStore& store, const crypto::Envelope& envelope,
                         const Clock& clock, Random& random, const Account& account)
    : store_(store), envelope_(envelope), clock_(clock), random_(random), account_(account) {}

void UserService::SetDependents(UserDependents* dependents) {
  std::lock_guard lock(dependents_mu_);
  dependents_ = dependents;
}

std::string UserService::UserArn(std::string_view path, std::string_view name) const {
  return IamArn(account_.partition, account_.id, "user", path, name);
}

Result<std::string> UserService::TargetUser(std::optional<std::string_view> user_name,
                                            const Principal* caller) const {
  if (user_name) {
    Validator v;
    CheckUserName(v, *user_name, "userName", 128);
    KW_RETURN_IF_ERROR(v.Done());
    return std::string(*user_name);
  }
  if (caller == nullptr || caller->type != PrincipalType::kUser) {
    return InvalidArgument("Must specify userName when calling with non-User credentials",
                           "ValidationError");
  }
  return caller->name;
}

// ---- users ------------------------------------------------------------------------

Result<User> UserService::CreateUser(const CreateUserRequest& request) {
  Validator v;
  CheckUserName(v, request.user_name, "userName", 64);
  if (request.path) CheckPath(v, *request.path, "path");
  KW_RETURN_IF_ERROR(v.Done());
  KW_RETURN_IF_ERROR(CheckTags(request.tags));

  User user;
  user.name = request.user_name;
  user.user_id = NewUniqueId("AIDA", random_);
  user.path = request.path.value_or("/");
  user.arn = UserArn(user.path, user.name);
  user.create_date = Truncate(clock_.Now());
  user.tags = request.tags;
  const std::string value = EncodeUser(user);
  const std::string key = ToLowerAscii(user.name);

  Status s = store_.Transact(
      [&](store::Txn& txn) -> Status { return InsertUser(txn, key, value, user.name); });
  KW_RETURN_IF_ERROR(s);
  // A user that was deleted and re-created under the same name must not inherit
  // cached principals (none should exist: its keys were deleted first).
  InvalidateUser(key);
  return user;
}

Result<User> UserService::GetUser(std::optional<std::string_view> user_name,
                                  const Principal* caller) {
  KW_ASSIGN_OR_RETURN(std::string name, TargetUser(user_name, caller));
  return RequireUser(store_, name, account_);
}

Result<UserPage> UserService::ListUsers(const ListUsersRequest& request) {
  Validator v;
  if (request.path_prefix) {
    const std::string& p = *request.path_prefix;
    v.Length(p, "pathPrefix", 1, 512);
    if (!p.empty()) {
      v.Pattern(p.front() == '/' && AllOf(p, IsPathPrefixChar), p, "pathPrefix",
                kPathPrefixPattern);
    }
  }
  CheckMarker(v, request.marker);
  CheckMaxItems(v, request.max_items);
  KW_RETURN_IF_ERROR(v.Done());
  const std::size_t max_items =
      static_cast<std::size_t>(request.max_items.value_or(kDefaultMaxItems));

  UserPage page;
  std::string cursor = request.marker.value_or("");
  bool more = false;
  // Pages through the table in chunks: a path prefix may skip many users.
  for (;;) {
    store::ListOptions options;
    options.start_after = cursor;
    options.limit = 500;
    KW_ASSIGN_OR_RETURN(std::vector<store::Item> items, store_.List(kUsers, options));
    for (const store::Item& item : items) {
      KW_ASSIGN_OR_RETURN(User u, DecodeUser(item, account_));
      if (request.path_prefix && u.path.rfind(*request.path_prefix, 0) != 0) continue;
      if (page.users.size() == max_items) {
        more = true;
        break;
      }
      page.users.push_back(std::move(u));
    }
    if (more || items.size() < options.limit) break;
    cursor = items.back().key;
  }
  if (more) {
    page.is_truncated = true;
    page.marker = ToLowerAscii(page.users.back().name);
  }
  return page;
}

Status UserService::UpdateUser(const UpdateUserRequest& request) {
  Validator v;
  CheckUserName(v, request.user_name, "userName", 128);
  if (request.new_user_name) CheckUserName(v, *request.new_user_name, "newUserName", 64);
  if (request.new_path) CheckPath(v, *request.new_path, "newPath");
  KW_RETURN_IF_ERROR(v.Done());

  const std::string old_key = ToLowerAscii(request.user_name);
  const std::string new_key =
      request.new_user_name ? ToLowerAscii(*request.new_user_name) : old_key;

  Status s = store_.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(User user, RequireUser(txn, request.user_name, account_));
    if (request.new_path) user.path = *request.new_path;
    if (request.new_user_name) user.name = *request.new_user_name;
    const std::string value = EncodeUser(user);
    if (new_key == old_key) {
      KW_RETURN_IF_ERROR(txn.Put(kUsers, old_key, value));
      if (!request.new_user_name) return OkStatus();
    } else {
      KW_RETURN_IF_ERROR(InsertUser(txn, new_key, value, user.name));
      KW_RETURN_IF_ERROR(txn.Delete(kUsers, old_key));
    }
    // The keys follow the user: re-index them and update the name they display.
    KW_ASSIGN_OR_RETURN(std::vector<std::string> ids, UserKeyIds(txn, old_key));
    for (const std::string& id : ids) {
      KW_ASSIGN_OR_RETURN(std::optional<KeyRecord> key, LoadKey(txn, id));
      if (!key) return Internal("Access key index refers to a missing key.");
      key->user = user.name;
      KW_RETURN_IF_ERROR(txn.Put(kKeys, id, EncodeKey(*key)));
      if (new_key != old_key) {
        KW_RETURN_IF_ERROR(txn.Delete(kUserKeys, IndexKey(old_key, id)));
        KW_RETURN_IF_ERROR(txn.Put(kUserKeys, IndexKey(new_key, id), ""));
      }
    }
    return OkStatus();
  });
  // Cached principals carry the name and ARN.
  InvalidateUser(old_key);
  InvalidateUser(new_key);
  return s;
}

Status UserService::DeleteUser(std::string_view user_name) {
  Validator v;
  CheckUserName(v, user_name, "userName", 128);
  KW_RETURN_IF_ERROR(v.Done());
  const std::string key = ToLowerAscii(user_name);
  const Error keys_conflict =
      FailedPrecondition("Cannot delete entity, must delete access keys first.", "DeleteConflict");

  // Checks this service's own blockers first so that the caller learns about them
  // without a call into the policy service.
  Status checked = store_.Transact([&](store::Txn& txn) -> Status {
    KW_RETURN_IF_ERROR(RequireUser(txn, user_name, account_));
    KW_ASSIGN_OR_RETURN(std::vector<std::string> ids, UserKeyIds(txn, key));
    if (!ids.empty()) return keys_conflict;
    return OkStatus();
  });
  KW_RETURN_IF_ERROR(checked);

  UserDependents* dependents;
  {
    std::lock_guard lock(dependents_mu_);
    dependents = dependents_;
  }
  if (dependents != nullptr) {
    KW_ASSIGN_OR_RETURN(std::optional<std::string> blocker, dependents->DeleteBlocker(user_name));
    if (blocker) return FailedPrecondition(*blocker, "DeleteConflict");
  }

  // Re-checked inside the deleting transaction: a key may have been created since.
  Status s = store_.Transact([&](store::Txn& txn) -> Status {
    KW_RETURN_IF_ERROR(RequireUser(txn, user_name, account_));
    KW_ASSIGN_OR_RETURN(std::vector<std::string> ids, UserKeyIds(txn, key));
    if (!ids.empty()) return keys_conflict;
    return txn.Delete(kUsers, key);
  });
  InvalidateUser(key);
  return s;
}

Status UserService::TagUser(std::string_view user_name, const std::vector<Tag>& tags) {
  Validator v;
  CheckUserName(v, user_name, "userName", 128);
  KW_RETURN_IF_ERROR(v.Done());
  KW_RETURN_IF_ERROR(CheckTags(tags));
  const std::string key = ToLowerAscii(user_name);
  Status s = store_.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(User user, RequireUser(txn, user_name, account_));
    for (const Tag& tag : tags) {
      auto it = std::find_if(user.tags.begin(), user.tags.end(),
                             [&](const Tag& t) { return EqualsIgnoreCase(t.key, tag.key); });
      if (it != user.tags.end()) {
        *it = tag;
      } else {
        user.tags.push_back(tag);
      }
    }
    if (user.tags.size() > kMaxTagsPerUser) {
      return FailedPrecondition("Cannot exceed quota for TagsPerUser: 50", "LimitExceeded");
    }
    KW_RETURN_IF_ERROR(txn.Put(kUsers, key, EncodeUser(user)));
    return OkStatus();
  });
  InvalidateUser(key);  // principal tags feed aws:PrincipalTag conditions
  return s;
}

Status UserService::UntagUser(std::string_view user_name,
                              const std::vector<std::string>& tag_keys) {
  Validator v;
  CheckUserName(v, user_name, "userName", 128);
  if (tag_keys.size() > kMaxTagsPerUser) {
    v.Add("[...]", "tagKeys", "Member must have length less than or equal to 50");
  }
  for (std::size_t i = 0; i < tag_keys.size(); ++i) {
    CheckTagKey(v, tag_keys[i], "tagKeys." + std::to_string(i + 1) + ".member");
  }
  KW_RETURN_IF_ERROR(v.Done());
  const std::string key = ToLowerAscii(user_name);
  Status s = store_.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(User user, RequireUser(txn, user_name, account_));
    std::erase_if(user.tags, [&](const Tag& t) {
      return std::any_of(tag_keys.begin(), tag_keys.end(),
                         [&](const std::string& k) { return EqualsIgnoreCase(t.key, k); });
    });
    KW_RETURN_IF_ERROR(txn.Put(kUsers, key, EncodeUser(user)));
    return OkStatus();
  });
  InvalidateUser(key);
  return s;
}

Result<TagPage> UserService::ListUserTags(std::string_view user_name,
                                          std::optional<std::string> marker,
                                          std::optional<int> max_items) {
  Validator v;
  CheckUserName(v, user_name, "userName", 128);
  CheckMarker(v, marker);
  CheckMaxItems(v, max_items);
  KW_RETURN_IF_ERROR(v.Done());
  // The marker is the index of the next tag: a user has at most 50.
  std::size_t start = 0;
  if (marker) {
    const auto [ptr, ec] = std::from_chars(marker->data(), marker->data() + marker->size(), start);
    if (ec != std::errc() || ptr != marker->data() + marker->size()) {
      return InvalidArgument("Invalid Marker.", "InvalidInput");
    }
  }
  KW_ASSIGN_OR_RETURN(User user, RequireUser(store_, user_name, account_));
  const std::size_t limit = static_cast<std::size_t>(max_items.value_or(kDefaultMaxItems));
  TagPage page;
  for (std::size_t i = start; i < user.tags.size(); ++i) {
    if (page.tags.size() == limit) {
      page.is_truncated = true;
      page.marker = std::to_string(i);
      break;
    }
    page.tags.push_back(user.tags[i]);
  }
  return page;
}

// ---- access keys --------------------------------------------------------------------

Result<CreatedAccessKey> UserService::CreateAccessKey(std::optional<std::string_view> user_name,
                                                      const Principal* caller) {
  KW_ASSIGN_OR_RETURN(std::string name, TargetUser(user_name, caller));
  const std::string user_key = ToLowerAscii(name);

  KeyRecord record;
  record.id = NewAccessKeyId("AKIA", random_);
  SecretBytes secret(NewSecretAccessKey(random_));
  record.sealed_secret = envelope_.Seal(secret.Reveal(), AccessKeyAad(record.id));
  record.status = KeyStatus::kActive;
  record.created = Truncate(clock_.Now());

  Status s = store_.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(User user, RequireUser(txn, name, account_));
    record.user = user.name;
    // Counted inside the transaction, so two concurrent creates cannot both pass.
    KW_ASSIGN_OR_RETURN(std::vector<std::string> ids, UserKeyIds(txn, user_key));
    if (ids.size() >= kMaxAccessKeysPerUser) {
      return FailedPrecondition("Cannot exceed quota for AccessKeysPerUser: 2", "LimitExceeded");
    }
    KW_RETURN_IF_ERROR(txn.Insert(kKeys, record.id, EncodeKey(record)));
    KW_RETURN_IF_ERROR(txn.Put(kUserKeys, IndexKey(user_key, record.id), ""));
    return OkStatus();
  });
  KW_RETURN_IF_ERROR(s);
  InvalidateKey(record.id);
  return CreatedAccessKey{Metadata(record), std::move(secret)};
}

Result<AccessKeyPage> UserService::ListAccessKeys(std::optional<std::string_view> user_name,
                                                  std::optional<std::string> marker,
                                                  std::optional<int> max_items,
                                                  const Principal* caller) {
  KW_ASSIGN_OR_RETURN(std::string name, TargetUser(user_name, caller));
  Validator v;
  CheckMarker(v, marker);
  CheckMaxItems(v, max_items);
  KW_RETURN_IF_ERROR(v.Done());
  const std::string user_key = ToLowerAscii(name);
  const std::size_t limit = static_cast<std::size_t>(max_items.value_or(kDefaultMaxItems));

  AccessKeyPage page;
  Status s = store_.Transact([&](store::Txn& txn) -> Status {
    page = AccessKeyPage{};
    KW_RETURN_IF_ERROR(RequireUser(txn, name, account_));
    store::ListOptions options;
    options.prefix = IndexPrefix(user_key);
    if (marker) options.start_after = IndexKey(user_key, *marker);
    options.limit = limit + 1;
    KW_ASSIGN_OR_RETURN(std::vector<store::Item> items, txn.List(kUserKeys, options));
    for (const store::Item& item : items) {
      const std::string id = item.key.substr(options.prefix.size());
      if (page.keys.size() == limit) {
        page.is_truncated = true;
        page.marker = page.keys.back().access_key_id;
        break;
      }
      KW_ASSIGN_OR_RETURN(std::optional<KeyRecord> key, LoadKey(txn, id));
      if (!key) return Internal("Access key index refers to a missing key.");
      page.keys.push_back(Metadata(*key));
    }
    return OkStatus();
  });
  KW_RETURN_IF_ERROR(s);
  return page;
}

Status UserService::UpdateAccessKey(std::optional<std::string_view> user_name,
                                    std::string_view access_key_id, KeyStatus status,
                                    const Principal* caller) {
  KW_ASSIGN_OR_RETURN(std::string name, TargetUser(user_name, caller));
  Validator v;
  CheckKeyId(v, access_key_id);
  KW_RETURN_IF_ERROR(v.Done());
  Status s = store_.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(KeyRecord key, RequireOwnedKey(txn, name, access_key_id, account_));
    if (key.status == status) return OkStatus();
    key.status = status;
    KW_RETURN_IF_ERROR(txn.Put(kKeys, access_key_id, EncodeKey(key)));
    return OkStatus();
  });
  InvalidateKey(access_key_id);
  return s;
}

Status UserService::DeleteAccessKey(std::optional<std::string_view> user_name,
                                    std::string_view access_key_id, const Principal* caller) {
  KW_ASSIGN_OR_RETURN(std::string name, TargetUser(user_name, caller));
  Validator v;
  CheckKeyId(v, access_key_id);
  KW_RETURN_IF_ERROR(v.Done());
  Status s = store_.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(KeyRecord key, RequireOwnedKey(txn, name, access_key_id, account_));
    KW_RETURN_IF_ERROR(txn.Delete(kKeys, access_key_id));
    KW_RETURN_IF_ERROR(txn.Delete(kUserKeys, IndexKey(ToLowerAscii(key.user), access_key_id)));
    KW_ASSIGN_OR_RETURN(std::optional<store::Item> usage, txn.Get(kUsage, access_key_id));
    if (usage) KW_RETURN_IF_ERROR(txn.Delete(kUsage, access_key_id));
    return OkStatus();
  });
  InvalidateKey(access_key_id);
  if (s) {
    std::lock_guard lock(usage_mu_);
    pending_usage_.erase(std::string(access_key_id));
  }
  return s;
}

Result<AccessKeyMetadata> UserService::FindAccessKey(std::string_view access_key_id) {
  Validator v;
  CheckKeyId(v, access_key_id);
  KW_RETURN_IF_ERROR(v.Done());
  KW_ASSIGN_OR_RETURN(std::optional<KeyRecord> key, LoadKey(store_, access_key_id));
  if (!key) return NoSuchKey(access_key_id);
  return Metadata(*key);
}

std::optional<UserService::Usage> UserService::BufferedUsage(std::string_view access_key_id) {
  const std::string id(access_key_id);
  std::lock_guard lock(usage_mu_);
  std::optional<Usage> best;
  for (const auto* map : {&pending_usage_, &flushing_usage_}) {
    auto it = map->find(id);
    if (it != map->end() && (!best || it->second.when > best->when)) best = it->second;
  }
  return best;
}

Result<AccessKeyLastUsed> UserService::GetAccessKeyLastUsed(std::string_view access_key_id) {
  KW_ASSIGN_OR_RETURN(AccessKeyMetadata key, FindAccessKey(access_key_id));
  // Memory before store: a flush that completes in between moved the use from
  // flushing_usage_ (already read) to the store (read next), so none is missed.
  std::optional<Usage> buffered = BufferedUsage(access_key_id);
  std::optional<UsageRecord> best;
  if (buffered) best = UsageRecord{buffered->when, buffered->service, buffered->region};
  KW_ASSIGN_OR_RETURN(std::optional<store::Item> item, store_.Get(kUsage, access_key_id));
  if (item) {
    KW_ASSIGN_OR_RETURN(UsageRecord stored, DecodeUsage(*item));
    if (Newer(stored, best)) best = std::move(stored);
  }
  AccessKeyLastUsed out;
  out.user_name = key.user_name;
  if (best) {
    out.last_used_date = best->when;
    out.service_name = best->service;
    out.region = best->region;
  } else {
    out.service_name = std::string(kNA);
    out.region = std::string(kNA);
  }
  return out;
}

// ---- credential report ------------------------------------------------------------

Result<ReportGeneration> UserService::GenerateCredentialReport() {
  const TimePoint now = Truncate(clock_.Now());
  KW_ASSIGN_OR_RETURN(std::optional<store::Item> current, store_.Get(kReports, kCurrentReport));
  if (current) {
    KW_ASSIGN_OR_RETURN(ReportRecord existing, DecodeReport(*current));
    if (now - existing.generated < kCredentialReportLifetime) {
      return ReportGeneration{"COMPLETE", ""};
    }
  }

  // A snapshot of the buffered uses; the store's are read in the transaction.
  std::unordered_map<std::string, Usage> buffered;
  {
    std::lock_guard lock(usage_mu_);
    buffered = flushing_usage_;
    for (const auto& [id, u] : pending_usage_) {
      auto it = buffered.find(id);
      if (it == buffered.end() || u.when > it->second.when) buffered[id] = u;
    }
  }

  Status s = store_.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(std::vector<store::Item> user_items, txn.List(kUsers, {}));
    KW_ASSIGN_OR_RETURN(std::vector<store::Item> key_items, txn.List(kKeys, {}));
    KW_ASSIGN_OR_RETURN(std::vector<store::Item> usage_items, txn.List(kUsage, {}));

    std::unordered_map<std::string, UsageRecord> usage;
    for (const store::Item& item : usage_items) {
      KW_ASSIGN_OR_RETURN(UsageRecord u, DecodeUsage(item));
      usage[item.key] = std::move(u);
    }
    for (const auto& [id, u] : buffered) {
      auto it = usage.find(id);
      if (it == usage.end() || u.when > it->second.when) {
        usage[id] = UsageRecord{u.when, u.service, u.region};
      }
    }

    std::vector<ReportUser> users;
    std::unordered_map<std::string, std::size_t> by_key;  // lowercased name -> index
    ReportRoot root;
    root.arn = "arn:" + account_.partition + ":iam::" + account_.id + ":root";
    for (const store::Item& item : user_items) {
      KW_ASSIGN_OR_RETURN(User u, DecodeUser(item, account_));
      if (!root.create_date || u.create_date < *root.create_date) root.create_date = u.create_date;
      by_key[item.key] = users.size();
      users.push_back(ReportUser{u.name, u.arn, u.create_date, {}});
    }
    for (const store::Item& item : key_items) {
      KW_ASSIGN_OR_RETURN(KeyRecord k, DecodeKey(item));
      auto owner = by_key.find(ToLowerAscii(k.user));
      if (owner == by_key.end()) continue;
      ReportKey rk;
      rk.access_key_id = k.id;
      rk.active = k.status == KeyStatus::kActive;
      rk.create_date = k.created;
      if (auto u = usage.find(k.id); u != usage.end()) {
        rk.last_used = u->second.when;
        rk.last_used_service = u->second.service;
        rk.last_used_region = u->second.region;
      }
      users[owner->second].keys.push_back(std::move(rk));
    }

    json record = {{"generated", ToMillis(now)}, {"csv", BuildCredentialReport(root, users)}};
    KW_RETURN_IF_ERROR(txn.Put(kReports, kCurrentReport,
                               record.dump(-1, ' ', false, json::error_handler_t::replace)));
    return OkStatus();
  });
  KW_RETURN_IF_ERROR(s);
  return ReportGeneration{"STARTED", "No report exists. Starting a new report generation task"};
}

Result<CredentialReportContent> UserService::GetCredentialReport() {
  KW_ASSIGN_OR_RETURN(std::optional<store::Item> current, store_.Get(kReports, kCurrentReport));
  if (!current) {
    return FailedPrecondition(
        "Credential report not present. Use GenerateCredentialReport to generate a report.",
        "ReportNotPresent");
  }
  KW_ASSIGN_OR_RETURN(ReportRecord report, DecodeReport(*current));
  if (clock_.Now() - report.generated >= kCredentialReportLifetime) {
    return FailedPrecondition(
        "The credential report has expired. Use GenerateCredentialReport to generate a new "
        "report.",
        "ReportExpired");
  }
  return CredentialReportContent{std::move(report.csv), report.generated};
}

// ---- usage --------------------------------------------------------------------------

void UserService::RecordUse(std::string_view access_key_id, std::string_view service,
                            std::string_view region, TimePoint when) {
  std::lock_guard lock(usage_mu_);
  auto it = pending_usage_.find(std::string(access_key_id));
  if (it == pending_usage_.end()) {
    pending_usage_.emplace(std::string(access_key_id),
                           Usage{when, std::string(service), std::string(region)});
  } else if (when >= it->second.when) {
    it->second.when = when;
    if (it->second.service != service) it->second.service.assign(service);
    if (it->second.region != region) it->second.region.assign(region);
  }
}

Status UserService::FlushUsage() {
  std::lock_guard flush_lock(flush_mu_);
  {
    std::lock_guard lock(usage_mu_);
    if (pending_usage_.empty()) return OkStatus();
    flushing_usage_.swap(pending_usage_);  // flushing_usage_ is empty between flushes
  }
  Status s = store_.Transact([&](store::Txn& txn) -> Status {
    for (const auto& [id, u] : flushing_usage_) {
      // A key deleted since its use leaves no orphan usage record.
      KW_ASSIGN_OR_RETURN(std::optional<store::Item> key, txn.Get(kKeys, id));
      if (!key) continue;
      UsageRecord record{u.when, u.service, u.region};
      KW_ASSIGN_OR_RETURN(std::optional<store::Item> stored, txn.Get(kUsage, id));
      if (stored) {
        KW_ASSIGN_OR_RETURN(UsageRecord old, DecodeUsage(*stored));
        if (!Newer(record, old)) continue;
      }
      KW_RETURN_IF_ERROR(txn.Put(kUsage, id, EncodeUsage(record)));
    }
    return OkStatus();
  });
  std::lock_guard lock(usage_mu_);
  if (!s) {
    // Keep the uses for the next flush, merged with any recorded meanwhile.
    for (auto& [id, u] : flushing_usage_) {
      auto it = pending_usage_.find(id);
      if (it == pending_usage_.end()) {
        pending_usage_.emplace(id, std::move(u));
      } else if (u.when > it->second.when) {
        it->second = std::move(u);
      }
    }
  }
  flushing_usage_.clear();
  return s;
}

// ---- resolver / directory -----------------------------------------------------------

Result<ResolvedKey> UserService::Resolve(std::string_view access_key_id,
                                         std::string_view session_token, TimePoint /*now*/) {
  // Long-term keys never come with a session token.
  if (!session_token.empty()) return InvalidToken();
  std::uint64_t generation;
  {
    std::lock_guard lock(cache_mu_);
    auto it = cache_.find(std::string(access_key_id));
    if (it != cache_.end()) {
      if (!it->second.active) return InvalidToken();
      return ResolvedKey{it->second.secret.Clone(), it->second.principal};
    }
    generation = cache_generation_;
  }

  // Miss: read and decrypt once, then cache. Unknown IDs are not cached, so a
  // flood of made-up IDs cannot grow the cache.
  auto key_or = LoadKey(store_, access_key_id);
  if (!key_or) return std::move(key_or).error();
  if (!*key_or) return InvalidToken();
  const KeyRecord& key = **key_or;
  auto user_or = LoadUser(store_, key.user, account_);
  if (!user_or) return std::move(user_or).error();
  if (!*user_or) return InvalidToken();
  const User& user = **user_or;
  // The error of a failed decryption is kept (kPermissionDenied/DecryptionFailure
  // would mean a wrong master key: an operator problem, not a bad client token).
  KW_ASSIGN_OR_RETURN(SecretBytes secret, envelope_.Open(key.sealed_secret, AccessKeyAad(key.id)));

  CachedKey entry;
  entry.secret = std::move(secret);
  entry.principal = UserPrincipal(user, account_, key.id);
  entry.active = key.status == KeyStatus::kActive;
  entry.user_key = ToLowerAscii(user.name);
  ResolvedKey out{entry.secret.Clone(), entry.principal};
  const bool active = entry.active;
  {
    std::lock_guard lock(cache_mu_);
    if (generation == cache_generation_) cache_.insert_or_assign(key.id, std::move(entry));
  }
  if (!active) return InvalidToken();
  return out;
}

Result<ResolvedKey> UserService::ResolveInactive(std::string_view access_key_id) {
  {
    std::lock_guard lock(cache_mu_);
    auto it = cache_.find(std::string(access_key_id));
    if (it != cache_.end()) {
      if (it->second.active) return NotFound("the access key is active");
      return ResolvedKey{it->second.secret.Clone(), it->second.principal};
    }
  }
  // Not cached (a change invalidated it since Resolve ran): read it directly.
  KW_ASSIGN_OR_RETURN(auto key, LoadKey(store_, access_key_id));
  if (!key || key->status != KeyStatus::kInactive) return NotFound("not an inactive access key");
  KW_ASSIGN_OR_RETURN(auto user, LoadUser(store_, key->user, account_));
  if (!user) return NotFound("the access key's user is gone");
  KW_ASSIGN_OR_RETURN(SecretBytes secret,
                      envelope_.Open(key->sealed_secret, AccessKeyAad(key->id)));
  return ResolvedKey{std::move(secret), UserPrincipal(*user, account_, key->id)};
}

void UserService::InvalidateKey(std::string_view access_key_id) {
  std::lock_guard lock(cache_mu_);
  ++cache_generation_;
  cache_.erase(std::string(access_key_id));
}

void UserService::InvalidateUser(std::string_view user_key) {
  std::lock_guard lock(cache_mu_);
  ++cache_generation_;
  std::erase_if(cache_, [&](const auto& kv) { return kv.second.user_key == user_key; });
}

Result<UserSummary> UserService::FindUser(std::string_view name) {
  Validator v;
  CheckUserName(v, name, "userName", 128);
  if (!v.Done()) return NoSuchUser(name);
  KW_ASSIGN_OR_RETURN(User user, RequireUser(store_, name, account_));
  return Summary(user);
}

}  // namespace kw::iam
