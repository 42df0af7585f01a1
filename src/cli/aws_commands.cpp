// `keyward aws bootstrap`: what the seed builds by hand on AWS (a Secrets Manager secret
// holding an IAM user's key, the SSM document that runs the seed's script, the
// managed-instance role's one-secret policy, an activation for the hosts) plus the
// least-privilege policy keyward needs to rotate that user's key. Prints the plan by
// default; --apply creates what is missing and reports what already existed, so a
// second --apply changes nothing. Every endpoint can be overridden (moto, keyward).
#include <array>
#include <cctype>
#include <fstream>
#include <sstream>

#include "cli/command.hpp"
#include "cli/json_commands.hpp"
#include "common/time_format.hpp"

namespace kw::cli {
namespace {

using awsclient::Idempotency;
using Json = nlohmann::ordered_json;
using nlohmann::json;

constexpr JsonTarget kSecretsManager{"secretsmanager", "secretsmanager"};

// The document the SSM delivery sends by default (rotation/external/aws_ssm_delivery.hpp
// kDefaultSsmDocument; the CLI does not link the rotation modules).
constexpr const char* kDefaultDocument = "KeywardOverwriteSecretValue";
// The seed attaches its policy to this role, which AWS's documentation creates for
// hybrid activations.
constexpr const char* kDefaultInstanceRole = "AmazonEC2RunCommandRoleForManagedInstances";
constexpr const char* kSsmCorePolicy = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore";
constexpr const char* kDefaultCredentialsPath = "/etc/keyward/credentials";
constexpr std::chrono::seconds kDefaultActivationExpiry = std::chrono::hours(1);
constexpr const char* kCreated = "created";
constexpr const char* kExists = "exists";
constexpr const char* kWouldCreate = "would create";

struct Endpoints {
  std::string iam, sts, secretsmanager, ssm;
};

struct Options {
  std::string user, secret_name, region;
  std::vector<std::pair<std::string, std::string>> tags;  // --tag Key=Value
  std::vector<std::string> instance_ids;
  bool apply = false;
  std::optional<std::string> access_key_id, secret_key_file;
  std::string document = kDefaultDocument;
  std::string credentials_path = kDefaultCredentialsPath;
  std::string instance_role = kDefaultInstanceRole;
  std::string keyward_policy;
  int hosts = 1;
  std::chrono::seconds activation_expiry = kDefaultActivationExpiry;
  Endpoints endpoints;
};

// A name usable in IAM policy and SSM document names: [A-Za-z0-9_.-], others as '-'.
std::string NamePart(std::string_view s) {
  std::string out;
  for (char c : s) {
    const bool ok =
        std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '.' || c == '-';
    out += ok ? c : '-';
  }
  return out;
}

Result<Options> ParseOptions(const CommandContext& ctx, const std::string& default_region) {
  Options o;
  o.user = *ctx.Arg("--user");
  o.secret_name = *ctx.Arg("--secret-name");
  o.region = ctx.options().region.value_or(default_region);
  o.apply = ctx.Arg("--apply").has_value();
  if (auto tags = ctx.Arg("--tag")) {
    for (const std::string& t : SplitList(*tags)) {
      const auto eq = t.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == t.size()) {
        return InvalidArgument("--tag must be Key=Value, not '" + t + "'");
      }
      o.tags.emplace_back(t.substr(0, eq), t.substr(eq + 1));
    }
  }
  if (auto ids = ctx.Arg("--instance-ids")) o.instance_ids = SplitList(*ids);
  if (o.tags.empty() == o.instance_ids.empty()) {
    return InvalidArgument("give the hosts either by --tag Key=Value or by --instance-ids");
  }
  o.access_key_id = ctx.Arg("--access-key-id");
  o.secret_key_file = ctx.Arg("--secret-access-key-file");
  if (o.access_key_id.has_value() != o.secret_key_file.has_value()) {
    return InvalidArgument("--access-key-id and --secret-access-key-file go together");
  }
  if (auto v = ctx.Arg("--document-name")) o.document = *v;
  if (auto v = ctx.Arg("--credentials-path")) o.credentials_path = *v;
  if (auto v = ctx.Arg("--instance-role")) o.instance_role = *v;
  o.keyward_policy =
      ctx.Arg("--keyward-policy-name").value_or("keyward-rotation-" + NamePart(o.user));
  if (auto v = ctx.Arg("--hosts")) {
    try {
      o.hosts = std::stoi(*v);
    } catch (const std::exception&) {
      o.hosts = 0;
    }
    if (o.hosts < 1 || o.hosts > 1000) return InvalidArgument("--hosts must be 1 to 1000");
  }
  if (auto v = ctx.Arg("--activation-expires")) {
    auto d = ParseDuration(*v);
    if (!d || d->count() == 0 || *d > std::chrono::hours(24 * 30)) {
      return InvalidArgument(
          "--activation-expires must be a duration such as 30m or 1h (at most 30d)");
    }
    o.activation_expiry = *d;
  }
  const std::string base = ctx.Arg("--endpoint-url").value_or("");
  auto pick = [&](const char* flag, std::string fallback) {
    if (auto v = ctx.Arg(flag)) return *v;
    return base.empty() ? fallback : base;
  };
  o.endpoints.iam = pick("--iam-endpoint", "https://iam.amazonaws.com");
  o.endpoints.sts = pick("--sts-endpoint", "https://sts." + o.region + ".amazonaws.com");
  o.endpoints.secretsmanager =
      pick("--secretsmanager-endpoint", "https://secretsmanager." + o.region + ".amazonaws.com");
  o.endpoints.ssm = pick("--ssm-endpoint", "https://ssm." + o.region + ".amazonaws.com");
  return o;
}

// IAM returns policy documents URL-encoded.
std::string UrlDecode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i] == '+' ? ' ' : s[i];
    }
  }
  return out;
}

