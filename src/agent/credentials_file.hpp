#pragma once

// Writes the instance credentials into an AWS shared-credentials file under the agent's
// own profile, leaving every other profile, every comment and the layout untouched. The
// SSM agent rewrites root's [default] profile every half hour, a well-known trap that
// breaks any key the host had of its own; keyward-agent refuses `default` outright.
// Pure text functions plus one atomic write; thread-safe.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "sigv4/sigv4.hpp"

namespace kw::agent {

// kInvalidArgument for an empty name, `default` (any case), or one holding '[', ']',
// a line break or leading/trailing blanks.
Status ValidateProfileName(std::string_view profile);

// `text` with section [profile] holding aws_access_key_id, aws_secret_access_key and
// aws_session_token from `credentials` (and x_keyward_expiration, ISO 8601, for people
// reading the file). Other keys and comments inside that section are kept; the section
// is appended if absent. Every byte outside the section is kept as it was.
Result<std::string> SetProfileCredentials(std::string_view text, std::string_view profile,
                                          const sigv4::Credentials& credentials,
                                          std::int64_t expiration);

// `text` with section [profile] (`default` allowed) holding exactly aws_access_key_id and
// aws_secret_access_key: a long-term key as agent secret sync installs it. Any
// aws_session_token or x_keyward_expiration of that section is removed (a stale token
// would break the key); everything else is kept as SetProfileCredentials does.
Result<std::string> SetProfileAccessKey(std::string_view text, std::string_view profile,
                                        std::string_view access_key_id,
                                        std::string_view secret_access_key);

// Reads `path` (absent reads as empty), applies SetProfileCredentials and replaces the
// file atomically with mode 0600. The parent directory must exist.
Status WriteProfileCredentials(const std::filesystem::path& path, std::string_view profile,
                               const sigv4::Credentials& credentials, std::int64_t expiration);

}  // namespace kw::agent
