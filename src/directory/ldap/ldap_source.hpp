#pragma once

// directory::DirectorySource over an LDAP server (OpenLDAP's libldap). The only
// translation unit that includes <ldap.h>; the domain sees the interface alone.
//
// Mapping of entries to people (attribute names are case-insensitive):
//   id          uid (people) or cn (entries of objectClass groupOfNames /
//               groupOfUniqueNames / organizationalUnit, which are teams)
//   name        cn (displayName if present)
//   email       mail
//   department  departmentNumber, else ou
//   status      employeeType when it is active, departed or transferred; else active.
// An entry deleted from the searched subtree is a departure (directory_service.hpp).
// Entries without an id are skipped.

#include <chrono>
#include <string>

#include "common/secret_bytes.hpp"
#include "directory/directory.hpp"

namespace kw::directory {

struct LdapConfig {
  // ldap://host:port/BASE-DN?attrs?scope?filter (RFC 4516). The base DN is required;
  // scope defaults to sub, the filter to people and teams:
  // (|(objectClass=inetOrgPerson)(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))
  std::string url;
  std::string bind_dn;  // empty: anonymous
  SecretBytes bind_password;
  std::chrono::seconds timeout{10};
};

// Thread-compatible: one Fetch at a time (the server serializes syncs).
class LdapSource final : public DirectorySource {
 public:
  explicit LdapSource(LdapConfig config) : config_(std::move(config)) {}
  // kUnavailable when the server cannot be reached, times out or refuses the bind
  // (the message names the server and libldap's reason); kInvalidArgument for a bad
  // URL or a search the server rejects (no such base DN, bad filter).
  Result<Snapshot> Fetch() override;
  std::string Describe() const override { return config_.url; }

 private:
  LdapConfig config_;
};

}  // namespace kw::directory
