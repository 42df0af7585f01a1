#include "secrets/secret_service.hpp"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <set>

#include "common/strings.hpp"
#include "common/uuid.hpp"
#include "crypto/digest.hpp"

namespace kw::secrets {

using nlohmann::json;

namespace {

constexpr std::string_view kSecretsTable = "sm_secrets";
constexpr std::string_view kNamesTable = "sm_names";
constexpr std::string_view kVersionsTable = "sm_versions";

constexpr std::string_view kNotFoundMessage = "Secrets Manager can't find the specified secret.";
constexpr std::string_view kMarkedForDeletion =
    "You can't perform this operation on the secret because it was marked for deletion.";

Error SecretNotFound() {
  return NotFound(std::string(kNotFoundMessage), "ResourceNotFoundException");
}
Error InvalidParameter(std::string m) {
  return InvalidArgument(std::move(m), "InvalidParameterException");
}
Error LimitExceeded(std::string m) {
  return FailedPrecondition(std::move(m), "LimitExceededException");
}
Error InvalidRequest(std::string m) {
  return FailedPrecondition(std::move(m), "InvalidRequestException");
}
// The JSON-protocol shape of a model constraint failure (ValidationException).
Error ConstraintError(std::string_view member, std::string_view constraint) {
  return InvalidArgument("1 validation error detected: Value at '" + std::string(member) +
                             "' failed to satisfy constraint: " + std::string(constraint),
                         "ValidationError");
}
Status CheckLength(std::string_view member, std::string_view value, std::size_t min,
                   std::size_t max) {
  if (value.size() < min) {
    return ConstraintError(
        member, "Member must have length greater than or equal to " + std::to_string(min));
  }
  if (value.size() > max) {
    return ConstraintError(member,
                           "Member must have length less than or equal to " + std::to_string(max));
  }
  return OkStatus();
}

std::int64_t ToMillis(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
TimePoint FromMillis(std::int64_t ms) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::milliseconds(ms)));
}
// Midnight UTC of t's day: AWS reports access dates at day resolution.
TimePoint DayOf(TimePoint t) {
  const auto days = std::chrono::floor<std::chrono::days>(t);
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(days.time_since_epoch()));
}

void PutTime(json& j, const char* key, const std::optional<TimePoint>& t) {
  if (t) j[key] = ToMillis(*t);
}
std::optional<TimePoint> GetTime(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer()) return std::nullopt;
  return FromMillis(it->get<std::int64_t>());
}
std::optional<std::string> GetString(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

bool ValidNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("/_+=.@-").find(c) != std::string_view::npos;
}

Status ValidateToken(const std::optional<std::string>& token) {
  if (!token) return OkStatus();
  return CheckLength("clientRequestToken", *token, 32, 64);
}

Status ValidateValue(const SecretValueInput& v) {
  if (v.bytes.size() > kMaxSecretBytes) {
    return ConstraintError(v.binary ? "secretBinary" : "secretString",
                           "Member must have length less than or equal to 65536");
  }
  if (!v.binary && v.bytes.empty()) {
    return ConstraintError("secretString", "Member must have length greater than or equal to 1");
  }
  return OkStatus();
}

Status ValidateTags(const std::vector<Tag>& tags) {
  for (const Tag& t : tags) {
    KW_RETURN_IF_ERROR(CheckLength("tags.member.key", t.key, 1, 128));
    KW_RETURN_IF_ERROR(CheckLength("tags.member.value", t.value, 0, 256));
    if (t.key.rfind("aws:", 0) == 0) {
      return InvalidParameter("Invalid tag key. Tag keys beginning with aws: are reserved.");
    }
  }
  return OkStatus();
}

// Merges `add` into `tags` (an existing key gets the new value).
void MergeTags(std::vector<Tag>& tags, const std::vector<Tag>& add) {
  for (const Tag& t : add) {
    auto it = std::find_if(tags.begin(), tags.end(), [&](const Tag& x) { return x.key == t.key; });
    if (it != tags.end()) {
      it->value = t.value;
    } else {
      tags.push_back(t);
    }
  }
}

Status ValidateRules(const RotationRules& r) {
  if (r.automatically_after_days &&
      (*r.automatically_after_days < 1 || *r.automatically_after_days > 1000)) {
    return ConstraintError("rotationRules.automaticallyAfterDays",
                           "Member must have value between 1 and 1000");
  }
  if (r.automatically_after_days && r.schedule_expression) {
    return InvalidParameter(
        "You cannot specify both rotation frequency and schedule expression together.");
  }
  if (r.schedule_expression) {
    KW_RETURN_IF_ERROR(
        CheckLength("rotationRules.scheduleExpression", *r.schedule_expression, 1, 256));
    const std::string& e = *r.schedule_expression;
    if (e.rfind("rate(", 0) != 0 && e.rfind("cron(", 0) != 0) {
      return InvalidParameter("Invalid schedule expression: " + e);
    }
  }
  if (r.duration) {
    const std::string& d = *r.duration;
    const bool ok =
        d.size() >= 2 && d.size() <= 3 && d.back() == 'h' &&
        std::all_of(d.begin(), d.end() - 1, [](char c) { return c >= '0' && c <= '9'; });
    if (!ok) {
      return ConstraintError("rotationRules.duration",
                             "Member must satisfy regular expression pattern: [0-9]+h");
    }
  }
  if (!r.automatically_after_days && !r.schedule_expression) {
    return InvalidParameter(
        "You must specify either AutomaticallyAfterDays or ScheduleExpression.");
  }
  return OkStatus();
}

// "rate(10 days)" / "rate(4 hours)" -> its period; nullopt for cron() and others.
std::optional<TimePoint::duration> RatePeriod(std::string_view e) {
  if (e.rfind("rate(", 0) != 0 || e.back() != ')') return std::nullopt;
  std::string_view body = e.substr(5, e.size() - 6);
  std::size_t i = 0;
  std::int64_t n = 0;
  while (i < body.size() && body[i] >= '0' && body[i] <= '9' && n < 100000) {
    n = n * 10 + (body[i++] - '0');
  }
  if (i == 0) return std::nullopt;
  std::string_view unit = body.substr(i);
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  if (unit == "day" || unit == "days") return std::chrono::hours(24 * n);
  if (unit == "hour" || unit == "hours") return std::chrono::hours(n);
  return std::nullopt;
}

// Whether a resource policy document grants access to everyone: an Allow statement with
// Principal "*" (or AWS "*") and no Condition. `doc` is already known to be JSON.
bool IsPublicPolicy(const json& doc) {
  auto statements = doc.find("Statement");
  if (statements == doc.end()) return false;
  std::vector<json> list;
  if (statements->is_array()) {
    list.assign(statements->begin(), statements->end());
  } else {
    list.push_back(*statements);
  }
  for (const json& s : list) {
    if (!s.is_object() || s.value("Effect", "") != "Allow") continue;
    if (s.contains("Condition")) continue;
    auto p = s.find("Principal");
    if (p == s.end()) continue;
    auto star = [](const json& v) {
      if (v.is_string()) return v.get<std::string>() == "*";
      if (v.is_array()) {
        return std::any_of(v.begin(), v.end(), [](const json& x) {
          return x.is_string() && x.get<std::string>() == "*";
        });
      }
      return false;
    };
    if (star(*p)) return true;
    if (p->is_object()) {
      auto aws = p->find("AWS");
      if (aws != p->end() && star(*aws)) return true;
    }
  }
  return false;
}

