#include "fleet/fleet_service.hpp"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <utility>

#include "common/uuid.hpp"
#include "crypto/digest.hpp"
#include "crypto/signature.hpp"
#include "fleet/cidr.hpp"
#include "fleet/fingerprint.hpp"

namespace kw::fleet {
namespace {

using nlohmann::json;

constexpr std::string_view kActivations = "fleet_activations";
constexpr std::string_view kInstances = "fleet_instances";
constexpr std::string_view kCodeAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
constexpr std::size_t kMaxChallenges = 100000;
constexpr std::size_t kMaxThrottleEntries = 100000;
constexpr std::size_t kMaxRegisteredCache = 100000;
// A throttle entry without failures for this long starts over.
constexpr auto kThrottleMemory = std::chrono::minutes(15);

std::int64_t ToSecs(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
TimePoint FromSecs(std::int64_t s) { return TimePoint(std::chrono::seconds(s)); }

Error Validation(std::string message) {
  return InvalidArgument(std::move(message), "ValidationError");
}
Error InvalidParameters(std::string message) {
  return InvalidArgument(std::move(message), "InvalidParameters");
}
Error NoInstance(std::string_view id) {
  return NotFound("Instance " + std::string(id) + " is not a registered managed instance.",
                  "InvalidInstanceId");
}
Error NoActivation() { return NotFound("The activation ID is not valid.", "InvalidActivationId"); }
Error BadNextToken() { return InvalidArgument("The NextToken is not valid.", "InvalidNextToken"); }
Error Corrupt(std::string_view what) {
  return Internal("stored " + std::string(what) + " is unreadable");
}

bool IsUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

json TagsJson(const Tags& tags) {
  json j = json::object();
  for (const auto& [k, v] : tags) j[k] = v;
  return j;
}
Tags TagsFrom(const json& j) {
  Tags t;
  for (const auto& [k, v] : j.items()) t[k] = v.get<std::string>();
  return t;
}

Status ValidateTags(const Tags& tags) {
  for (const auto& [k, v] : tags) {
    if (k.empty() || k.size() > 128) {
      return Validation("Tag keys must have length between 1 and 128.");
    }
    if (v.size() > 256) return Validation("Tag values must have length less than or equal to 256.");
  }
  if (tags.size() > kMaxTagsPerResource) {
    return FailedPrecondition(
        "A resource can have at most " + std::to_string(kMaxTagsPerResource) + " tags.",
        "TooManyTagsError");
  }
  return OkStatus();
}

// ---- activation records ----

struct ActivationRecord {
  Activation a;
  std::string code_sha256;  // raw 32 bytes
};

std::string EncodeActivation(const ActivationRecord& r) {
  json j{{"id", r.a.activation_id},
         {"code_sha256", crypto::HexEncode(r.code_sha256)},
         {"description", r.a.description},
         {"default_instance_name", r.a.default_instance_name},
         {"iam_role", r.a.iam_role},
         {"limit", r.a.registration_limit},
         {"count", r.a.registrations_count},
         {"expires", ToSecs(r.a.expiration_date)},
         {"created", ToSecs(r.a.created_date)},
         {"tags", TagsJson(r.a.tags)},
         {"cidrs", r.a.source_cidrs}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<ActivationRecord> DecodeActivation(std::string_view text) {
  try {
    const json j = json::parse(text);
    ActivationRecord r;
    r.a.activation_id = j.at("id").get<std::string>();
    auto hash = crypto::HexDecode(j.at("code_sha256").get<std::string>());
    if (!hash || hash->size() != 32) return Corrupt("activation");
    r.code_sha256 = std::move(*hash);
    r.a.description = j.at("description").get<std::string>();
    r.a.default_instance_name = j.at("default_instance_name").get<std::string>();
    r.a.iam_role = j.at("iam_role").get<std::string>();
    r.a.registration_limit = j.at("limit").get<int>();
    r.a.registrations_count = j.at("count").get<int>();
    r.a.expiration_date = FromSecs(j.at("expires").get<std::int64_t>());
    r.a.created_date = FromSecs(j.at("created").get<std::int64_t>());
    r.a.tags = TagsFrom(j.at("tags"));
    r.a.source_cidrs = j.at("cidrs").get<std::vector<std::string>>();
    return r;
  } catch (const json::exception&) {
    return Corrupt("activation");
  }
}

// ---- instance records ----

struct InstanceRecord {
  InstanceInfo info;
  std::string public_key;  // raw 32 bytes
  agentproto::Fingerprint fingerprint;
};

std::string EncodeInstance(const InstanceRecord& r) {
  const InstanceInfo& i = r.info;
  json history = json::array();
  for (const auto& h : i.fingerprint_history) {
    history.push_back({{"at", ToSecs(h.at)}, {"reason", h.reason}, {"changed", h.changed}});
  }
  json fp = json::object();
  for (const auto& [k, v] : r.fingerprint) fp[k] = v;
  json j{{"id", i.instance_id},
         {"name", i.name},
         {"public_key", crypto::Base64Encode(r.public_key)},
         {"fingerprint", fp},
         {"history", history},
         {"agent_version", i.agent_version},
         {"platform_type", i.platform_type},
         {"platform_name", i.platform_name},
         {"platform_version", i.platform_version},
         {"computer_name", i.computer_name},
         {"ip_address", i.ip_address},
         {"iam_role", i.iam_role},
         {"activation_id", i.activation_id},
         {"registered", ToSecs(i.registration_date)},
         {"tags", TagsJson(i.tags)},
         {"rebind_approved", i.rebind_approved}};
  if (i.last_ping) j["last_ping"] = ToSecs(*i.last_ping);
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<InstanceRecord> DecodeInstance(std::string_view text) {
  try {
    const json j = json::parse(text);
    InstanceRecord r;
    InstanceInfo& i = r.info;
    i.instance_id = j.at("id").get<std::string>();
    i.name = j.at("name").get<std::string>();
    auto key = crypto::Base64Decode(j.at("public_key").get<std::string>());
    if (!key) return Corrupt("instance");
    r.public_key = std::move(*key);
    for (const auto& [k, v] : j.at("fingerprint").items()) r.fingerprint[k] = v.get<std::string>();
    for (const auto& h : j.at("history")) {
      i.fingerprint_history.push_back({FromSecs(h.at("at").get<std::int64_t>()),
                                       h.at("reason").get<std::string>(),
                                       h.at("changed").get<std::vector<std::string>>()});
    }
    i.agent_version = j.at("agent_version").get<std::string>();
    i.platform_type = j.at("platform_type").get<std::string>();
    i.platform_name = j.at("platform_name").get<std::string>();
    i.platform_version = j.at("platform_version").get<std::string>();
    i.computer_name = j.at("computer_name").get<std::string>();
    i.ip_address = j.at("ip_address").get<std::string>();
    i.iam_role = j.at("iam_role").get<std::string>();
    i.activation_id = j.at("activation_id").get<std::string>();
    i.registration_date = FromSecs(j.at("registered").get<std::int64_t>());
    i.tags = TagsFrom(j.at("tags"));
    i.rebind_approved = j.at("rebind_approved").get<bool>();
    if (j.contains("last_ping")) i.last_ping = FromSecs(j.at("last_ping").get<std::int64_t>());
    return r;
  } catch (const json::exception&) {
    return Corrupt("instance");
  }
}

// Read-modify-write of one instance inside `txn`. kNotFound (InvalidInstanceId) if absent.
Status MutateInstance(store::Txn& txn, std::string_view id,
                      const std::function<Status(InstanceRecord&)>& change) {
  KW_ASSIGN_OR_RETURN(auto item, txn.Get(kInstances, id));
  if (!item) return NoInstance(id);
  KW_ASSIGN_OR_RETURN(InstanceRecord rec, DecodeInstance(item->value));
  KW_RETURN_IF_ERROR(change(rec));
  KW_RETURN_IF_ERROR(txn.Put(kInstances, id, EncodeInstance(rec)));
  return OkStatus();
}

// Compares dotted version numbers numerically ("3.10.1" > "3.9").
int CompareVersions(std::string_view a, std::string_view b) {
  auto next = [](std::string_view& s) -> long long {
    long long n = 0;
    std::size_t i = 0;
    while (i < s.size() && s[i] != '.') {
      if (std::isdigit(static_cast<unsigned char>(s[i])))
        n = std::min(n * 10 + (s[i] - '0'), 1LL << 40);
      ++i;
    }
    s.remove_prefix(i < s.size() ? i + 1 : i);
    return n;
  };
  while (!a.empty() || !b.empty()) {
    const long long x = next(a), y = next(b);
    if (x != y) return x < y ? -1 : 1;
  }
  return 0;
}

bool Contains(const std::vector<std::string>& values, std::string_view v) {
  return std::find(values.begin(), values.end(), v) != values.end();
}

Result<std::string> DecodeToken(const std::optional<std::string>& token, std::string_view kind) {
  if (!token) return std::string();
  auto decoded = crypto::Base64Decode(*token);
  if (!decoded || decoded->rfind(std::string(kind) + ":", 0) != 0) return BadNextToken();
  return decoded->substr(kind.size() + 1);
}

InstanceSummary Summarize(const InstanceInfo& i) {
  InstanceSummary s;
  s.instance_id = i.instance_id;
  s.ping_status = i.ping_status;
  s.platform_type = i.platform_type;
  s.platform_name = i.platform_name;
  s.computer_name = i.computer_name;
  s.ip_address = i.ip_address;
  s.iam_role = i.iam_role;
  s.tags = i.tags;
  return s;
}

}  // namespace

std::string ManagedInstanceArn(const iam::Account& account, std::string_view instance_id) {
  return "arn:" + account.partition + ":ssm:" + account.region + ":" + account.id +
         ":managed-instance/" + std::string(instance_id);
}

bool IsManagedInstanceId(std::string_view id) {
  if (id.size() != 20 || id.substr(0, 3) != "mi-") return false;
  return std::all_of(id.begin() + 3, id.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

FleetService::FleetService(store::KvStore& store, const Clock& clock, Random& random,
                           const iam::Account& account, sts::StsService& sts,
                           iam::PolicyService& policies, FleetOptions options)
    : store_(store),
      clock_(clock),
      random_(random),
      account_(account),
      sts_(sts),
      policies_(policies),
      options_(std::move(options)) {}

Status FleetService::CheckRole(std::string_view role_name) {
  if (role_name.empty() || role_name.size() > 64) {
    return Validation(
        "1 validation error detected: Value at 'iamRole' failed to satisfy "
        "constraint: Member must have length between 1 and 64");
  }
  KW_ASSIGN_OR_RETURN(std::optional<iam::Role> role, policies_.FindRole(role_name));
  if (!role)
    return InvalidParameters("Nonexistent role or missing ssm service principal in trust policy: " +
                             std::string(role_name));
  return OkStatus();
}

// ---- activations ----

Result<CreatedActivation> FleetService::CreateActivation(const CreateActivationRequest& request) {
  KW_RETURN_IF_ERROR(CheckRole(request.iam_role));
  const TimePoint now = clock_.Now();
  const std::int64_t limit = request.registration_limit.value_or(1);
  if (limit < 1 || limit > kMaxRegistrationLimit) {
    return Validation("1 validation error detected: Value '" + std::to_string(limit) +
                      "' at 'registrationLimit' failed to satisfy constraint: Member must have "
                      "value between 1 and 1000");
  }
  const TimePoint expires = request.expiration_date.value_or(now + kDefaultActivationLifetime);
  if (expires <= now || expires > now + kMaxActivationLifetime) {
    return InvalidParameters("ExpirationDate must be in the future and at most 30 days from now.");
  }
  if (request.description && request.description->size() > 256) {
    return Validation("Description must have length less than or equal to 256.");
  }
  if (request.default_instance_name && request.default_instance_name->size() > 256) {
    return Validation("DefaultInstanceName must have length less than or equal to 256.");
  }
  KW_RETURN_IF_ERROR(ValidateTags(request.tags));
  if (request.source_cidrs.size() > kMaxActivationCidrs) {
    return InvalidParameters("An activation can have at most " +
                             std::to_string(kMaxActivationCidrs) + " source CIDR blocks.");
  }
  for (const auto& c : request.source_cidrs) {
    if (!ParseCidrBlock(c)) return InvalidParameters("Not a CIDR block: " + c);
  }

  ActivationRecord rec;
  rec.a.activation_id = NewUuid(random_);
  rec.a.description = request.description.value_or("");
  rec.a.default_instance_name = request.default_instance_name.value_or("");
  rec.a.iam_role = request.iam_role;
  rec.a.registration_limit = static_cast<int>(limit);
  rec.a.expiration_date = expires;
  rec.a.created_date = now;
  rec.a.tags = request.tags;
  rec.a.source_cidrs = request.source_cidrs;
  std::string code = random_.String(kActivationCodeLength, kCodeAlphabet);
  const auto digest = crypto::Sha256(code);
  rec.code_sha256 = std::string(crypto::AsView(digest));
  KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
    KW_RETURN_IF_ERROR(txn.Insert(kActivations, rec.a.activation_id, EncodeActivation(rec)));
    return OkStatus();
  }));
  return CreatedActivation{rec.a.activation_id, std::move(code)};
}

Result<ActivationPage> FleetService::DescribeActivations(
    const DescribeActivationsRequest& request) {
  for (const auto& f : request.filters) {
    if (f.key != "ActivationIds" && f.key != "DefaultInstanceName" && f.key != "IamRole") {
      return InvalidArgument("The filter key " + f.key + " is not valid.", "InvalidFilter");
    }
  }
  const int max = request.max_results.value_or(50);
  if (max < 1 || max > 50) {
    return Validation("1 validation error detected: Value '" + std::to_string(max) +
                      "' at 'maxResults' failed to satisfy constraint: Member must have value "
                      "between 1 and 50");
  }
  KW_ASSIGN_OR_RETURN(std::string after, DecodeToken(request.next_token, "a"));
  KW_ASSIGN_OR_RETURN(auto items, store_.List(kActivations, {}));
  std::vector<Activation> all;
  const TimePoint now = clock_.Now();
  for (const auto& item : items) {
    KW_ASSIGN_OR_RETURN(ActivationRecord rec, DecodeActivation(item.value));
    rec.a.expired = now >= rec.a.expiration_date;
    bool match = true;
    for (const auto& f : request.filters) {
      const std::string& v = f.key == "ActivationIds"         ? rec.a.activation_id
                             : f.key == "DefaultInstanceName" ? rec.a.default_instance_name
                                                              : rec.a.iam_role;
      if (!f.values.empty() && !Contains(f.values, v)) match = false;
    }
    if (match) all.push_back(std::move(rec.a));
  }
  // Newest first, then by ID, so pages are stable.
  std::sort(all.begin(), all.end(), [](const Activation& x, const Activation& y) {
    if (x.created_date != y.created_date) return x.created_date > y.created_date;
    return x.activation_id < y.activation_id;
  });
  std::size_t start = 0;
  if (!after.empty()) {
    char* end = nullptr;
    const unsigned long long n = std::strtoull(after.c_str(), &end, 10);
    if (end == nullptr || *end != '\0' || n > all.size()) return BadNextToken();
    start = static_cast<std::size_t>(n);
  }
  ActivationPage page;
  for (std::size_t i = start; i < all.size() && page.activations.size() < std::size_t(max); ++i) {
    page.activations.push_back(all[i]);
  }
  if (start + page.activations.size() < all.size()) {
    page.next_token = crypto::Base64Encode("a:" + std::to_string(start + page.activations.size()));
  }
  return page;
}

Status FleetService::DeleteActivation(std::string_view activation_id) {
  if (!IsUuid(activation_id)) return NoActivation();
  return store_.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(auto item, txn.Get(kActivations, activation_id));
    if (!item) return NoActivation();
    return txn.Delete(kActivations, activation_id);
  });
}

// ---- throttling ----

Status FleetService::CheckThrottle(std::string_view source_ip, std::string_view activation_id,
                                   TimePoint now) {
  std::lock_guard lock(mu_);
  for (const std::string& key :
       {"ip:" + std::string(source_ip), "act:" + std::string(activation_id)}) {
    auto it = throttles_.find(key);
    if (it != throttles_.end() && now < it->second.blocked_until) {
      const auto wait =
          std::chrono::ceil<std::chrono::seconds>(it->second.blocked_until - now).count();
      return Unavailable(
          "Too many failed registration attempts; retry in " + std::to_string(wait) + " seconds.",
          "ThrottlingException");
    }
  }
  return OkStatus();
}

void FleetService::RecordFailure(std::string_view source_ip, std::string_view activation_id,
                                 TimePoint now) {
  std::lock_guard lock(mu_);
  if (throttles_.size() >= kMaxThrottleEntries) {
    std::erase_if(throttles_, [&](const auto& kv) {
      return kv.second.blocked_until <= now && now - kv.second.last_failure > kThrottleMemory;
    });
    // Memory stays bounded even under a flood of addresses; throttling then starts over.
    if (throttles_.size() >= kMaxThrottleEntries) throttles_.clear();
  }
  for (const std::string& key :
       {"ip:" + std::string(source_ip), "act:" + std::string(activation_id)}) {
    Throttle& t = throttles_[key];
    if (t.failures > 0 && now - t.last_failure > kThrottleMemory) t.failures = 0;
    ++t.failures;
    t.last_failure = now;
    const int over = t.failures - options_.free_failures;
    if (over > 0) {
      const auto wait = std::min<std::chrono::seconds>(
          kMaxThrottle, std::chrono::seconds(1LL << std::min(over - 1, 10)));
      t.blocked_until = now + wait;
    }
  }
}

// ---- registration ----

Result<agentproto::RegisterResponse> FleetService::Register(
    const agentproto::RegisterRequest& request, std::string_view source_ip, TimePoint now) {
  KW_RETURN_IF_ERROR(CheckThrottle(source_ip, request.activation_id, now));
  if (!IsUuid(request.activation_id)) {
    RecordFailure(source_ip, request.activation_id, now);
    return NoActivation();
  }
  if (request.public_key.size() != crypto::kEd25519PublicKeyBytes) {
    return InvalidParameters("PublicKey must be a raw Ed25519 public key.");
  }
  if (request.fingerprint.empty()) return InvalidParameters("Fingerprint must not be empty.");

  KW_ASSIGN_OR_RETURN(auto item, store_.Get(kActivations, request.activation_id));
  std::optional<ActivationRecord> activation;
  if (item) {
    KW_ASSIGN_OR_RETURN(ActivationRecord rec, DecodeActivation(item->value));
    activation = std::move(rec);
  }
  // Hash and compare even for an unknown ID, so both take the same time and read the
  // same to the caller.
  const auto presented = crypto::Sha256(request.activation_code);
  const std::string expected = activation ? activation->code_sha256 : std::string(32, '\0');
  const bool code_ok =
      crypto::ConstantTimeEqual(crypto::AsView(presented), expected) && activation.has_value();
  if (!code_ok) {
    RecordFailure(source_ip, request.activation_id, now);
    return FailedPrecondition("The activation ID or activation code is not valid.",
                              "InvalidActivation");
  }
  if (now >= activation->a.expiration_date) {
    return FailedPrecondition("Activation " + request.activation_id + " has expired.",
                              "InvalidActivation");
  }
  if (!activation->a.source_cidrs.empty()) {
    bool allowed = false;
    for (const auto& c : activation->a.source_cidrs) {
      auto block = ParseCidrBlock(c);
      if (block && CidrContainsAddress(*block, source_ip)) allowed = true;
    }
    if (!allowed) {
      return FailedPrecondition("The source address " + std::string(source_ip) +
                                    " is outside the networks activation " + request.activation_id +
                                    " allows.",
                                "InvalidActivation");
    }
  }

  InstanceRecord inst;
  InstanceInfo& info = inst.info;
  info.name = activation->a.default_instance_name;
  info.agent_version = request.agent_version;
  info.platform_type = request.platform.type.empty() ? "Linux" : request.platform.type;
  info.platform_name = request.platform.name;
  info.platform_version = request.platform.version;
  info.computer_name = request.computer_name;
  // The address the server saw wins over the agent's claim (as in Presence::Connected).
  info.ip_address = source_ip.empty() ? request.ip_address : std::string(source_ip);
  info.activation_id = request.activation_id;
  info.registration_date = now;
  inst.public_key = request.public_key;
  inst.fingerprint = request.fingerprint;

  Status done = store_.Transact([&](store::Txn& txn) -> Status {
    // Re-read inside the transaction: the count check and increment are atomic with
    // the instance insert.
    KW_ASSIGN_OR_RETURN(auto current, txn.Get(kActivations, request.activation_id));
    if (!current) {
      return FailedPrecondition("The activation ID or activation code is not valid.",
                                "InvalidActivation");
    }
    KW_ASSIGN_OR_RETURN(ActivationRecord rec, DecodeActivation(current->value));
    if (rec.a.registrations_count >= rec.a.registration_limit) {
      return FailedPrecondition("Activation " + request.activation_id +
                                    " has reached its registration limit of " +
                                    std::to_string(rec.a.registration_limit) + ".",
                                "InvalidActivation");
    }
    ++rec.a.registrations_count;
    KW_RETURN_IF_ERROR(txn.Put(kActivations, request.activation_id, EncodeActivation(rec)));
    info.iam_role = rec.a.iam_role;
    // As in AWS, the activation's tags are applied to every instance it registers, so
    // that `tag:` targets reach hosts registered with a tagged activation.
    info.tags = rec.a.tags;
    for (int attempt = 0;; ++attempt) {
      info.instance_id = "mi-" + crypto::HexEncode(random_.Bytes(9)).substr(0, 17);
      auto inserted = txn.Insert(kInstances, info.instance_id, EncodeInstance(inst));
      if (inserted) break;
      if (inserted.error().code != ErrorCode::kAlreadyExists || attempt >= 3) {
        return std::move(inserted).error();
      }
    }
    return OkStatus();
  });
  KW_RETURN_IF_ERROR(done);
  {
    std::lock_guard lock(mu_);
    throttles_.erase("ip:" + std::string(source_ip));
  }
  CacheRegistered(info.instance_id, true);
  return agentproto::RegisterResponse{info.instance_id};
}

// ---- credentials ----

Result<agentproto::ChallengeResponse> FleetService::IssueChallenge(std::string_view instance_id,
                                                                   TimePoint now) {
  if (!IsManagedInstanceId(instance_id) || !IsRegistered(instance_id)) {
    return NoInstance(instance_id);
  }
  agentproto::ChallengeResponse out;
  out.challenge = crypto::Base64Encode(random_.Bytes(32));
  const TimePoint expires = now + kChallengeLifetime;
  out.expires_at = ToSecs(expires);
  std::lock_guard lock(mu_);
  if (challenges_.size() >= kMaxChallenges) {
    std::erase_if(challenges_, [&](const auto& kv) { return kv.second.expires <= now; });
    if (challenges_.size() >= kMaxChallenges) {
      return Unavailable("Too many outstanding challenges; retry later.", "ThrottlingException");
    }
  }
  challenges_[out.challenge] = Challenge{std::string(instance_id), expires};
  return out;
}

Result<agentproto::CredentialsResponse> FleetService::IssueCredentials(
    const agentproto::CredentialsRequest& request, std::string_view source_ip, TimePoint now) {
  (void)source_ip;
  if (!IsManagedInstanceId(request.instance_id)) return NoInstance(request.instance_id);
  const Error denied =
      PermissionDenied("The challenge is unknown, used or expired, or its signature is not valid.",
                       "AccessDeniedException");
  {
    // Single use: taken out whatever happens next.
    std::lock_guard lock(mu_);
    auto it = challenges_.find(request.challenge);
    if (it == challenges_.end()) return denied;
    const Challenge c = it->second;
    challenges_.erase(it);
    if (c.instance_id != request.instance_id || now >= c.expires) return denied;
  }
  KW_ASSIGN_OR_RETURN(auto item, store_.Get(kInstances, request.instance_id));
  if (!item) return NoInstance(request.instance_id);
  KW_ASSIGN_OR_RETURN(InstanceRecord rec, DecodeInstance(item->value));
  const std::string message = agentproto::CredentialProofMessage(
      request.instance_id, request.challenge, request.fingerprint);
  if (!crypto::VerifyEd25519(rec.public_key, message, request.signature)) return denied;

  const FingerprintMatch match = CompareFingerprints(rec.fingerprint, request.fingerprint);
  if (!match.accepted && !rec.info.rebind_approved) {
    const int percent = static_cast<int>(match.similarity * 100 + 0.5);
    return PermissionDenied(
        "The host fingerprint of " + request.instance_id + " does not match the registered one (" +
            std::to_string(percent) + "% of components unchanged" +
            (match.machine_id_matches ? "" : ", machine_id changed") +
            "). After a legitimate hardware or OS change an operator can approve it with "
            "`keyward instance rebind " +
            request.instance_id + "`.",
        "FingerprintMismatch");
  }
  if (request.fingerprint != rec.fingerprint || rec.info.rebind_approved) {
    const bool rebind = !match.accepted;
    KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
      return MutateInstance(txn, request.instance_id, [&](InstanceRecord& r) -> Status {
        if (!match.changed.empty()) {
          r.info.fingerprint_history.push_back({now, rebind ? "rebind" : "drift", match.changed});
          if (r.info.fingerprint_history.size() > kMaxFingerprintHistory) {
            r.info.fingerprint_history.erase(r.info.fingerprint_history.begin());
          }
        }
        r.fingerprint = request.fingerprint;
        r.info.rebind_approved = false;
        return OkStatus();
      });
    }));
  }

  KW_ASSIGN_OR_RETURN(std::optional<iam::Role> role, policies_.FindRole(rec.info.iam_role));
  if (!role) {
    return PermissionDenied("The instance role " + rec.info.iam_role + " no longer exists.",
                            "AccessDeniedException");
  }
  KW_ASSIGN_OR_RETURN(sts::AssumeRoleResult issued,
                      sts_.IssueInstanceCredentials(role->name, request.instance_id, now,
                                                    options_.credential_duration_seconds));
  agentproto::CredentialsResponse out;
  out.access_key_id = issued.credentials.access_key_id;
  out.secret_access_key = std::string(issued.credentials.secret_access_key.Reveal());
  out.session_token = std::string(issued.credentials.session_token.Reveal());
  out.expiration = ToSecs(issued.credentials.expiration);
  out.role_arn = role->arn;
  return out;
}

