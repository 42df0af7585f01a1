#include <algorithm>
#include <array>

#include "crypto/digest.hpp"
#include "sigv4/detail/canonical.hpp"
#include "sigv4/sigv4.hpp"

namespace kw::sigv4 {
namespace detail {
namespace {

constexpr char kUpperHex[] = "0123456789ABCDEF";
constexpr char kLowerHex[] = "0123456789abcdef";

constexpr std::array<bool, 256> MakeUnreservedTable() {
  std::array<bool, 256> t{};
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  t['-'] = t['_'] = t['.'] = t['~'] = true;
  return t;
}
constexpr std::array<bool, 256> kUnreserved = MakeUnreservedTable();

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

inline void AppendEncodedByte(std::string& out, unsigned char c) {
  if (kUnreserved[c]) {
    out.push_back(static_cast<char>(c));
  } else {
    const char buf[3] = {'%', kUpperHex[c >> 4], kUpperHex[c & 0xf]};
    out.append(buf, 3);
  }
}

// Decodes (leniently) and re-encodes one query component in a single pass.
void AppendCanonicalComponent(std::string& out, std::string_view raw) {
  for (std::size_t i = 0; i < raw.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(raw[i]);
    if (c == '%' && i + 2 < raw.size()) {
      const int hi = HexValue(raw[i + 1]), lo = HexValue(raw[i + 2]);
      if (hi >= 0 && lo >= 0) {
        c = static_cast<unsigned char>(hi << 4 | lo);
        i += 2;
      }
    } else if (c == '+') {
      c = ' ';
    }
    AppendEncodedByte(out, c);
  }
}

struct Param {
  std::size_t key_off, key_len, value_off, value_len;
};

// Scratch space reused across calls on the same thread, so that canonicalising a
// query costs no allocation in the steady state.
struct QueryScratch {
  std::string text;
  std::vector<Param> params;
};

QueryScratch& Scratch() {
  thread_local QueryScratch scratch;
  return scratch;
}

}  // namespace

bool IsUnreserved(unsigned char c) { return kUnreserved[c]; }

void AppendUriEncoded(std::string& out, std::string_view s, bool keep_slash) {
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (keep_slash && c == '/') {
      out.push_back('/');
    } else {
      AppendEncodedByte(out, c);
    }
  }
}

void AppendDecodedLenient(std::string& out, std::string_view raw) {
  for (std::size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '%' && i + 2 < raw.size()) {
      const int hi = HexValue(raw[i + 1]), lo = HexValue(raw[i + 2]);
      if (hi >= 0 && lo >= 0) {
        c = static_cast<char>(hi << 4 | lo);
        i += 2;
      }
    } else if (c == '+') {
      c = ' ';
    }
    out.push_back(c);
  }
}

void AppendHex(std::string& out, const unsigned char* d, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const char buf[2] = {kLowerHex[d[i] >> 4], kLowerHex[d[i] & 0xf]};
    out.append(buf, 2);
  }
}

void SplitTarget(std::string_view target, std::string_view& path, std::string_view& query) {
  const std::size_t hash = target.find('#');
  if (hash != std::string_view::npos) target = target.substr(0, hash);
  const std::size_t q = target.find('?');
  if (q == std::string_view::npos) {
    path = target;
    query = {};
  } else {
    path = target.substr(0, q);
    query = target.substr(q + 1);
  }
}

void AppendCanonicalPath(std::string& out, std::string_view path) {
  if (path.empty()) {
    out.push_back('/');
    return;
  }
  // Segments are kept as offsets into `path`; a small stack covers typical paths.
  thread_local std::vector<std::string_view> segments;
  segments.clear();
  std::size_t pos = 0;
  while (pos <= path.size()) {
    std::size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    const std::string_view seg = path.substr(pos, slash - pos);
    if (seg == "..") {
      if (!segments.empty()) segments.pop_back();
    } else if (!seg.empty() && seg != ".") {
      segments.push_back(seg);
    }
    pos = slash + 1;
  }
  if (path.front() == '/') out.push_back('/');
  for (std::size_t i = 0; i < segments.size(); ++i) {
    if (i != 0) out.push_back('/');
    AppendUriEncoded(out, segments[i], false);
  }
  if (path.back() == '/' && !segments.empty()) out.push_back('/');
  if (segments.capacity() > 1024) segments = {};
}