// Whether a stored policy document (URL-encoded or not) says the same as `want`.
bool SameDocument(std::string_view stored, const json& want) {
  json got = json::parse(stored, nullptr, false);
  if (got.is_discarded()) got = json::parse(UrlDecode(stored), nullptr, false);
  return !got.is_discarded() && got == want;
}

bool IsNotFound(const Error& e) {
  return e.code == ErrorCode::kNotFound || e.reason == "NoSuchEntity" ||
         e.reason == "ResourceNotFoundException" || e.reason == "InvalidDocument";
}

// The secret key from its file, trimmed; never echoed.
Result<SecretBytes> ReadSecretKeyFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument("cannot read --secret-access-key-file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) s.pop_back();
  std::size_t start = 0;
  while (start < s.size() && std::isspace(static_cast<unsigned char>(s[start])) != 0) ++start;
  SecretBytes out(s.substr(start));
  std::fill(s.begin(), s.end(), '\0');
  if (out.empty()) return InvalidArgument("--secret-access-key-file " + path + " is empty");
  return out;
}

class Bootstrap {
 public:
  Bootstrap(Options o, QueryClient iam, QueryClient sts, QueryClient sm, QueryClient ssm,
            const Clock& clock)
      : o_(std::move(o)),
        iam_(std::move(iam)),
        sts_(std::move(sts)),
        sm_(std::move(sm)),
        ssm_(std::move(ssm)),
        clock_(clock) {}

  Result<CommandOutput> Run() {
    KW_ASSIGN_OR_RETURN(xml::Node who, sts_.Call(kSts, "GetCallerIdentity"));
    account_ = who.TextAt("Account");
    if (account_.empty()) return Internal("GetCallerIdentity returned no account");
    auto user = iam_.Call(kIam, "GetUser", {{"UserName", o_.user}});
    if (!user) {
      if (IsNotFound(user.error())) return NotFound("IAM user " + o_.user + " does not exist");
      return std::move(user).error();
    }
    user_arn_ = user->TextAt("User/Arn", "arn:aws:iam::" + account_ + ":user/" + o_.user);
    KW_RETURN_IF_ERROR(Secret());
    KW_RETURN_IF_ERROR(Document());
    KW_RETURN_IF_ERROR(InstanceRole());
    KW_RETURN_IF_ERROR(Activation());
    KW_RETURN_IF_ERROR(KeywardPolicy());
    return Output();
  }

 private:
  void Row(std::string kind, std::string name, std::string status, std::string detail = {}) {
    rows_.push_back({std::move(kind), std::move(name), std::move(status), std::move(detail)});
  }

