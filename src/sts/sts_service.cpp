#include "sts/sts_service.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <nlohmann/json.hpp>
#include <utility>

#include "common/strings.hpp"
#include "crypto/digest.hpp"
#include "iam/ids.hpp"

namespace kw::sts {
namespace {

using nlohmann::json;

constexpr std::string_view kSessions = "sts_sessions";
constexpr std::size_t kSessionTokenRandomBytes = 192;  // 256 base64 characters
constexpr std::size_t kMaxCachedSessions = 10000;
// A principal_account no account can have: evaluating the trust policy with it shows
// whether the policy names the caller itself rather than only its account.
constexpr std::string_view kNoAccount = "-";

std::int64_t ToSecs(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
TimePoint FromSecs(std::int64_t s) { return TimePoint(std::chrono::seconds(s)); }

Error Validation(std::string message) {
  return InvalidArgument(std::move(message), "ValidationError");
}
Error InvalidToken() {
  return Unauthenticated("The security token included in the request is invalid.",
                         "InvalidClientTokenId");
}

bool IsSessionNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '+' || c == '=' ||
         c == ',' || c == '.' || c == '@' || c == '-';
}

Status CheckDuration(std::optional<long long> d, long long max) {
  if (d && (*d < kMinDurationSeconds || *d > max)) {
    return Validation("1 validation error detected: Value '" + std::to_string(*d) +
                      "' at 'durationSeconds' failed to satisfy constraint: Member must have "
                      "value " +
                      (*d < kMinDurationSeconds ? "greater than or equal to 900"
                                                : "less than or equal to " + std::to_string(max)));
  }
  return OkStatus();
}

// "arn:aws:iam::ACCT:role/path/Name" -> "Name"; nullopt if not a role ARN.
std::optional<std::string> RoleNameFromArn(std::string_view arn, std::string_view partition,
                                           std::string& account_out) {
  const std::string head = "arn:" + std::string(partition) + ":iam::";
  if (arn.rfind(head, 0) != 0) return std::nullopt;
  std::string_view rest = arn.substr(head.size());
  const std::size_t colon = rest.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  account_out = std::string(rest.substr(0, colon));
  rest.remove_prefix(colon + 1);
  if (rest.rfind("role/", 0) != 0) return std::nullopt;
  const std::size_t slash = rest.rfind('/');
  std::string name(rest.substr(slash + 1));
  if (name.empty()) return std::nullopt;
  return name;
}

}  // namespace

struct StsService::Session {
  enum class Kind { kRole, kUser };
  Kind kind = Kind::kRole;
  std::string access_key_id;
  SecretBytes secret;
  std::string token_sha256;  // raw 32 bytes
  TimePoint expiration;
  std::string role_name, role_id, role_arn, session_name;
  std::string user_name, user_id;
  std::map<std::string, std::string> tags;  // session tags (role sessions)
  std::string instance_id;                  // instance credentials only
  // Role sessions: the IAM user that assumed the role (lowercased), so that offboarding
  // the user can revoke them. Empty when another role or the server assumed it.
  std::string issued_by_user;
};

StsService::StsService(store::KvStore& store, const crypto::Envelope& envelope, const Clock& clock,
                       Random& random, const iam::Account& account, iam::PolicyService& policies)
    : store_(store),
      envelope_(envelope),
      clock_(clock),
      random_(random),
      account_(account),
      policies_(policies) {}

Result<TemporaryCredentials> StsService::Issue(Session session, TimePoint now) {
  (void)now;
  session.access_key_id = iam::NewAccessKeyId("ASIA", random_);
  std::string secret = iam::NewSecretAccessKey(random_);
  std::string token = crypto::Base64Encode(random_.Bytes(kSessionTokenRandomBytes));
  const std::string aad = "sts/session/" + session.access_key_id;

  json tags = json::object();
  for (const auto& [k, v] : session.tags) tags[k] = v;
  json record{{"kind", session.kind == Session::Kind::kRole ? "role" : "user"},
              {"secret", envelope_.Seal(secret, aad)},
              {"token_sha256", crypto::HexEncode(crypto::Sha256(token))},
              {"expires", ToSecs(session.expiration)},
              {"role_name", session.role_name},
              {"role_id", session.role_id},
              {"role_arn", session.role_arn},
              {"session_name", session.session_name},
              {"user_name", session.user_name},
              {"user_id", session.user_id},
              {"tags", tags}};
  if (!session.instance_id.empty()) record["instance_id"] = session.instance_id;
  if (!session.issued_by_user.empty()) record["issued_by_user"] = session.issued_by_user;
  std::string value;
  try {
    value = record.dump();
  } catch (const json::exception&) {
    return Validation("Session tags must be valid UTF-8.");
  }
  KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
    KW_RETURN_IF_ERROR(txn.Insert(kSessions, session.access_key_id, value));
    return OkStatus();
  }));
  TemporaryCredentials creds;
  creds.access_key_id = session.access_key_id;
  creds.secret_access_key = SecretBytes(std::move(secret));
  creds.session_token = SecretBytes(std::move(token));
  creds.expiration = session.expiration;
  return creds;
}