Result<json> ParsePolicyJson(std::string_view text) {
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return InvalidArgument("This resource policy contains a syntax error.",
                           "MalformedPolicyDocumentException");
  }
  return doc;
}

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

bool StartsWithIgnoreCase(std::string_view s, std::string_view p) {
  if (s.size() < p.size()) return false;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (ToLowerAscii(s[i]) != ToLowerAscii(p[i])) return false;
  }
  return true;
}

}  // namespace

struct SecretService::Record {
  struct Version {
    std::string id;
    TimePoint created;
    std::optional<TimePoint> accessed;
  };
  std::string id;
  std::string arn;
  std::string name;
  std::optional<std::string> description;
  std::optional<std::string> kms_key_id;
  TimePoint created;
  std::optional<TimePoint> last_changed;
  std::optional<TimePoint> last_accessed;
  std::optional<TimePoint> deleted;
  std::optional<TimePoint> deletion_due;
  std::vector<Tag> tags;
  bool rotation_enabled = false;
  std::optional<std::string> rotation_lambda_arn;
  std::optional<RotationRules> rules;
  std::optional<TimePoint> last_rotated;
  std::optional<std::string> policy;
  std::shared_ptr<const policy::Policy> parsed_policy;  // from `policy`; not stored
  std::vector<Version> versions;                        // oldest first
  std::map<std::string, std::string> stages;            // label -> version id
  std::int64_t revision = 0;                            // of the sm_secrets row; 0: new

  const Version* FindVersion(std::string_view vid) const {
    for (const auto& v : versions) {
      if (v.id == vid) return &v;
    }
    return nullptr;
  }
  std::vector<std::string> StagesOf(std::string_view vid) const {
    std::vector<std::string> out;
    for (const auto& [label, holder] : stages) {
      if (holder == vid) out.push_back(label);
    }
    // AWSCURRENT first reads naturally; the rest in label order.
    std::stable_sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) {
      return (a == kCurrent) > (b == kCurrent);
    });
    return out;
  }

  std::string Encode() const {
    json j;
    j["id"] = id;
    j["arn"] = arn;
    j["name"] = name;
    if (description) j["description"] = *description;
    if (kms_key_id) j["kms"] = *kms_key_id;
    j["created"] = ToMillis(created);
    PutTime(j, "changed", last_changed);
    PutTime(j, "accessed", last_accessed);
    PutTime(j, "deleted", deleted);
    PutTime(j, "due", deletion_due);
    json tj = json::array();
    for (const Tag& t : tags) tj.push_back(json::array({t.key, t.value}));
    j["tags"] = std::move(tj);
    j["rot"] = rotation_enabled;
    if (rotation_lambda_arn) j["lambda"] = *rotation_lambda_arn;
    if (rules) {
      json r = json::object();
      if (rules->automatically_after_days) r["days"] = *rules->automatically_after_days;
      if (rules->schedule_expression) r["sched"] = *rules->schedule_expression;
      if (rules->duration) r["dur"] = *rules->duration;
      j["rules"] = std::move(r);
    }
    PutTime(j, "rotated", last_rotated);
    if (policy) j["policy"] = *policy;
    json vj = json::array();
    for (const auto& v : versions) {
      json e = {{"id", v.id}, {"created", ToMillis(v.created)}};
      PutTime(e, "accessed", v.accessed);
      vj.push_back(std::move(e));
    }
    j["versions"] = std::move(vj);
    j["stages"] = stages;
    return j.dump();
  }

  // `parse_policy`: also parse the resource policy (skipped by listings, which never
  // authorize with it).
  static Result<std::shared_ptr<Record>> Decode(const store::Item& item, bool parse_policy = true) {
    json j = json::parse(item.value, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return Internal("corrupt secret record " + item.key);
    auto r = std::make_shared<Record>();
    try {
      r->id = j.at("id").get<std::string>();
      r->arn = j.at("arn").get<std::string>();
      r->name = j.at("name").get<std::string>();
      r->description = GetString(j, "description");
      r->kms_key_id = GetString(j, "kms");
      r->created = FromMillis(j.at("created").get<std::int64_t>());
      r->last_changed = GetTime(j, "changed");
      r->last_accessed = GetTime(j, "accessed");
      r->deleted = GetTime(j, "deleted");
      r->deletion_due = GetTime(j, "due");
      for (const auto& t : j.at("tags")) {
        r->tags.push_back({t.at(0).get<std::string>(), t.at(1).get<std::string>()});
      }
      r->rotation_enabled = j.value("rot", false);
      r->rotation_lambda_arn = GetString(j, "lambda");
      if (auto it = j.find("rules"); it != j.end()) {
        RotationRules rules;
        if (it->contains("days"))
          rules.automatically_after_days = it->at("days").get<std::int64_t>();
        rules.schedule_expression = GetString(*it, "sched");
        rules.duration = GetString(*it, "dur");
        r->rules = std::move(rules);
      }
      r->last_rotated = GetTime(j, "rotated");
      r->policy = GetString(j, "policy");
      for (const auto& v : j.at("versions")) {
        r->versions.push_back({v.at("id").get<std::string>(),
                               FromMillis(v.at("created").get<std::int64_t>()),
                               GetTime(v, "accessed")});
      }
      r->stages = j.at("stages").get<std::map<std::string, std::string>>();
    } catch (const json::exception&) {
      return Internal("corrupt secret record " + item.key);
    }
    if (r->policy && parse_policy) {
      auto parsed = policy::Parse(*r->policy, policy::PolicyKind::kResource);
      if (parsed) r->parsed_policy = std::make_shared<const policy::Policy>(std::move(*parsed));
    }
    r->revision = item.revision;
    return r;
  }
};

std::string SecretArnPrefix(const iam::Account& account) {
  return "arn:" + account.partition + ":secretsmanager:" + account.region + ":" + account.id +
         ":secret:";
}

SecretService::SecretService(store::KvStore& store, const crypto::Envelope& envelope,
                             const Clock& clock, Random& random, const iam::Account& account)
    : store_(store), envelope_(envelope), clock_(clock), random_(random), account_(account) {}

std::string SecretService::Aad(const Record& rec, std::string_view version_id) const {
  return "secretsmanager/" + rec.arn + "/" + std::string(version_id);
}

void SecretService::Invalidate(const std::string& name) {
  std::lock_guard lock(cache_mu_);
  ++generation_;
  by_name_.erase(name);
}

void SecretService::Cache(const RecordPtr& rec, std::uint64_t generation) {
  std::lock_guard lock(cache_mu_);
  // A write committed since the read began: the record may be stale, do not keep it.
  if (generation != generation_) return;
  if (by_name_.size() > 200000) by_name_.clear();  // bound memory; refills on demand
  by_name_[rec->name] = rec;
}

Result<SecretService::RecordPtr> SecretService::LoadById(std::string_view id) {
  KW_ASSIGN_OR_RETURN(auto item, store_.Get(kSecretsTable, id));
  if (!item) return SecretNotFound();
  KW_ASSIGN_OR_RETURN(auto rec, Record::Decode(*item));
  return RecordPtr(std::move(rec));
}