  Status Secret() {
    auto d = sm_.CallJson(kSecretsManager, "DescribeSecret", json{{"SecretId", o_.secret_name}});
    if (d) {
      secret_arn_ = d->value("ARN", "");
      Row("secret", o_.secret_name, kExists, secret_arn_ + CheckSecretFormat());
      return OkStatus();
    }
    if (!IsNotFound(d.error())) return std::move(d).error();
    if (!o_.apply || !o_.access_key_id) {
      // AWS appends six random characters to a secret's name in its ARN.
      secret_arn_ = "arn:aws:secretsmanager:" + o_.region + ":" + account_ +
                    ":secret:" + o_.secret_name + "-??????";
      Row("secret", o_.secret_name, kWouldCreate,
          o_.access_key_id ? "with access key " + *o_.access_key_id + " of " + o_.user
                           : "with the user's current key (--access-key-id and "
                             "--secret-access-key-file; required with --apply)");
      if (o_.apply) {
        return InvalidArgument("creating secret " + o_.secret_name +
                               " needs --access-key-id and --secret-access-key-file");
      }
      return OkStatus();
    }
    // The key must be the user's own, or the first rotation would stop at preflight.
    KW_ASSIGN_OR_RETURN(
        std::vector<xml::Node> keys,
        ListAll(iam_, kIam, "ListAccessKeys", {{"UserName", o_.user}}, "AccessKeyMetadata"));
    bool owned = false;
    for (const auto& k : keys) owned = owned || k.TextAt("AccessKeyId") == *o_.access_key_id;
    if (!owned) {
      return InvalidArgument("access key " + *o_.access_key_id + " is not a key of IAM user " +
                             o_.user);
    }
    KW_ASSIGN_OR_RETURN(SecretBytes secret, ReadSecretKeyFile(*o_.secret_key_file));
    // The seed's SecretString: the two fields its script reads with jq.
    json input{{"Name", o_.secret_name},
               {"Description", "Access key of IAM user " + o_.user + " (rotated by keyward)"},
               {"SecretString", json{{"aws_access_key_id", *o_.access_key_id},
                                     {"aws_secret_access_key", secret.Reveal()}}
                                    .dump()},
               {"Tags", json::array({json{{"Key", "keyward:iam-user"}, {"Value", o_.user}}})}};
    auto created = sm_.CallJson(kSecretsManager, "CreateSecret", input);
    input["SecretString"].get_ref<std::string&>().assign(
        input["SecretString"].get_ref<std::string&>().size(), '\0');
    if (!created) return std::move(created).error();
    secret_arn_ = created->value("ARN", "");
    Row("secret", o_.secret_name, kCreated, secret_arn_);
    return OkStatus();
  }

  // A warning when the existing secret is readable and not in the seed's format.
  std::string CheckSecretFormat() {
    auto v = sm_.CallJson(kSecretsManager, "GetSecretValue", json{{"SecretId", o_.secret_name}});
    if (!v) return {};
    auto s = v->find("SecretString");
    json parsed = s != v->end() && s->is_string()
                      ? json::parse(s->get<std::string>(), nullptr, false)
                      : json();
    if (s != v->end() && s->is_string()) {
      s->get_ref<std::string&>().assign(s->get_ref<std::string&>().size(), '\0');
    }
    const bool ok = parsed.is_object() && parsed.contains("aws_access_key_id") &&
                    parsed.contains("aws_secret_access_key");
    if (parsed.is_object()) {
      for (auto& [k, val] : parsed.items()) {
        if (val.is_string())
          val.get_ref<std::string&>().assign(val.get_ref<std::string&>().size(), '\0');
      }
    }
    return ok ? ""
              : " (WARNING: its SecretString is not JSON with aws_access_key_id and "
                "aws_secret_access_key; a rotation would stop at preflight)";
  }

