#include "agent/credentials_file.hpp"

#include <chrono>
#include <vector>

#include "common/atomic_file.hpp"
#include "common/strings.hpp"
#include "common/time_format.hpp"

namespace kw::agent {
namespace {

constexpr std::string_view kKeys[] = {"aws_access_key_id", "aws_secret_access_key",
                                      "aws_session_token", "x_keyward_expiration"};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// The section name if `line` is a header "[name]", else nullopt.
std::optional<std::string_view> HeaderName(std::string_view line) {
  const std::string_view t = Trim(line);
  if (t.size() < 2 || t.front() != '[' || t.back() != ']') return std::nullopt;
  return Trim(t.substr(1, t.size() - 2));
}

// The lower-cased key of a `key = value` line, or "" for anything else.
std::string KeyOf(std::string_view line) {
  const std::string_view t = Trim(line);
  if (t.empty() || t.front() == '#' || t.front() == ';') return {};
  const auto delim = t.find_first_of("=:");
  if (delim == std::string_view::npos) return {};
  return ToLowerAscii(Trim(t.substr(0, delim)));
}

bool IsOurKey(std::string_view key) {
  for (std::string_view k : kKeys) {
    if (k == key) return true;
  }
  return false;
}

// `text` with section [profile] holding `block` in place of any of kKeys; the section is
// appended if absent. Every byte outside the replaced keys is kept.
std::string ReplaceProfileBlock(std::string_view text, std::string_view profile,
                                const std::string& block) {
  std::string out;
  out.reserve(text.size() + block.size() + 64);
  bool in_ours = false;
  bool found = false;
  bool skipping_continuation = false;  // inside a multi-line value of a replaced key
  while (!text.empty()) {
    const auto nl = text.find('\n');
    const bool has_nl = nl != std::string_view::npos;
    const std::string_view line = text.substr(0, has_nl ? nl : text.size());
    text.remove_prefix(has_nl ? nl + 1 : text.size());

    if (auto name = HeaderName(line)) {
      in_ours = !found && *name == profile;
      skipping_continuation = false;
      out += line;
      out += '\n';
      if (in_ours) {
        found = true;
        out += block;
      }
      continue;
    }
    if (in_ours) {
      const bool indented = !line.empty() && (line.front() == ' ' || line.front() == '\t');
      if (skipping_continuation && indented && !Trim(line).empty()) continue;
      skipping_continuation = false;
      if (!indented && IsOurKey(KeyOf(line))) {
        skipping_continuation = true;
        continue;
      }
    }
    out += line;
    if (has_nl) out += '\n';
  }
  if (!found) {
    if (!out.empty() && out.back() != '\n') out += '\n';
    if (!out.empty()) out += '\n';
    out += "[";
    out += profile;
    out += "]\n";
    out += block;
  }
  return out;
}

}  // namespace

Status ValidateProfileName(std::string_view profile) {
  if (profile.empty()) return InvalidArgument("the profile name is empty");
  if (EqualsIgnoreCase(profile, "default")) {
    return InvalidArgument(
        "refusing to write the [default] profile: choose a profile of the agent's own");
  }
  if (profile.find_first_of("[]\r\n") != std::string_view::npos || Trim(profile) != profile) {
    return InvalidArgument(
        "the profile name may not contain brackets, line breaks or "
        "leading or trailing blanks");
  }
  return OkStatus();
}

Result<std::string> SetProfileCredentials(std::string_view text, std::string_view profile,
                                          const sigv4::Credentials& credentials,
                                          std::int64_t expiration) {
  KW_RETURN_IF_ERROR(ValidateProfileName(profile));
  const std::string_view values[] = {
      credentials.access_key_id, credentials.secret_access_key.Reveal(), credentials.session_token};
  for (std::string_view v : values) {
    if (v.find_first_of("\r\n") != std::string_view::npos) {
      return InvalidArgument("a credential holds a line break");
    }
  }
  std::string block;
  block += "aws_access_key_id = " + credentials.access_key_id + "\n";
  block += "aws_secret_access_key = ";
  block += credentials.secret_access_key.Reveal();
  block += "\n";
  block += "aws_session_token = " + credentials.session_token + "\n";
  block +=
      "x_keyward_expiration = " + FormatIso8601(TimePoint(std::chrono::seconds(expiration))) + "\n";

  return ReplaceProfileBlock(text, profile, block);
}

Result<std::string> SetProfileAccessKey(std::string_view text, std::string_view profile,
                                        std::string_view access_key_id,
                                        std::string_view secret_access_key) {
  if (profile.empty() || profile.find_first_of("[]\r\n") != std::string_view::npos ||
      Trim(profile) != profile) {
    return InvalidArgument(
        "the profile name must be non-empty without brackets, line breaks or leading or "
        "trailing blanks");
  }
  for (std::string_view v : {access_key_id, secret_access_key}) {
    if (v.empty() || v.find_first_of("\r\n") != std::string_view::npos) {
      return InvalidArgument("an access key is empty or holds a line break");
    }
  }
  std::string block = "aws_access_key_id = " + std::string(access_key_id) + "\n";
  block += "aws_secret_access_key = ";
  block += secret_access_key;
  block += "\n";
  return ReplaceProfileBlock(text, profile, block);
}

Status WriteProfileCredentials(const std::filesystem::path& path, std::string_view profile,
                               const sigv4::Credentials& credentials, std::int64_t expiration) {
  std::string current;
  auto read = ReadFileLimited(path, 16 << 20);
  if (read) {
    current = std::move(*read);
  } else if (read.error().code != ErrorCode::kNotFound) {
    return read.error();
  }
  KW_ASSIGN_OR_RETURN(std::string updated,
                      SetProfileCredentials(current, profile, credentials, expiration));
  return WriteFileAtomic(path, updated, 0600);
}

}  // namespace kw::agent