Result<SecretService::RecordPtr> SecretService::LoadByName(std::string_view name) {
  std::uint64_t generation = 0;
  {
    std::lock_guard lock(cache_mu_);
    auto it = by_name_.find(std::string(name));
    if (it != by_name_.end()) return it->second;
    generation = generation_;
  }
  if (name.empty()) return SecretNotFound();
  KW_ASSIGN_OR_RETURN(auto id, store_.Get(kNamesTable, name));
  if (!id) return SecretNotFound();
  KW_ASSIGN_OR_RETURN(RecordPtr rec, LoadById(id->value));
  Cache(rec, generation);
  return rec;
}

Result<SecretService::RecordPtr> SecretService::Find(std::string_view secret_id, bool allow_deleted,
                                                     bool allow_retry) {
  RecordPtr rec;
  if (StartsWith(secret_id, "arn:")) {
    const std::string prefix = SecretArnPrefix(account_);
    if (!StartsWith(secret_id, prefix)) return SecretNotFound();
    const std::string_view rest = secret_id.substr(prefix.size());
    // A full ARN ends in "-" and six characters; otherwise (or if that secret does
    // not match) it is a partial ARN: the name itself.
    if (rest.size() > 7 && rest[rest.size() - 7] == '-') {
      auto full = LoadByName(rest.substr(0, rest.size() - 7));
      if (full && (*full)->arn == secret_id) rec = *full;
    }
    if (!rec) {
      auto partial = LoadByName(rest);
      if (!partial) return partial.error();
      rec = *partial;
    }
  } else {
    KW_ASSIGN_OR_RETURN(rec, LoadByName(secret_id));
  }
  if (rec->deleted) {
    const TimePoint now = clock_.Now();
    if (rec->deletion_due && *rec->deletion_due <= now) {
      // Only try: this thread may hold another name's lock (a write whose lookup
      // resolved to this secret), and waiting here could deadlock against a thread
      // doing the reverse. The window has ended either way; PurgeDue purges it later.
      std::unique_lock lock(NameLock(rec->name), std::try_to_lock);
      if (!lock.owns_lock()) return SecretNotFound();
      Status purged = Purge(*rec, now);
      if (purged) return SecretNotFound();
      if (purged.error().code != ErrorCode::kAborted || !allow_retry) return purged.error();
      return Find(secret_id, allow_deleted, /*allow_retry=*/false);  // restored meanwhile
    }
    if (!allow_deleted) return InvalidRequest(std::string(kMarkedForDeletion));
  }
  return rec;
}

std::recursive_mutex& SecretService::NameLock(std::string_view name) {
  return name_locks_[std::hash<std::string_view>{}(name) % kNameLocks];
}

Status SecretService::Purge(const Record& record, std::optional<TimePoint> only_if_due_at) {
  const std::string id = record.id;
  const std::string name = record.name;
  std::lock_guard name_lock(NameLock(name));
  Status s = store_.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(auto current, txn.Get(kSecretsTable, id));
    if (current && only_if_due_at) {
      // `record` may be stale: purge only what is still scheduled and due (a restore
      // just before the window ended wins).
      KW_ASSIGN_OR_RETURN(auto stored, Record::Decode(*current, false));
      if (!stored->deleted || !stored->deletion_due || *stored->deletion_due > *only_if_due_at) {
        return Aborted("the secret is no longer due for purging");
      }
    }
    KW_ASSIGN_OR_RETURN(auto mapped, txn.Get(kNamesTable, name));
    if (mapped && mapped->value == id) KW_RETURN_IF_ERROR(txn.Delete(kNamesTable, name));
    if (current) KW_RETURN_IF_ERROR(txn.Delete(kSecretsTable, id));
    store::ListOptions options;
    options.prefix = id + "/";
    KW_ASSIGN_OR_RETURN(auto rows, txn.List(kVersionsTable, options));
    for (const auto& row : rows) KW_RETURN_IF_ERROR(txn.Delete(kVersionsTable, row.key));
    return OkStatus();
  });
  Invalidate(name);
  if (s) {
    std::lock_guard lock(schedule_mu_);
    deletion_schedule_.erase(id);
  }
  return s;
}

void SecretService::Schedule(const Record& rec) {
  std::lock_guard lock(schedule_mu_);
  if (rec.deleted && rec.deletion_due) {
    deletion_schedule_[rec.id] = *rec.deletion_due;
  } else {
    deletion_schedule_.erase(rec.id);
  }
}

Result<SecretService::RecordPtr> SecretService::Mutate(
    std::string_view secret_id, bool allow_deleted,
    const std::function<Status(Record&, store::Txn&)>& change) {
  // The name is known only after a lookup; look up again under its lock, since a write
  // may have committed in between. A name that changed meanwhile (the id now resolves
  // to another secret: deleted and created again, or a partial ARN) locks again.
  KW_ASSIGN_OR_RETURN(RecordPtr current, Find(secret_id, allow_deleted));
  std::unique_lock lock(NameLock(current->name));
  for (int attempt = 0;; ++attempt) {
    KW_ASSIGN_OR_RETURN(RecordPtr fresh, Find(secret_id, allow_deleted));
    const bool same_lock = &NameLock(fresh->name) == lock.mutex();
    current = std::move(fresh);
    if (same_lock) break;
    if (attempt == 3) return Unavailable("the secret changed during the request; retry");
    lock.unlock();  // before taking the other: never hold two name locks
    lock = std::unique_lock(NameLock(current->name));
  }
  std::shared_ptr<Record> updated;
  Status s = store_.Transact([&](store::Txn& txn) -> Status {
    updated = std::make_shared<Record>(*current);  // fresh copy on every (re)try
    KW_RETURN_IF_ERROR(change(*updated, txn));
    KW_ASSIGN_OR_RETURN(updated->revision, txn.CompareAndPut(kSecretsTable, updated->id,
                                                             updated->Encode(), current->revision));
    return OkStatus();
  });
  Invalidate(current->name);
  if (!s) return s.error();
  Schedule(*updated);
  if (updated->policy != current->policy) {
    updated->parsed_policy.reset();
    if (updated->policy) {
      auto parsed = policy::Parse(*updated->policy, policy::PolicyKind::kResource);
      if (parsed)
        updated->parsed_policy = std::make_shared<const policy::Policy>(std::move(*parsed));
    }
  }
  return RecordPtr(updated);
}

