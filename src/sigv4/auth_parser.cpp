// ParseAuth: what a request claims about its signature. Everything here handles
// untrusted input: every length and count is bounded, nothing throws or aborts.

#include <string>

#include "common/strings.hpp"
#include "common/time_format.hpp"
#include "sigv4/detail/canonical.hpp"
#include "sigv4/detail/errors.hpp"
#include "sigv4/sigv4.hpp"

namespace kw::sigv4 {
namespace {

using detail::Incomplete;

bool IsSpaceOrTab(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpaceOrTab(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpaceOrTab(s.back())) s.remove_suffix(1);
  return s;
}

bool AllDigits(std::string_view s) {
  for (const char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return !s.empty();
}

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Access key ids are alphanumeric; regions and services are lowercase words joined
// by '-'. Being strict here keeps odd bytes out of cache keys and messages.
bool ValidKeyId(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  for (const char c : s) {
    if (!IsAlnum(c)) return false;
  }
  return true;
}
bool ValidScopeWord(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (const char c : s) {
    if (!IsAlnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

// Long untrusted strings are cut before they go into a message.
std::string Quote(std::string_view s) {
  constexpr std::size_t kMax = 256;
  std::string out;
  for (const char c : s.substr(0, kMax)) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u >= 0x20 && u < 0x7f ? c : '?');
  }
  if (s.size() > kMax) out += "...";
  return out;
}

// ParseAmzDate accepts years up to 9999, but system_clock's nanosecond time_point
// overflows after 2262 (found by fuzzing). Dates that far out are refused here.
std::optional<TimePoint> ParseDate(std::string_view s) {
  if (s.size() >= 4 && AllDigits(s.substr(0, 4)) && s.substr(0, 4) > "2200") return std::nullopt;
  return ParseAmzDate(s);
}

// "Sun, 30 Aug 2015 12:36:00 GMT" (RFC 1123, the only form HTTP/1.1 clients send).
std::optional<TimePoint> ParseHttpDate(std::string_view s) {
  s = Trim(s);
  const std::size_t comma = s.find(',');
  if (comma != std::string_view::npos) s = Trim(s.substr(comma + 1));
  // "30 Aug 2015 12:36:00 GMT"
  if (s.size() != 24 || s[2] != ' ' || s[6] != ' ' || s[11] != ' ' || s[14] != ':' ||
      s[17] != ':' || s[20] != ' ' || s.substr(21) != "GMT") {
    return std::nullopt;
  }
  static constexpr std::string_view kMonths = "JanFebMarAprMayJunJulAugSepOctNovDec";
  const std::size_t m = kMonths.find(s.substr(3, 3));
  if (m == std::string_view::npos || m % 3 != 0) return std::nullopt;
  const int month = static_cast<int>(m / 3) + 1;
  // Rewritten as "20150830T123600Z" so that one parser validates every field.
  const char buf[16] = {s[7],
                        s[8],
                        s[9],
                        s[10],
                        static_cast<char>('0' + month / 10),
                        static_cast<char>('0' + month % 10),
                        s[0],
                        s[1],
                        'T',
                        s[12],
                        s[13],
                        s[15],
                        s[16],
                        s[18],
                        s[19],
                        'Z'};
  return ParseDate(std::string_view(buf, 16));
}

struct Scope {
  std::string_view key_id, day, region, service;
};

Result<Scope> ParseCredential(std::string_view credential) {
  std::string_view parts[5];
  std::size_t n = 0, pos = 0;
  while (n < 5) {
    const std::size_t slash = credential.find('/', pos);
    parts[n++] = credential.substr(pos, slash == std::string_view::npos ? slash : slash - pos);
    pos = slash == std::string_view::npos ? slash : slash + 1;
    if (pos == std::string_view::npos) break;
  }
  if (pos != std::string_view::npos) n = 6;  // more than five parts
  if (n != 5) {
    return Incomplete(
        "Credential should be of the form "
        "'<access key id>/<yyyymmdd>/<region>/<service>/aws4_request', got '" +
        Quote(credential) + "'.");
  }
  if (parts[4] != "aws4_request") {
    return Incomplete("Credential should be scoped with a valid terminator: 'aws4_request', not '" +
                      Quote(parts[4]) + "'.");
  }
  if (!ValidKeyId(parts[0])) {
    return Incomplete("Credential should begin with a valid access key id, not '" +
                      Quote(parts[0]) + "'.");
  }
  if (parts[1].size() != 8 || !AllDigits(parts[1])) {
    return Incomplete("Credential should be scoped to a valid date (yyyymmdd), not '" +
                      Quote(parts[1]) + "'.");
  }
  if (!ValidScopeWord(parts[2])) {
    return Incomplete("Credential should be scoped to a valid region, not '" + Quote(parts[2]) +
                      "'.");
  }
  if (!ValidScopeWord(parts[3])) {
    return Incomplete("Credential should be scoped to a valid service, not '" + Quote(parts[3]) +
                      "'.");
  }
  return Scope{parts[0], parts[1], parts[2], parts[3]};
}

void FillScope(ParsedAuth& auth, const Scope& s) {
  auth.access_key_id.assign(s.key_id);
  auth.day.assign(s.day);
  auth.region.assign(s.region);
  auth.service.assign(s.service);
  auth.scope.reserve(s.day.size() + s.region.size() + s.service.size() + 15);
  auth.scope.append(s.day).append("/").append(s.region).append("/").append(s.service);
  auth.scope.append("/aws4_request");
}

Status ParseSignedHeaders(std::string_view list, std::string_view what, ParsedAuth& auth) {
  std::size_t pos = 0;
  while (true) {
    const std::size_t semi = list.find(';', pos);
    const std::string_view name =
        list.substr(pos, semi == std::string_view::npos ? semi : semi - pos);
    if (name.empty() || name.size() > 256) {
      return Incomplete(std::string(what) + " has an empty or oversized header name.");
    }
    if (auth.signed_headers.size() == detail::kMaxSignedHeaders) {
      return Incomplete(std::string(what) + " lists more than " +
                        std::to_string(detail::kMaxSignedHeaders) + " headers.");
    }
    auth.signed_headers.push_back(ToLowerAscii(name));
    if (semi == std::string_view::npos) break;
    pos = semi + 1;
  }
  return OkStatus();
}

Result<ParsedAuth> ParseHeaderForm(const RequestView& request, std::string_view header) {
  header = Trim(header);
  if (header.size() > detail::kMaxAuthorizationSize) {
    return Incomplete("Authorization header is longer than " +
                      std::to_string(detail::kMaxAuthorizationSize) + " bytes.");
  }
  std::size_t sp = 0;
  while (sp < header.size() && !IsSpaceOrTab(header[sp]) && header[sp] != ',') ++sp;
  const std::string_view algorithm = header.substr(0, sp);
  std::string_view credential, signed_headers, signature;
  bool have_credential = false, have_signed = false, have_signature = false;
  if (algorithm == kAlgorithm) {
    std::string_view rest = header.substr(sp);
    while (!rest.empty()) {
      const std::size_t comma = rest.find(',');
      const std::string_view part = Trim(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      if (part.empty()) continue;
      const std::size_t eq = part.find('=');
      if (eq == std::string_view::npos) {
        // Built with append: GCC 12 warns falsely (-Wrestrict) on "'" + std::string.
        std::string message(1, '\'');
        message.append(Quote(part));
        message.append("' not a valid key=value pair (missing equal-sign) in Authorization ");
        message.append("header: '").append(Quote(header)).append("'.");
        return Incomplete(std::move(message));
      }
      const std::string_view key = Trim(part.substr(0, eq));
      const std::string_view value = Trim(part.substr(eq + 1));
      // The first occurrence wins; a client has no reason to repeat one.
      if (key == "Credential" && !have_credential) {
        credential = value;
        have_credential = true;
      } else if (key == "SignedHeaders" && !have_signed) {
        signed_headers = value;
        have_signed = true;
      } else if (key == "Signature" && !have_signature) {
        signature = value;
        have_signature = true;
      }
    }
  } else if (algorithm.substr(0, 5) == "AWS4-") {
    return Incomplete("Unsupported AWS 'algorithm': '" + Quote(algorithm) + "'.");
  }

  const HeaderField* amz_date = FindHeader(request.headers, "x-amz-date");
  const HeaderField* date = amz_date != nullptr ? nullptr : FindHeader(request.headers, "date");
  std::string missing;
  if (!have_credential) missing += "Authorization header requires 'Credential' parameter. ";
  if (!have_signature) missing += "Authorization header requires 'Signature' parameter. ";
  if (!have_signed) missing += "Authorization header requires 'SignedHeaders' parameter. ";
  if (amz_date == nullptr && date == nullptr) {
    missing +=
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
        "header. ";
  }
  if (!missing.empty()) return Incomplete(missing + "Authorization=" + Quote(header));

  ParsedAuth auth;
  KW_ASSIGN_OR_RETURN(const Scope scope, ParseCredential(credential));
  FillScope(auth, scope);
  KW_RETURN_IF_ERROR(ParseSignedHeaders(signed_headers, "SignedHeaders", auth));
  if (signature.empty()) return Incomplete("Authorization header has an empty 'Signature'.");
  auth.signature = ToLowerAscii(signature);
  if (amz_date != nullptr) {
    const std::string_view v = Trim(amz_date->value);
    const auto t = ParseDate(v);
    if (!t) {
      return Incomplete("Date must be in ISO-8601 'basic format'. Got '" + Quote(v) +
                        "'. See http://en.wikipedia.org/wiki/ISO_8601");
    }
    auth.amz_date.assign(v);
    auth.time = *t;
  } else {
    const auto t = ParseHttpDate(date->value);
    if (!t) {
      return Incomplete("Date header must be in RFC 1123 format. Got '" + Quote(date->value) +
                        "'.");
    }
    auth.amz_date = FormatAmzDate(*t);
    auth.time = *t;
  }
  if (const HeaderField* token = FindHeader(request.headers, "x-amz-security-token")) {
    auth.session_token.assign(Trim(token->value));
  }
  return auth;
}

// The X-Amz-* parameters of a presigned request-target.
struct QueryAuth {
  enum Field { kAlgorithmF, kCredential, kSignature, kSignedHeaders, kDate, kExpires, kToken, kN };
  std::string_view raw[kN];
  int count[kN] = {};
  std::size_t params = 0;
};

constexpr std::string_view kQueryNames[QueryAuth::kN] = {
    "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature",     "X-Amz-SignedHeaders",
    "X-Amz-Date",      "X-Amz-Expires",    "X-Amz-Security-Token"};

QueryAuth ScanQuery(std::string_view query) {
  QueryAuth q;
  std::string name;
  detail::ForEachQueryParam(query, [&](std::string_view key, std::string_view value) {
    ++q.params;
    // Only names of a plausible length can be one of ours; skip decoding the rest.
    if (key.size() > 64 || key.size() < 5) return;
    name.clear();
    detail::AppendDecodedLenient(name, key);
    for (int i = 0; i < QueryAuth::kN; ++i) {
      if (name == kQueryNames[i]) {
        if (q.count[i]++ == 0) q.raw[i] = value;
        break;
      }
    }
  });
  return q;
}

Result<std::string> DecodeParam(const QueryAuth& q, QueryAuth::Field f) {
  auto v = UriDecode(q.raw[f], /*plus_is_space=*/true);
  if (!v)
    return Incomplete("Query-string parameter '" + std::string(kQueryNames[f]) +
                      "' has a malformed percent-escape.");
  return std::move(*v);
}

Result<ParsedAuth> ParseQueryForm(const RequestView& request, const QueryAuth& q) {
  std::string missing;
  for (const auto f : {QueryAuth::kAlgorithmF, QueryAuth::kCredential, QueryAuth::kSignature,
                       QueryAuth::kSignedHeaders, QueryAuth::kDate}) {
    if (q.count[f] == 0) {
      missing += "AWS query-string parameters must include '" + std::string(kQueryNames[f]) + "'. ";
    }
  }
  if (!missing.empty()) return Incomplete(missing + "Re-examine the query-string parameters.");
  for (int i = 0; i < QueryAuth::kN; ++i) {
    if (q.count[i] > 1) {
      return Incomplete("Query-string parameter '" + std::string(kQueryNames[i]) +
                        "' must not be repeated.");
    }
  }
  KW_ASSIGN_OR_RETURN(const std::string algorithm, DecodeParam(q, QueryAuth::kAlgorithmF));
  if (algorithm != kAlgorithm) {
    return Incomplete("X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\".");
  }
  ParsedAuth auth;
  auth.presigned = true;
  KW_ASSIGN_OR_RETURN(const std::string credential, DecodeParam(q, QueryAuth::kCredential));
  KW_ASSIGN_OR_RETURN(const Scope scope, ParseCredential(credential));
  FillScope(auth, scope);
  KW_ASSIGN_OR_RETURN(const std::string signed_headers, DecodeParam(q, QueryAuth::kSignedHeaders));
  KW_RETURN_IF_ERROR(ParseSignedHeaders(signed_headers, "X-Amz-SignedHeaders", auth));
  KW_ASSIGN_OR_RETURN(std::string signature, DecodeParam(q, QueryAuth::kSignature));
  if (signature.empty() || signature.size() > 256) {
    return Incomplete("X-Amz-Signature must be the hex signature.");
  }
  auth.signature = ToLowerAscii(signature);
  KW_ASSIGN_OR_RETURN(std::string date, DecodeParam(q, QueryAuth::kDate));
  const auto t = ParseDate(date);
  if (!t) {
    return Incomplete("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\".");
  }
  auth.amz_date = std::move(date);
  auth.time = *t;
  if (q.count[QueryAuth::kExpires] != 0) {
    KW_ASSIGN_OR_RETURN(const std::string expires, DecodeParam(q, QueryAuth::kExpires));
    long long seconds = 0;
    bool ok = AllDigits(expires) && expires.size() <= 7;
    if (ok) {
      for (const char c : expires) seconds = seconds * 10 + (c - '0');
      ok = seconds >= 1 && seconds <= detail::kMaxPresignExpires;
    }
    if (!ok) {
      return Incomplete(
          "X-Amz-Expires must be a whole number of seconds from 1 to 604800 (one week).");
    }
    auth.expires = std::chrono::seconds(seconds);
  }
  if (q.count[QueryAuth::kToken] != 0) {
    KW_ASSIGN_OR_RETURN(auth.session_token, DecodeParam(q, QueryAuth::kToken));
  } else if (const HeaderField* token = FindHeader(request.headers, "x-amz-security-token")) {
    auth.session_token.assign(Trim(token->value));
  }
  return auth;
}

bool LooksLikeQueryProtocol(const RequestView& request, std::string_view query) {
  const HeaderField* ct = FindHeader(request.headers, "content-type");
  if (ct != nullptr && ct->value.find("x-www-form-urlencoded") != std::string::npos) return true;
  return query.substr(0, 7) == "Action=" || query.find("&Action=") != std::string_view::npos;
}

}  // namespace

Result<ParsedAuth> ParseAuth(const RequestView& request) {
  if (request.target.size() > detail::kMaxTargetSize) {
    return Incomplete("Request-target is longer than " + std::to_string(detail::kMaxTargetSize) +
                      " bytes.");
  }
  if (request.headers.size() > detail::kMaxHeaderCount) {
    return Incomplete("Request has more than " + std::to_string(detail::kMaxHeaderCount) +
                      " headers.");
  }
  for (const HeaderField& h : request.headers) {
    if (h.name.size() + h.value.size() > detail::kMaxHeaderSize) {
      return Incomplete("Header '" + Quote(h.name.substr(0, 64)) + "' is longer than " +
                        std::to_string(detail::kMaxHeaderSize) + " bytes.");
    }
  }
  if (const HeaderField* h = FindHeader(request.headers, "authorization")) {
    return ParseHeaderForm(request, h->value);
  }
  std::string_view path, query;
  detail::SplitTarget(request.target, path, query);
  const QueryAuth q = ScanQuery(query);
  if (q.params > detail::kMaxQueryParams) {
    return Incomplete("Request has more than " + std::to_string(detail::kMaxQueryParams) +
                      " query-string parameters.");
  }
  if (q.count[QueryAuth::kAlgorithmF] + q.count[QueryAuth::kCredential] +
          q.count[QueryAuth::kSignature] >
      0) {
    return ParseQueryForm(request, q);
  }
  return Unauthenticated(LooksLikeQueryProtocol(request, query)
                             ? "Request is missing Authentication Token"
                             : "Missing Authentication Token",
                         "MissingAuthenticationToken");
}

}  // namespace kw::sigv4
