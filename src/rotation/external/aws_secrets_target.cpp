#include "rotation/external/aws_secrets_target.hpp"

#include <algorithm>

#include "rotation/external/aws_json_errors.hpp"

namespace kw::rotation::external {
namespace {

using awsclient::Idempotency;
using nlohmann::json;

constexpr const char* kCurrent = "AWSCURRENT";
constexpr const char* kPending = "AWSPENDING";

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The version holding `stage` in DescribeSecret's VersionIdsToStages; empty if none.
std::string HolderOf(const json& description, std::string_view stage) {
  auto map = description.find("VersionIdsToStages");
  if (map == description.end() || !map->is_object()) return {};
  for (const auto& [vid, stages] : map->items()) {
    if (!stages.is_array()) continue;
    for (const auto& s : stages) {
      if (s.is_string() && s.get<std::string>() == stage) return vid;
    }
  }
  return {};
}

}  // namespace

Result<std::unique_ptr<AwsSecretsTarget>> AwsSecretsTarget::Create(
    awsclient::AwsConnection& connection, std::string endpoint) {
  if (endpoint.empty())
    endpoint = "https://secretsmanager." + connection.region() + ".amazonaws.com";
  KW_ASSIGN_OR_RETURN(awsclient::QueryClient client, connection.Client(std::move(endpoint)));
  return std::make_unique<AwsSecretsTarget>(std::move(client));
}

Result<SecretVersion> AwsSecretsTarget::Get(const json& input) {
  KW_ASSIGN_OR_RETURN(json out, Mapped(client_.CallJson(kSecretsManager, "GetSecretValue", input)));
  auto s = out.find("SecretString");
  if (s == out.end() || !s->is_string()) {
    return InvalidArgument(
        "secret " + Str(out, "Name") + " holds SecretBinary; rotation needs SecretString JSON",
        "InvalidSecretFormat");
  }
  SecretVersion v{Str(out, "VersionId"), SecretBytes(s->get<std::string>())};
  // Wipe the clear text the JSON document held as soon as it is copied.
  s->get_ref<std::string&>().assign(s->get_ref<std::string&>().size(), '\0');
  return v;
}

Result<SecretVersion> AwsSecretsTarget::GetCurrent(std::string_view secret_id) {
  return Get(json{{"SecretId", secret_id}, {"VersionStage", kCurrent}});
}

Result<std::optional<SecretVersion>> AwsSecretsTarget::GetVersion(std::string_view secret_id,
                                                                  std::string_view version_id) {
  auto v = Get(json{{"SecretId", secret_id}, {"VersionId", version_id}});
  if (!v) {
    if (v.error().code != ErrorCode::kNotFound) return std::move(v).error();
    // Tell "no such version" (nullopt) from "no such secret" (an error).
    KW_RETURN_IF_ERROR(
        Mapped(client_.CallJson(kSecretsManager, "DescribeSecret", json{{"SecretId", secret_id}})));
    return std::optional<SecretVersion>();
  }
  return std::optional<SecretVersion>(std::move(v).value());
}

Status AwsSecretsTarget::PutPending(std::string_view secret_id, std::string_view token,
                                    const SecretBytes& value) {
  json input{{"SecretId", secret_id},
             {"ClientRequestToken", token},
             {"SecretString", value.Reveal()},
             {"VersionStages", json::array({kPending})}};
  // The ClientRequestToken makes a repeat harmless, so every failure may be retried.
  auto put = Mapped(client_.CallJson(kSecretsManager, "PutSecretValue", input));
  input["SecretString"].get_ref<std::string&>().assign(value.size(), '\0');
  if (put) return OkStatus();
  if (put.error().code != ErrorCode::kAlreadyExists) return std::move(put).error();
  // AWS accepts the same token with the same value again; some implementations say
  // ResourceExists regardless, so compare before calling it a conflict.
  KW_ASSIGN_OR_RETURN(auto stored, GetVersion(secret_id, token));
  if (stored && stored->secret_string.Reveal() == value.Reveal()) return OkStatus();
  return AlreadyExists("secret " + std::string(secret_id) + " already has a version " +
                           std::string(token) + " with another value",
                       "ResourceExistsException");
}

Status AwsSecretsTarget::Promote(std::string_view secret_id, std::string_view version_id) {
  KW_ASSIGN_OR_RETURN(json d, Mapped(client_.CallJson(kSecretsManager, "DescribeSecret",
                                                      json{{"SecretId", secret_id}})));
  const std::string vid(version_id);
  auto stages = d.find("VersionIdsToStages");
  if (stages == d.end() || !stages->is_object() || !stages->contains(vid)) {
    return NotFound("secret " + std::string(secret_id) + " has no version " + vid,
                    "ResourceNotFoundException");
  }
  // Each update is re-planned from a fresh DescribeSecret by the engine's retry, so a
  // blind repeat here (which could name a stale RemoveFromVersionId) is not needed.
  if (const std::string current = HolderOf(d, kCurrent); current != vid) {
    json move{{"SecretId", secret_id}, {"VersionStage", kCurrent}, {"MoveToVersionId", vid}};
    if (!current.empty()) move["RemoveFromVersionId"] = current;
    KW_RETURN_IF_ERROR(Mapped(client_.CallJson(kSecretsManager, "UpdateSecretVersionStage", move,
                                               Idempotency::kNotIdempotent)));
  }
  if (HolderOf(d, kPending) == vid) {
    json drop{{"SecretId", secret_id}, {"VersionStage", kPending}, {"RemoveFromVersionId", vid}};
    KW_RETURN_IF_ERROR(Mapped(client_.CallJson(kSecretsManager, "UpdateSecretVersionStage", drop,
                                               Idempotency::kNotIdempotent)));
  }
  return OkStatus();
}

}  // namespace kw::rotation::external
