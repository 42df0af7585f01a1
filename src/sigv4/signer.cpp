#include <algorithm>

#include "common/strings.hpp"
#include "common/time_format.hpp"
#include "sigv4/detail/canonical.hpp"
#include "sigv4/sigv4.hpp"

namespace kw::sigv4 {
namespace {

std::string ScopeOf(std::string_view day, const SigningParams& p) {
  std::string s(day);
  s.append("/").append(p.region).append("/").append(p.service).append("/aws4_request");
  return s;
}

std::string Join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out.push_back(';');
    out += n;
  }
  return out;
}

}  // namespace

HeaderList Sign(const RequestView& request, const Credentials& credentials,
                const SigningParams& params) {
  const std::string amz_date = FormatAmzDate(params.time);
  const std::string day = FormatAmzDay(params.time);
  const std::string payload_hash = crypto::Sha256Hex(request.body);

  HeaderList added;
  added.push_back({"X-Amz-Date", amz_date});
  if (!credentials.session_token.empty()) {
    added.push_back({"X-Amz-Security-Token", credentials.session_token});
  }
  if (params.add_content_sha256) added.push_back({"x-amz-content-sha256", payload_hash});

  // The request as it will be sent: its own headers (minus a stale Authorization)
  // plus the ones added here.
  HeaderList all;
  all.reserve(request.headers.size() + added.size());
  for (const auto& h : request.headers) {
    if (!EqualsIgnoreCase(h.name, "authorization")) all.push_back(h);
  }
  all.insert(all.end(), added.begin(), added.end());
  std::vector<std::string> names;
  names.reserve(all.size());
  for (const auto& h : all) names.push_back(ToLowerAscii(h.name));
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());

  const RequestView view{request.method, request.target, all, request.body};
  const std::string scope = ScopeOf(day, params);
  const std::string sts =
      StringToSign(amz_date, scope, CanonicalRequest(view, names, payload_hash));
  const std::string signature = Signature(
      SigningKey(credentials.secret_access_key.Reveal(), day, params.region, params.service), sts);
  std::string authorization(kAlgorithm);
  authorization.append(" Credential=").append(credentials.access_key_id).append("/").append(scope);
  authorization.append(", SignedHeaders=").append(Join(names));
  authorization.append(", Signature=").append(signature);
  added.push_back({"Authorization", std::move(authorization)});
  return added;
}

std::string Presign(const RequestView& request, const Credentials& credentials,
                    const SigningParams& params, std::chrono::seconds expires) {
  const std::string amz_date = FormatAmzDate(params.time);
  const std::string day = FormatAmzDay(params.time);
  const std::string scope = ScopeOf(day, params);
  const long long seconds = std::clamp<long long>(expires.count(), 1, detail::kMaxPresignExpires);

  std::string_view path, query;
  detail::SplitTarget(request.target, path, query);
  std::string target(path);
  target.push_back('?');
  if (!query.empty()) target.append(query).push_back('&');
  target.append("X-Amz-Algorithm=").append(kAlgorithm);
  target.append("&X-Amz-Credential=");
  detail::AppendUriEncoded(target, credentials.access_key_id + "/" + scope, false);
  target.append("&X-Amz-Date=").append(amz_date);
  target.append("&X-Amz-Expires=").append(std::to_string(seconds));
  target.append("&X-Amz-SignedHeaders=host");
  if (!credentials.session_token.empty()) {
    target.append("&X-Amz-Security-Token=");
    detail::AppendUriEncoded(target, credentials.session_token, false);
  }
  const RequestView view{request.method, target, request.headers, request.body};
  const std::string sts = StringToSign(
      amz_date, scope, CanonicalRequest(view, {"host"}, crypto::Sha256Hex(request.body)));
  target.append("&X-Amz-Signature=");
  target.append(Signature(
      SigningKey(credentials.secret_access_key.Reveal(), day, params.region, params.service), sts));
  return target;
}

}  // namespace kw::sigv4