// ---- managed instances ----

InstanceInfo FleetService::WithPresence(InstanceInfo info, TimePoint now) {
  info.ping_status = "ConnectionLost";
  {
    std::lock_guard lock(mu_);
    auto it = live_.find(info.instance_id);
    if (it != live_.end()) {
      const Live& l = it->second;
      if (!info.last_ping || *info.last_ping < l.last_ping) info.last_ping = l.last_ping;
      if (l.connected && now - l.last_ping <= kOnlineWindow) info.ping_status = "Online";
    }
  }
  if (!options_.latest_agent_version.empty()) {
    info.is_latest_version =
        !info.agent_version.empty() &&
        CompareVersions(info.agent_version, options_.latest_agent_version) >= 0;
  }
  return info;
}

Result<InstanceInfo> FleetService::GetInstance(std::string_view instance_id) {
  if (!IsManagedInstanceId(instance_id)) return NoInstance(instance_id);
  KW_ASSIGN_OR_RETURN(auto item, store_.Get(kInstances, instance_id));
  if (!item) return NoInstance(instance_id);
  KW_ASSIGN_OR_RETURN(InstanceRecord rec, DecodeInstance(item->value));
  return WithPresence(std::move(rec.info), clock_.Now());
}

Result<InstancePage> FleetService::DescribeInstanceInformation(
    const DescribeInstancesRequest& request) {
  static const std::vector<std::string> kKeys = {"InstanceIds",   "AgentVersion",     "PingStatus",
                                                 "PlatformTypes", "ActivationIds",    "IamRole",
                                                 "ResourceType",  "AssociationStatus"};
  for (const auto& f : request.filters) {
    const bool tag = f.key.rfind("tag:", 0) == 0 && f.key.size() > 4;
    if (!tag && f.key != "tag-key" && !Contains(kKeys, f.key)) {
      return InvalidArgument("The filter key " + f.key + " is not valid.", "InvalidFilterKey");
    }
    if (f.values.empty() || f.values.size() > 100) {
      return InvalidArgument("The filter " + f.key + " must have 1 to 100 values.",
                             "InvalidInstanceInformationFilterValue");
    }
    for (const auto& v : f.values) {
      if (v.empty()) {
        return InvalidArgument("Filter values must not be empty.",
                               "InvalidInstanceInformationFilterValue");
      }
      if (f.key == "PingStatus" && v != "Online" && v != "ConnectionLost" && v != "Inactive") {
        return InvalidArgument("The PingStatus filter value " + v + " is not valid.",
                               "InvalidInstanceInformationFilterValue");
      }
    }
  }
  const int max = request.max_results.value_or(50);
  if (max < 5 || max > 50) {
    return Validation("1 validation error detected: Value '" + std::to_string(max) +
                      "' at 'maxResults' failed to satisfy constraint: Member must have value "
                      "between 5 and 50");
  }
  KW_ASSIGN_OR_RETURN(std::string after, DecodeToken(request.next_token, "i"));
  KW_ASSIGN_OR_RETURN(auto items, store_.List(kInstances, store::ListOptions{"", after, 0}));
  const TimePoint now = clock_.Now();
  InstancePage page;
  for (const auto& item : items) {
    KW_ASSIGN_OR_RETURN(InstanceRecord rec, DecodeInstance(item.value));
    InstanceInfo info = WithPresence(std::move(rec.info), now);
    bool match = true;
    for (const auto& f : request.filters) {
      if (f.key == "InstanceIds") {
        match = Contains(f.values, info.instance_id);
      } else if (f.key == "AgentVersion") {
        match = Contains(f.values, info.agent_version);
      } else if (f.key == "PingStatus") {
        match = Contains(f.values, info.ping_status);
      } else if (f.key == "PlatformTypes") {
        match = Contains(f.values, info.platform_type);
      } else if (f.key == "ActivationIds") {
        match = Contains(f.values, info.activation_id);
      } else if (f.key == "IamRole") {
        match = Contains(f.values, info.iam_role);
      } else if (f.key == "ResourceType") {
        match = Contains(f.values, "ManagedInstance");
      } else if (f.key == "AssociationStatus") {
        match = false;  // keyward has no State Manager associations
      } else if (f.key == "tag-key") {
        match = std::any_of(f.values.begin(), f.values.end(),
                            [&](const std::string& k) { return info.tags.count(k) > 0; });
      } else {
        auto it = info.tags.find(f.key.substr(4));
        match = it != info.tags.end() && Contains(f.values, it->second);
      }
      if (!match) break;
    }
    if (!match) continue;
    if (page.instances.size() == static_cast<std::size_t>(max)) {
      page.next_token = crypto::Base64Encode("i:" + page.instances.back().instance_id);
      break;
    }
    page.instances.push_back(std::move(info));
  }
  return page;
}

