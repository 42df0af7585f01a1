#pragma once

// Internals shared by the signer, the verifier and the auth parser. Not part of the
// module's public surface. All functions append to `out` so that the hot path (the
// server verifying every request) can reuse one buffer instead of allocating.

#include <string>
#include <string_view>
#include <vector>

#include "common/http_message.hpp"

namespace kw::sigv4::detail {

// Upper bounds on what a request may claim; beyond them ParseAuth refuses the request
// instead of doing unbounded work.
inline constexpr std::size_t kMaxSignedHeaders = 64;
inline constexpr std::size_t kMaxAuthorizationSize = 8 * 1024;
inline constexpr std::size_t kMaxTargetSize = 64 * 1024;
inline constexpr std::size_t kMaxHeaderCount = 256;
inline constexpr std::size_t kMaxHeaderSize = 16 * 1024;  // name + value
inline constexpr std::size_t kMaxQueryParams = 1000;
inline constexpr long long kMaxPresignExpires = 7 * 24 * 3600;  // AWS: one week

bool IsUnreserved(unsigned char c);
void AppendUriEncoded(std::string& out, std::string_view s, bool keep_slash);

// Splits a request-target into path and query (without the '?'; a '#fragment' is
// dropped, as clients never send one).
void SplitTarget(std::string_view target, std::string_view& path, std::string_view& query);

// Path segments normalised (empty and "." segments dropped, ".." pops) exactly as
// botocore does for every service but S3, then URI-encoded once more: the raw wire
// path is already encoded once, so this yields the spec's "double encoding".
void AppendCanonicalPath(std::string& out, std::string_view path);

// Parameters decoded ('+' is a space; a malformed escape stays literal) and
// re-encoded, sorted by encoded name then value. Parameters whose encoded name equals
// `exclude` are left out.
void AppendCanonicalQuery(std::string& out, std::string_view query, std::string_view exclude);

// Trims the value and collapses every run of whitespace (including the line breaks
// of folded multi-line values) into one space.
void AppendTrimmedValue(std::string& out, std::string_view value);

// "name:v1,v2\n" for each signed header, values of repeated headers in wire order.
template <typename Names>
void AppendCanonicalHeaders(std::string& out, const HeaderList& headers, const Names& names) {
  for (const auto& name : names) {
    out.append(name);
    out.push_back(':');
    bool first = true;
    for (const auto& h : headers) {
      if (!EqualsIgnoreCase(h.name, name)) continue;
      if (!first) out.push_back(',');
      AppendTrimmedValue(out, h.value);
      first = false;
    }
    out.push_back('\n');
  }
}

template <typename Names>
void AppendCanonicalRequest(std::string& out, std::string_view method, std::string_view target,
                            const HeaderList& headers, const Names& signed_headers,
                            std::string_view payload_hash, std::string_view exclude_query) {
  std::string_view path, query;
  SplitTarget(target, path, query);
  out.append(method);
  out.push_back('\n');
  AppendCanonicalPath(out, path);
  out.push_back('\n');
  AppendCanonicalQuery(out, query, exclude_query);
  out.push_back('\n');
  AppendCanonicalHeaders(out, headers, signed_headers);
  out.push_back('\n');
  bool first = true;
  for (const auto& name : signed_headers) {
    if (!first) out.push_back(';');
    out.append(name);
    first = false;
  }
  out.push_back('\n');
  out.append(payload_hash);
}

// Appends the 64 lowercase hex digits of `d`.
void AppendHex(std::string& out, const unsigned char* d, std::size_t n);

// Calls f(raw_name, raw_value) for each '&'-separated parameter, as botocore splits
// them (a parameter without '=' has an empty value).
template <typename F>
void ForEachQueryParam(std::string_view query, F&& f) {
  if (query.empty()) return;
  std::size_t pos = 0;
  while (true) {
    const std::size_t amp = query.find('&', pos);
    const std::string_view pair =
        query.substr(pos, amp == std::string_view::npos ? std::string_view::npos : amp - pos);
    const std::size_t eq = pair.find('=');
    if (eq == std::string_view::npos) {
      f(pair, std::string_view());
    } else {
      f(pair.substr(0, eq), pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    pos = amp + 1;
  }
}

// Lenient percent-decoding into `out`: '+' is a space, a malformed escape is kept
// literally. Used where an error would not help (canonicalisation, lookups).
void AppendDecodedLenient(std::string& out, std::string_view s);

}  // namespace kw::sigv4::detail