void AppendCanonicalQuery(std::string& out, std::string_view query, std::string_view exclude) {
  if (query.empty()) return;
  QueryScratch& s = Scratch();
  s.text.clear();
  s.params.clear();
  ForEachQueryParam(query, [&](std::string_view key, std::string_view value) {
    Param p;
    p.key_off = s.text.size();
    AppendCanonicalComponent(s.text, key);
    p.key_len = s.text.size() - p.key_off;
    if (!exclude.empty() && std::string_view(s.text).substr(p.key_off, p.key_len) == exclude) {
      s.text.resize(p.key_off);
      return;
    }
    p.value_off = s.text.size();
    AppendCanonicalComponent(s.text, value);
    p.value_len = s.text.size() - p.value_off;
    s.params.push_back(p);
  });
  const std::string_view text = s.text;
  auto key = [&](const Param& p) { return text.substr(p.key_off, p.key_len); };
  auto value = [&](const Param& p) { return text.substr(p.value_off, p.value_len); };
  std::sort(s.params.begin(), s.params.end(), [&](const Param& a, const Param& b) {
    const int c = key(a).compare(key(b));
    return c != 0 ? c < 0 : value(a) < value(b);
  });
  bool first = true;
  for (const Param& p : s.params) {
    if (!first) out.push_back('&');
    out.append(key(p));
    out.push_back('=');
    out.append(value(p));
    first = false;
  }
  // Do not keep a huge buffer alive on this thread after one oversized request.
  if (s.text.capacity() > 64 * 1024) s.text = {};
  if (s.params.capacity() > 4096) s.params = {};
}

void AppendTrimmedValue(std::string& out, std::string_view value) {
  std::size_t i = 0, n = value.size();
  while (i < n && IsSpace(value[i])) ++i;
  while (n > i && IsSpace(value[n - 1])) --n;
  bool in_space = false;
  for (; i < n; ++i) {
    const char c = value[i];
    if (IsSpace(c)) {
      in_space = true;
      continue;
    }
    if (in_space) out.push_back(' ');
    in_space = false;
    out.push_back(c);
  }
}

}  // namespace detail

std::string CanonicalRequest(const RequestView& request,
                             const std::vector<std::string>& signed_headers,
                             std::string_view payload_hash, std::string_view exclude_query) {
  std::string out;
  out.reserve(256 + request.target.size());
  detail::AppendCanonicalRequest(out, request.method, request.target, request.headers,
                                 signed_headers, payload_hash, exclude_query);
  return out;
}

std::string StringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request) {
  std::string out;
  out.reserve(kAlgorithm.size() + amz_date.size() + scope.size() + 67);
  out.append(kAlgorithm);
  out.push_back('\n');
  out.append(amz_date);
  out.push_back('\n');
  out.append(scope);
  out.push_back('\n');
  const crypto::Sha256Digest h = crypto::Sha256(canonical_request);
  detail::AppendHex(out, h.data(), h.size());
  return out;
}

crypto::Sha256Digest SigningKey(std::string_view secret_access_key, std::string_view day,
                                std::string_view region, std::string_view service) {
  std::string k;
  k.reserve(4 + secret_access_key.size());
  k.append("AWS4");
  k.append(secret_access_key);
  crypto::Sha256Digest key = crypto::HmacSha256(k, day);
  // The prefixed secret is secret material: wipe it before the buffer is freed.
  std::fill(k.begin(), k.end(), '\0');
  key = crypto::HmacSha256(crypto::AsView(key), region);
  key = crypto::HmacSha256(crypto::AsView(key), service);
  key = crypto::HmacSha256(crypto::AsView(key), "aws4_request");
  return key;
}

std::string Signature(const crypto::Sha256Digest& signing_key, std::string_view string_to_sign) {
  const crypto::Sha256Digest sig = crypto::HmacSha256(crypto::AsView(signing_key), string_to_sign);
  std::string out;
  out.reserve(64);
  detail::AppendHex(out, sig.data(), sig.size());
  return out;
}

std::string UriEncode(std::string_view s, bool keep_slash) {
  std::string out;
  out.reserve(s.size() + s.size() / 2);
  detail::AppendUriEncoded(out, s, keep_slash);
  return out;
}

std::optional<std::string> UriDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = detail::HexValue(s[i + 1]), lo = detail::HexValue(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      c = static_cast<char>(hi << 4 | lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      c = ' ';
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace kw::sigv4