Status FleetService::DeregisterManagedInstance(std::string_view instance_id) {
  if (!IsManagedInstanceId(instance_id)) return NoInstance(instance_id);
  KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(auto item, txn.Get(kInstances, instance_id));
    if (!item) return NoInstance(instance_id);
    return txn.Delete(kInstances, instance_id);
  }));
  CacheRegistered(instance_id, false);
  {
    std::lock_guard lock(mu_);
    live_.erase(std::string(instance_id));
    std::erase_if(challenges_,
                  [&](const auto& kv) { return kv.second.instance_id == instance_id; });
  }
  if (deregistered_hook_) deregistered_hook_(instance_id);
  return OkStatus();
}

Status FleetService::UpdateManagedInstanceRole(std::string_view instance_id,
                                               std::string_view iam_role) {
  if (!IsManagedInstanceId(instance_id)) return NoInstance(instance_id);
  KW_RETURN_IF_ERROR(CheckRole(iam_role));
  return store_.Transact([&](store::Txn& txn) -> Status {
    return MutateInstance(txn, instance_id, [&](InstanceRecord& r) -> Status {
      r.info.iam_role = std::string(iam_role);
      return OkStatus();
    });
  });
}

Status FleetService::ApproveRebind(std::string_view instance_id) {
  if (!IsManagedInstanceId(instance_id)) return NoInstance(instance_id);
  return store_.Transact([&](store::Txn& txn) -> Status {
    return MutateInstance(txn, instance_id, [&](InstanceRecord& r) -> Status {
      r.info.rebind_approved = true;
      return OkStatus();
    });
  });
}

