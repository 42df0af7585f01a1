#include "rotation/builtin/secrets_target.hpp"

#include <algorithm>

namespace kw::rotation::builtin {
namespace {

Result<SecretVersion> ToVersion(secrets::SecretValue v) {
  if (v.binary) {
    return InvalidArgument(
        "secret " + v.name + " holds SecretBinary; rotation needs SecretString JSON",
        "InvalidSecretFormat");
  }
  return SecretVersion{std::move(v.version_id), std::move(v.bytes)};
}

}  // namespace

Result<SecretVersion> SecretsTarget::GetCurrent(std::string_view secret_id) {
  KW_ASSIGN_OR_RETURN(secrets::SecretValue v,
                      secrets_.GetSecretValue(secret_id, std::nullopt, secrets::kCurrent));
  return ToVersion(std::move(v));
}

Result<std::optional<SecretVersion>> SecretsTarget::GetVersion(std::string_view secret_id,
                                                               std::string_view version_id) {
  auto v = secrets_.GetSecretValue(secret_id, version_id, std::nullopt);
  if (!v) {
    if (v.error().code != ErrorCode::kNotFound) return v.error();
    // Tell "no such version" (nullopt) from "no such secret" (an error).
    KW_RETURN_IF_ERROR(secrets_.DescribeSecret(secret_id));
    return std::optional<SecretVersion>();
  }
  KW_ASSIGN_OR_RETURN(SecretVersion out, ToVersion(std::move(v).value()));
  return std::optional<SecretVersion>(std::move(out));
}

Status SecretsTarget::PutPending(std::string_view secret_id, std::string_view token,
                                 const SecretBytes& value) {
  secrets::PutSecretValueRequest req;
  req.secret_id = std::string(secret_id);
  req.client_request_token = std::string(token);
  req.value = secrets::SecretValueInput{false, value.Clone()};
  req.stages = std::vector<std::string>{secrets::kPending};
  KW_RETURN_IF_ERROR(secrets_.PutSecretValue(req));
  return OkStatus();
}

Status SecretsTarget::Promote(std::string_view secret_id, std::string_view version_id) {
  KW_ASSIGN_OR_RETURN(secrets::SecretDescription d, secrets_.DescribeSecret(secret_id));
  auto holder_of = [&](const std::string& stage) -> std::optional<std::string> {
    for (const auto& [vid, stages] : d.version_stages) {
      if (std::find(stages.begin(), stages.end(), stage) != stages.end()) return vid;
    }
    return std::nullopt;
  };
  const std::string vid(version_id);
  if (const auto current = holder_of(secrets::kCurrent); current != vid) {
    secrets::UpdateStageRequest move;
    move.secret_id = std::string(secret_id);
    move.stage = secrets::kCurrent;
    move.move_to_version_id = vid;
    move.remove_from_version_id = current;
    KW_RETURN_IF_ERROR(secrets_.UpdateSecretVersionStage(move));
  }
  if (holder_of(secrets::kPending) == vid) {
    secrets::UpdateStageRequest drop;
    drop.secret_id = std::string(secret_id);
    drop.stage = secrets::kPending;
    drop.remove_from_version_id = vid;
    KW_RETURN_IF_ERROR(secrets_.UpdateSecretVersionStage(drop));
  }
  return OkStatus();
}

}  // namespace kw::rotation::builtin