  // The seed's document (seed/document.json) with the seed's script inline, the secret
  // and region as parameters so one document serves every secret, and `set -o pipefail`
  // so that a failed get-secret-value fails the command (the seed's pipeline would exit
  // with jq's status and report Success over a broken credentials file), and the file
  // replaced atomically, private to its owner.
  json DocumentContent() const {
    const std::string script =
        "set -euo pipefail; umask 077; out='{{ CredentialsPath }}'; tmp=\"$out.keyward.$$\"; "
        "aws secretsmanager get-secret-value --secret-id '{{ SecretId }}' --region "
        "'{{ Region }}' | jq -r .SecretString | jq -r '\"aws_access_key_id=\" + "
        ".aws_access_key_id, \"aws_secret_access_key=\" + .aws_secret_access_key' > \"$tmp\" "
        "&& mv -f \"$tmp\" \"$out\"";
    return json{
        {"schemaVersion", "2.2"},
        {"description",
         "keyward: writes the access key in a Secrets Manager secret to a credentials file "
         "(the seed's overwrite-secret-value.sh)"},
        {"parameters",
         {{"SecretId",
           {{"type", "String"},
            {"description", "The secret to read"},
            {"default", o_.secret_name}}},
          {"Region", {{"type", "String"}, {"default", o_.region}}},
          {"CredentialsPath", {{"type", "String"}, {"default", o_.credentials_path}}}}},
        {"mainSteps",
         json::array({json{{"action", "aws:runShellScript"},
                           {"name", "OverwriteSecretValue"},
                           {"inputs", {{"timeoutSeconds", 60}, {"runCommand", {script}}}}}})}};
  }

  Status Document() {
    const json content = DocumentContent();
    auto d = ssm_.CallJson(kSsm, "GetDocument", json{{"Name", o_.document}});
    if (d) {
      const std::string stored = d->value("Content", "");
      Row("ssm-document", o_.document, kExists,
          SameDocument(stored, content) ? ""
                                        : "its content differs from the one printed; not changed");
      return OkStatus();
    }
    if (!IsNotFound(d.error()) && d.error().reason != "InvalidDocument")
      return std::move(d).error();
    if (!o_.apply) {
      Row("ssm-document", o_.document, kWouldCreate, "runs the seed's script");
      return OkStatus();
    }
    KW_RETURN_IF_ERROR(ssm_.CallJson(kSsm, "CreateDocument",
                                     json{{"Name", o_.document},
                                          {"Content", content.dump()},
                                          {"DocumentType", "Command"},
                                          {"DocumentFormat", "JSON"}}));
    Row("ssm-document", o_.document, kCreated, "runs the seed's script");
    return OkStatus();
  }

  std::string RolePolicyName() const { return "keyward-get-secret-" + NamePart(o_.secret_name); }

  json InstancePolicy() const {
    return json{{"Version", "2012-10-17"},
                {"Statement",
                 {{{"Effect", "Allow"},
                   {"Action", "secretsmanager:GetSecretValue"},
                   {"Resource", secret_arn_}}}}};
  }

  Status InstanceRole() {
    auto role = iam_.Call(kIam, "GetRole", {{"RoleName", o_.instance_role}});
    if (role) {
      Row("iam-role", o_.instance_role, kExists);
    } else if (!IsNotFound(role.error())) {
      return std::move(role).error();
    } else if (!o_.apply) {
      Row("iam-role", o_.instance_role, kWouldCreate,
          "trusted by ssm.amazonaws.com, with AmazonSSMManagedInstanceCore");
    } else {
      const json trust{{"Version", "2012-10-17"},
                       {"Statement",
                        {{{"Effect", "Allow"},
                          {"Principal", {{"Service", "ssm.amazonaws.com"}}},
                          {"Action", "sts:AssumeRole"}}}}};
      KW_RETURN_IF_ERROR(
          iam_.Call(kIam, "CreateRole",
                    {{"RoleName", o_.instance_role},
                     {"AssumeRolePolicyDocument", trust.dump()},
                     {"Description", "keyward: managed instances that read " + o_.secret_name}}));
      auto attached = iam_.Call(kIam, "AttachRolePolicy",
                                {{"RoleName", o_.instance_role}, {"PolicyArn", kSsmCorePolicy}});
      // An IAM without AWS's managed policies (keyward's own) does not need it.
      if (!attached && !IsNotFound(attached.error())) return std::move(attached).error();
      Row("iam-role", o_.instance_role, kCreated,
          attached ? "trusted by ssm.amazonaws.com, with AmazonSSMManagedInstanceCore"
                   : "trusted by ssm.amazonaws.com (AmazonSSMManagedInstanceCore does not exist "
                     "at this endpoint)");
    }

    const json policy = InstancePolicy();
    const std::string name = RolePolicyName();
    const std::string label = o_.instance_role + "/" + name;
    if (role) {
      auto got =
          iam_.Call(kIam, "GetRolePolicy", {{"RoleName", o_.instance_role}, {"PolicyName", name}});
      if (got && SameDocument(got->TextAt("PolicyDocument"), policy)) {
        Row("role-policy", label, kExists, "secretsmanager:GetSecretValue on the secret");
        return OkStatus();
      }
      if (!got && !IsNotFound(got.error())) return std::move(got).error();
      if (got && !o_.apply) {
        Row("role-policy", label, "differs", "would be replaced by the one printed");
        return OkStatus();
      }
    }
    if (!o_.apply) {
      Row("role-policy", label, kWouldCreate, "secretsmanager:GetSecretValue on the secret");
      return OkStatus();
    }
    KW_RETURN_IF_ERROR(iam_.Call(
        kIam, "PutRolePolicy",
        {{"RoleName", o_.instance_role}, {"PolicyName", name}, {"PolicyDocument", policy.dump()}}));
    Row("role-policy", label, role ? "updated" : kCreated,
        "secretsmanager:GetSecretValue on the secret");
    return OkStatus();
  }