// ---- tags ----

namespace {

Error NoResource(std::string_view id) {
  return InvalidArgument("The resource ID " + std::string(id) + " is not valid.",
                         "InvalidResourceId");
}

// Read-modify-write of the tags of an instance or an activation.
Status MutateTags(store::Txn& txn, TagResourceType type, std::string_view id,
                  const std::function<Status(Tags&)>& change) {
  if (type == TagResourceType::kManagedInstance) {
    if (!IsManagedInstanceId(id)) return NoResource(id);
    KW_ASSIGN_OR_RETURN(auto item, txn.Get(kInstances, id));
    if (!item) return NoResource(id);
    KW_ASSIGN_OR_RETURN(InstanceRecord rec, DecodeInstance(item->value));
    KW_RETURN_IF_ERROR(change(rec.info.tags));
    KW_RETURN_IF_ERROR(txn.Put(kInstances, id, EncodeInstance(rec)));
    return OkStatus();
  }
  if (!IsUuid(id)) return NoResource(id);
  KW_ASSIGN_OR_RETURN(auto item, txn.Get(kActivations, id));
  if (!item) return NoResource(id);
  KW_ASSIGN_OR_RETURN(ActivationRecord rec, DecodeActivation(item->value));
  KW_RETURN_IF_ERROR(change(rec.a.tags));
  KW_RETURN_IF_ERROR(txn.Put(kActivations, id, EncodeActivation(rec)));
  return OkStatus();
}

}  // namespace

