#include <openssl/crypto.h>

#include <algorithm>

#include "common/time_format.hpp"
#include "sigv4/detail/canonical.hpp"
#include "sigv4/detail/errors.hpp"
#include "sigv4/sigv4.hpp"

namespace kw::sigv4 {
namespace {

using detail::Incomplete;
using detail::Mismatch;

Status CheckTime(const ParsedAuth& auth, TimePoint now) {
  if (auth.time > now + kMaxSkew) {
    return Mismatch("Signature not yet current: " + auth.amz_date + " is still later than " +
                    FormatAmzDate(now + kMaxSkew) + " (" + FormatAmzDate(now) + " + 15 min.)");
  }
  if (auth.presigned && auth.expires.count() > 0) {
    // A presigned URL is meant to be used later: its own lifetime replaces the skew.
    if (now > auth.time + auth.expires) {
      return Unauthenticated("Request has expired: X-Amz-Date " + auth.amz_date +
                                 " plus X-Amz-Expires " + std::to_string(auth.expires.count()) +
                                 " seconds is earlier than " + FormatAmzDate(now) + ".",
                             "RequestExpired");
    }
    return OkStatus();
  }
  if (auth.time < now - kMaxSkew) {
    return Mismatch("Signature expired: " + auth.amz_date + " is now earlier than " +
                    FormatAmzDate(now - kMaxSkew) + " (" + FormatAmzDate(now) + " - 15 min.)");
  }
  return OkStatus();
}

// Per-thread buffers: the canonical request and the string to sign are rebuilt for
// every request, so keeping their capacity saves two allocations per verification.
struct Buffers {
  std::string canonical;
  std::string to_sign;
  std::string cache_key;
};

Buffers& ThreadBuffers() {
  thread_local Buffers b;
  return b;
}

// Rebuilds the signature over `payload_hash` and compares it in constant time.
bool SignatureMatches(const RequestView& request, const ParsedAuth& auth,
                      const crypto::Sha256Digest& key, std::string_view payload_hash) {
  Buffers& b = ThreadBuffers();
  b.canonical.clear();
  detail::AppendCanonicalRequest(b.canonical, request.method, request.target, request.headers,
                                 auth.signed_headers, payload_hash,
                                 auth.presigned ? "X-Amz-Signature" : std::string_view());
  b.to_sign.clear();
  b.to_sign.append(kAlgorithm).append("\n").append(auth.amz_date).append("\n");
  b.to_sign.append(auth.day).append("/").append(auth.region).append("/");
  b.to_sign.append(auth.service).append("/aws4_request\n");
  const crypto::Sha256Digest creq_hash = crypto::Sha256(b.canonical);
  detail::AppendHex(b.to_sign, creq_hash.data(), creq_hash.size());
  if (b.canonical.capacity() > 64 * 1024) b.canonical = {};

  const crypto::Sha256Digest mac = crypto::HmacSha256(crypto::AsView(key), b.to_sign);
  char expected[64];
  static constexpr char kHex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < mac.size(); ++i) {
    expected[2 * i] = kHex[mac[i] >> 4];
    expected[2 * i + 1] = kHex[mac[i] & 0xf];
  }
  return crypto::ConstantTimeEqual(std::string_view(expected, sizeof expected), auth.signature);
}

}  // namespace

Status Verifier::Verify(const RequestView& request, const ParsedAuth& auth,
                        const SecretBytes& secret, TimePoint now) {
  if (std::find(auth.signed_headers.begin(), auth.signed_headers.end(), "host") ==
      auth.signed_headers.end()) {
    return Incomplete("'Host' must be a 'SignedHeader' in the AWS Authorization.");
  }
  if (auth.amz_date.size() < 8 || std::string_view(auth.amz_date).substr(0, 8) != auth.day) {
    return Mismatch(
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
        "date from HTTP: '" +
        auth.day + "' != '" + auth.amz_date.substr(0, 8) + "', from '" + auth.amz_date + "'.");
  }
  KW_RETURN_IF_ERROR(CheckTime(auth, now));

  // The payload hash: x-amz-content-sha256 when the client sent one (it must then
  // describe the body, unless it is UNSIGNED-PAYLOAD); the body's hash otherwise.
  // Presigned URLs may also be signed over UNSIGNED-PAYLOAD (S3-style signers);
  // botocore signs them, for every service but S3, over the (empty) body's hash.
  char body_hex_buf[64];
  auto body_hex = [&]() {
    const crypto::Sha256Digest d = crypto::Sha256(request.body);
    static constexpr char kHex[] = "0123456789abcdef";
    for (std::size_t i = 0; i < d.size(); ++i) {
      body_hex_buf[2 * i] = kHex[d[i] >> 4];
      body_hex_buf[2 * i + 1] = kHex[d[i] & 0xf];
    }
    return std::string_view(body_hex_buf, sizeof body_hex_buf);
  };
  std::string_view payload_hash;
  bool try_unsigned = false;
  if (const HeaderField* h = FindHeader(request.headers, "x-amz-content-sha256")) {
    payload_hash = h->value;
    if (payload_hash != kUnsignedPayload && payload_hash != body_hex()) {
      return Mismatch(
          "The provided 'x-amz-content-sha256' header does not match what was "
          "computed.");
    }
  } else {
    payload_hash = body_hex();
    try_unsigned = auth.presigned;
  }

  const crypto::Sha256Digest key = KeyFor(auth, secret);
  if (SignatureMatches(request, auth, key, payload_hash) ||
      (try_unsigned && SignatureMatches(request, auth, key, kUnsignedPayload))) {
    return OkStatus();
  }
  return Mismatch(detail::kMismatchMessage);
}

crypto::Sha256Digest Verifier::KeyFor(const ParsedAuth& auth, const SecretBytes& secret) {
  if (capacity_ == 0) {
    return SigningKey(secret.Reveal(), auth.day, auth.region, auth.service);
  }
  // Cache key: "<key id>\n<day>/<region>/<service>\n" + SHA-256(secret).
  const crypto::Sha256Digest fingerprint = crypto::Sha256(secret.Reveal());
  std::string& k = ThreadBuffers().cache_key;
  k.clear();
  k.append(auth.access_key_id).append("\n").append(auth.day).append("/").append(auth.region);
  k.append("/").append(auth.service).append("\n").append(crypto::AsView(fingerprint));
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = index_.find(std::string_view(k));
    if (it != index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      return it->second->second;
    }
  }
  // Derive outside the lock: four HMACs are the slow part, and two threads deriving
  // the same key at once is harmless.
  const crypto::Sha256Digest key = SigningKey(secret.Reveal(), auth.day, auth.region, auth.service);
  std::lock_guard<std::mutex> lock(mu_);
  if (index_.find(std::string_view(k)) == index_.end()) {
    lru_.emplace_front(k, key);
    index_.emplace(k, lru_.begin());
    while (lru_.size() > capacity_) {
      auto& victim = lru_.back();
      index_.erase(victim.first);
      OPENSSL_cleanse(victim.second.data(), victim.second.size());
      lru_.pop_back();
    }
  }
  return key;
}

}  // namespace kw::sigv4
