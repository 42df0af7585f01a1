// Fuzzes SigV4 parsing and canonicalisation with untrusted requests.
// Input: first line "<METHOD> <request-target>" (or just a target), then header lines
// "Name: value" up to an empty line, then the body. Runs ParseAuth, CanonicalRequest
// and, when parsing succeeds, Verify; none of them may crash, hang or throw.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sigv4/sigv4.hpp"

namespace {

std::string_view NextLine(std::string_view& in) {
  const std::size_t nl = in.find('\n');
  std::string_view line = in.substr(0, nl);
  in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string_view first = NextLine(in);
  std::string_view method = "GET", target = first;
  if (const std::size_t sp = first.find(' '); sp != std::string_view::npos) {
    method = first.substr(0, sp);
    target = first.substr(sp + 1);
  }
  kw::HeaderList headers;
  while (!in.empty()) {
    const std::string_view line = NextLine(in);
    if (line.empty()) break;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      if (!headers.empty()) headers.back().value.append(line);  // a folded line
      continue;
    }
    headers.push_back({std::string(line.substr(0, colon)), std::string(line.substr(colon + 1))});
  }
  const kw::sigv4::RequestView request{method, target, headers, in};

  static kw::sigv4::Verifier verifier(8);
  static const kw::SecretBytes secret(std::string("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"));
  const auto auth = kw::sigv4::ParseAuth(request);
  std::vector<std::string> names = {"host", "x-amz-date"};
  if (auth) {
    names = auth->signed_headers;
    // Verify at the claimed time so that the signature check itself runs.
    (void)verifier.Verify(request, *auth, secret, auth->time);
  }
  const std::string creq =
      kw::sigv4::CanonicalRequest(request, names, kw::sigv4::kUnsignedPayload, "X-Amz-Signature");
  (void)kw::sigv4::StringToSign("20150830T123600Z", "20150830/us-east-1/sts/aws4_request", creq);
  (void)kw::sigv4::UriDecode(target, true);
  (void)kw::sigv4::UriEncode(target, true);
  return 0;
}