Status FleetService::AddTags(TagResourceType type, std::string_view id, const Tags& tags) {
  return store_.Transact([&](store::Txn& txn) -> Status {
    return MutateTags(txn, type, id, [&](Tags& t) -> Status {
      for (const auto& [k, v] : tags) t[k] = v;
      return ValidateTags(t);
    });
  });
}

Status FleetService::RemoveTags(TagResourceType type, std::string_view id,
                                const std::vector<std::string>& keys) {
  return store_.Transact([&](store::Txn& txn) -> Status {
    return MutateTags(txn, type, id, [&](Tags& t) -> Status {
      for (const auto& k : keys) t.erase(k);
      return OkStatus();
    });
  });
}

Result<Tags> FleetService::ListTags(TagResourceType type, std::string_view id) {
  Tags out;
  // A read-only transaction: the mutation callback only copies.
  KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
    if (type == TagResourceType::kManagedInstance) {
      if (!IsManagedInstanceId(id)) return NoResource(id);
      KW_ASSIGN_OR_RETURN(auto item, txn.Get(kInstances, id));
      if (!item) return NoResource(id);
      KW_ASSIGN_OR_RETURN(InstanceRecord rec, DecodeInstance(item->value));
      out = rec.info.tags;
      return OkStatus();
    }
    if (!IsUuid(id)) return NoResource(id);
    KW_ASSIGN_OR_RETURN(auto item, txn.Get(kActivations, id));
    if (!item) return NoResource(id);
    KW_ASSIGN_OR_RETURN(ActivationRecord rec, DecodeActivation(item->value));
    out = rec.a.tags;
    return OkStatus();
  }));
  return out;
}