Result<VersionRef> SecretService::AddVersion(store::Txn& txn, Record& rec,
                                             std::optional<std::string> token,
                                             const SecretValueInput& value,
                                             std::optional<std::vector<std::string>> stages) {
  KW_RETURN_IF_ERROR(ValidateToken(token));
  KW_RETURN_IF_ERROR(ValidateValue(value));
  const std::string vid = token ? *token : NewUuid(random_);
  const std::string row_key = rec.id + "/" + vid;
  std::string plain;
  plain.reserve(value.bytes.size() + 1);
  plain.push_back(value.binary ? 'b' : 's');
  plain.append(value.bytes.Reveal());
  const SecretBytes plaintext(std::move(plain));

  if (rec.FindVersion(vid) != nullptr) {
    // The same token again: a retry if the value is the same, else a conflict.
    KW_ASSIGN_OR_RETURN(auto row, txn.Get(kVersionsTable, row_key));
    bool same = false;
    if (row) {
      auto opened = envelope_.Open(row->value, Aad(rec, vid));
      same = opened && crypto::ConstantTimeEqual(opened->Reveal(), plaintext.Reveal());
    }
    if (!same) {
      return AlreadyExists(
          "You can't modify an existing version, you can only create a new version.",
          "ResourceExistsException");
    }
    return VersionRef{rec.arn, rec.name, vid, rec.StagesOf(vid)};
  }

  std::vector<std::string> labels = stages ? *stages : std::vector<std::string>{kCurrent};
  if (labels.size() > kMaxStagesPerVersion) {
    return LimitExceeded("You can't attach more than 20 staging labels to a version.");
  }
  for (const std::string& l : labels)
    KW_RETURN_IF_ERROR(CheckLength("versionStages.member", l, 1, 256));

  KW_RETURN_IF_ERROR(
      txn.Insert(kVersionsTable, row_key, envelope_.Seal(plaintext.Reveal(), Aad(rec, vid))));
  const TimePoint now = clock_.Now();
  rec.versions.push_back({vid, now, std::nullopt});
  for (const std::string& l : labels) {
    auto holder = rec.stages.find(l);
    if (l == kCurrent && holder != rec.stages.end() && holder->second != vid) {
      rec.stages[kPrevious] = holder->second;
    }
    rec.stages[l] = vid;
  }
  rec.last_changed = now;
  KW_RETURN_IF_ERROR(PruneDeprecated(txn, rec));
  return VersionRef{rec.arn, rec.name, vid, rec.StagesOf(vid)};
}

Status SecretService::PruneDeprecated(store::Txn& txn, Record& rec) {
  // Oldest versions without labels go first, and only beyond AWS's limit.
  for (auto it = rec.versions.begin();
       rec.versions.size() > kMaxVersions && it != rec.versions.end();) {
    if (rec.StagesOf(it->id).empty()) {
      Status s = txn.Delete(kVersionsTable, rec.id + "/" + it->id);
      if (!s && s.error().code != ErrorCode::kNotFound) return s;
      it = rec.versions.erase(it);
    } else {
      ++it;
    }
  }
  return OkStatus();
}

