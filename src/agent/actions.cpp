#include "agent/actions.hpp"

#include <signal.h>

#include <cerrno>
#include <chrono>
#include <nlohmann/json.hpp>

#include "agent/fingerprint.hpp"
#include "agent/state_dir.hpp"
#include "common/time_format.hpp"
#include "crypto/signature.hpp"

namespace kw::agent {
namespace {

std::int64_t UnixSeconds(const Clock& clock) {
  return std::chrono::duration_cast<std::chrono::seconds>(clock.Now().time_since_epoch()).count();
}

std::string Iso(std::int64_t unix_seconds) {
  return FormatIso8601(TimePoint(std::chrono::seconds(unix_seconds)));
}

}  // namespace

Result<std::string> RegisterHost(const RegisterOptions& options, const Clock& clock, PostFn post) {
  KW_ASSIGN_OR_RETURN(ServerUrl server, ParseServerUrl(options.endpoint));
  if (options.activation_code.empty() || options.activation_id.empty() || options.region.empty()) {
    return InvalidArgument("--code, --id and --region are required");
  }
  const StateDir state(options.state_dir);
  KW_RETURN_IF_ERROR(state.Ensure());
  if (auto existing = state.ReadRegistration(); existing && !options.force) {
    return AlreadyExists("this host is already registered as " + existing->instance_id +
                         " (state directory " + options.state_dir.string() +
                         "); use --force to register it again as a new instance");
  }
  KW_ASSIGN_OR_RETURN(crypto::Ed25519KeyPair key, crypto::GenerateEd25519());
  KW_RETURN_IF_ERROR(state.WriteHostKey(key.private_key_pem));

  agentproto::RegisterRequest request;
  request.activation_id = options.activation_id;
  request.activation_code = options.activation_code;
  request.public_key = key.public_key;
  request.fingerprint = ComputeFingerprint(options.identity_root);
  request.computer_name = ComputerName();
  request.ip_address = PrimaryIpAddress(server.host);
  request.agent_version = options.agent_version;
  request.platform = ReadPlatform(options.identity_root);
  if (!post) post = HttpPoster(server, TlsOptions{options.ca_file}, std::chrono::seconds(30));
  KW_ASSIGN_OR_RETURN(agentproto::RegisterResponse response, Register(post, request));

  Registration registration;
  registration.instance_id = response.instance_id;
  registration.endpoint = server.text;
  registration.region = options.region;
  registration.activation_id = options.activation_id;
  registration.fingerprint = request.fingerprint;
  registration.registered_at = UnixSeconds(clock);
  KW_RETURN_IF_ERROR(state.WriteRegistration(registration));
  return response.instance_id;
}

Result<std::string> CredentialProcessOutput(const std::filesystem::path& state_dir,
                                            const std::filesystem::path& identity_root,
                                            const std::string& ca_file, PostFn post) {
  const StateDir state(state_dir);
  KW_ASSIGN_OR_RETURN(Registration registration, state.ReadRegistration());
  KW_ASSIGN_OR_RETURN(SecretBytes key, state.ReadHostKey());
  KW_ASSIGN_OR_RETURN(ServerUrl server, ParseServerUrl(registration.endpoint));
  if (!post) post = HttpPoster(server, TlsOptions{ca_file}, std::chrono::seconds(30));
  KW_ASSIGN_OR_RETURN(
      InstanceCredentials creds,
      ObtainCredentials(post, registration.instance_id, key, ComputeFingerprint(identity_root)));
  const nlohmann::json j = {
      {"Version", 1},
      {"AccessKeyId", creds.credentials.access_key_id},
      {"SecretAccessKey", std::string(creds.credentials.secret_access_key.Reveal())},
      {"SessionToken", creds.credentials.session_token},
      {"Expiration", Iso(creds.expiration)}};
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<std::string> StatusReport(const std::filesystem::path& state_dir,
                                 const std::filesystem::path& identity_root, const Clock& clock) {
  const StateDir state(state_dir);
  auto registration = state.ReadRegistration();
  if (!registration) {
    if (registration.error().code == ErrorCode::kNotFound) {
      return NotFound("not registered (no " + state.registration_path().string() + ")");
    }
    return registration.error();
  }
  std::string out;
  out += "Instance ID:        " + registration->instance_id + "\n";
  out += "Server:             " + registration->endpoint + "\n";
  out += "Region:             " + registration->region + "\n";
  if (registration->registered_at > 0) {
    out += "Registered:         " + Iso(registration->registered_at) + "\n";
  }

  const FingerprintMatch match =
      CompareFingerprints(registration->fingerprint, ComputeFingerprint(identity_root));
  out += "Fingerprint:        ";
  out += match.matches ? "matches" : "DOES NOT MATCH (the server will refuse credentials)";
  out += " (" + std::to_string(static_cast<int>(match.similarity * 100 + 0.5)) + "% similar";
  if (!match.changed.empty()) {
    out += "; changed:";
    for (const std::string& c : match.changed) out += " " + c;
  }
  out += ")\n";

  auto status = state.ReadStatus();
  if (!status) {
    out += "Agent:              never ran (no status.json)\n";
    return out;
  }
  const std::int64_t now = UnixSeconds(clock);
  // EPERM: alive, but run by another user (root) than the one asking.
  const bool alive =
      status->pid > 0 && (::kill(static_cast<pid_t>(status->pid), 0) == 0 || errno == EPERM);
  std::string connection = status->connection;
  if (!alive && connection != "stopped") connection += " (agent not running)";
  out += "Connection:         " + connection + "\n";
  if (!status->detail.empty()) out += "Detail:             " + status->detail + "\n";
  if (status->updated_at > 0) out += "Status updated:     " + Iso(status->updated_at) + "\n";
  if (status->credential_expiration > 0) {
    out += "Credentials expire: " + Iso(status->credential_expiration);
    out += status->credential_expiration <= now ? " (expired)\n" : "\n";
  } else {
    out += "Credentials expire: none obtained\n";
  }
  if (!status->last_command_id.empty()) {
    out += "Last command:       " + status->last_command_id + " " + status->last_command_status;
    if (status->last_command_at > 0) out += " at " + Iso(status->last_command_at);
    out += "\n";
  } else {
    out += "Last command:       none\n";
  }
  return out;
}

}  // namespace kw::agent