// ---- InstanceDirectory ----

Result<std::optional<InstanceSummary>> FleetService::FindInstance(std::string_view instance_id) {
  if (!IsManagedInstanceId(instance_id)) return std::optional<InstanceSummary>();
  KW_ASSIGN_OR_RETURN(auto item, store_.Get(kInstances, instance_id));
  if (!item) return std::optional<InstanceSummary>();
  KW_ASSIGN_OR_RETURN(InstanceRecord rec, DecodeInstance(item->value));
  return std::optional<InstanceSummary>(Summarize(WithPresence(std::move(rec.info), clock_.Now())));
}

Result<std::vector<InstanceSummary>> FleetService::ListInstances() {
  KW_ASSIGN_OR_RETURN(auto items, store_.List(kInstances, {}));
  std::vector<InstanceSummary> out;
  const TimePoint now = clock_.Now();
  for (const auto& item : items) {
    KW_ASSIGN_OR_RETURN(InstanceRecord rec, DecodeInstance(item.value));
    out.push_back(Summarize(WithPresence(std::move(rec.info), now)));
  }
  return out;
}

// ---- Presence ----

void FleetService::PersistPresence(std::string_view instance_id, const Live& live) {
  // Best effort: presence is advisory, and a failed write is retried by the next flush.
  (void)store_.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(auto item, txn.Get(kInstances, instance_id));
    if (!item) return OkStatus();  // deregistered meanwhile
    KW_ASSIGN_OR_RETURN(InstanceRecord rec, DecodeInstance(item->value));
    rec.info.last_ping = live.last_ping;
    if (live.has_hello) {
      const auto& h = live.hello;
      if (!h.agent_version.empty()) rec.info.agent_version = h.agent_version;
      if (!h.platform.type.empty()) rec.info.platform_type = h.platform.type;
      if (!h.platform.name.empty()) rec.info.platform_name = h.platform.name;
      if (!h.platform.version.empty()) rec.info.platform_version = h.platform.version;
      if (!h.computer_name.empty()) rec.info.computer_name = h.computer_name;
      if (!live.address.empty()) rec.info.ip_address = live.address;
    }
    KW_RETURN_IF_ERROR(txn.Put(kInstances, instance_id, EncodeInstance(rec)));
    return OkStatus();
  });
}

