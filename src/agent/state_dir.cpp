#include "agent/state_dir.hpp"

#include <nlohmann/json.hpp>

#include "common/atomic_file.hpp"

namespace kw::agent {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxStateFile = 1 << 20;

Result<json> ReadJson(const std::filesystem::path& path) {
  KW_ASSIGN_OR_RETURN(std::string text, ReadFileLimited(path, kMaxStateFile));
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return FailedPrecondition(path.string() + " is not a JSON object");
  }
  return j;
}

std::string Str(const json& j, const char* name) {
  auto it = j.find(name);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::int64_t Int(const json& j, const char* name) {
  auto it = j.find(name);
  return it != j.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

}  // namespace

Status StateDir::Ensure() const {
  KW_RETURN_IF_ERROR(EnsurePrivateDir(root_));
  return EnsurePrivateDir(work_dir());
}

Result<SecretBytes> StateDir::ReadHostKey() const {
  KW_ASSIGN_OR_RETURN(std::string pem, ReadFileLimited(host_key_path(), 64 * 1024));
  return SecretBytes(std::move(pem));
}

Status StateDir::WriteHostKey(const SecretBytes& pem) const {
  return WriteFileAtomic(host_key_path(), pem.Reveal(), 0600);
}

Result<Registration> StateDir::ReadRegistration() const {
  KW_ASSIGN_OR_RETURN(json j, ReadJson(registration_path()));
  Registration r;
  r.instance_id = Str(j, "InstanceId");
  r.endpoint = Str(j, "Endpoint");
  r.region = Str(j, "Region");
  r.activation_id = Str(j, "ActivationId");
  r.registered_at = Int(j, "RegisteredAt");
  if (auto it = j.find("Fingerprint"); it != j.end() && it->is_object()) {
    for (const auto& [k, v] : it->items()) {
      if (v.is_string()) r.fingerprint[k] = v.get<std::string>();
    }
  }
  if (r.instance_id.empty() || r.endpoint.empty() || r.region.empty()) {
    return FailedPrecondition(registration_path().string() +
                              " lacks InstanceId, Endpoint or Region");
  }
  return r;
}

Status StateDir::WriteRegistration(const Registration& r) const {
  json fp = json::object();
  for (const auto& [k, v] : r.fingerprint) fp[k] = v;
  const json j = {
      {"InstanceId", r.instance_id},     {"Endpoint", r.endpoint},          {"Region", r.region},
      {"ActivationId", r.activation_id}, {"RegisteredAt", r.registered_at}, {"Fingerprint", fp}};
  return WriteFileAtomic(registration_path(),
                         j.dump(2, ' ', false, json::error_handler_t::replace) + "\n", 0600);
}

Result<AgentStatus> StateDir::ReadStatus() const {
  KW_ASSIGN_OR_RETURN(json j, ReadJson(status_path()));
  AgentStatus s;
  s.pid = Int(j, "Pid");
  s.updated_at = Int(j, "UpdatedAt");
  s.connection = Str(j, "Connection");
  s.detail = Str(j, "Detail");
  s.credential_expiration = Int(j, "CredentialExpiration");
  s.last_command_id = Str(j, "LastCommandId");
  s.last_command_status = Str(j, "LastCommandStatus");
  s.last_command_at = Int(j, "LastCommandAt");
  return s;
}

Status StateDir::WriteStatus(const AgentStatus& s) const {
  const json j = {{"Pid", s.pid},
                  {"UpdatedAt", s.updated_at},
                  {"Connection", s.connection},
                  {"Detail", s.detail},
                  {"CredentialExpiration", s.credential_expiration},
                  {"LastCommandId", s.last_command_id},
                  {"LastCommandStatus", s.last_command_status},
                  {"LastCommandAt", s.last_command_at}};
  return WriteFileAtomic(status_path(),
                         j.dump(2, ' ', false, json::error_handler_t::replace) + "\n", 0644);
}

}  // namespace kw::agent
