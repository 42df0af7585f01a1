#include "awsclient/credential_sources.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "awsclient/query_response.hpp"
#include "common/time_format.hpp"

extern char** environ;

namespace kw::awsclient {
namespace {

constexpr std::size_t kMaxProcessOutput = 64 << 10;

std::string Lookup(const std::map<std::string, std::string>& m, const char* key) {
  auto it = m.find(key);
  return it == m.end() ? std::string() : it->second;
}

}  // namespace

ProvidedCredentials ProvidedCredentials::Clone() const {
  return ProvidedCredentials{
      sigv4::Credentials{credentials.access_key_id, credentials.secret_access_key.Clone(),
                         credentials.session_token},
      expiration, source};
}

CachingCredentialProvider::CachingCredentialProvider(CredentialProvider& inner, const Clock& clock,
                                                     std::chrono::seconds refresh_before,
                                                     std::chrono::seconds recheck_every)
    : inner_(inner),
      clock_(clock),
      refresh_before_(refresh_before),
      recheck_every_(recheck_every) {}

Result<ProvidedCredentials> CachingCredentialProvider::Get() {
  std::lock_guard lock(mu_);
  const TimePoint now = clock_.Now();
  if (cached_) {
    const bool fresh = cached_->expiration ? now < *cached_->expiration - refresh_before_
                                           : now < fetched_at_ + recheck_every_;
    if (fresh) return cached_->Clone();
  }
  auto got = inner_.Get();
  if (got && got->expiration && *got->expiration <= now) {
    got = Unauthenticated("the credentials from " + got->source + " expired at " +
                          FormatIso8601(*got->expiration));
  }
  if (!got) {
    // Renewal failed: keep using what we have while it is still valid.
    if (cached_ && (!cached_->expiration || now < *cached_->expiration)) {
      return cached_->Clone();
    }
    cached_.reset();
    return got.error();
  }
  cached_ = got->Clone();
  fetched_at_ = now;
  return std::move(*got);
}

ProcessRunner ShellProcessRunner() {
  return [](const std::string& command, std::chrono::milliseconds timeout) -> Result<std::string> {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return Unavailable("credential_process: pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
    pid_t pid = 0;
    const int rc =
        posix_spawn(&pid, "/bin/sh", &actions, nullptr, const_cast<char**>(argv), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    if (rc != 0) {
      close(fds[0]);
      return Unavailable("credential_process: cannot start /bin/sh");
    }
    std::string out;
    bool timed_out = false;
    bool too_large = false;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        timed_out = true;
        break;
      }
      pollfd p{fds[0], POLLIN, 0};
      const int n = poll(&p, 1, static_cast<int>(left.count()));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        timed_out = n == 0;
        break;
      }
      char buf[4096];
      const ssize_t got = read(fds[0], buf, sizeof buf);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) break;  // EOF
      out.append(buf, static_cast<std::size_t>(got));
      if (out.size() > kMaxProcessOutput) {
        too_large = true;
        break;
      }
    }
    close(fds[0]);
    if (timed_out || too_large) kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (timed_out) {
      return Unavailable("credential_process timed out after " + std::to_string(timeout.count()) +
                         " ms");
    }
    if (too_large) return Unavailable("credential_process wrote more than 64 KiB");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      return Unavailable("credential_process failed (exit status " +
                         std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + ")");
    }
    return out;
  };
}