void FleetService::Connected(std::string_view instance_id, const agentproto::HelloMessage& hello,
                             std::string_view remote_address, TimePoint now) {
  Live snapshot;
  {
    std::lock_guard lock(mu_);
    Live& l = live_[std::string(instance_id)];
    l.connected = true;
    l.last_ping = now;
    l.dirty = false;
    l.hello = hello;
    l.has_hello = true;
    l.address = remote_address.empty() ? hello.ip_address : std::string(remote_address);
    snapshot = l;
  }
  PersistPresence(instance_id, snapshot);
}

void FleetService::Heartbeat(std::string_view instance_id, TimePoint now) {
  std::lock_guard lock(mu_);
  Live& l = live_[std::string(instance_id)];
  l.connected = true;
  l.last_ping = now;
  l.dirty = true;
}

void FleetService::Disconnected(std::string_view instance_id, TimePoint now) {
  (void)now;
  Live snapshot;
  {
    std::lock_guard lock(mu_);
    auto it = live_.find(std::string(instance_id));
    if (it == live_.end()) return;
    it->second.connected = false;
    it->second.dirty = false;
    snapshot = it->second;
    snapshot.has_hello = false;  // already written on connect
  }
  PersistPresence(instance_id, snapshot);
}

Result<std::size_t> FleetService::FlushPresence() {
  std::vector<std::pair<std::string, TimePoint>> dirty;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, l] : live_) {
      if (l.dirty) {
        dirty.emplace_back(id, l.last_ping);
        l.dirty = false;
      }
    }
  }
  if (dirty.empty()) return std::size_t{0};
  std::size_t written = 0;
  Status s = store_.Transact([&](store::Txn& txn) -> Status {
    written = 0;
    for (const auto& [id, ping] : dirty) {
      KW_ASSIGN_OR_RETURN(auto item, txn.Get(kInstances, id));
      if (!item) continue;
      KW_ASSIGN_OR_RETURN(InstanceRecord rec, DecodeInstance(item->value));
      rec.info.last_ping = ping;
      KW_RETURN_IF_ERROR(txn.Put(kInstances, id, EncodeInstance(rec)));
      ++written;
    }
    return OkStatus();
  });
  if (!s) {
    // Mark them dirty again so the next flush retries.
    std::lock_guard lock(mu_);
    for (const auto& [id, ping] : dirty) {
      auto it = live_.find(id);
      if (it != live_.end()) it->second.dirty = true;
    }
    return std::move(s).error();
  }
  return written;
}

// ---- InstanceChecker ----

void FleetService::CacheRegistered(std::string_view instance_id, bool registered) {
  std::lock_guard lock(mu_);
  ++registered_generation_;
  if (registered_.size() >= kMaxRegisteredCache) registered_.clear();
  registered_[std::string(instance_id)] = registered;
}

bool FleetService::IsRegistered(std::string_view instance_id) {
  std::uint64_t generation = 0;
  {
    std::lock_guard lock(mu_);
    auto it = registered_.find(std::string(instance_id));
    if (it != registered_.end()) return it->second;
    generation = registered_generation_;
  }
  auto item = store_.Get(kInstances, instance_id);
  if (!item) return false;  // fail closed, and do not cache a store failure
  std::lock_guard lock(mu_);
  // A registration or deregistration that ran while the store was read wins: caching
  // this older answer could keep a deregistered instance alive.
  if (generation == registered_generation_) {
    if (registered_.size() >= kMaxRegisteredCache) registered_.clear();
    registered_[std::string(instance_id)] = item->has_value();
  }
  return item->has_value();
}

}  // namespace kw::fleet
