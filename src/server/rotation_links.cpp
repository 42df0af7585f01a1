#include "server/rotation_links.hpp"

namespace kw::server {

Result<std::optional<rotation::RotationPolicy>> EngineSecretRotationLink::PolicyFor(
    std::string_view name, std::string_view arn) {
  KW_ASSIGN_OR_RETURN(auto policy, engine_.FindPolicyForSecret(name));
  if (policy || arn.empty()) return policy;
  return engine_.FindPolicyForSecret(arn);
}

Result<std::optional<api::SecretRotationLink::State>> EngineSecretRotationLink::Find(
    std::string_view name, std::string_view arn) {
  KW_ASSIGN_OR_RETURN(auto policy, PolicyFor(name, arn));
  if (!policy) return std::optional<State>();
  return std::optional<State>(State{policy->next_rotation, policy->last_rotated});
}

Result<std::optional<std::string>> EngineSecretRotationLink::RotateNow(std::string_view name,
                                                                       std::string_view arn) {
  KW_ASSIGN_OR_RETURN(auto policy, PolicyFor(name, arn));
  if (!policy) return std::optional<std::string>();
  KW_ASSIGN_OR_RETURN(rotation::Rotation r, engine_.RotateNow(policy->policy_id));
  // Empty while queued: the version is named when the rotation creates the key.
  return std::optional<std::string>(r.new_version_id);
}

std::string AttemptSource(const api::ObservedRequest& request) {
  std::string source = request.source_ip.empty() ? "unknown address" : request.source_ip;
  if (request.principal && !request.principal->instance_id.empty()) {
    source += " instance " + request.principal->instance_id;
  }
  return source;
}

void KeyAttemptObserver::OnRequest(const api::ObservedRequest& request) {
  if (!request.key_inactive || request.access_key_id.empty()) return;
  log_.RecordRejected(request.access_key_id, AttemptSource(request), request.time);
}

}  // namespace kw::server