Result<ProvidedCredentials> ParseProcessCredentials(std::string_view output) {
  const nlohmann::json j = nlohmann::json::parse(output, nullptr, false);
  if (!j.is_object()) return InvalidArgument("credential_process output is not a JSON object");
  if (!j.contains("Version") || !j["Version"].is_number_integer() || j["Version"] != 1) {
    return InvalidArgument("credential_process output must have \"Version\": 1");
  }
  auto str = [&](const char* key) -> std::string {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  ProvidedCredentials out;
  out.credentials.access_key_id = str("AccessKeyId");
  out.credentials.secret_access_key = SecretBytes(str("SecretAccessKey"));
  out.credentials.session_token = str("SessionToken");
  if (out.credentials.access_key_id.empty()) {
    return InvalidArgument("credential_process output lacks AccessKeyId");
  }
  if (out.credentials.secret_access_key.empty()) {
    return InvalidArgument("credential_process output lacks SecretAccessKey");
  }
  if (const std::string exp = str("Expiration"); !exp.empty()) {
    out.expiration = ParseIso8601(exp);
    if (!out.expiration) {
      return InvalidArgument("credential_process output has a malformed Expiration");
    }
  }
  return out;
}

Result<std::optional<ProvidedCredentials>> WebIdentityCredentials(
    const EnvLookup& env, const std::map<std::string, std::string>& profile,
    const std::string& region, HttpTransport& transport, std::string& why_not) {
  std::string token_file = env("AWS_WEB_IDENTITY_TOKEN_FILE").value_or("");
  std::string role_arn = env("AWS_ROLE_ARN").value_or("");
  std::string session = env("AWS_ROLE_SESSION_NAME").value_or("");
  if (token_file.empty() && role_arn.empty()) {
    token_file = Lookup(profile, "web_identity_token_file");
    role_arn = Lookup(profile, "role_arn");
    if (session.empty()) session = Lookup(profile, "role_session_name");
  }
  if (token_file.empty() || role_arn.empty()) {
    why_not = "AWS_WEB_IDENTITY_TOKEN_FILE/AWS_ROLE_ARN unset";
    return std::optional<ProvidedCredentials>();
  }
  if (session.empty()) session = "keyward-" + std::to_string(::getpid());
  std::ifstream in(token_file, std::ios::binary);
  if (!in) return Unauthenticated("web identity: cannot read token file " + token_file);
  std::ostringstream buf;
  buf << in.rdbuf();
  std::string token = buf.str();
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  if (token.empty()) return Unauthenticated("web identity: token file " + token_file + " is empty");

  std::string endpoint =
      env("AWS_ENDPOINT_URL_STS")
          .value_or(env("AWS_ENDPOINT_URL").value_or("https://sts." + region + ".amazonaws.com"));
  KW_ASSIGN_OR_RETURN(ParsedUrl url, ParseUrl(endpoint));
  // AssumeRoleWithWebIdentity is unsigned: the token is the proof.
  ClientRequest request;
  request.method = "POST";
  request.url = endpoint;
  request.body = EncodeQueryForm(
      "AssumeRoleWithWebIdentity", "2011-06-15",
      {{"RoleArn", role_arn}, {"RoleSessionName", session}, {"WebIdentityToken", token}});
  request.headers = {{"Host", url.host_header},
                     {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
  auto response = transport.Send(request);
  if (!response)
    return Unavailable("web identity: STS " + endpoint + ": " + response.error().message);
  if (response->status >= 400) {
    Error e = ParseQueryError(response->status, response->body);
    e.message = "web identity: AssumeRoleWithWebIdentity for " + role_arn + ": " + e.message;
    return e;
  }
  KW_ASSIGN_OR_RETURN(xml::Node result,
                      ParseQueryResult("AssumeRoleWithWebIdentity", response->body));
  ProvidedCredentials out;
  out.credentials.access_key_id = result.TextAt("Credentials/AccessKeyId");
  out.credentials.secret_access_key = SecretBytes(result.TextAt("Credentials/SecretAccessKey"));
  out.credentials.session_token = result.TextAt("Credentials/SessionToken");
  out.expiration = ParseIso8601(result.TextAt("Credentials/Expiration"));
  if (out.credentials.access_key_id.empty() || out.credentials.secret_access_key.empty()) {
    return Unavailable("web identity: STS returned no credentials");
  }
  out.source = "web identity (" + role_arn + ")";
  return std::optional<ProvidedCredentials>(std::move(out));
}

Result<std::optional<ProvidedCredentials>> ImdsCredentials(const EnvLookup& env,
                                                           HttpTransport& transport,
                                                           std::string& why_not) {
  if (env("AWS_EC2_METADATA_DISABLED").value_or("") == "true") {
    why_not = "AWS_EC2_METADATA_DISABLED=true";
    return std::optional<ProvidedCredentials>();
  }
  std::string base = env("AWS_EC2_METADATA_SERVICE_ENDPOINT").value_or("http://169.254.169.254");
  while (!base.empty() && base.back() == '/') base.pop_back();
  KW_ASSIGN_OR_RETURN(ParsedUrl url, ParseUrl(base));
  ClientRequest put;
  put.method = "PUT";
  put.url = base + "/latest/api/token";
  put.headers = {{"Host", url.host_header}, {"X-aws-ec2-metadata-token-ttl-seconds", "21600"}};
  auto token = transport.Send(put);
  if (!token) {
    // Not on EC2 (or IMDS blocked): the provider simply has nothing.
    why_not = base + " unreachable";
    return std::optional<ProvidedCredentials>();
  }
  if (token->status != 200 || token->body.empty()) {
    why_not = base + " refused a session token (HTTP " + std::to_string(token->status) + ")";
    return std::optional<ProvidedCredentials>();
  }
  auto get = [&](const std::string& path) -> Result<ClientResponse> {
    ClientRequest r;
    r.method = "GET";
    r.url = base + path;
    r.headers = {{"Host", url.host_header}, {"X-aws-ec2-metadata-token", token->body}};
    return transport.Send(r);
  };
  const std::string prefix = "/latest/meta-data/iam/security-credentials/";
  KW_ASSIGN_OR_RETURN(ClientResponse roles, get(prefix));
  if (roles.status == 404 || (roles.status == 200 && roles.body.empty())) {
    why_not = "no instance role at " + base;
    return std::optional<ProvidedCredentials>();
  }
  if (roles.status != 200) {
    return Unavailable("IMDS: listing roles gave HTTP " + std::to_string(roles.status));
  }
  std::string role = roles.body.substr(0, roles.body.find('\n'));
  while (!role.empty() && (role.back() == '\r' || role.back() == ' ')) role.pop_back();
  KW_ASSIGN_OR_RETURN(ClientResponse creds, get(prefix + role));
  if (creds.status != 200) {
    return Unavailable("IMDS: credentials of role " + role + " gave HTTP " +
                       std::to_string(creds.status));
  }
  const nlohmann::json j = nlohmann::json::parse(creds.body, nullptr, false);
  auto str = [&](const char* key) -> std::string {
    if (!j.is_object()) return {};
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  ProvidedCredentials out;
  out.credentials.access_key_id = str("AccessKeyId");
  out.credentials.secret_access_key = SecretBytes(str("SecretAccessKey"));
  out.credentials.session_token = str("Token");
  out.expiration = ParseIso8601(str("Expiration"));
  if (out.credentials.access_key_id.empty() || out.credentials.secret_access_key.empty()) {
    return Unavailable("IMDS: the credentials of role " + role + " are incomplete");
  }
  out.source = "instance metadata (role " + role + ")";
  return std::optional<ProvidedCredentials>(std::move(out));
}

DefaultChainProvider::DefaultChainProvider(ChainOptions options, DefaultChainDeps deps)
    : options_(std::move(options)), deps_(std::move(deps)) {}

Result<ProvidedCredentials> DefaultChainProvider::Get() {
  KW_ASSIGN_OR_RETURN(StaticChainResult chain, ResolveStaticChain(options_, deps_.env));
  if (chain.found) {
    return ProvidedCredentials{std::move(chain.found->credentials), std::nullopt,
                               chain.found->source};
  }
  std::vector<std::string>& tried = chain.tried;

  // 4. web identity
  if (deps_.sts_transport == nullptr) {
    tried.push_back("web identity (no transport)");
  } else {
    std::string why;
    auto r = WebIdentityCredentials(deps_.env, chain.config_profile, chain.region,
                                    *deps_.sts_transport, why);
    if (!r) return r.error();  // configured but failing: say so rather than go on
    if (*r) return std::move(**r);
    tried.push_back("web identity (" + why + ")");
  }

  // 5. credential_process
  const std::string process = Lookup(chain.config_profile, "credential_process");
  if (process.empty() || !deps_.run_process) {
    tried.push_back("credential_process (profile '" + chain.profile + "' has none)");
  } else {
    auto output = deps_.run_process(process, deps_.process_timeout);
    if (!output) {
      return Unauthenticated("credential_process of profile '" + chain.profile +
                             "': " + output.error().message);
    }
    auto parsed = ParseProcessCredentials(*output);
    if (!parsed) {
      return Unauthenticated("credential_process of profile '" + chain.profile +
                             "': " + parsed.error().message);
    }
    parsed->source = "credential_process (profile '" + chain.profile + "')";
    return std::move(*parsed);
  }

  // 6. IMDSv2
  if (deps_.imds_transport == nullptr) {
    tried.push_back("instance metadata (disabled)");
  } else {
    std::string why;
    auto r = ImdsCredentials(deps_.env, *deps_.imds_transport, why);
    if (!r) return r.error();
    if (*r) return std::move(**r);
    tried.push_back("instance metadata (" + why + ")");
  }
  return Unauthenticated(NoCredentialsMessage(tried));
}

}  // namespace kw::awsclient
