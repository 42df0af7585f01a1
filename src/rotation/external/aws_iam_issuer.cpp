#include "rotation/external/aws_iam_issuer.hpp"

#include "common/time_format.hpp"

namespace kw::rotation::external {
namespace {

using awsclient::Idempotency;
using awsclient::kIam;
using awsclient::kSts;
using awsclient::QueryClient;

Result<TimePoint> ParseDate(const std::string& text, std::string_view what) {
  auto t = ParseIso8601(text);
  if (!t) return Internal("IAM returned a malformed " + std::string(what) + " '" + text + "'");
  return *t;
}

Result<KeyStatus> ParseStatus(const std::string& text) {
  if (text == "Active") return KeyStatus::kActive;
  if (text == "Inactive") return KeyStatus::kInactive;
  return Internal("IAM returned an unknown key status '" + text + "'");
}

}  // namespace

Result<std::unique_ptr<AwsIamIssuer>> AwsIamIssuer::Create(awsclient::AwsConnection& connection,
                                                           AwsIamEndpoints endpoints) {
  KW_ASSIGN_OR_RETURN(QueryClient iam, connection.Client(endpoints.iam));
  std::string sts = endpoints.sts.empty() ? "https://sts." + connection.region() + ".amazonaws.com"
                                          : endpoints.sts;
  KW_RETURN_IF_ERROR(awsclient::ParseUrl(sts));
  // The STS client's credentials are set per TestKey; the connection's pacing and
  // retries apply to it too.
  awsclient::ClientPolicy policy = iam.policy();
  return std::make_unique<AwsIamIssuer>(std::move(iam), std::move(sts), connection.transport(),
                                        connection.clock(), policy, connection.region());
}

AwsIamIssuer::AwsIamIssuer(QueryClient iam, std::string sts_endpoint,
                           awsclient::HttpTransport& transport, const Clock& clock,
                           awsclient::ClientPolicy policy, std::string region)
    : iam_(std::move(iam)),
      sts_endpoint_(std::move(sts_endpoint)),
      transport_(transport),
      clock_(clock),
      policy_(policy),
      region_(std::move(region)) {}

Result<std::vector<IssuedKey>> AwsIamIssuer::ListKeys(std::string_view user) {
  std::vector<IssuedKey> out;
  std::string marker;
  // IAM pages at 100 by default; a user has at most 2 keys, but a compatible
  // endpoint may page smaller, and "every listing call paginates to the end".
  for (int page = 0; page < 10000; ++page) {
    awsclient::QueryParamList params = {{"UserName", std::string(user)}};
    if (!marker.empty()) params.push_back({"Marker", marker});
    KW_ASSIGN_OR_RETURN(awsclient::xml::Node result, iam_.Call(kIam, "ListAccessKeys", params));
    if (const auto* list = result.Child("AccessKeyMetadata")) {
      for (const auto* m : list->Children("member")) {
        IssuedKey k;
        k.access_key_id = m->TextAt("AccessKeyId");
        KW_ASSIGN_OR_RETURN(k.status, ParseStatus(m->TextAt("Status")));
        KW_ASSIGN_OR_RETURN(k.create_date, ParseDate(m->TextAt("CreateDate"), "CreateDate"));
        out.push_back(std::move(k));
      }
    }
    if (result.TextAt("IsTruncated") != "true") return out;
    std::string next = result.TextAt("Marker");
    if (next.empty() || next == marker) {
      return Internal("ListAccessKeys: IsTruncated without a new Marker");
    }
    marker = std::move(next);
  }
  return Internal("ListAccessKeys: too many pages");
}

Result<CreatedKey> AwsIamIssuer::CreateKey(std::string_view user) {
  KW_ASSIGN_OR_RETURN(awsclient::xml::Node result,
                      iam_.Call(kIam, "CreateAccessKey", {{"UserName", std::string(user)}},
                                Idempotency::kNotIdempotent));
  awsclient::xml::Node* key = nullptr;
  for (auto& c : result.children) {
    if (c.name == "AccessKey") key = &c;
  }
  if (key == nullptr) return Internal("CreateAccessKey: the response has no AccessKey");
  CreatedKey created;
  created.access_key_id = key->TextAt("AccessKeyId");
  for (auto& c : key->children) {
    if (c.name == "SecretAccessKey") {
      created.secret_access_key = SecretBytes(std::move(c.text));
    }
  }
  if (created.access_key_id.empty() || created.secret_access_key.empty()) {
    return Internal("CreateAccessKey: the response lacks the key id or its secret");
  }
  auto date = ParseIso8601(key->TextAt("CreateDate"));
  // The key exists now; a malformed date must not lose it (and its secret): keyward's
  // clock is close enough for the orphan rule's skew allowance.
  created.create_date = date ? *date : clock_.Now();
  return created;
}

Status AwsIamIssuer::SetStatus(std::string_view user, std::string_view access_key_id,
                               KeyStatus status) {
  KW_RETURN_IF_ERROR(iam_.Call(kIam, "UpdateAccessKey",
                               {{"UserName", std::string(user)},
                                {"AccessKeyId", std::string(access_key_id)},
                                {"Status", status == KeyStatus::kActive ? "Active" : "Inactive"}}));
  return OkStatus();
}

Status AwsIamIssuer::DeleteKey(std::string_view user, std::string_view access_key_id) {
  KW_RETURN_IF_ERROR(
      iam_.Call(kIam, "DeleteAccessKey",
                {{"UserName", std::string(user)}, {"AccessKeyId", std::string(access_key_id)}}));
  return OkStatus();
}

Result<KeyUsage> AwsIamIssuer::Usage(std::string_view access_key_id) {
  KW_ASSIGN_OR_RETURN(
      awsclient::xml::Node result,
      iam_.Call(kIam, "GetAccessKeyLastUsed", {{"AccessKeyId", std::string(access_key_id)}}));
  KeyUsage usage;
  const std::string when = result.TextAt("AccessKeyLastUsed/LastUsedDate");
  if (!when.empty()) {
    KW_ASSIGN_OR_RETURN(TimePoint t, ParseDate(when, "LastUsedDate"));
    usage.last_accepted = KeyUse{t, result.TextAt("AccessKeyLastUsed/ServiceName", "N/A") + "/" +
                                        result.TextAt("AccessKeyLastUsed/Region", "N/A")};
  }
  return usage;
}

Result<bool> AwsIamIssuer::TestKey(std::string_view access_key_id, const SecretBytes& secret) {
  awsclient::StaticCredentialProvider key(awsclient::ProvidedCredentials{
      sigv4::Credentials{std::string(access_key_id), secret.Clone(), ""}, std::nullopt,
      "the key under test"});
  awsclient::ClientPolicy policy = policy_;
  policy.credentials = &key;
  KW_ASSIGN_OR_RETURN(QueryClient sts,
                      QueryClient::Create(transport_, clock_, sts_endpoint_, policy, region_));
  auto r = sts.Call(kSts, "GetCallerIdentity");
  if (r) return true;
  // Not (yet) accepted: IAM is eventually consistent, the engine asks again.
  if (r.error().reason == "InvalidClientTokenId" || r.error().reason == "SignatureDoesNotMatch") {
    return false;
  }
  return r.error();
}

}  // namespace kw::rotation::external
