#include "api/sts/sts_api.hpp"

#include <chrono>
#include <map>
#include <string>
#include <utility>

#include "common/time_format.hpp"

namespace kw::api {
namespace {

void WriteCredentials(XmlWriter& x, const sts::TemporaryCredentials& c) {
  x.Open("Credentials")
      .Element("AccessKeyId", c.access_key_id)
      .Element("SecretAccessKey", c.secret_access_key.Reveal())
      .Element("SessionToken", c.session_token.Reveal())
      .TimeElement("Expiration", c.expiration)
      .Close("Credentials");
}

}  // namespace

QueryService StsQueryService(sts::StsService& sts, iam::PolicyResolver& policies,
                             const iam::Account& account) {
  (void)account;
  QueryService service;
  service.signing_name = "sts";
  service.action_prefix = "sts";
  service.xmlns = "https://sts.amazonaws.com/doc/2011-06-15/";
  service.version = "2011-06-15";
  auto star = [](const QueryParams&, const iam::Principal&) { return std::string("*"); };

  service.operations.push_back(MakeOperation(
      "AssumeRole", false,
      [](const QueryParams& p, const iam::Principal&) { return p.Get("RoleArn").value_or("*"); },
      [svc = &sts, resolver = &policies](const QueryCall& call, XmlWriter& x) -> Status {
        sts::AssumeRoleRequest req;
        KW_ASSIGN_OR_RETURN(req.role_arn, call.params.Required("RoleArn"));
        KW_ASSIGN_OR_RETURN(req.role_session_name, call.params.Required("RoleSessionName"));
        KW_ASSIGN_OR_RETURN(req.duration_seconds, call.params.Int("DurationSeconds", 900, 43200));
        KW_ASSIGN_OR_RETURN(req.tags, DecodeTagMap(call.params));
        req.external_id = call.params.Get("ExternalId");
        req.source_identity = call.params.Get("SourceIdentity");
        req.has_session_policy =
            call.params.Get("Policy").has_value() || !call.params.Structs("PolicyArns").empty();
        req.condition_keys["aws:currenttime"] = {FormatIso8601(call.now)};
        req.condition_keys["aws:epochtime"] = {std::to_string(
            std::chrono::duration_cast<std::chrono::seconds>(call.now.time_since_epoch()).count())};
        if (!call.source_ip.empty()) {
          req.condition_keys["aws:sourceip"] = {std::string(call.source_ip)};
        }
        KW_ASSIGN_OR_RETURN(auto caller_policies, resolver->IdentityPolicies(call.principal));
        KW_ASSIGN_OR_RETURN(sts::AssumeRoleResult r,
                            svc->AssumeRole(call.principal, req, caller_policies));
        WriteCredentials(x, r.credentials);
        x.Open("AssumedRoleUser")
            .Element("AssumedRoleId", r.assumed_role_id)
            .Element("Arn", r.arn)
            .Close("AssumedRoleUser");
        if (r.source_identity) x.Element("SourceIdentity", *r.source_identity);
        return OkStatus();
      },
      /*authorize=*/false));

  service.operations.push_back(MakeOperation(
      "GetSessionToken", false, star, [svc = &sts](const QueryCall& call, XmlWriter& x) -> Status {
        KW_ASSIGN_OR_RETURN(auto duration, call.params.Int("DurationSeconds", 900, 129600));
        KW_ASSIGN_OR_RETURN(sts::TemporaryCredentials c,
                            svc->GetSessionToken(call.principal, duration));
        WriteCredentials(x, c);
        return OkStatus();
      }));

  service.operations.push_back(MakeOperation(
      "GetCallerIdentity", true, star,
      [](const QueryCall& call, XmlWriter& x) -> Status {
        const sts::CallerIdentity id = sts::StsService::GetCallerIdentity(call.principal);
        x.Element("UserId", id.user_id).Element("Account", id.account).Element("Arn", id.arn);
        return OkStatus();
      },
      /*authorize=*/false));
  return service;
}

}  // namespace kw::api
