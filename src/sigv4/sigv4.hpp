#pragma once

// AWS Signature Version 4: pure functions to build, sign and verify requests.
// Used by the server to authenticate every request and by clients (CLI, agent,
// rotation engine) to sign theirs. Nothing here does I/O or reads a clock; the
// caller passes the time. Everything is thread-safe except where stated.

#include <chrono>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/clock.hpp"
#include "common/http_message.hpp"
#include "common/result.hpp"
#include "common/secret_bytes.hpp"
#include "crypto/digest.hpp"

namespace kw::sigv4 {

// Failures carry Error::reason set to the AWS error code (query-protocol spelling):
//   "MissingAuthenticationToken"  no Authorization header and no X-Amz-Algorithm,
//                                 X-Amz-Credential or X-Amz-Signature query parameter
//   "IncompleteSignature"         the header or query form lacks or garbles a part
//   "SignatureDoesNotMatch"       the signature is wrong, or the date is skewed
//   "RequestExpired"              a presigned URL past its X-Amz-Expires
//   "InvalidClientTokenId"        (set by the caller's key lookup, not here)
//   "ExpiredToken"                (set by the caller's session lookup, not here)

inline constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
inline constexpr auto kMaxSkew = std::chrono::minutes(15);

struct Credentials {
  std::string access_key_id;
  SecretBytes secret_access_key;
  std::string session_token;  // empty for long-term keys
};

// A request as SigV4 sees it. Views into the caller's request; must not outlive it.
struct RequestView {
  std::string_view method;
  std::string_view target;  // raw path + optional "?query"
  const HeaderList& headers;
  std::string_view body;
};

// ---- building blocks (tested against the AWS suite) ----

// The canonical request. `signed_headers` are lowercase and sorted. Path segments
// are normalised (".", "..", "//") as for every service but S3. Query parameters
// named in `exclude_query` (the presigned X-Amz-Signature) are left out.
std::string CanonicalRequest(const RequestView& request,
                             const std::vector<std::string>& signed_headers,
                             std::string_view payload_hash, std::string_view exclude_query = {});
std::string StringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request);
crypto::Sha256Digest SigningKey(std::string_view secret_access_key, std::string_view day,
                                std::string_view region, std::string_view service);
std::string Signature(const crypto::Sha256Digest& signing_key, std::string_view string_to_sign);

// ---- signing ----

struct SigningParams {
  std::string region;
  std::string service;
  TimePoint time;
  bool add_content_sha256 = false;  // add x-amz-content-sha256, as S3-style clients do
};

// Headers to add to `request` to sign it: X-Amz-Date, X-Amz-Security-Token (when
// the credentials have one), x-amz-content-sha256 (if asked) and Authorization.
// Signs every header already in `request` (Host must be among them) plus those.
HeaderList Sign(const RequestView& request, const Credentials& credentials,
                const SigningParams& params);

// A presigned request-target: `request.target` with the X-Amz-* query parameters
// (Algorithm, Credential, Date, Expires, SignedHeaders=host, Security-Token,
// Signature) appended. The payload hash is the body's SHA-256 (that of "" for a GET),
// as botocore's generate_presigned_url signs for every service but S3; Verify also
// accepts presigned URLs signed over UNSIGNED-PAYLOAD.
std::string Presign(const RequestView& request, const Credentials& credentials,
                    const SigningParams& params, std::chrono::seconds expires);

// ---- verification ----

// What a request claims about its signature, parsed from the Authorization header
// or from the presigned query parameters.
struct ParsedAuth {
  bool presigned = false;
  std::string access_key_id;
  std::string day;  // scope date, yyyymmdd
  std::string region;
  std::string service;
  std::string scope;  // day/region/service/aws4_request
  std::vector<std::string> signed_headers;
  std::string signature;            // lowercase hex
  std::string amz_date;             // X-Amz-Date (header, query, or RFC 1123 Date header)
  TimePoint time;                   // amz_date parsed
  std::string session_token;        // X-Amz-Security-Token, empty if none
  std::chrono::seconds expires{0};  // presigned only
};

// Parses without checking the signature. Errors as listed above.
Result<ParsedAuth> ParseAuth(const RequestView& request);

// Checks signatures. Caches derived signing keys per (access key, day, region,
// service), so most verifications cost two HMACs and a hash. Thread-safe.
class Verifier {
 public:
  explicit Verifier(std::size_t cache_capacity = 4096) : capacity_(cache_capacity) {}

  // OK if `auth` (from ParseAuth(request)) is a valid signature of `request` under
  // `secret` at time `now`: within 15 minutes of now, presigned URLs unexpired,
  // Host signed, the payload hash matches the body (or x-amz-content-sha256), and the
  // signature equal in constant time.
  Status Verify(const RequestView& request, const ParsedAuth& auth, const SecretBytes& secret,
                TimePoint now);

 private:
  crypto::Sha256Digest KeyFor(const ParsedAuth& auth, const SecretBytes& secret);

  // Lets the cache be probed with a string_view built on the stack (no allocation).
  struct KeyHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  std::size_t capacity_;
  std::mutex mu_;
  // guarded by mu_: LRU of cache key -> signing key. The cache key holds the access
  // key id, the scope and a SHA-256 of the secret, so a changed secret never hits.
  std::list<std::pair<std::string, crypto::Sha256Digest>> lru_;
  std::unordered_map<std::string, decltype(lru_)::iterator, KeyHash, std::equal_to<>> index_;
};

// ---- helpers shared with the query-protocol parser ----

// RFC 3986 percent-encoding as SigV4 wants it: unreserved characters
// (A-Z a-z 0-9 - _ . ~) stay, everything else becomes %XX uppercase; '/' stays
// when `keep_slash`.
std::string UriEncode(std::string_view s, bool keep_slash);
// Percent-decoding; '+' becomes ' ' when `plus_is_space`. nullopt on a bad escape.
std::optional<std::string> UriDecode(std::string_view s, bool plus_is_space);

}  // namespace kw::sigv4
