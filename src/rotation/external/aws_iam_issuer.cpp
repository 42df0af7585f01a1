#include "rotation/external/aws_iam_issuer.hpp"

#include "common/time_format.hpp"
#include "rotation/external/cloudtrail_key_sources.hpp"

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
  std::optional<QueryClient> cloudtrail;
  if (!endpoints.cloudtrail.empty()) {
    const std::string region =
        endpoints.cloudtrail_region.empty() ? connection.region() : endpoints.cloudtrail_region;
    KW_ASSIGN_OR_RETURN(cloudtrail, QueryClient::Create(connection.transport(), connection.clock(),
                                                        endpoints.cloudtrail, policy, region));
  }
  auto issuer =
      std::make_unique<AwsIamIssuer>(std::move(iam), std::move(sts), connection.transport(),
                                     connection.clock(), policy, connection.region());
  if (cloudtrail) {
    issuer->SetCloudTrail(CloudTrailLookup{std::move(*cloudtrail), endpoints.cloudtrail_lookback});
  }
  return issuer;
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
  if (cloudtrail_) AddCloudTrailSources(access_key_id, usage);
  return usage;
}

void AwsIamIssuer::AddCloudTrailSources(std::string_view access_key_id, KeyUsage& usage) const {
  const TimePoint now = clock_.Now();
  auto sources =
      LookupKeySources(cloudtrail_->client, access_key_id, now - cloudtrail_->lookback, now);
  if (!sources) {
    // Not allowed (AccessDeniedException) or not reachable: GetAccessKeyLastUsed still
    // stands, as it does without CloudTrail; the note tells the operator why no address
    // is named. Only the error's code goes in: it is never secret, a message may quote
    // the caller's ARN.
    if (usage.last_accepted) {
      const std::string& why = sources.error().reason;
      usage.last_accepted->source +=
          why == "AccessDeniedException" || why == "AccessDenied"
              ? " (CloudTrail LookupEvents not allowed: source addresses unknown)"
              : " (CloudTrail LookupEvents failed" + (why.empty() ? "" : ": " + why) +
                    "; source addresses unknown)";
    }
    return;
  }
  if (sources->empty()) return;  // "not seen" (CloudTrail lags minutes), not proof of disuse
  std::string named;
  constexpr std::size_t kMaxNamed = 5;
  for (std::size_t i = 0; i < sources->size() && i < kMaxNamed; ++i) {
    const KeySource& s = (*sources)[i];
    if (!named.empty()) named += ", ";
    named += s.source_address + " (" + std::to_string(s.events) + " event" +
             (s.events == 1 ? "" : "s") + ", last " + s.last_event + " at " +
             FormatIso8601(s.last_seen) + ")";
  }
  if (sources->size() > kMaxNamed) {
    named += " and " + std::to_string(sources->size() - kMaxNamed) + " more";
  }
  const TimePoint latest = sources->front().last_seen;
  if (!usage.last_accepted) {
    usage.last_accepted = KeyUse{latest, "CloudTrail: " + named};
  } else {
    // GetAccessKeyLastUsed is rounded (AWS reports it to the day or hour), CloudTrail has
    // the second: the later of the two is the last use.
    if (latest > usage.last_accepted->when) usage.last_accepted->when = latest;
    usage.last_accepted->source += "; CloudTrail: " + named;
  }
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