  std::string ActivationDescription() const {
    return "keyward bootstrap: hosts of secret " + o_.secret_name;
  }

  // New hosts (tag mode) register with an activation limited to --hosts registrations
  // and a short expiry; the tags go on every instance it registers, which is how the
  // rotation policy's tag target finds them. Hosts given by ID are registered already.
  Status Activation() {
    if (o_.tags.empty()) {
      for (const auto& id : o_.instance_ids)
        Row("managed-instance", id, "given", "registered already");
      return OkStatus();
    }
    const auto now = clock_.Now();
    KW_ASSIGN_OR_RETURN(std::vector<json> existing, ListAllJson(ssm_, kSsm, "DescribeActivations",
                                                                json::object(), "ActivationList"));
    for (const json& a : existing) {
      if (a.value("Description", "") != ActivationDescription() || a.value("Expired", false))
        continue;
      if (a.value("RegistrationsCount", 0) >= a.value("RegistrationLimit", 0)) continue;
      activation_id_ = a.value("ActivationId", "");
      Row("activation", activation_id_, kExists,
          "its code was shown when it was created; expires " +
              IsoDate(a.value("ExpirationDate", json())).dump());
      return OkStatus();
    }
    if (!o_.apply) {
      Row("activation", "", kWouldCreate,
          std::to_string(o_.hosts) + " registration(s), expiring in " +
              std::to_string(o_.activation_expiry.count() / 60) + " minutes");
      return OkStatus();
    }
    json tags = json::array();
    for (const auto& [k, v] : o_.tags) tags.push_back(json{{"Key", k}, {"Value", v}});
    const TimePoint expires = now + o_.activation_expiry;
    KW_ASSIGN_OR_RETURN(
        json out,
        ssm_.CallJson(kSsm, "CreateActivation",
                      json{{"Description", ActivationDescription()},
                           {"DefaultInstanceName", NamePart(o_.secret_name)},
                           {"IamRole", o_.instance_role},
                           {"RegistrationLimit", o_.hosts},
                           {"ExpirationDate", std::chrono::duration_cast<std::chrono::seconds>(
                                                  expires.time_since_epoch())
                                                  .count()},
                           {"Tags", tags}},
                      Idempotency::kNotIdempotent));
    activation_id_ = out.value("ActivationId", "");
    activation_code_ = out.value("ActivationCode", "");
    Row("activation", activation_id_, kCreated,
        std::to_string(o_.hosts) + " registration(s), expires " + FormatIso8601(expires));
    return OkStatus();
  }

