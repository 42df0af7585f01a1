// sigv4_verify_tool: verifies requests read as JSON lines on stdin, one answer line
// per request on stdout: "OK" or the error reason (with -v: a tab and the message).
// Used by tests/integration/test_sigv4_property.py to check requests signed by
// botocore. Input line:
//   {"method":"GET","target":"/p?q","headers":[["Host","h"],...],"body_b64":"...",
//    "secret":"...","now":"20150830T123600Z" | <epoch seconds>}
// A test helper: the secret arrives in the clear on stdin by design.

#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "common/time_format.hpp"
#include "crypto/digest.hpp"
#include "sigv4/sigv4.hpp"

namespace {

kw::Status VerifyLine(const std::string& line, kw::sigv4::Verifier& verifier) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    return kw::InvalidArgument(e.what(), "BadInput");
  }
  try {
    kw::HeaderList headers;
    for (const auto& h : j.at("headers")) {
      headers.push_back({h.at(0).get<std::string>(), h.at(1).get<std::string>()});
    }
    const std::string method = j.at("method").get<std::string>();
    const std::string target = j.at("target").get<std::string>();
    const auto body = kw::crypto::Base64Decode(j.value("body_b64", std::string()));
    if (!body) return kw::InvalidArgument("body_b64 is not base64", "BadInput");
    kw::TimePoint now;
    const auto& n = j.at("now");
    if (n.is_string()) {
      const auto t = kw::ParseAmzDate(n.get<std::string>());
      if (!t) return kw::InvalidArgument("bad now", "BadInput");
      now = *t;
    } else {
      now = kw::TimePoint(std::chrono::duration_cast<kw::TimePoint::duration>(
          std::chrono::duration<double>(n.get<double>())));
    }
    const kw::SecretBytes secret(j.at("secret").get<std::string>());
    const kw::sigv4::RequestView view{method, target, headers, *body};
    auto auth = kw::sigv4::ParseAuth(view);
    if (!auth) return std::move(auth).error();
    return verifier.Verify(view, *auth, secret, now);
  } catch (const nlohmann::json::exception& e) {
    return kw::InvalidArgument(e.what(), "BadInput");
  }
}

}  // namespace

int main(int argc, char** argv) {
  const bool verbose = argc > 1 && std::strcmp(argv[1], "-v") == 0;
  std::ios::sync_with_stdio(false);
  kw::sigv4::Verifier verifier;
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    const kw::Status s = VerifyLine(line, verifier);
    if (s.has_value()) {
      std::cout << "OK\n";
    } else {
      std::cout << s.error().reason;
      if (verbose) std::cout << '\t' << s.error().message;
      std::cout << '\n';
    }
  }
  return 0;
}