Result<AssumeRoleResult> StsService::AssumeRole(
    const iam::Principal& caller, const AssumeRoleRequest& request,
    const std::vector<std::shared_ptr<const policy::Policy>>& caller_policies) {
  const std::string& session_name = request.role_session_name;
  if (session_name.size() < 2 || session_name.size() > 64 ||
      !std::all_of(session_name.begin(), session_name.end(), IsSessionNameChar)) {
    return Validation("1 validation error detected: Value '" + session_name +
                      "' at 'roleSessionName' failed to satisfy constraint: Member must have "
                      "length between 2 and 64 and satisfy regular expression pattern: "
                      "[\\w+=,.@-]*");
  }
  if (request.has_session_policy) {
    return Validation("Session policies (Policy, PolicyArns) are not supported.");
  }
  KW_RETURN_IF_ERROR(CheckDuration(request.duration_seconds, 43200));
  if (request.tags.size() > kMaxSessionTags) {
    return Validation(
        "1 validation error detected: Value at 'tags' failed to satisfy "
        "constraint: Member must have length less than or equal to 50");
  }
  for (const auto& [k, v] : request.tags) {
    if (k.empty() || k.size() > 128 || v.size() > 256) {
      return Validation("Session tag keys must be 1 to 128 characters and values at most 256.");
    }
  }

  const Error denied = PermissionDenied("User: " + caller.arn +
                                            " is not authorized to perform: sts:AssumeRole on "
                                            "resource: " +
                                            request.role_arn,
                                        "AccessDenied");
  std::string arn_account;
  auto role_name = RoleNameFromArn(request.role_arn, account_.partition, arn_account);
  if (!role_name) {
    return Validation("1 validation error detected: Value '" + request.role_arn +
                      "' at 'roleArn' failed to satisfy constraint: Member must be a role ARN");
  }
  // Only this account's roles exist; a missing role is AccessDenied, as in AWS, so the
  // answer does not reveal which roles exist.
  if (arn_account != account_.id) return denied;
  KW_ASSIGN_OR_RETURN(std::optional<iam::Role> role, policies_.FindRole(*role_name));
  if (!role || role->arn != request.role_arn) return denied;

  const long long duration = request.duration_seconds.value_or(kDefaultAssumeRoleSeconds);
  if (duration > role->max_session_duration) {
    return Validation(
        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.");
  }
  if (caller.type == iam::PrincipalType::kAssumedRole && duration > kRoleChainingMaxSeconds) {
    return Validation(
        "The requested DurationSeconds exceeds the 1 hour session limit for roles "
        "assumed by role chaining.");
  }

  auto trust = policy::Parse(role->assume_role_policy_document, policy::PolicyKind::kResource);
  if (!trust) return denied;  // fail closed; CreateRole validated it

  policy::RequestContext ctx;
  ctx.action = "sts:AssumeRole";
  ctx.resource = role->arn;
  ctx.principal_arn = caller.arn;
  ctx.principal_account = caller.account_id;
  ctx.keys = request.condition_keys;
  ctx.keys["aws:principalarn"] = {caller.arn};
  ctx.keys["aws:principalaccount"] = {caller.account_id};
  ctx.keys["aws:principaltype"] = {caller.type == iam::PrincipalType::kUser ? "User"
                                                                            : "AssumedRole"};
  ctx.keys["aws:userid"] = {caller.user_id};
  if (caller.type == iam::PrincipalType::kUser) ctx.keys["aws:username"] = {caller.name};
  for (const auto& [k, v] : caller.tags) ctx.keys["aws:principaltag/" + ToLowerAscii(k)] = {v};
  ctx.keys["sts:rolesessionname"] = {session_name};
  if (request.external_id) ctx.keys["sts:externalid"] = {*request.external_id};
  if (request.source_identity) ctx.keys["sts:sourceidentity"] = {*request.source_identity};
  if (!request.tags.empty()) {
    std::vector<std::string> keys;
    for (const auto& [k, v] : request.tags) {
      ctx.keys["aws:requesttag/" + ToLowerAscii(k)] = {v};
      keys.push_back(k);
    }
    ctx.keys["aws:tagkeys"] = keys;
  }

  const policy::Policy* trust_policy = &trust.value();
  const policy::Decision by_trust = policy::Evaluate({trust_policy}, ctx);
  std::vector<const policy::Policy*> identity;
  for (const auto& p : caller_policies) identity.push_back(p.get());
  const policy::Decision by_identity = policy::Evaluate(identity, ctx);

  if (by_trust != policy::Decision::kAllow || by_identity == policy::Decision::kExplicitDeny) {
    return denied;
  }
  // Within one account, a trust policy that names the caller grants by itself; one
  // that only trusts the account delegates to the caller's identity policies.
  policy::RequestContext direct = ctx;
  direct.principal_account = std::string(kNoAccount);
  const bool names_caller = policy::Evaluate({trust_policy}, direct) == policy::Decision::kAllow;
  if (!names_caller && by_identity != policy::Decision::kAllow) return denied;

  Session session;
  session.kind = Session::Kind::kRole;
  session.expiration = clock_.Now() + std::chrono::seconds(duration);
  session.role_name = role->name;
  session.role_id = role->role_id;
  session.role_arn = role->arn;
  session.session_name = session_name;
  session.tags = request.tags;
  if (caller.type == iam::PrincipalType::kUser) session.issued_by_user = ToLowerAscii(caller.name);
  KW_ASSIGN_OR_RETURN(TemporaryCredentials creds, Issue(std::move(session), clock_.Now()));

  AssumeRoleResult result;
  result.credentials = std::move(creds);
  result.assumed_role_id = role->role_id + ":" + session_name;
  result.arn = "arn:" + account_.partition + ":sts::" + account_.id + ":assumed-role/" +
               role->name + "/" + session_name;
  result.source_identity = request.source_identity;
  return result;
}

Result<AssumeRoleResult> StsService::IssueInstanceCredentials(std::string_view role_name,
                                                              std::string_view instance_id,
                                                              TimePoint now,
                                                              long long duration_seconds) {
  if (instance_id.size() < 2 || instance_id.size() > 64 ||
      !std::all_of(instance_id.begin(), instance_id.end(), IsSessionNameChar)) {
    return Validation("The instance ID is not a valid role session name.");
  }
  KW_ASSIGN_OR_RETURN(std::optional<iam::Role> role, policies_.FindRole(role_name));
  if (!role) {
    return NotFound("The role with name " + std::string(role_name) + " cannot be found.",
                    "NoSuchEntity");
  }
  if (duration_seconds < kMinDurationSeconds || duration_seconds > role->max_session_duration) {
    return Validation(
        "The instance credentials' duration is outside 900 seconds to the role's "
        "MaxSessionDuration.");
  }
  Session session;
  session.kind = Session::Kind::kRole;
  session.expiration = now + std::chrono::seconds(duration_seconds);
  session.role_name = role->name;
  session.role_id = role->role_id;
  session.role_arn = role->arn;
  session.session_name = std::string(instance_id);
  session.instance_id = std::string(instance_id);
  KW_ASSIGN_OR_RETURN(TemporaryCredentials creds, Issue(std::move(session), now));

  AssumeRoleResult result;
  result.credentials = std::move(creds);
  result.assumed_role_id = role->role_id + ":" + std::string(instance_id);
  result.arn = "arn:" + account_.partition + ":sts::" + account_.id + ":assumed-role/" +
               role->name + "/" + std::string(instance_id);
  return result;
}

Result<TemporaryCredentials> StsService::GetSessionToken(
    const iam::Principal& caller, std::optional<long long> duration_seconds) {
  if (caller.type != iam::PrincipalType::kUser || caller.temporary) {
    return PermissionDenied("Cannot call GetSessionToken with session credentials", "AccessDenied");
  }
  KW_RETURN_IF_ERROR(CheckDuration(duration_seconds, kMaxSessionTokenSeconds));
  Session session;
  session.kind = Session::Kind::kUser;
  session.expiration =
      clock_.Now() + std::chrono::seconds(duration_seconds.value_or(kDefaultSessionTokenSeconds));
  session.user_name = caller.name;
  session.user_id = caller.user_id;
  return Issue(std::move(session), clock_.Now());
}

CallerIdentity StsService::GetCallerIdentity(const iam::Principal& caller) {
  return CallerIdentity{caller.user_id, caller.account_id, caller.arn};
}

Result<std::shared_ptr<const StsService::Session>> StsService::LoadSession(
    std::string_view access_key_id) {
  std::uint64_t generation = 0;
  {
    std::lock_guard lock(mu_);
    auto it = cache_.find(std::string(access_key_id));
    if (it != cache_.end()) return it->second;
    generation = cache_generation_;
  }
  KW_ASSIGN_OR_RETURN(auto item, store_.Get(kSessions, access_key_id));
  if (!item) return std::shared_ptr<const Session>();
  auto session = std::make_shared<Session>();
  std::string sealed;
  try {
    const json j = json::parse(item->value);
    session->kind =
        j.at("kind").get<std::string>() == "user" ? Session::Kind::kUser : Session::Kind::kRole;
    sealed = j.at("secret").get<std::string>();
    auto hash = crypto::HexDecode(j.at("token_sha256").get<std::string>());
    if (!hash || hash->size() != 32) return Internal("stored session is unreadable");
    session->token_sha256 = std::move(*hash);
    session->expiration = FromSecs(j.at("expires").get<std::int64_t>());
    session->role_name = j.at("role_name").get<std::string>();
    session->role_id = j.at("role_id").get<std::string>();
    session->role_arn = j.at("role_arn").get<std::string>();
    session->session_name = j.at("session_name").get<std::string>();
    session->user_name = j.at("user_name").get<std::string>();
    session->user_id = j.at("user_id").get<std::string>();
    for (auto it = j.at("tags").begin(); it != j.at("tags").end(); ++it) {
      session->tags[it.key()] = it.value().get<std::string>();
    }
    session->instance_id = j.value("instance_id", std::string());
    session->issued_by_user = j.value("issued_by_user", std::string());
  } catch (const json::exception&) {
    return Internal("stored session is unreadable");
  }
  session->access_key_id = std::string(access_key_id);
  auto secret = envelope_.Open(sealed, "sts/session/" + std::string(access_key_id));
  // A stored secret that does not open is tampering or the wrong master key, not the
  // caller's fault.
  if (!secret) return Internal("stored session secret does not decrypt");
  session->secret = std::move(secret).value();

  std::shared_ptr<const Session> shared = std::move(session);
  std::lock_guard lock(mu_);
  // A revocation ran while the store was read: do not cache what may be revoked.
  if (generation != cache_generation_) return shared;
  if (cache_.size() >= kMaxCachedSessions) {
    const TimePoint now = clock_.Now();
    std::erase_if(cache_, [&](const auto& kv) { return kv.second->expiration <= now; });
    if (cache_.size() >= kMaxCachedSessions) cache_.clear();
  }
  cache_.emplace(std::string(access_key_id), shared);
  return shared;
}

Result<iam::ResolvedKey> StsService::Resolve(std::string_view access_key_id,
                                             std::string_view session_token, TimePoint now) {
  if (access_key_id.rfind("ASIA", 0) != 0 || session_token.empty()) return InvalidToken();
  KW_ASSIGN_OR_RETURN(std::shared_ptr<const Session> session, LoadSession(access_key_id));
  if (!session) return InvalidToken();
  // The token before the expiry: a wrong token learns nothing about the session.
  if (!crypto::ConstantTimeEqual(crypto::AsView(crypto::Sha256(session_token)),
                                 session->token_sha256)) {
    return InvalidToken();
  }
  if (now >= session->expiration) {
    return Unauthenticated("The security token included in the request is expired", "ExpiredToken");
  }

  if (!session->instance_id.empty()) {
    InstanceChecker* checker = instance_checker_.load();
    if (checker == nullptr || !checker->IsRegistered(session->instance_id)) return InvalidToken();
  }

  iam::Principal p;
  p.account_id = account_.id;
  p.instance_id = session->instance_id;
  p.access_key_id = session->access_key_id;
  p.temporary = true;
  p.expiration = session->expiration;
  if (session->kind == Session::Kind::kRole) {
    // Deleting a role ends its sessions, even if a role of the same name is created
    // again (it has another role ID).
    KW_ASSIGN_OR_RETURN(std::optional<iam::Role> role, policies_.FindRole(session->role_name));
    if (!role || role->role_id != session->role_id) return InvalidToken();
    p.type = iam::PrincipalType::kAssumedRole;
    p.arn = "arn:" + account_.partition + ":sts::" + account_.id + ":assumed-role/" + role->name +
            "/" + session->session_name;
    p.user_id = role->role_id + ":" + session->session_name;
    p.name = role->name;
    p.session_name = session->session_name;
    p.role_arn = role->arn;
    p.tags = role->tags;
    for (const auto& [k, v] : session->tags) p.tags[k] = v;
  } else {
    auto user = policies_.users().FindUser(session->user_name);
    if (!user) {
      if (user.error().code == ErrorCode::kNotFound) return InvalidToken();
      return std::move(user).error();
    }
    if (user->user_id != session->user_id) return InvalidToken();
    p.type = iam::PrincipalType::kUser;
    p.arn = user->arn;
    p.user_id = user->user_id;
    p.name = user->name;
    p.tags = user->tags;
  }
  return iam::ResolvedKey{session->secret.Clone(), std::move(p)};
}

Result<std::size_t> StsService::PurgeExpiredSessions(TimePoint now) {
  std::size_t purged = 0;
  KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
    purged = 0;
    KW_ASSIGN_OR_RETURN(auto items, txn.List(kSessions, {}));
    for (const auto& item : items) {
      std::int64_t expires = 0;
      try {
        expires = json::parse(item.value).at("expires").get<std::int64_t>();
      } catch (const json::exception&) {
        continue;  // unreadable: leave it for an operator to look at
      }
      if (FromSecs(expires) > now) continue;
      KW_RETURN_IF_ERROR(txn.Delete(kSessions, item.key));
      ++purged;
    }
    return OkStatus();
  }));
  std::lock_guard lock(mu_);
  std::erase_if(cache_, [&](const auto& kv) { return kv.second->expiration <= now; });
  return purged;
}

Result<std::size_t> StsService::RevokeUserSessions(std::string_view user_name) {
  const std::string user = ToLowerAscii(user_name);
  std::vector<std::string> revoked;
  KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
    revoked.clear();
    KW_ASSIGN_OR_RETURN(auto items, txn.List(kSessions, {}));
    for (const auto& item : items) {
      bool match = false;
      try {
        const json j = json::parse(item.value);
        match = (j.at("kind").get<std::string>() == "user" &&
                 ToLowerAscii(j.at("user_name").get<std::string>()) == user) ||
                j.value("issued_by_user", std::string()) == user;
      } catch (const json::exception&) {
        // Failing closed: a record that cannot be read cannot be shown not to be the
        // user's, and Resolve refuses it anyway.
        return Internal("stored session is unreadable");
      }
      if (!match) continue;
      KW_RETURN_IF_ERROR(txn.Delete(kSessions, item.key));
      revoked.push_back(item.key);
    }
    return OkStatus();
  }));
  std::lock_guard lock(mu_);
  ++cache_generation_;
  for (const auto& id : revoked) cache_.erase(id);
  return revoked.size();
}

}  // namespace kw::sts
