#include "awsclient/credential_chain.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <vector>

#include "awsclient/ini.hpp"

namespace kw::awsclient {
namespace {

constexpr std::string_view kDefaultRegion = "us-east-1";

std::string ExpandHome(std::string path, const EnvLookup& env) {
  if (path == "~" || path.rfind("~/", 0) == 0) {
    const std::string home = env("HOME").value_or("");
    path = home + path.substr(1);
  }
  return path;
}

// A shared file: absent (not an error: the provider just has nothing), or parsed.
struct LoadedFile {
  bool exists = false;
  IniSections sections;
};

Result<LoadedFile> LoadIni(const std::string& path) {
  LoadedFile out;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return out;
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument("cannot read " + path);
  std::ostringstream buf;
  buf << in.rdbuf();
  auto parsed = ParseIni(buf.str());
  if (!parsed) return InvalidArgument(path + ": " + parsed.error().message);
  out.exists = true;
  out.sections = std::move(*parsed);
  return out;
}

// Outcome of one provider: credentials, or why not (for the error message).
struct Attempt {
  std::optional<sigv4::Credentials> credentials;
  std::string why_not;
};

// Reads the key triple from a section. A key id without a secret (or the reverse) is
// a configuration mistake that the AWS CLI reports rather than skipping past.
Result<Attempt> FromSection(const std::map<std::string, std::string>& section,
                            const std::string& where, const std::string& profile) {
  Attempt a;
  auto get = [&](const char* key) -> std::string {
    auto it = section.find(key);
    return it == section.end() ? std::string() : it->second;
  };
  const std::string id = get("aws_access_key_id");
  SecretBytes secret(get("aws_secret_access_key"));
  if (id.empty() && secret.empty()) {
    a.why_not = "profile '" + profile + "' has no aws_access_key_id";
    return a;
  }
  if (id.empty() || secret.empty()) {
    return InvalidArgument(where + ": profile '" + profile + "' sets " +
                           (id.empty() ? "aws_secret_access_key but not aws_access_key_id"
                                       : "aws_access_key_id but not aws_secret_access_key"));
  }
  std::string token = get("aws_session_token");
  if (token.empty()) token = get("aws_security_token");
  a.credentials = sigv4::Credentials{id, std::move(secret), std::move(token)};
  return a;
}

const std::map<std::string, std::string>* ConfigSection(const LoadedFile& file,
                                                        const std::string& profile) {
  auto it = file.sections.find("profile " + profile);
  if (it != file.sections.end()) return &it->second;
  if (profile == "default") {
    it = file.sections.find("default");
    if (it != file.sections.end()) return &it->second;
  }
  return nullptr;
}

}  // namespace

EnvLookup ProcessEnvironment() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (v == nullptr || *v == '\0') return std::nullopt;
    return std::string(v);
  };
}

EnvLookup MapEnvironment(std::map<std::string, std::string, std::less<>> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end() || it->second.empty()) return std::nullopt;
    return it->second;
  };
}

std::string SharedCredentialsPath(const EnvLookup& env) {
  return ExpandHome(env("AWS_SHARED_CREDENTIALS_FILE").value_or("~/.aws/credentials"), env);
}

std::string ConfigFilePath(const EnvLookup& env) {
  return ExpandHome(env("AWS_CONFIG_FILE").value_or("~/.aws/config"), env);
}

Result<StaticChainResult> ResolveStaticChain(const ChainOptions& options, const EnvLookup& env) {
  StaticChainResult result;
  ResolvedCredentials out;
  std::vector<std::string>& tried = result.tried;
  auto found = [&]() -> Result<StaticChainResult> {
    result.profile = out.profile;
    result.region = out.region;
    result.found = std::move(out);
    return std::move(result);
  };
  out.profile = options.profile.value_or(
      env("AWS_PROFILE").value_or(env("AWS_DEFAULT_PROFILE").value_or("default")));

  const std::string config_path = ConfigFilePath(env);
  KW_ASSIGN_OR_RETURN(LoadedFile config, LoadIni(config_path));
  const auto* config_section = ConfigSection(config, out.profile);
  if (config_section != nullptr) result.config_profile = *config_section;

  // Region first: it does not depend on which provider yields the credentials.
  if (options.region) {
    out.region = *options.region;
  } else if (auto r = env("AWS_REGION")) {
    out.region = *r;
  } else if (auto r2 = env("AWS_DEFAULT_REGION")) {
    out.region = *r2;
  } else if (config_section != nullptr && config_section->count("region") &&
             !config_section->at("region").empty()) {
    out.region = config_section->at("region");
  } else {
    out.region = std::string(kDefaultRegion);
  }

  // 1. environment
  if (options.profile) {
    tried.push_back("environment (skipped: --profile given)");
  } else {
    auto id = env("AWS_ACCESS_KEY_ID");
    auto secret = env("AWS_SECRET_ACCESS_KEY");
    if (id && secret) {
      auto token = env("AWS_SESSION_TOKEN");
      if (!token) token = env("AWS_SECURITY_TOKEN");
      out.credentials =
          sigv4::Credentials{*id, SecretBytes(std::move(*secret)), token.value_or("")};
      out.source = "environment";
      return found();
    }
    if (id || secret) {
      return InvalidArgument(std::string("environment: ") +
                             (id ? "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"
                                 : "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not"));
    }
    tried.push_back("environment (AWS_ACCESS_KEY_ID unset)");
  }

  // 2. shared credentials file
  const std::string cred_path = SharedCredentialsPath(env);
  KW_ASSIGN_OR_RETURN(LoadedFile creds, LoadIni(cred_path));
  const std::string cred_where = "shared credentials file " + cred_path;
  if (!creds.exists) {
    tried.push_back(cred_where + " (file not found)");
  } else if (auto it = creds.sections.find(out.profile); it == creds.sections.end()) {
    tried.push_back(cred_where + " (profile '" + out.profile + "' not found)");
  } else {
    KW_ASSIGN_OR_RETURN(Attempt a, FromSection(it->second, cred_where, out.profile));
    if (a.credentials) {
      out.credentials = std::move(*a.credentials);
      out.source = cred_where;
      return found();
    }
    tried.push_back(cred_where + " (" + a.why_not + ")");
  }

  // 3. config file
  const std::string config_where = "config file " + config_path;
  if (!config.exists) {
    tried.push_back(config_where + " (file not found)");
  } else if (config_section == nullptr) {
    tried.push_back(config_where + " (profile '" + out.profile + "' not found)");
  } else {
    KW_ASSIGN_OR_RETURN(Attempt a, FromSection(*config_section, config_where, out.profile));
    if (a.credentials) {
      out.credentials = std::move(*a.credentials);
      out.source = config_where;
      return found();
    }
    tried.push_back(config_where + " (" + a.why_not + ")");
  }

  result.profile = out.profile;
  result.region = out.region;
  return result;
}

std::string NoCredentialsMessage(const std::vector<std::string>& tried) {
  std::string message = "no credentials: tried ";
  for (std::size_t i = 0; i < tried.size(); ++i) {
    if (i > 0) message += ", ";
    message += tried[i];
  }
  return message;
}

Result<ResolvedCredentials> ResolveCredentials(const ChainOptions& options, const EnvLookup& env) {
  KW_ASSIGN_OR_RETURN(StaticChainResult r, ResolveStaticChain(options, env));
  if (r.found) return std::move(*r.found);
  return Unauthenticated(NoCredentialsMessage(r.tried));
}

}  // namespace kw::awsclient