Result<VersionRef> SecretService::CreateSecret(const CreateSecretRequest& request) {
  const std::string& name = request.name;
  KW_RETURN_IF_ERROR(CheckLength("name", name, 1, kMaxNameLength));
  if (!std::all_of(name.begin(), name.end(), ValidNameChar)) {
    return InvalidParameter(
        "Invalid name. Must be a valid name containing alphanumeric characters, or any of the "
        "following: -/_+=.@!");
  }
  if (request.description) {
    KW_RETURN_IF_ERROR(CheckLength("description", *request.description, 0, kMaxDescriptionLength));
  }
  if (request.kms_key_id) KW_RETURN_IF_ERROR(CheckLength("kmsKeyId", *request.kms_key_id, 0, 2048));
  KW_RETURN_IF_ERROR(ValidateToken(request.client_request_token));
  if (request.value) KW_RETURN_IF_ERROR(ValidateValue(*request.value));
  KW_RETURN_IF_ERROR(ValidateTags(request.tags));
  std::vector<Tag> tags;
  MergeTags(tags, request.tags);
  if (tags.size() > kMaxTags) {
    return LimitExceeded(
        "The request failed because it would exceed the maximum number of tags (50).");
  }

  std::lock_guard lock(NameLock(name));
  // An existing secret: an idempotent retry if the token and value match.
  auto existing = Find(name, true);
  if (existing) {
    const RecordPtr& rec = *existing;
    if (rec->deleted) {
      return InvalidRequest(
          "You can't create this secret because a secret with this name is already scheduled for "
          "deletion.");
    }
    // A retry of the request that created it (same token, same value) succeeds again.
    if (request.client_request_token && request.value &&
        rec->FindVersion(*request.client_request_token) != nullptr) {
      const std::string& vid = *request.client_request_token;
      KW_ASSIGN_OR_RETURN(auto row, store_.Get(kVersionsTable, rec->id + "/" + vid));
      if (row) {
        auto opened = envelope_.Open(row->value, Aad(*rec, vid));
        if (opened && !opened->empty() && (opened->Reveal()[0] == 'b') == request.value->binary &&
            crypto::ConstantTimeEqual(opened->Reveal().substr(1), request.value->bytes.Reveal())) {
          return VersionRef{rec->arn, rec->name, vid, rec->StagesOf(vid)};
        }
      }
    }
    return AlreadyExists("The operation failed because the secret " + name + " already exists.",
                         "ResourceExistsException");
  }
  if (existing.error().code != ErrorCode::kNotFound) return existing.error();

  auto rec = std::make_shared<Record>();
  rec->id = crypto::HexEncode(random_.Bytes(12));
  rec->name = name;
  rec->arn = SecretArnPrefix(account_) + name + "-" +
             random_.String(6, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789");
  rec->description = request.description;
  rec->kms_key_id = request.kms_key_id;
  rec->created = clock_.Now();
  rec->last_changed = rec->created;
  rec->tags = std::move(tags);

  VersionRef ref{rec->arn, rec->name, "", {}};
  Status s = store_.Transact([&](store::Txn& txn) -> Status {
    Record fresh = *rec;  // the callback may run again
    KW_RETURN_IF_ERROR(txn.Insert(kNamesTable, name, fresh.id));
    if (request.value) {
      KW_ASSIGN_OR_RETURN(
          ref, AddVersion(txn, fresh, request.client_request_token, *request.value, std::nullopt));
    }
    KW_RETURN_IF_ERROR(txn.Insert(kSecretsTable, fresh.id, fresh.Encode()));
    return OkStatus();
  });
  Invalidate(name);
  if (!s) {
    if (s.error().code == ErrorCode::kAlreadyExists && s.error().reason.empty()) {
      return AlreadyExists("The operation failed because the secret " + name + " already exists.",
                           "ResourceExistsException");
    }
    return s.error();
  }
  return ref;
}

SecretService::Resolved SecretService::Resolve(std::string_view secret_id) {
  Resolved r;
  auto rec = Find(secret_id, true);
  if (rec) {
    r.record_ = *rec;
    r.arn_ = (*rec)->arn;
    r.policy_ = (*rec)->parsed_policy;
  } else {
    r.error_ = std::move(rec).error();
    r.arn_ = StartsWith(secret_id, "arn:") ? std::string(secret_id)
                                           : SecretArnPrefix(account_) + std::string(secret_id);
  }
  return r;
}

Result<SecretValue> SecretService::GetSecretValue(std::string_view secret_id,
                                                  std::optional<std::string_view> version_id,
                                                  std::optional<std::string_view> version_stage) {
  KW_ASSIGN_OR_RETURN(RecordPtr rec, Find(secret_id, false));
  return ReadValue(rec, version_id, version_stage);
}

Result<SecretValue> SecretService::GetSecretValue(const Resolved& secret,
                                                  std::optional<std::string_view> version_id,
                                                  std::optional<std::string_view> version_stage) {
  if (!secret.record_) return secret.error_;
  // Resolve allows a deleted secret (authorization must still name it); reading
  // refuses it as Find(id, false) does.
  if (secret.record_->deleted) return InvalidRequest(std::string(kMarkedForDeletion));
  return ReadValue(secret.record_, version_id, version_stage);
}

Result<std::shared_ptr<const std::string>> SecretService::SealedValue(const std::string& row_key,
                                                                      bool from_cache) {
  if (from_cache) {
    std::lock_guard lock(cache_mu_);
    auto it = ciphertexts_.find(row_key);
    if (it != ciphertexts_.end()) return it->second;
  }
  KW_ASSIGN_OR_RETURN(auto row, store_.Get(kVersionsTable, row_key));
  if (!row) return std::shared_ptr<const std::string>();
  auto sealed = std::make_shared<const std::string>(std::move(row->value));
  std::lock_guard lock(cache_mu_);
  // Bound memory (about 32 MiB of ciphertext); refills on demand.
  constexpr std::size_t kMaxCiphertextBytes = std::size_t{32} << 20;
  if (ciphertext_bytes_ + sealed->size() > kMaxCiphertextBytes) {
    ciphertexts_.clear();
    ciphertext_bytes_ = 0;
  }
  auto [it, inserted] = ciphertexts_.insert_or_assign(row_key, sealed);
  (void)it;
  if (inserted) ciphertext_bytes_ += sealed->size() + row_key.size();
  return sealed;
}

Result<SecretValue> SecretService::ReadValue(const RecordPtr& rec,
                                             std::optional<std::string_view> version_id,
                                             std::optional<std::string_view> version_stage) {
  std::string vid;
  if (version_id) {
    if (rec->FindVersion(*version_id) == nullptr) {
      return NotFound("Secrets Manager can't find the specified secret value for VersionId: " +
                          std::string(*version_id),
                      "ResourceNotFoundException");
    }
    vid = *version_id;
    if (version_stage) {
      auto it = rec->stages.find(std::string(*version_stage));
      if (it == rec->stages.end() || it->second != vid) {
        return InvalidParameter(
            "You provided a VersionStage that is not associated to the provided "
            "VersionId.");
      }
    }
  } else {
    const std::string stage(version_stage.value_or(kCurrent));
    auto it = rec->stages.find(stage);
    if (it == rec->stages.end()) {
      return NotFound(
          "Secrets Manager can't find the specified secret value for staging label: " + stage,
          "ResourceNotFoundException");
    }
    vid = it->second;
  }
  const std::string row_key = rec->id + "/" + vid;
  const std::string aad = Aad(*rec, vid);
  KW_ASSIGN_OR_RETURN(auto sealed, SealedValue(row_key, /*from_cache=*/true));
  auto opened = sealed ? envelope_.Open(*sealed, aad) : Result<SecretBytes>(SecretBytes());
  if (!opened || opened->empty()) {
    // The cached copy may predate a master-key rotation whose old key is gone: read
    // the row again before calling the value undecryptable.
    KW_ASSIGN_OR_RETURN(sealed, SealedValue(row_key, /*from_cache=*/false));
    if (sealed) opened = envelope_.Open(*sealed, aad);
  }
  if (!sealed) {
    return NotFound("Secrets Manager can't find the specified secret value for VersionId: " + vid,
                    "ResourceNotFoundException");
  }
  if (!opened || opened->empty()) {
    return PermissionDenied(
        "Secrets Manager can't decrypt the protected secret text using the provided KMS key.",
        "DecryptionFailure");
  }
  SecretValue out;
  out.arn = rec->arn;
  out.name = rec->name;
  out.version_id = vid;
  out.binary = opened->Reveal()[0] == 'b';
  out.bytes = SecretBytes(std::string(opened->Reveal().substr(1)));
  out.stages = rec->StagesOf(vid);
  out.created = rec->FindVersion(vid)->created;

  // LastAccessedDate has day resolution: write it only when the day changes.
  const TimePoint today = DayOf(clock_.Now());
  const Record::Version* v = rec->FindVersion(vid);
  if (rec->last_accessed != today || v->accessed != today) {
    std::lock_guard lock(NameLock(rec->name));
    // Concurrent readers at the turn of the day: only the first one writes.
    auto fresh = Find(rec->arn, false);
    const Record::Version* fv = fresh ? (*fresh)->FindVersion(vid) : nullptr;
    if (fv == nullptr || ((*fresh)->last_accessed == today && fv->accessed == today)) return out;
    auto updated = Mutate(rec->arn, false, [&](Record& r, store::Txn&) -> Status {
      r.last_accessed = today;
      for (auto& ver : r.versions) {
        if (ver.id == vid) ver.accessed = today;
      }
      return OkStatus();
    });
    (void)updated;  // best effort: a failed date update must not fail the read
  }
  return out;
}

Result<VersionRef> SecretService::PutSecretValue(const PutSecretValueRequest& request) {
  if (!request.value) {
    return InvalidRequest("You must provide either SecretString or SecretBinary.");
  }
  KW_RETURN_IF_ERROR(ValidateToken(request.client_request_token));
  KW_RETURN_IF_ERROR(ValidateValue(*request.value));
  VersionRef ref;
  KW_RETURN_IF_ERROR(Mutate(request.secret_id, false, [&](Record& r, store::Txn& txn) {
    auto added = AddVersion(txn, r, request.client_request_token, *request.value, request.stages);
    if (!added) return Status(added.error());
    ref = *added;
    return OkStatus();
  }));
  return ref;
}

Result<VersionRef> SecretService::UpdateSecret(const UpdateSecretRequest& request) {
  if (request.description) {
    KW_RETURN_IF_ERROR(CheckLength("description", *request.description, 0, kMaxDescriptionLength));
  }
  if (request.kms_key_id) KW_RETURN_IF_ERROR(CheckLength("kmsKeyId", *request.kms_key_id, 0, 2048));
  KW_RETURN_IF_ERROR(ValidateToken(request.client_request_token));
  if (request.value) KW_RETURN_IF_ERROR(ValidateValue(*request.value));
  VersionRef ref;
  KW_RETURN_IF_ERROR(Mutate(request.secret_id, false, [&](Record& r, store::Txn& txn) {
    ref = VersionRef{r.arn, r.name, "", {}};
    if (request.description) r.description = *request.description;
    if (request.kms_key_id) r.kms_key_id = *request.kms_key_id;
    r.last_changed = clock_.Now();
    if (request.value) {
      auto added = AddVersion(txn, r, request.client_request_token, *request.value, std::nullopt);
      if (!added) return Status(added.error());
      ref = *added;
    }
    return OkStatus();
  }));
  return ref;
}

Result<SecretDescription> SecretService::DescribeSecret(std::string_view secret_id) {
  KW_ASSIGN_OR_RETURN(RecordPtr rec, Find(secret_id, true));
  return Describe(*rec);
}

SecretDescription SecretService::Describe(const Record& r) const {
  SecretDescription d;
  d.arn = r.arn;
  d.name = r.name;
  d.description = r.description;
  d.kms_key_id = r.kms_key_id;
  d.rotation_enabled = r.rotation_enabled;
  d.rotation_lambda_arn = r.rotation_lambda_arn;
  d.rotation_rules = r.rules;
  d.last_rotated = r.last_rotated;
  d.last_changed = r.last_changed;
  d.last_accessed = r.last_accessed;
  d.deleted_date = r.deleted;
  d.created = r.created;
  d.tags = r.tags;
  d.primary_region = account_.region;
  for (const auto& [label, vid] : r.stages) d.version_stages[vid];
  for (const auto& [vid, labels] : d.version_stages) {
    d.version_stages[vid] = r.StagesOf(vid);
  }
  if (r.rotation_enabled && r.rules) {
    const TimePoint base = r.last_rotated.value_or(r.created);
    std::optional<TimePoint::duration> period;
    if (r.rules->automatically_after_days) {
      period = std::chrono::hours(24 * *r.rules->automatically_after_days);
    } else if (r.rules->schedule_expression) {
      period = RatePeriod(*r.rules->schedule_expression);
    }
    if (period) d.next_rotation = base + *period;
  }
  return d;
}

Result<SecretPage> SecretService::ListSecrets(const ListSecretsRequest& request) {
  const int max = request.max_results.value_or(100);
  if (max < 1 || max > 100) {
    return ConstraintError("maxResults", "Member must have value between 1 and 100");
  }
  std::size_t offset = 0;
  if (request.next_token) {
    auto decoded = crypto::Base64Decode(*request.next_token);
    if (!decoded || !StartsWith(*decoded, "o:") || decoded->size() > 12 || decoded->size() < 3 ||
        !std::all_of(decoded->begin() + 2, decoded->end(),
                     [](char c) { return c >= '0' && c <= '9'; })) {
      return InvalidArgument("The NextToken value is invalid.", "InvalidNextTokenException");
    }
    offset = std::stoul(decoded->substr(2));
  }
  std::string sort_by = request.sort_by.value_or("created-date");
  std::string order = request.sort_order.value_or("asc");
  if (order != "asc" && order != "desc") {
    return ConstraintError("sortOrder", "Member must satisfy enum value set: [asc, desc]");
  }
  if (sort_by != "created-date" && sort_by != "name" && sort_by != "last-changed-date" &&
      sort_by != "last-accessed-date") {
    return ConstraintError("sortBy",
                           "Member must satisfy enum value set: [created-date, last-accessed-date, "
                           "last-changed-date, name]");
  }
  for (const Filter& f : request.filters) {
    static const std::set<std::string> kKeys = {
        "description", "name", "tag-key", "tag-value", "primary-region", "owning-service", "all"};
    if (kKeys.count(f.key) == 0) {
      return ConstraintError(
          "filters.member.key",
          "Member must satisfy enum value set: [all, name, tag-key, description, "
          "tag-value, owning-service, primary-region]");
    }
    for (const std::string& v : f.values)
      KW_RETURN_IF_ERROR(CheckLength("filters.member.values", v, 0, 512));
  }

  KW_ASSIGN_OR_RETURN(auto items, store_.List(kSecretsTable, {}));
  const TimePoint now = clock_.Now();
  std::vector<std::shared_ptr<Record>> matched;
  std::vector<std::shared_ptr<Record>> due;
  for (const auto& item : items) {
    KW_ASSIGN_OR_RETURN(auto rec, Record::Decode(item, false));
    if (rec->deleted && rec->deletion_due && *rec->deletion_due <= now) {
      due.push_back(rec);
      continue;
    }
    if (rec->deleted && !request.include_planned_deletion) continue;
    if (Matches(*rec, request.filters)) matched.push_back(std::move(rec));
  }
  for (const auto& rec : due) (void)Purge(*rec, now);  // best effort; retried on next access
  auto key_less = [&](const std::shared_ptr<Record>& a, const std::shared_ptr<Record>& b) {
    if (sort_by == "name") return a->name < b->name;
    auto opt = [](const std::optional<TimePoint>& t) { return t.value_or(TimePoint::min()); };
    if (sort_by == "last-changed-date") return opt(a->last_changed) < opt(b->last_changed);
    if (sort_by == "last-accessed-date") return opt(a->last_accessed) < opt(b->last_accessed);
    return a->created < b->created;
  };
  std::stable_sort(matched.begin(), matched.end(), [&](const auto& a, const auto& b) {
    if (key_less(a, b)) return order == "asc";
    if (key_less(b, a)) return order != "asc";
    return a->arn < b->arn;  // a stable order for pagination
  });
  SecretPage page;
  for (std::size_t i = offset;
       i < matched.size() && page.secrets.size() < static_cast<std::size_t>(max); ++i) {
    page.secrets.push_back(Describe(*matched[i]));
  }
  if (offset + page.secrets.size() < matched.size()) {
    page.next_token = crypto::Base64Encode("o:" + std::to_string(offset + page.secrets.size()));
  }
  return page;
}

bool SecretService::Matches(const Record& r, const std::vector<Filter>& filters) const {
  // Filters are ANDed; the values of one filter ORed; "!value" negates.
  for (const Filter& f : filters) {
    std::vector<std::string_view> attrs;
    bool case_insensitive = false;
    if (f.key == "name") {
      attrs.push_back(r.name);
    } else if (f.key == "description") {
      if (r.description) attrs.push_back(*r.description);
      case_insensitive = true;
    } else if (f.key == "tag-key") {
      for (const Tag& t : r.tags) attrs.push_back(t.key);
    } else if (f.key == "tag-value") {
      for (const Tag& t : r.tags) attrs.push_back(t.value);
    } else if (f.key == "primary-region") {
      attrs.push_back(account_.region);
    } else if (f.key == "owning-service") {
      // keyward secrets have no owning service.
    } else if (f.key == "all") {
      attrs.push_back(r.name);
      if (r.description) attrs.push_back(*r.description);
      for (const Tag& t : r.tags) {
        attrs.push_back(t.key);
        attrs.push_back(t.value);
      }
      case_insensitive = true;
    }
    bool any = false;
    for (const std::string& raw : f.values) {
      const bool negate = !raw.empty() && raw[0] == '!';
      const std::string_view value =
          negate ? std::string_view(raw).substr(1) : std::string_view(raw);
      bool hit = false;
      if (f.key == "all") {
        // Every word must prefix-match some word of some attribute.
        hit = true;
        std::size_t start = 0;
        while (start <= value.size()) {
          std::size_t end = value.find(' ', start);
          if (end == std::string_view::npos) end = value.size();
          const std::string_view word = value.substr(start, end - start);
          start = end + 1;
          if (word.empty()) continue;
          bool word_hit = false;
          for (std::string_view a : attrs) {
            for (std::size_t i = 0; i < a.size() && !word_hit; ++i) {
              const bool boundary = i == 0 || !std::isalnum(static_cast<unsigned char>(a[i - 1]));
              if (boundary && StartsWithIgnoreCase(a.substr(i), word)) word_hit = true;
            }
          }
          if (!word_hit) hit = false;
        }
      } else {
        for (std::string_view a : attrs) {
          if (case_insensitive ? StartsWithIgnoreCase(a, value) : StartsWith(a, value)) hit = true;
        }
      }
      if (hit != negate) any = true;
    }
    if (!any) return false;
  }
  return true;
}

Result<VersionPage> SecretService::ListSecretVersionIds(std::string_view secret_id,
                                                        bool include_deprecated,
                                                        std::optional<int> max_results,
                                                        std::optional<std::string> next_token) {
  const int max = max_results.value_or(100);
  if (max < 1 || max > 100) {
    return ConstraintError("maxResults", "Member must have value between 1 and 100");
  }
  std::size_t offset = 0;
  if (next_token) {
    auto decoded = crypto::Base64Decode(*next_token);
    if (!decoded || !StartsWith(*decoded, "v:") || decoded->size() > 12 || decoded->size() < 3 ||
        !std::all_of(decoded->begin() + 2, decoded->end(),
                     [](char c) { return c >= '0' && c <= '9'; })) {
      return InvalidArgument("The NextToken value is invalid.", "InvalidNextTokenException");
    }
    offset = std::stoul(decoded->substr(2));
  }
  KW_ASSIGN_OR_RETURN(RecordPtr rec, Find(secret_id, true));
  std::vector<VersionInfo> all;
  for (auto it = rec->versions.rbegin(); it != rec->versions.rend(); ++it) {
    VersionInfo v{it->id, rec->StagesOf(it->id), it->created, it->accessed};
    if (v.stages.empty() && !include_deprecated) continue;
    all.push_back(std::move(v));
  }
  VersionPage page{rec->arn, rec->name, {}, ""};
  for (std::size_t i = offset;
       i < all.size() && page.versions.size() < static_cast<std::size_t>(max); ++i) {
    page.versions.push_back(all[i]);
  }
  if (offset + page.versions.size() < all.size()) {
    page.next_token = crypto::Base64Encode("v:" + std::to_string(offset + page.versions.size()));
  }
  return page;
}

Result<VersionRef> SecretService::UpdateSecretVersionStage(const UpdateStageRequest& request) {
  KW_RETURN_IF_ERROR(CheckLength("versionStage", request.stage, 1, 256));
  const std::string& stage = request.stage;
  KW_ASSIGN_OR_RETURN(
      auto rec, Mutate(request.secret_id, false, [&](Record& r, store::Txn& txn) -> Status {
        auto holder_it = r.stages.find(stage);
        const std::optional<std::string> holder =
            holder_it == r.stages.end() ? std::nullopt
                                        : std::optional<std::string>(holder_it->second);
        if (request.remove_from_version_id && holder != request.remove_from_version_id) {
          return InvalidParameter(
              "The staging label " + stage +
              " is not attached to the version you specified in RemoveFromVersionId (" +
              *request.remove_from_version_id + ").");
        }
        if (request.move_to_version_id) {
          const std::string& to = *request.move_to_version_id;
          if (r.FindVersion(to) == nullptr) {
            return NotFound("Secrets Manager can't find the specified secret version: " + to,
                            "ResourceNotFoundException");
          }
          if (holder && *holder != to && !request.remove_from_version_id) {
            return InvalidParameter("The staging label " + stage +
                                    " is currently attached to version " + *holder +
                                    ", so you must explicitly reference that version in "
                                    "RemoveFromVersionId.");
          }
          if (holder != to && r.StagesOf(to).size() >= kMaxStagesPerVersion) {
            return LimitExceeded("You can't attach more than 20 staging labels to a version.");
          }
          if (stage == kCurrent && holder && *holder != to) r.stages[kPrevious] = *holder;
          r.stages[stage] = to;
        } else if (request.remove_from_version_id) {
          if (stage == kCurrent) {
            return InvalidParameter(
                "You can only move staging label AWSCURRENT to a different secret version. It "
                "can’t "
                "be completely removed.");
          }
          r.stages.erase(stage);
        }
        r.last_changed = clock_.Now();
        return PruneDeprecated(txn, r);
      }));
  return VersionRef{rec->arn, rec->name, "", {}};
}

Result<DeletedSecret> SecretService::DeleteSecret(const DeleteSecretRequest& request) {
  if (request.force_delete_without_recovery && request.recovery_window_days) {
    return InvalidParameter(
        "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.");
  }
  const std::int64_t days = request.recovery_window_days.value_or(30);
  if (days < 7 || days > 30) {
    return InvalidParameter(
        "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).");
  }
  const TimePoint now = clock_.Now();
  if (request.force_delete_without_recovery) {
    KW_ASSIGN_OR_RETURN(RecordPtr rec, Find(request.secret_id, true));
    KW_RETURN_IF_ERROR(Purge(*rec, std::nullopt));
    return DeletedSecret{rec->arn, rec->name, now};
  }
  KW_ASSIGN_OR_RETURN(auto rec, Mutate(request.secret_id, false, [&](Record& r, store::Txn&) {
                        r.deleted = now;
                        r.deletion_due = now + std::chrono::hours(24 * days);
                        return OkStatus();
                      }));
  return DeletedSecret{rec->arn, rec->name, *rec->deletion_due};
}

Result<VersionRef> SecretService::RestoreSecret(std::string_view secret_id) {
  KW_ASSIGN_OR_RETURN(auto rec, Mutate(secret_id, true, [&](Record& r, store::Txn&) {
                        r.deleted.reset();
                        r.deletion_due.reset();
                        return OkStatus();
                      }));
  return VersionRef{rec->arn, rec->name, "", {}};
}

Status SecretService::TagResource(std::string_view secret_id, const std::vector<Tag>& tags) {
  KW_RETURN_IF_ERROR(ValidateTags(tags));
  KW_RETURN_IF_ERROR(Mutate(secret_id, false, [&](Record& r, store::Txn&) -> Status {
    MergeTags(r.tags, tags);
    if (r.tags.size() > kMaxTags) {
      return LimitExceeded(
          "The request failed because it would exceed the maximum number of "
          "tags (50).");
    }
    r.last_changed = clock_.Now();
    return OkStatus();
  }));
  return OkStatus();
}

Status SecretService::UntagResource(std::string_view secret_id,
                                    const std::vector<std::string>& keys) {
  for (const std::string& k : keys) KW_RETURN_IF_ERROR(CheckLength("tagKeys.member", k, 1, 128));
  KW_RETURN_IF_ERROR(Mutate(secret_id, false, [&](Record& r, store::Txn&) {
    std::erase_if(r.tags, [&](const Tag& t) {
      return std::find(keys.begin(), keys.end(), t.key) != keys.end();
    });
    r.last_changed = clock_.Now();
    return OkStatus();
  }));
  return OkStatus();
}

Result<SecretBytes> SecretService::GetRandomPassword(const PasswordRequest& request) {
  if (request.length < 1 || request.length > 4096) {
    return ConstraintError("passwordLength", "Member must have value between 1 and 4096");
  }
  if (request.exclude_characters.size() > 4096) {
    return ConstraintError("excludeCharacters",
                           "Member must have length less than or equal to 4096");
  }
  std::vector<std::string> classes;
  auto add = [&](bool include, std::string_view chars) {
    if (!include) return;
    std::string c;
    for (char ch : chars) {
      if (request.exclude_characters.find(ch) == std::string::npos) c.push_back(ch);
    }
    if (!c.empty()) classes.push_back(std::move(c));
  };
  add(!request.exclude_lowercase, "abcdefghijklmnopqrstuvwxyz");
  add(!request.exclude_uppercase, "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
  add(!request.exclude_numbers, "0123456789");
  add(!request.exclude_punctuation, "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~");
  add(request.include_space, " ");
  if (classes.empty()) {
    return InvalidParameter("The password cannot be generated: every character is excluded.");
  }
  const std::size_t length = static_cast<std::size_t>(request.length);
  if (request.require_each_included_type && length < classes.size()) {
    return InvalidParameter(
        "The password length is too short to include a character of every required type.");
  }
  std::string all;
  for (const auto& c : classes) all += c;
  std::string pw;
  pw.reserve(length);
  if (request.require_each_included_type) {
    for (const auto& c : classes) pw.push_back(c[random_.Uniform(c.size())]);
  }
  while (pw.size() < length) pw.push_back(all[random_.Uniform(all.size())]);
  for (std::size_t i = pw.size(); i > 1; --i) {  // Fisher-Yates: the forced ones anywhere
    std::swap(pw[i - 1], pw[random_.Uniform(i)]);
  }
  return SecretBytes(std::move(pw));
}

Result<VersionRef> SecretService::RotateSecret(const RotateSecretRequest& request) {
  KW_RETURN_IF_ERROR(ValidateToken(request.client_request_token));
  if (request.rules) KW_RETURN_IF_ERROR(ValidateRules(*request.rules));
  if (request.rotation_lambda_arn) {
    KW_RETURN_IF_ERROR(CheckLength("rotationLambdaARN", *request.rotation_lambda_arn, 0, 2048));
  }
  KW_ASSIGN_OR_RETURN(auto rec, Mutate(request.secret_id, false, [&](Record& r, store::Txn&) {
                        if (request.rotation_lambda_arn)
                          r.rotation_lambda_arn = request.rotation_lambda_arn;
                        if (request.rules) r.rules = request.rules;
                        r.rotation_enabled = true;
                        r.last_changed = clock_.Now();
                        return OkStatus();
                      }));
  return VersionRef{rec->arn, rec->name, "", {}};
}

Result<VersionRef> SecretService::CancelRotateSecret(std::string_view secret_id) {
  KW_ASSIGN_OR_RETURN(auto rec, Mutate(secret_id, false, [&](Record& r, store::Txn&) {
                        r.rotation_enabled = false;
                        r.last_changed = clock_.Now();
                        return OkStatus();
                      }));
  return VersionRef{rec->arn, rec->name, "", {}};
}

Result<SecretPolicy> SecretService::PutResourcePolicy(std::string_view secret_id,
                                                      std::string_view policy_text,
                                                      bool block_public_policy) {
  KW_RETURN_IF_ERROR(CheckLength("resourcePolicy", policy_text, 1, kMaxPolicyLength));
  KW_ASSIGN_OR_RETURN(json doc, ParsePolicyJson(policy_text));
  auto parsed = policy::Parse(policy_text, policy::PolicyKind::kResource);
  if (!parsed) {
    return InvalidArgument(parsed.error().message, "MalformedPolicyDocumentException");
  }
  if (block_public_policy && IsPublicPolicy(doc)) {
    return InvalidArgument(
        "BlockPublicPolicy: the resource policy grants public access to the secret.",
        "PublicPolicyException");
  }
  const std::string text(policy_text);
  KW_ASSIGN_OR_RETURN(auto rec, Mutate(secret_id, false, [&](Record& r, store::Txn&) {
                        r.policy = text;
                        r.last_changed = clock_.Now();
                        return OkStatus();
                      }));
  return SecretPolicy{rec->arn, rec->name, rec->policy};
}

Result<SecretPolicy> SecretService::GetResourcePolicy(std::string_view secret_id) {
  KW_ASSIGN_OR_RETURN(RecordPtr rec, Find(secret_id, false));
  return SecretPolicy{rec->arn, rec->name, rec->policy};
}

Result<SecretPolicy> SecretService::DeleteResourcePolicy(std::string_view secret_id) {
  KW_ASSIGN_OR_RETURN(auto rec, Mutate(secret_id, false, [&](Record& r, store::Txn&) {
                        r.policy.reset();
                        r.last_changed = clock_.Now();
                        return OkStatus();
                      }));
  return SecretPolicy{rec->arn, rec->name, std::nullopt};
}

Result<PolicyValidation> SecretService::ValidateResourcePolicy(
    std::optional<std::string_view> secret_id, std::string_view policy_text) {
  KW_RETURN_IF_ERROR(CheckLength("resourcePolicy", policy_text, 1, kMaxPolicyLength));
  if (secret_id) KW_RETURN_IF_ERROR(Find(*secret_id, false));
  KW_RETURN_IF_ERROR(ParsePolicyJson(policy_text));
  PolicyValidation v;
  auto parsed = policy::Parse(policy_text, policy::PolicyKind::kResource);
  if (!parsed) {
    v.passed = false;
    v.errors.push_back(parsed.error().message);
  }
  return v;
}

std::string SecretService::ResourceArn(std::string_view secret_id) {
  auto rec = Find(secret_id, true);
  if (rec) return (*rec)->arn;
  if (StartsWith(secret_id, "arn:")) return std::string(secret_id);
  return SecretArnPrefix(account_) + std::string(secret_id);
}

std::shared_ptr<const policy::Policy> SecretService::ResourcePolicy(std::string_view secret_id) {
  auto rec = Find(secret_id, true);
  if (!rec) return nullptr;
  return (*rec)->parsed_policy;
}

Result<std::size_t> SecretService::PurgeDue(TimePoint now) {
  bool scan;
  {
    std::lock_guard lock(schedule_mu_);
    scan = !schedule_scanned_ || now < *schedule_scanned_ ||
           now - *schedule_scanned_ >= std::chrono::hours(1);
  }
  if (scan) {
    // Outside schedule_mu_ (the scan is long). A change meanwhile is in the schedule
    // already (Mutate) and the merge below keeps it; a stale entry is harmless.
    KW_ASSIGN_OR_RETURN(auto items, store_.List(kSecretsTable, {}));
    std::vector<std::pair<std::string, TimePoint>> found;
    for (const auto& item : items) {
      // Only records of scheduled secrets carry "due"; skip parsing the rest.
      if (item.value.find("\"due\":") == std::string::npos) continue;
      KW_ASSIGN_OR_RETURN(auto rec, Record::Decode(item, false));
      if (rec->deleted && rec->deletion_due) found.emplace_back(rec->id, *rec->deletion_due);
    }
    std::lock_guard lock(schedule_mu_);
    for (auto& [id, due] : found) deletion_schedule_.emplace(std::move(id), due);
    schedule_scanned_ = now;
  }
  std::vector<std::string> due_ids;
  {
    std::lock_guard lock(schedule_mu_);
    for (const auto& [id, due] : deletion_schedule_) {
      if (due <= now) due_ids.push_back(id);
    }
  }
  std::size_t purged = 0;
  for (const std::string& id : due_ids) {
    auto rec = LoadById(id);
    if (!rec) {
      if (rec.error().code != ErrorCode::kNotFound) return rec.error();
      std::lock_guard lock(schedule_mu_);
      deletion_schedule_.erase(id);  // gone already
      continue;
    }
    std::lock_guard name_lock(NameLock((*rec)->name));
    rec = LoadById(id);  // as of now, under the lock (ids are never reused)
    if (!rec) {
      if (rec.error().code != ErrorCode::kNotFound) return rec.error();
      continue;  // purged meanwhile, which dropped it from the schedule
    }
    Schedule(**rec);  // the stored state decides
    if (!(*rec)->deleted || !(*rec)->deletion_due || *(*rec)->deletion_due > now) continue;
    Status s = Purge(**rec, now);
    if (s) {
      ++purged;
    } else if (s.error().code != ErrorCode::kAborted) {
      return s.error();
    }
  }
  return purged;
}

}  // namespace kw::secrets
