#include "api/secretsmanager/secretsmanager_api.hpp"

#include "api/http/json_input.hpp"
#include "common/time_format.hpp"
#include "crypto/digest.hpp"

namespace kw::api {
namespace {

using nlohmann::json;
using secrets::SecretService;

constexpr std::string_view kNoReplication = "keyward does not replicate secrets across regions.";

// ---- decoding -------------------------------------------------------------------

// A SecretId: 1..2048 characters.
Result<std::string> SecretId(const json& in) {
  KW_ASSIGN_OR_RETURN(std::string id, ReqString(in, "SecretId"));
  if (id.empty() || id.size() > 2048) {
    return InvalidArgument(
        "1 validation error detected: Value at 'SecretId' failed to satisfy constraint: Member "
        "must have length between 1 and 2048",
        "ValidationError");
  }
  return id;
}

Result<std::optional<int>> MaxResults(const json& in, int max) {
  KW_ASSIGN_OR_RETURN(auto n, OptInt(in, "MaxResults"));
  if (!n) return std::optional<int>();
  if (*n < 1 || *n > max) {
    return InvalidArgument("1 validation error detected: Value '" + std::to_string(*n) +
                               "' at 'maxResults' failed to satisfy constraint: Member must have "
                               "value between 1 and " +
                               std::to_string(max),
                           "ValidationError");
  }
  return std::optional<int>(static_cast<int>(*n));
}

// SecretString / SecretBinary (base64). Both: InvalidParameterException.
Result<std::optional<secrets::SecretValueInput>> DecodeValue(const json& in) {
  KW_ASSIGN_OR_RETURN(auto str, OptString(in, "SecretString"));
  KW_ASSIGN_OR_RETURN(auto bin, OptString(in, "SecretBinary"));
  if (str && bin) {
    return InvalidArgument(
        "You can't specify both a binary secret value and a string secret value in the same "
        "secret.",
        "InvalidParameterException");
  }
  if (str) return std::optional<secrets::SecretValueInput>({false, SecretBytes(std::move(*str))});
  if (bin) {
    auto decoded = crypto::Base64Decode(*bin);
    SecretBytes wipe(std::move(*bin));
    if (!decoded) return JsonTypeError("SecretBinary");
    return std::optional<secrets::SecretValueInput>({true, SecretBytes(std::move(*decoded))});
  }
  return std::optional<secrets::SecretValueInput>();
}

Result<std::vector<secrets::Tag>> DecodeTags(const json& in) {
  std::vector<secrets::Tag> tags;
  auto it = in.find("Tags");
  if (it == in.end() || it->is_null()) return tags;
  if (!it->is_array()) return JsonTypeError("Tags");
  for (const json& t : *it) {
    if (!t.is_object()) return JsonTypeError("Tags");
    KW_ASSIGN_OR_RETURN(auto key, OptString(t, "Key"));
    KW_ASSIGN_OR_RETURN(auto value, OptString(t, "Value"));
    if (!key) {
      return InvalidArgument(
          "1 validation error detected: Value null at 'tags.member.key' failed to satisfy "
          "constraint: Member must not be null",
          "ValidationError");
    }
    tags.push_back({*key, value.value_or("")});
  }
  return tags;
}

Result<std::vector<secrets::Filter>> DecodeFilters(const json& in) {
  std::vector<secrets::Filter> filters;
  auto it = in.find("Filters");
  if (it == in.end() || it->is_null()) return filters;
  if (!it->is_array()) return JsonTypeError("Filters");
  for (const json& f : *it) {
    if (!f.is_object()) return JsonTypeError("Filters");
    secrets::Filter filter;
    KW_ASSIGN_OR_RETURN(auto key, OptString(f, "Key"));
    filter.key = key.value_or("");
    KW_ASSIGN_OR_RETURN(filter.values, StringList(f, "Values"));
    filters.push_back(std::move(filter));
  }
  return filters;
}

Result<std::optional<secrets::RotationRules>> DecodeRules(const json& in) {
  auto it = in.find("RotationRules");
  if (it == in.end() || it->is_null()) return std::optional<secrets::RotationRules>();
  if (!it->is_object()) return JsonTypeError("RotationRules");
  secrets::RotationRules r;
  KW_ASSIGN_OR_RETURN(r.automatically_after_days, OptInt(*it, "AutomaticallyAfterDays"));
  KW_ASSIGN_OR_RETURN(r.schedule_expression, OptString(*it, "ScheduleExpression"));
  KW_ASSIGN_OR_RETURN(r.duration, OptString(*it, "Duration"));
  return std::optional<secrets::RotationRules>(std::move(r));
}

// ---- encoding -------------------------------------------------------------------

double Epoch(TimePoint t) { return ToEpochSeconds(t); }

void PutDate(json& j, const char* key, const std::optional<TimePoint>& t) {
  if (t) j[key] = Epoch(*t);
}

json EncodeTags(const std::vector<secrets::Tag>& tags) {
  json a = json::array();
  for (const auto& t : tags) a.push_back({{"Key", t.key}, {"Value", t.value}});
  return a;
}

json EncodeRules(const secrets::RotationRules& r) {
  json j = json::object();
  if (r.automatically_after_days) j["AutomaticallyAfterDays"] = *r.automatically_after_days;
  if (r.schedule_expression) j["ScheduleExpression"] = *r.schedule_expression;
  if (r.duration) j["Duration"] = *r.duration;
  return j;
}

// DescribeSecret's shape; ListSecrets calls the stage map SecretVersionsToStages.
json EncodeDescription(const secrets::SecretDescription& d, const char* stages_key) {
  json j;
  j["ARN"] = d.arn;
  j["Name"] = d.name;
  if (d.description) j["Description"] = *d.description;
  if (d.kms_key_id) j["KmsKeyId"] = *d.kms_key_id;
  j["RotationEnabled"] = d.rotation_enabled;
  if (d.rotation_lambda_arn) j["RotationLambdaARN"] = *d.rotation_lambda_arn;
  if (d.rotation_rules) j["RotationRules"] = EncodeRules(*d.rotation_rules);
  PutDate(j, "LastRotatedDate", d.last_rotated);
  PutDate(j, "LastChangedDate", d.last_changed);
  PutDate(j, "LastAccessedDate", d.last_accessed);
  PutDate(j, "DeletedDate", d.deleted_date);
  PutDate(j, "NextRotationDate", d.next_rotation);
  if (!d.tags.empty()) j["Tags"] = EncodeTags(d.tags);
  json stages = json::object();
  for (const auto& [vid, labels] : d.version_stages) stages[vid] = labels;
  j[stages_key] = std::move(stages);
  j["CreatedDate"] = Epoch(d.created);
  return j;
}

json EncodeValue(const secrets::SecretValue& v) {
  json j;
  j["ARN"] = v.arn;
  j["Name"] = v.name;
  j["VersionId"] = v.version_id;
  if (v.binary) {
    j["SecretBinary"] = crypto::Base64Encode(v.bytes.Reveal());
  } else {
    j["SecretString"] = std::string(v.bytes.Reveal());
  }
  j["VersionStages"] = v.stages;
  j["CreatedDate"] = Epoch(v.created);
  return j;
}

json ArnName(const std::string& arn, const std::string& name) {
  return {{"ARN", arn}, {"Name", name}};
}

Error NoReplication() {
  return FailedPrecondition(std::string(kNoReplication), "InvalidRequestException");
}

JsonOperation Op(std::string name, bool read_only,
                 std::function<std::string(const json&, const iam::Principal&)> resource,
                 std::function<std::shared_ptr<const policy::Policy>(const json&)> resource_policy,
                 std::function<Result<json>(const JsonCall&)> handler) {
  JsonOperation op;
  op.name = std::move(name);
  op.read_only = read_only;
  op.resource = std::move(resource);
  op.resource_policy = std::move(resource_policy);
  op.handler = std::move(handler);
  return op;
}

}  // namespace

JsonService SecretsManagerJsonService(SecretService& secrets, const iam::Account& account,
                                      SecretRotationLink* rotation) {
  SecretService* svc = &secrets;
  SecretRotationLink* link = rotation;
  // A policy's view of a covered secret replaces the stored rotation configuration's:
  // the policy is what rotates it.
  auto with_policy = [link](secrets::SecretDescription& d) -> Status {
    if (link == nullptr) return OkStatus();
    KW_ASSIGN_OR_RETURN(auto state, link->Find(d.name, d.arn));
    if (!state) return OkStatus();
    d.rotation_enabled = true;
    d.next_rotation = state->next_rotation;
    if (state->last_rotated) d.last_rotated = state->last_rotated;
    return OkStatus();
  };
  const std::string arn_prefix = secrets::SecretArnPrefix(account);

  // The secret named by SecretId, for authorization.
  auto secret_arn = [svc](const json& in, const iam::Principal&) -> std::string {
    auto it = in.find("SecretId");
    if (it == in.end() || !it->is_string()) return svc->ResourceArn("");
    return svc->ResourceArn(it->get<std::string>());
  };
  auto secret_policy = [svc](const json& in) -> std::shared_ptr<const policy::Policy> {
    auto it = in.find("SecretId");
    if (it == in.end() || !it->is_string()) return nullptr;
    return svc->ResourcePolicy(it->get<std::string>());
  };
  auto star = [](const json&, const iam::Principal&) { return std::string("*"); };
  // GetSecretValue's lookup: the secret once for authorization and the handler.
  auto resolve_secret = [svc](const json& in, const iam::Principal&) {
    auto it = in.find("SecretId");
    auto resolved = std::make_shared<const SecretService::Resolved>(
        svc->Resolve(it != in.end() && it->is_string() ? it->get_ref<const std::string&>()
                                                       : std::string_view()));
    JsonTarget t;
    t.resource = resolved->arn();
    t.resource_policy = resolved->policy();
    t.context = std::move(resolved);
    return t;
  };

  JsonService service;
  service.signing_name = "secretsmanager";
  service.target_prefix = "secretsmanager";
  service.action_prefix = "secretsmanager";
  auto& ops = service.operations;

  ops.push_back(Op(
      "CreateSecret", false,
      [arn_prefix](const json& in, const iam::Principal&) {
        auto it = in.find("Name");
        return arn_prefix + (it != in.end() && it->is_string() ? it->get<std::string>() : "");
      },
      nullptr,
      [svc](const JsonCall& call) -> Result<json> {
        const json& in = call.input;
        auto replicas = in.find("AddReplicaRegions");
        if (replicas != in.end() && replicas->is_array() && !replicas->empty()) {
          return NoReplication();
        }
        secrets::CreateSecretRequest req;
        KW_ASSIGN_OR_RETURN(req.name, ReqString(in, "Name"));
        KW_ASSIGN_OR_RETURN(req.client_request_token, OptString(in, "ClientRequestToken"));
        KW_ASSIGN_OR_RETURN(req.description, OptString(in, "Description"));
        KW_ASSIGN_OR_RETURN(req.kms_key_id, OptString(in, "KmsKeyId"));
        KW_ASSIGN_OR_RETURN(req.value, DecodeValue(in));
        KW_ASSIGN_OR_RETURN(req.tags, DecodeTags(in));
        KW_ASSIGN_OR_RETURN(secrets::VersionRef ref, svc->CreateSecret(req));
        json out = ArnName(ref.arn, ref.name);
        if (!ref.version_id.empty()) out["VersionId"] = ref.version_id;
        return out;
      }));

  ops.push_back(
      Op("GetSecretValue", true, secret_arn, secret_policy,
         [svc](const JsonCall& call) -> Result<json> {
           KW_ASSIGN_OR_RETURN(std::string id, SecretId(call.input));
           KW_ASSIGN_OR_RETURN(auto vid, OptString(call.input, "VersionId"));
           KW_ASSIGN_OR_RETURN(auto stage, OptString(call.input, "VersionStage"));
           const auto version = vid ? std::optional<std::string_view>(*vid) : std::nullopt;
           const auto label = stage ? std::optional<std::string_view>(*stage) : std::nullopt;
           const auto* resolved = static_cast<const SecretService::Resolved*>(call.context);
           KW_ASSIGN_OR_RETURN(secrets::SecretValue v,
                               resolved != nullptr ? svc->GetSecretValue(*resolved, version, label)
                                                   : svc->GetSecretValue(id, version, label));
           return EncodeValue(v);
         }));
  ops.back().target = resolve_secret;

  ops.push_back(Op("PutSecretValue", false, secret_arn, secret_policy,
                   [svc](const JsonCall& call) -> Result<json> {
                     const json& in = call.input;
                     secrets::PutSecretValueRequest req;
                     KW_ASSIGN_OR_RETURN(req.secret_id, SecretId(in));
                     KW_ASSIGN_OR_RETURN(req.client_request_token,
                                         OptString(in, "ClientRequestToken"));
                     KW_ASSIGN_OR_RETURN(req.value, DecodeValue(in));
                     if (in.contains("VersionStages")) {
                       KW_ASSIGN_OR_RETURN(req.stages, StringList(in, "VersionStages"));
                     }
                     KW_ASSIGN_OR_RETURN(secrets::VersionRef ref, svc->PutSecretValue(req));
                     json out = ArnName(ref.arn, ref.name);
                     out["VersionId"] = ref.version_id;
                     out["VersionStages"] = ref.stages;
                     return out;
                   }));

  ops.push_back(Op("UpdateSecret", false, secret_arn, secret_policy,
                   [svc](const JsonCall& call) -> Result<json> {
                     const json& in = call.input;
                     secrets::UpdateSecretRequest req;
                     KW_ASSIGN_OR_RETURN(req.secret_id, SecretId(in));
                     KW_ASSIGN_OR_RETURN(req.client_request_token,
                                         OptString(in, "ClientRequestToken"));
                     KW_ASSIGN_OR_RETURN(req.description, OptString(in, "Description"));
                     KW_ASSIGN_OR_RETURN(req.kms_key_id, OptString(in, "KmsKeyId"));
                     KW_ASSIGN_OR_RETURN(req.value, DecodeValue(in));
                     KW_ASSIGN_OR_RETURN(secrets::VersionRef ref, svc->UpdateSecret(req));
                     json out = ArnName(ref.arn, ref.name);
                     if (!ref.version_id.empty()) out["VersionId"] = ref.version_id;
                     return out;
                   }));

  ops.push_back(Op("DescribeSecret", true, secret_arn, secret_policy,
                   [svc, with_policy](const JsonCall& call) -> Result<json> {
                     KW_ASSIGN_OR_RETURN(std::string id, SecretId(call.input));
                     KW_ASSIGN_OR_RETURN(secrets::SecretDescription d, svc->DescribeSecret(id));
                     KW_RETURN_IF_ERROR(with_policy(d));
                     return EncodeDescription(d, "VersionIdsToStages");
                   }));

  ops.push_back(Op("ListSecrets", true, star, nullptr,
                   [svc, with_policy](const JsonCall& call) -> Result<json> {
                     const json& in = call.input;
                     secrets::ListSecretsRequest req;
                     KW_ASSIGN_OR_RETURN(req.filters, DecodeFilters(in));
                     KW_ASSIGN_OR_RETURN(req.sort_order, OptString(in, "SortOrder"));
                     KW_ASSIGN_OR_RETURN(req.sort_by, OptString(in, "SortBy"));
                     KW_ASSIGN_OR_RETURN(req.max_results, MaxResults(in, 100));
                     KW_ASSIGN_OR_RETURN(req.next_token, OptString(in, "NextToken"));
                     KW_ASSIGN_OR_RETURN(auto planned, OptBool(in, "IncludePlannedDeletion"));
                     req.include_planned_deletion = planned.value_or(false);
                     KW_ASSIGN_OR_RETURN(secrets::SecretPage page, svc->ListSecrets(req));
                     json list = json::array();
                     for (auto& d : page.secrets) {
                       KW_RETURN_IF_ERROR(with_policy(d));
                       list.push_back(EncodeDescription(d, "SecretVersionsToStages"));
                     }
                     json out = {{"SecretList", std::move(list)}};
                     if (!page.next_token.empty()) out["NextToken"] = page.next_token;
                     return out;
                   }));

  ops.push_back(Op("ListSecretVersionIds", true, secret_arn, secret_policy,
                   [svc](const JsonCall& call) -> Result<json> {
                     const json& in = call.input;
                     KW_ASSIGN_OR_RETURN(std::string id, SecretId(in));
                     KW_ASSIGN_OR_RETURN(auto deprecated, OptBool(in, "IncludeDeprecated"));
                     KW_ASSIGN_OR_RETURN(auto max, MaxResults(in, 100));
                     KW_ASSIGN_OR_RETURN(auto token, OptString(in, "NextToken"));
                     KW_ASSIGN_OR_RETURN(
                         secrets::VersionPage page,
                         svc->ListSecretVersionIds(id, deprecated.value_or(false), max, token));
                     json versions = json::array();
                     for (const auto& v : page.versions) {
                       json e = {{"VersionId", v.version_id},
                                 {"VersionStages", v.stages},
                                 {"CreatedDate", Epoch(v.created)}};
                       PutDate(e, "LastAccessedDate", v.last_accessed);
                       versions.push_back(std::move(e));
                     }
                     json out = ArnName(page.arn, page.name);
                     out["Versions"] = std::move(versions);
                     if (!page.next_token.empty()) out["NextToken"] = page.next_token;
                     return out;
                   }));

  ops.push_back(
      Op("UpdateSecretVersionStage", false, secret_arn, secret_policy,
         [svc](const JsonCall& call) -> Result<json> {
           const json& in = call.input;
           secrets::UpdateStageRequest req;
           KW_ASSIGN_OR_RETURN(req.secret_id, SecretId(in));
           KW_ASSIGN_OR_RETURN(req.stage, ReqString(in, "VersionStage"));
           KW_ASSIGN_OR_RETURN(req.move_to_version_id, OptString(in, "MoveToVersionId"));
           KW_ASSIGN_OR_RETURN(req.remove_from_version_id, OptString(in, "RemoveFromVersionId"));
           KW_ASSIGN_OR_RETURN(secrets::VersionRef ref, svc->UpdateSecretVersionStage(req));
           return ArnName(ref.arn, ref.name);
         }));

  ops.push_back(Op("DeleteSecret", false, secret_arn, secret_policy,
                   [svc](const JsonCall& call) -> Result<json> {
                     const json& in = call.input;
                     secrets::DeleteSecretRequest req;
                     KW_ASSIGN_OR_RETURN(req.secret_id, SecretId(in));
                     KW_ASSIGN_OR_RETURN(req.recovery_window_days,
                                         OptInt(in, "RecoveryWindowInDays"));
                     KW_ASSIGN_OR_RETURN(auto force, OptBool(in, "ForceDeleteWithoutRecovery"));
                     req.force_delete_without_recovery = force.value_or(false);
                     KW_ASSIGN_OR_RETURN(secrets::DeletedSecret d, svc->DeleteSecret(req));
                     json out = ArnName(d.arn, d.name);
                     out["DeletionDate"] = Epoch(d.deletion_date);
                     return out;
                   }));

  ops.push_back(Op("RestoreSecret", false, secret_arn, secret_policy,
                   [svc](const JsonCall& call) -> Result<json> {
                     KW_ASSIGN_OR_RETURN(std::string id, SecretId(call.input));
                     KW_ASSIGN_OR_RETURN(secrets::VersionRef ref, svc->RestoreSecret(id));
                     return ArnName(ref.arn, ref.name);
                   }));

  ops.push_back(Op("TagResource", false, secret_arn, secret_policy,
                   [svc](const JsonCall& call) -> Result<json> {
                     KW_ASSIGN_OR_RETURN(std::string id, SecretId(call.input));
                     if (!call.input.contains("Tags")) {
                       KW_RETURN_IF_ERROR(ReqString(call.input, "Tags"));
                     }
                     KW_ASSIGN_OR_RETURN(auto tags, DecodeTags(call.input));
                     KW_RETURN_IF_ERROR(svc->TagResource(id, tags));
                     return json::object();
                   }));

  ops.push_back(Op("UntagResource", false, secret_arn, secret_policy,
                   [svc](const JsonCall& call) -> Result<json> {
                     KW_ASSIGN_OR_RETURN(std::string id, SecretId(call.input));
                     if (!call.input.contains("TagKeys")) {
                       KW_RETURN_IF_ERROR(ReqString(call.input, "TagKeys"));
                     }
                     KW_ASSIGN_OR_RETURN(auto keys, StringList(call.input, "TagKeys"));
                     KW_RETURN_IF_ERROR(svc->UntagResource(id, keys));
                     return json::object();
                   }));

  ops.push_back(
      Op("GetRandomPassword", true, star, nullptr, [svc](const JsonCall& call) -> Result<json> {
        const json& in = call.input;
        secrets::PasswordRequest req;
        KW_ASSIGN_OR_RETURN(auto length, OptInt(in, "PasswordLength"));
        req.length = length.value_or(32);
        KW_ASSIGN_OR_RETURN(auto exclude, OptString(in, "ExcludeCharacters"));
        req.exclude_characters = exclude.value_or("");
        auto flag = [&](const char* name, bool fallback) -> Result<bool> {
          KW_ASSIGN_OR_RETURN(auto b, OptBool(in, name));
          return b.value_or(fallback);
        };
        KW_ASSIGN_OR_RETURN(req.exclude_numbers, flag("ExcludeNumbers", false));
        KW_ASSIGN_OR_RETURN(req.exclude_punctuation, flag("ExcludePunctuation", false));
        KW_ASSIGN_OR_RETURN(req.exclude_uppercase, flag("ExcludeUppercase", false));
        KW_ASSIGN_OR_RETURN(req.exclude_lowercase, flag("ExcludeLowercase", false));
        KW_ASSIGN_OR_RETURN(req.include_space, flag("IncludeSpace", false));
        KW_ASSIGN_OR_RETURN(req.require_each_included_type, flag("RequireEachIncludedType", true));
        KW_ASSIGN_OR_RETURN(SecretBytes pw, svc->GetRandomPassword(req));
        return json{{"RandomPassword", std::string(pw.Reveal())}};
      }));

  ops.push_back(
      Op("RotateSecret", false, secret_arn, secret_policy,
         [svc, link](const JsonCall& call) -> Result<json> {
           const json& in = call.input;
           secrets::RotateSecretRequest req;
           KW_ASSIGN_OR_RETURN(req.secret_id, SecretId(in));
           KW_ASSIGN_OR_RETURN(req.client_request_token, OptString(in, "ClientRequestToken"));
           KW_ASSIGN_OR_RETURN(req.rotation_lambda_arn, OptString(in, "RotationLambdaARN"));
           KW_ASSIGN_OR_RETURN(req.rules, DecodeRules(in));
           KW_ASSIGN_OR_RETURN(auto immediately, OptBool(in, "RotateImmediately"));
           req.rotate_immediately = immediately.value_or(true);
           // Stores the configuration (and validates the token) as Secrets Manager does;
           // then a secret under a rotation policy is rotated by keyward's engine.
           KW_ASSIGN_OR_RETURN(secrets::VersionRef ref, svc->RotateSecret(req));
           json out = ArnName(ref.arn, ref.name);
           if (link != nullptr && req.rotate_immediately) {
             KW_ASSIGN_OR_RETURN(auto started, link->RotateNow(ref.name, ref.arn));
             // AWS answers with the ClientRequestToken, which becomes the new version's
             // ID; keyward's rotation names its version only when it creates the key,
             // so VersionId is left out rather than naming a version that will not
             // exist (the model marks it optional).
             if (started && !started->empty()) out["VersionId"] = *started;
             if (started) return out;
           }
           if (!ref.version_id.empty()) out["VersionId"] = ref.version_id;
           return out;
         }));

  ops.push_back(Op("CancelRotateSecret", false, secret_arn, secret_policy,
                   [svc](const JsonCall& call) -> Result<json> {
                     KW_ASSIGN_OR_RETURN(std::string id, SecretId(call.input));
                     KW_ASSIGN_OR_RETURN(secrets::VersionRef ref, svc->CancelRotateSecret(id));
                     return ArnName(ref.arn, ref.name);
                   }));

  ops.push_back(Op("PutResourcePolicy", false, secret_arn, secret_policy,
                   [svc](const JsonCall& call) -> Result<json> {
                     const json& in = call.input;
                     KW_ASSIGN_OR_RETURN(std::string id, SecretId(in));
                     KW_ASSIGN_OR_RETURN(std::string doc, ReqString(in, "ResourcePolicy"));
                     KW_ASSIGN_OR_RETURN(auto block, OptBool(in, "BlockPublicPolicy"));
                     KW_ASSIGN_OR_RETURN(secrets::SecretPolicy p,
                                         svc->PutResourcePolicy(id, doc, block.value_or(false)));
                     return ArnName(p.arn, p.name);
                   }));

  ops.push_back(Op("GetResourcePolicy", true, secret_arn, secret_policy,
                   [svc](const JsonCall& call) -> Result<json> {
                     KW_ASSIGN_OR_RETURN(std::string id, SecretId(call.input));
                     KW_ASSIGN_OR_RETURN(secrets::SecretPolicy p, svc->GetResourcePolicy(id));
                     json out = ArnName(p.arn, p.name);
                     if (p.policy) out["ResourcePolicy"] = *p.policy;
                     return out;
                   }));

  ops.push_back(Op("DeleteResourcePolicy", false, secret_arn, secret_policy,
                   [svc](const JsonCall& call) -> Result<json> {
                     KW_ASSIGN_OR_RETURN(std::string id, SecretId(call.input));
                     KW_ASSIGN_OR_RETURN(secrets::SecretPolicy p, svc->DeleteResourcePolicy(id));
                     return ArnName(p.arn, p.name);
                   }));

  ops.push_back(Op(
      "ValidateResourcePolicy", true,
      [svc](const json& in, const iam::Principal&) -> std::string {
        auto it = in.find("SecretId");
        if (it == in.end() || !it->is_string()) return "*";
        return svc->ResourceArn(it->get<std::string>());
      },
      secret_policy,
      [svc](const JsonCall& call) -> Result<json> {
        const json& in = call.input;
        KW_ASSIGN_OR_RETURN(auto id, OptString(in, "SecretId"));
        KW_ASSIGN_OR_RETURN(std::string doc, ReqString(in, "ResourcePolicy"));
        KW_ASSIGN_OR_RETURN(secrets::PolicyValidation v,
                            svc->ValidateResourcePolicy(
                                id ? std::optional<std::string_view>(*id) : std::nullopt, doc));
        json errors = json::array();
        for (const auto& e : v.errors) {
          errors.push_back({{"CheckName", "SYNTAX_CHECK"}, {"ErrorMessage", e}});
        }
        return json{{"PolicyValidationPassed", v.passed}, {"ValidationErrors", std::move(errors)}};
      }));

  ops.push_back(
      Op("BatchGetSecretValue", true, star, nullptr, [svc](const JsonCall& call) -> Result<json> {
        const json& in = call.input;
        KW_ASSIGN_OR_RETURN(auto ids, StringList(in, "SecretIdList"));
        KW_ASSIGN_OR_RETURN(auto filters, DecodeFilters(in));
        const bool has_ids = in.contains("SecretIdList");
        const bool has_filters = in.contains("Filters");
        if (has_ids == has_filters) {
          return InvalidArgument(
              "Either 'SecretIdList' or 'Filters' must be provided, but not both.",
              "InvalidParameterException");
        }
        KW_ASSIGN_OR_RETURN(auto max, MaxResults(in, 20));
        KW_ASSIGN_OR_RETURN(auto token, OptString(in, "NextToken"));
        if (has_ids && (max || token)) {
          return InvalidArgument("MaxResults and NextToken can only be used with Filters.",
                                 "InvalidParameterException");
        }
        if (has_ids && (ids.empty() || ids.size() > 20)) {
          return InvalidArgument(
              "1 validation error detected: Value at 'secretIdList' failed to satisfy constraint: "
              "Member must have length between 1 and 20",
              "ValidationError");
        }
        json out;
        if (has_filters) {
          secrets::ListSecretsRequest req;
          req.filters = std::move(filters);
          req.max_results = max.value_or(20);
          req.next_token = token;
          KW_ASSIGN_OR_RETURN(secrets::SecretPage page, svc->ListSecrets(req));
          for (const auto& d : page.secrets) ids.push_back(d.arn);
          if (!page.next_token.empty()) out["NextToken"] = page.next_token;
        }
        json values = json::array();
        json errors = json::array();
        for (const std::string& id : ids) {
          const auto rp = svc->ResourcePolicy(id);
          // The dispatcher always sets call.authorize; without it, fail closed.
          const Status allowed =
              call.authorize
                  ? call.authorize("secretsmanager:GetSecretValue", svc->ResourceArn(id), rp.get())
                  : Status(PermissionDenied("Access to the secret is not authorized.",
                                            "AccessDenied"));
          Result<secrets::SecretValue> v = allowed
                                               ? svc->GetSecretValue(id, std::nullopt, std::nullopt)
                                               : Result<secrets::SecretValue>(allowed.error());
          if (v) {
            values.push_back(EncodeValue(*v));
          } else {
            std::string code = v.error().reason;
            if (code.empty() || code == "AccessDenied") code = "AccessDeniedException";
            errors.push_back(
                {{"SecretId", id}, {"ErrorCode", code}, {"Message", v.error().message}});
          }
        }
        out["SecretValues"] = std::move(values);
        out["Errors"] = std::move(errors);
        return out;
      }));

  for (const char* name :
       {"ReplicateSecretToRegions", "RemoveRegionsFromReplication", "StopReplicationToReplica"}) {
    ops.push_back(Op(name, false, secret_arn, secret_policy,
                     [](const JsonCall&) -> Result<json> { return NoReplication(); }));
  }
  return service;
}

}  // namespace kw::api
