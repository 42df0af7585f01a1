#include "audit/offboarding.hpp"

#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

#include "audit/rules.hpp"
#include "common/strings.hpp"

namespace kw::audit {
namespace {

using nlohmann::json;

constexpr std::string_view kOffboardings = "audit_offboardings";

std::int64_t Secs(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
TimePoint FromSecs(std::int64_t s) { return TimePoint(std::chrono::seconds(s)); }

std::string Encode(const OffboardRecord& r) {
  json users = json::array();
  for (const auto& u : r.users) {
    users.push_back(
        {{"user", u.user_name}, {"sessions_revoked", u.sessions_revoked}, {"error", u.error}});
  }
  json keys = json::array();
  for (const auto& k : r.keys) {
    json jk{{"user", k.user_name}, {"key", k.access_key_id}, {"was_active", k.was_active},
            {"action", k.action},  {"error", k.error},       {"service", k.last_used_service}};
    if (k.last_used) jk["last_used"] = Secs(*k.last_used);
    keys.push_back(std::move(jk));
  }
  json j{{"id", r.offboarding_id}, {"person", r.person}, {"aliases", r.aliases},
         {"reason", r.reason},     {"actor", r.actor},   {"started", Secs(r.started)},
         {"status", r.status},     {"users", users},     {"keys", keys}};
  if (r.finished) j["finished"] = Secs(*r.finished);
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<OffboardRecord> Decode(const store::Item& item) {
  try {
    const json j = json::parse(item.value);
    OffboardRecord r;
    r.offboarding_id = j.at("id").get<std::string>();
    r.person = j.at("person").get<std::string>();
    r.aliases = j.at("aliases").get<std::vector<std::string>>();
    r.reason = j.at("reason").get<std::string>();
    r.actor = j.at("actor").get<std::string>();
    r.started = FromSecs(j.at("started").get<std::int64_t>());
    if (j.contains("finished")) r.finished = FromSecs(j["finished"].get<std::int64_t>());
    r.status = j.at("status").get<std::string>();
    for (const auto& u : j.at("users")) {
      r.users.push_back({u.at("user").get<std::string>(),
                         u.at("sessions_revoked").get<std::size_t>(),
                         u.at("error").get<std::string>()});
    }
    for (const auto& k : j.at("keys")) {
      OffboardedKey ok;
      ok.user_name = k.at("user").get<std::string>();
      ok.access_key_id = k.at("key").get<std::string>();
      ok.was_active = k.at("was_active").get<bool>();
      ok.action = k.at("action").get<std::string>();
      ok.error = k.at("error").get<std::string>();
      ok.last_used_service = k.value("service", std::string());
      if (k.contains("last_used")) ok.last_used = FromSecs(k["last_used"].get<std::int64_t>());
      r.keys.push_back(std::move(ok));
    }
    return r;
  } catch (const json::exception&) {
    return Internal("audit: stored offboarding " + item.key + " is unreadable");
  }
}

}  // namespace

Offboarder::Offboarder(store::KvStore& store, const Clock& clock, iam::UserService& users,
                       SessionRevoker& sessions, directory::DirectoryService& directory,
                       std::string owner_tag)
    : store_(store),
      clock_(clock),
      users_(users),
      sessions_(sessions),
      directory_(directory),
      owner_tag_(std::move(owner_tag)) {}

Result<OffboardRecord> Offboarder::Offboard(const OffboardRequest& request) {
  if (request.person.empty()) {
    return InvalidArgument("Person must not be empty", "ValidationException");
  }
  OffboardRecord rec;
  rec.person = request.person;
  rec.reason = request.reason;
  rec.actor = request.actor;
  rec.dry_run = request.dry_run;
  rec.started = clock_.Now();

  // Owner tags may name the person by ID or by email.
  std::set<std::string> aliases{ToLowerAscii(request.person)};
  KW_ASSIGN_OR_RETURN(auto person, directory_.Find(request.person));
  if (person) {
    aliases.insert(ToLowerAscii(person->person.id));
    if (!person->person.email.empty()) aliases.insert(ToLowerAscii(person->person.email));
  }
  rec.aliases.assign(aliases.begin(), aliases.end());

  // What the person owns, before acting.
  iam::ListUsersRequest req;
  req.max_items = 1000;
  while (true) {
    KW_ASSIGN_OR_RETURN(iam::UserPage page, users_.ListUsers(req));
    for (const iam::User& u : page.users) {
      std::map<std::string, std::string> tags;
      for (const auto& t : u.tags) tags[t.key] = t.value;
      const std::string owner = OwnerOf(tags, owner_tag_);
      if (owner.empty() || !aliases.count(ToLowerAscii(owner))) continue;
      rec.users.push_back({u.name, 0, ""});
      std::optional<std::string> marker;
      do {
        KW_ASSIGN_OR_RETURN(iam::AccessKeyPage keys,
                            users_.ListAccessKeys(u.name, marker, 1000, nullptr));
        for (const auto& k : keys.keys) {
          OffboardedKey ok;
          ok.user_name = u.name;
          ok.access_key_id = k.access_key_id;
          ok.was_active = k.status == iam::KeyStatus::kActive;
          KW_ASSIGN_OR_RETURN(iam::AccessKeyLastUsed used,
                              users_.GetAccessKeyLastUsed(k.access_key_id));
          ok.last_used = used.last_used_date;
          if (used.last_used_date) ok.last_used_service = used.service_name;
          ok.action = !ok.was_active    ? "already-inactive"
                      : request.dry_run ? "would-deactivate"
                                        : "deactivate";
          rec.keys.push_back(std::move(ok));
        }
        marker = keys.is_truncated ? std::optional<std::string>(keys.marker) : std::nullopt;
      } while (marker);
    }
    if (!page.is_truncated) break;
    req.marker = page.marker;
  }
  if (request.dry_run) {
    rec.status = "dry-run";
    return rec;
  }

  char ms[32];
  std::snprintf(ms, sizeof ms, "%020lld",
                static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                           rec.started.time_since_epoch())
                                           .count()));
  rec.offboarding_id = std::string(ms) + "-" + ToLowerAscii(request.person);
  rec.status = "in-progress";
  KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
    KW_RETURN_IF_ERROR(txn.Put(kOffboardings, rec.offboarding_id, Encode(rec)));
    return OkStatus();
  }));

  bool failed = false;
  for (OffboardedKey& k : rec.keys) {
    if (k.action != "deactivate") continue;
    Status s =
        users_.UpdateAccessKey(k.user_name, k.access_key_id, iam::KeyStatus::kInactive, nullptr);
    if (s) {
      k.action = "deactivated";
    } else if (s.error().code == ErrorCode::kNotFound) {
      k.action = "deleted";  // deleted meanwhile: nothing left to use
    } else {
      k.action = "failed";
      k.error = s.error().message;
      failed = true;
    }
  }
  for (OffboardedUser& u : rec.users) {
    auto n = sessions_.RevokeUserSessions(u.user_name);
    if (n) {
      u.sessions_revoked = *n;
    } else {
      u.error = n.error().message;
      failed = true;
    }
  }
  rec.status = failed ? "failed" : "completed";
  rec.finished = clock_.Now();
  KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
    KW_RETURN_IF_ERROR(txn.Put(kOffboardings, rec.offboarding_id, Encode(rec)));
    return OkStatus();
  }));
  return rec;
}

Result<std::vector<OffboardRecord>> Offboarder::List(std::size_t max) {
  KW_ASSIGN_OR_RETURN(auto items, store_.List(kOffboardings, {}));
  std::vector<OffboardRecord> out;
  for (auto it = items.rbegin(); it != items.rend() && out.size() < max; ++it) {
    KW_ASSIGN_OR_RETURN(OffboardRecord r, Decode(*it));
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace kw::audit