  // What keyward's rotation of this user's key calls, and nothing else (the external
  // IAM issuer, the Secrets Manager target, the SSM delivery, CloudTrail verification).
  json KeywardPolicyDocument() const {
    const std::string ssm_arn = "arn:aws:ssm:" + o_.region + ":" + account_ + ":";
    json send_resources = json::array({ssm_arn + "document/" + o_.document});
    json statements = json::array();
    statements.push_back({{"Sid", "RotateTheUsersKeys"},
                          {"Effect", "Allow"},
                          {"Action",
                           {"iam:ListAccessKeys", "iam:CreateAccessKey", "iam:UpdateAccessKey",
                            "iam:DeleteAccessKey", "iam:GetAccessKeyLastUsed"}},
                          {"Resource", user_arn_}});
    statements.push_back(
        {{"Sid", "StoreTheKey"},
         {"Effect", "Allow"},
         {"Action",
          {"secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue",
           "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"}},
         {"Resource", secret_arn_}});
    statements.push_back({{"Sid", "RunTheDocument"},
                          {"Effect", "Allow"},
                          {"Action", "ssm:SendCommand"},
                          {"Resource", send_resources}});
    if (o_.tags.empty()) {
      json instances = json::array();
      for (const auto& id : o_.instance_ids) {
        instances.push_back(ssm_arn + (id.starts_with("i-") ? "instance/" : "managed-instance/") +
                            id);
      }
      statements.push_back({{"Sid", "OnTheHosts"},
                            {"Effect", "Allow"},
                            {"Action", "ssm:SendCommand"},
                            {"Resource", instances}});
    } else {
      json condition = json::object();
      for (const auto& [k, v] : o_.tags) condition["ssm:resourceTag/" + k] = v;
      statements.push_back({{"Sid", "OnTheTaggedHosts"},
                            {"Effect", "Allow"},
                            {"Action", "ssm:SendCommand"},
                            {"Resource",
                             {ssm_arn + "managed-instance/*",
                              "arn:aws:ec2:" + o_.region + ":" + account_ + ":instance/*"}},
                            {"Condition", {{"StringEquals", condition}}}});
    }
    // These do not take resource-level permissions.
    statements.push_back(
        {{"Sid", "FollowTheCommand"},
         {"Effect", "Allow"},
         {"Action",
          {"ssm:GetCommandInvocation", "ssm:ListCommands", "ssm:ListCommandInvocations",
           "ssm:DescribeInstanceInformation", "cloudtrail:LookupEvents"}},
         {"Resource", "*"}});
    return json{{"Version", "2012-10-17"}, {"Statement", statements}};
  }

  Status KeywardPolicy() {
    const json doc = KeywardPolicyDocument();
    const std::string arn = "arn:aws:iam::" + account_ + ":policy/" + o_.keyward_policy;
    auto got = iam_.Call(kIam, "GetPolicy", {{"PolicyArn", arn}});
    if (got) {
      std::string detail = "attach it to keyward's user or role";
      auto version =
          iam_.Call(kIam, "GetPolicyVersion",
                    {{"PolicyArn", arn}, {"VersionId", got->TextAt("Policy/DefaultVersionId")}});
      if (version && !SameDocument(version->TextAt("PolicyVersion/Document"), doc)) {
        detail = "its document differs from the one printed; not changed";
      }
      Row("iam-policy", o_.keyward_policy, kExists, detail);
      return OkStatus();
    }
    if (!IsNotFound(got.error())) return std::move(got).error();
    if (!o_.apply) {
      Row("iam-policy", o_.keyward_policy, kWouldCreate, "for keyward's rotation of " + o_.user);
      return OkStatus();
    }
    KW_RETURN_IF_ERROR(iam_.Call(
        kIam, "CreatePolicy", {{"PolicyName", o_.keyward_policy}, {"PolicyDocument", doc.dump()}}));
    Row("iam-policy", o_.keyward_policy, kCreated, "attach it to keyward's user or role");
    return OkStatus();
  }

  CommandOutput Output() const {
    CommandOutput out;
    out.records.columns = {"Resource", "Name", "Status", "Detail"};
    Json resources = Json::array();
    for (const auto& r : rows_) {
      out.records.rows.push_back({r[0], r[1], r[2], r[3]});
      resources.push_back(
          Json{{"Resource", r[0]}, {"Name", r[1]}, {"Status", r[2]}, {"Detail", r[3]}});
    }
    const std::string registration =
        o_.tags.empty()
            ? ""
            : "sudo amazon-ssm-agent -register -code \"" +
                  (activation_code_.empty() ? std::string("<activation code>") : activation_code_) +
                  "\" -id \"" +
                  (activation_id_.empty() ? std::string("<activation id>") : activation_id_) +
                  "\" -region \"" + o_.region + "\"";
    out.json = Json{{"Resources", resources},
                    {"SecretArn", secret_arn_},
                    {"Document", Json::parse(DocumentContent().dump())},
                    {"InstanceRolePolicy", Json::parse(InstancePolicy().dump())},
                    {"KeywardPolicy", Json::parse(KeywardPolicyDocument().dump())}};
    if (!registration.empty()) out.json["RegistrationCommand"] = registration;
    out.notices.push_back("SSM document " + o_.document + ":\n" + DocumentContent().dump(2));
    out.notices.push_back("Policy " + RolePolicyName() + " of role " + o_.instance_role + ":\n" +
                          InstancePolicy().dump(2));
    out.notices.push_back("Policy " + o_.keyward_policy + " for keyward itself:\n" +
                          KeywardPolicyDocument().dump(2));
    if (!registration.empty()) {
      out.notices.push_back("On each host (at most " + std::to_string(o_.hosts) +
                            "), after installing amazon-ssm-agent:\n  " + registration +
                            (activation_code_.empty() && !activation_id_.empty()
                                 ? "\n(the code was shown only when the activation was created)"
                                 : ""));
    }
    if (!o_.apply) out.notices.push_back("Nothing was changed; run again with --apply.");
    return out;
  }

