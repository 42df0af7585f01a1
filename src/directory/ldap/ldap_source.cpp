#include "directory/ldap/ldap_source.hpp"

#include <ldap.h>

#include <memory>
#include <set>
#include <string_view>
#include <vector>

#include "common/strings.hpp"

namespace kw::directory {
namespace {

constexpr const char* kDefaultFilter =
    "(|(objectClass=inetOrgPerson)(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))";

struct LdapDeleter {
  void operator()(LDAP* ld) const { ldap_unbind_ext_s(ld, nullptr, nullptr); }
};
struct UrlDeleter {
  void operator()(LDAPURLDesc* d) const { ldap_free_urldesc(d); }
};
struct MsgDeleter {
  void operator()(LDAPMessage* m) const { ldap_msgfree(m); }
};

std::vector<std::string> Values(LDAP* ld, LDAPMessage* entry, const char* attr) {
  std::vector<std::string> out;
  berval** vals = ldap_get_values_len(ld, entry, attr);
  if (vals == nullptr) return out;
  for (int i = 0; vals[i] != nullptr; ++i) out.emplace_back(vals[i]->bv_val, vals[i]->bv_len);
  ldap_value_free_len(vals);
  return out;
}

std::string First(LDAP* ld, LDAPMessage* entry, const char* attr) {
  auto v = Values(ld, entry, attr);
  return v.empty() ? std::string() : v.front();
}

}  // namespace

Result<Snapshot> LdapSource::Fetch() {
  LDAPURLDesc* raw_desc = nullptr;
  if (ldap_url_parse(config_.url.c_str(), &raw_desc) != LDAP_URL_SUCCESS) {
    return InvalidArgument("LDAP: '" + config_.url + "' is not an LDAP URL");
  }
  std::unique_ptr<LDAPURLDesc, UrlDeleter> desc(raw_desc);
  if (desc->lud_dn == nullptr || desc->lud_dn[0] == '\0') {
    return InvalidArgument("LDAP: the URL names no base DN: " + config_.url);
  }
  const std::string server = std::string(desc->lud_scheme ? desc->lud_scheme : "ldap") + "://" +
                             (desc->lud_host ? desc->lud_host : "") + ":" +
                             std::to_string(desc->lud_port);
  const std::string base = desc->lud_dn;
  // ldap_url_parse fills in RFC 4516's defaults (scope base, filter objectClass=*),
  // which would read only the base entry; an absent scope or filter means ours.
  std::vector<std::string> fields;
  if (const std::size_t scheme = config_.url.find("://"); scheme != std::string::npos) {
    const std::size_t slash = config_.url.find('/', scheme + 3);
    std::string_view rest = slash == std::string::npos
                                ? std::string_view()
                                : std::string_view(config_.url).substr(slash + 1);
    while (true) {
      const std::size_t q = rest.find('?');
      fields.emplace_back(rest.substr(0, q));
      if (q == std::string_view::npos) break;
      rest.remove_prefix(q + 1);
    }
  }
  const bool scope_given = fields.size() > 2 && !fields[2].empty();
  const bool filter_given = fields.size() > 3 && !fields[3].empty();
  const std::string filter = filter_given && desc->lud_filter ? desc->lud_filter : kDefaultFilter;
  const int scope = scope_given ? desc->lud_scope : LDAP_SCOPE_SUBTREE;

  LDAP* raw_ld = nullptr;
  if (int rc = ldap_initialize(&raw_ld, server.c_str()); rc != LDAP_SUCCESS) {
    return InvalidArgument("LDAP: cannot use " + server + ": " + ldap_err2string(rc));
  }
  std::unique_ptr<LDAP, LdapDeleter> ld(raw_ld);
  int version = LDAP_VERSION3;
  ldap_set_option(ld.get(), LDAP_OPT_PROTOCOL_VERSION, &version);
  timeval tv{static_cast<time_t>(config_.timeout.count()), 0};
  ldap_set_option(ld.get(), LDAP_OPT_NETWORK_TIMEOUT, &tv);
  ldap_set_option(ld.get(), LDAP_OPT_TIMEOUT, &tv);
  ldap_set_option(ld.get(), LDAP_OPT_REFERRALS, LDAP_OPT_OFF);

  berval cred{};
  std::string password(config_.bind_password.Reveal());
  cred.bv_val = password.data();
  cred.bv_len = password.size();
  int rc = ldap_sasl_bind_s(ld.get(), config_.bind_dn.empty() ? nullptr : config_.bind_dn.c_str(),
                            LDAP_SASL_SIMPLE, &cred, nullptr, nullptr, nullptr);
  std::fill(password.begin(), password.end(), '\0');
  if (rc != LDAP_SUCCESS) {
    // Unreachable, timed out and refused credentials all mean "try again later" to a
    // sync; the previous snapshot stays.
    return Unavailable("LDAP: bind to " + server + " failed: " + ldap_err2string(rc));
  }

  LDAPMessage* raw_res = nullptr;
  rc = ldap_search_ext_s(ld.get(), base.c_str(), scope, filter.c_str(), nullptr, 0, nullptr,
                         nullptr, &tv, LDAP_NO_LIMIT, &raw_res);
  std::unique_ptr<LDAPMessage, MsgDeleter> res(raw_res);
  if (rc == LDAP_SERVER_DOWN || rc == LDAP_TIMEOUT || rc == LDAP_CONNECT_ERROR || rc == LDAP_BUSY ||
      rc == LDAP_UNAVAILABLE) {
    return Unavailable("LDAP: search on " + server + " failed: " + ldap_err2string(rc));
  }
  if (rc != LDAP_SUCCESS) {
    return InvalidArgument("LDAP: search of '" + base + "' on " + server +
                           " failed: " + ldap_err2string(rc));
  }

  Snapshot snap;
  std::set<std::string> seen;
  for (LDAPMessage* e = ldap_first_entry(ld.get(), res.get()); e != nullptr;
       e = ldap_next_entry(ld.get(), e)) {
    bool team = false;
    for (const std::string& oc : Values(ld.get(), e, "objectClass")) {
      const std::string l = ToLowerAscii(oc);
      if (l == "groupofnames" || l == "groupofuniquenames" || l == "organizationalunit") {
        team = true;
      }
    }
    Person p;
    p.kind = team ? "team" : "person";
    p.id = team ? First(ld.get(), e, "cn") : First(ld.get(), e, "uid");
    if (p.id.empty()) continue;
    if (!seen.insert(ToLowerAscii(p.id)).second) continue;  // first entry wins
    p.name = First(ld.get(), e, "displayName");
    if (p.name.empty()) p.name = First(ld.get(), e, "cn");
    p.email = First(ld.get(), e, "mail");
    p.department = First(ld.get(), e, "departmentNumber");
    if (p.department.empty()) p.department = First(ld.get(), e, "ou");
    p.status =
        ParsePersonStatus(First(ld.get(), e, "employeeType")).value_or(PersonStatus::kActive);
    snap.people.push_back(std::move(p));
  }
  KW_RETURN_IF_ERROR(ValidateSnapshot(snap));
  return snap;
}

}  // namespace kw::directory