  Options o_;
  QueryClient iam_, sts_, sm_, ssm_;
  const Clock& clock_;
  std::string account_, user_arn_, secret_arn_, activation_id_, activation_code_;
  std::vector<std::array<std::string, 4>> rows_;
};

Result<CommandOutput> RunBootstrap(CommandContext& ctx) {
  KW_ASSIGN_OR_RETURN(
      ResolvedCredentials creds,
      ResolveCredentials(ChainOptions{ctx.options().profile, ctx.options().region}, ctx.env()));
  KW_ASSIGN_OR_RETURN(Options o, ParseOptions(ctx, creds.region));
  // One place builds the clients, so that a change in how they are made (retries,
  // pacing) is one edit.
  auto client = [&](const std::string& endpoint) {
    return QueryClient::Create(ctx.transport(), ctx.clock(), endpoint,
                               sigv4::Credentials{creds.credentials.access_key_id,
                                                  creds.credentials.secret_access_key.Clone(),
                                                  creds.credentials.session_token},
                               o.region);
  };
  KW_ASSIGN_OR_RETURN(QueryClient iam, client(o.endpoints.iam));
  KW_ASSIGN_OR_RETURN(QueryClient sts, client(o.endpoints.sts));
  KW_ASSIGN_OR_RETURN(QueryClient sm, client(o.endpoints.secretsmanager));
  KW_ASSIGN_OR_RETURN(QueryClient ssm, client(o.endpoints.ssm));
  Bootstrap b(std::move(o), std::move(iam), std::move(sts), std::move(sm), std::move(ssm),
              ctx.clock());
  return b.Run();
}

}  // namespace

std::vector<CommandDef> AwsCommands() {
  return {
      {{"aws", "bootstrap"},
       "Print (or --apply) the seed's AWS setup for one IAM user: the secret, the SSM document, "
       "the instance role's policy, an activation, and keyward's own policy",
       {{"--user", "The IAM user whose key is rotated", true},
        {"--secret-name", "The Secrets Manager secret that holds the key", true},
        {"--tag", "Hosts by tag, Key=Value (repeatable); new hosts register with an activation",
         false, true},
        {"--instance-ids", "Hosts by managed-instance ID (repeatable or comma-separated)", false,
         true},
        {"--apply", "Create what is missing (default: print the plan)", false, false, true},
        {"--access-key-id", "The user's current access key ID, for a new secret"},
        {"--secret-access-key-file", "File holding that key's secret (never printed)"},
        {"--document-name", std::string("The SSM document (default ") + kDefaultDocument + ")"},
        {"--credentials-path",
         std::string("Where the document writes the key on each host (default ") +
             kDefaultCredentialsPath + ")"},
        {"--instance-role",
         std::string("The managed instances' IAM role (default ") + kDefaultInstanceRole + ")"},
        {"--keyward-policy-name", "keyward's own IAM policy (default keyward-rotation-USER)"},
        {"--hosts", "Registrations the activation allows (default 1)"},
        {"--activation-expires", "The activation's lifetime (default 1h)"},
        {"--endpoint-url", "One endpoint for every AWS service (moto, keyward)"},
        {"--iam-endpoint", "IAM endpoint"},
        {"--sts-endpoint", "STS endpoint"},
        {"--secretsmanager-endpoint", "Secrets Manager endpoint"},
        {"--ssm-endpoint", "SSM endpoint"}},
       RunBootstrap},
  };
}

}  // namespace kw::cli
