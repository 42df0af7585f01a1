// The AWS SigV4 test suite (testdata/sigv4, see its SOURCE.md): for every case, our
// canonical request, string to sign and Authorization must equal the published ones,
// and Verify must accept the signed request at the vector's time.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "common/time_format.hpp"
#include "sigv4/sigv4.hpp"

namespace kw::sigv4 {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kKeyId = "AKIDEXAMPLE";
constexpr std::string_view kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr std::string_view kScope = "20150830/us-east-1/service/aws4_request";
constexpr std::string_view kSessionToken =
    "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";
constexpr std::string_view kStsToken =
    "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmx"
    "fpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0"
    "KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZ"
    "bqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

fs::path SuiteDir() { return fs::path(KW_SOURCE_DIR) / "testdata" / "sigv4"; }

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string StripTrailingNewlines(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

struct ParsedReq {
  std::string method, target, body;
  HeaderList headers;
};

// "<METHOD> <target, may hold spaces> HTTP/1.1", header lines (a line starting with
// whitespace continues the previous value), a blank line, the body.
ParsedReq ParseReq(const std::string& text) {
  ParsedReq r;
  std::size_t pos = 0;
  auto next_line = [&](std::string& line) {
    if (pos > text.size()) return false;
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    line = text.substr(pos, nl - pos);
    pos = nl + 1;
    return true;
  };
  std::string line;
  next_line(line);
  const std::size_t sp = line.find(' ');
  const std::size_t http = line.rfind(" HTTP/");
  r.method = line.substr(0, sp);
  r.target = line.substr(sp + 1, http - sp - 1);
  while (next_line(line)) {
    if (line.empty()) break;
    if ((line[0] == ' ' || line[0] == '\t') && !r.headers.empty()) {
      r.headers.back().value += "\n" + line;  // folded: canonicalisation joins it
      continue;
    }
    const std::size_t colon = line.find(':');
    r.headers.push_back({line.substr(0, colon), line.substr(colon + 1)});
  }
  if (pos < text.size()) r.body = text.substr(pos);
  return r;
}

std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (true) {
    const std::size_t i = s.find(sep, pos);
    out.emplace_back(s.substr(pos, i == std::string_view::npos ? i : i - pos));
    if (i == std::string_view::npos) break;
    pos = i + 1;
  }
  return out;
}

// The SignedHeaders line of a canonical request is the one before the payload hash.
std::vector<std::string> SignedHeadersOfCreq(const std::string& creq) {
  const std::vector<std::string> lines = Split(creq, '\n');
  return Split(lines[lines.size() - 2], ';');
}

std::vector<std::string> SignedHeadersOfAuthz(const std::string& authz) {
  const std::size_t a = authz.find("SignedHeaders=") + 14;
  const std::size_t b = authz.find(',', a);
  return Split(std::string_view(authz).substr(a, b - a), ';');
}

std::string SignatureOfAuthz(const std::string& authz) {
  return authz.substr(authz.find("Signature=") + 10);
}

std::vector<std::string> CaseNames() {
  std::vector<std::string> names;
  for (const auto& e : fs::recursive_directory_iterator(SuiteDir())) {
    if (e.is_directory() && fs::exists(e.path() / (e.path().filename().string() + ".req"))) {
      names.push_back(fs::relative(e.path(), SuiteDir()).string());
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

TEST(Sigv4Suite, HasEveryCase) {
  // 33 cases: 24 top-level, 7 normalize-path, 2 post-sts-token (SOURCE.md).
  EXPECT_EQ(CaseNames().size(), 33u);
}

class Sigv4Vector : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = SuiteDir() / GetParam();
    const std::string base = fs::path(GetParam()).filename().string();
    req_ = ParseReq(ReadFile(dir_ / (base + ".req")));
    creq_ = StripTrailingNewlines(ReadFile(dir_ / (base + ".creq")));
    sts_ = StripTrailingNewlines(ReadFile(dir_ / (base + ".sts")));
    authz_ = StripTrailingNewlines(ReadFile(dir_ / (base + ".authz")));
    name_ = base;
    // The session-token cases carry the token in the canonical request but not in
    // the .req: add it as the signer would have.
    if (name_ == "get-vanilla-with-session-token") {
      req_.headers.push_back({"X-Amz-Security-Token", std::string(kSessionToken)});
    }
    const HeaderField* date = FindHeader(req_.headers, "X-Amz-Date");
    ASSERT_NE(date, nullptr);
    amz_date_ = date->value;
    time_ = *ParseAmzDate(amz_date_);
  }

  RequestView View() const {
    return RequestView{req_.method, req_.target, req_.headers, req_.body};
  }

  std::string Authorization(const std::vector<std::string>& signed_headers) const {
    const std::string creq = CanonicalRequest(View(), signed_headers, crypto::Sha256Hex(req_.body));
    const std::string sts = StringToSign(amz_date_, kScope, creq);
    std::string joined;
    for (const auto& h : signed_headers) joined += (joined.empty() ? "" : ";") + h;
    return std::string(kAlgorithm) + " Credential=" + std::string(kKeyId) + "/" +
           std::string(kScope) + ", SignedHeaders=" + joined +
           ", Signature=" + Signature(SigningKey(kSecret, "20150830", "us-east-1", "service"), sts);
  }

  fs::path dir_;
  std::string name_, creq_, sts_, authz_, amz_date_;
  ParsedReq req_;
  TimePoint time_;
};

TEST_P(Sigv4Vector, MatchesSuite) {
  const std::string payload = crypto::Sha256Hex(req_.body);
  const auto signature_key = SigningKey(kSecret, "20150830", "us-east-1", "service");

  if (name_ == "post-x-www-form-urlencoded-parameters") {
    // SOURCE.md: inconsistent (.sts computed from "charset=utf8" without content-length,
    // while .req/.creq say "utf-8" and include it). Only .sts -> signature holds; the
    // canonical request, string to sign, Authorization and Verify steps are skipped.
    EXPECT_EQ(Signature(signature_key, sts_), SignatureOfAuthz(authz_));
    return;
  }

  // The .creq, with the signed headers it lists.
  EXPECT_EQ(CanonicalRequest(View(), SignedHeadersOfCreq(creq_), payload), creq_);

  // String to sign and Authorization, with the signed headers of the .authz. For
  // post-x-www-form-urlencoded they differ from the .creq's (SOURCE.md: .sts/.authz
  // were computed without content-length); for every other case they are the same.
  const std::vector<std::string> signed_headers = SignedHeadersOfAuthz(authz_);
  if (name_ != "post-x-www-form-urlencoded") {
    EXPECT_EQ(signed_headers, SignedHeadersOfCreq(creq_));
  }
  EXPECT_EQ(StringToSign(amz_date_, kScope, CanonicalRequest(View(), signed_headers, payload)),
            sts_);
  EXPECT_EQ(Signature(signature_key, sts_), SignatureOfAuthz(authz_));
  EXPECT_EQ(Authorization(signed_headers), authz_);

  // Verify accepts the signed request at the vector's time.
  ParsedReq signed_req = req_;
  signed_req.headers.push_back({"Authorization", authz_});
  if (name_ == "post-sts-header-after") {
    // The token is added after signing and is not among the signed headers.
    signed_req.headers.push_back({"X-Amz-Security-Token", std::string(kStsToken)});
  }
  const RequestView view{signed_req.method, signed_req.target, signed_req.headers, signed_req.body};
  auto auth = ParseAuth(view);
  ASSERT_TRUE(auth.has_value()) << auth.error().message;
  EXPECT_FALSE(auth->presigned);
  EXPECT_EQ(auth->access_key_id, kKeyId);
  EXPECT_EQ(auth->scope, kScope);
  EXPECT_EQ(auth->signed_headers, signed_headers);
  Verifier verifier;
  const SecretBytes secret{std::string(kSecret)};
  const Status ok = verifier.Verify(view, *auth, secret, time_);
  EXPECT_TRUE(ok.has_value()) << ok.error().reason << ": " << ok.error().message;
  if (name_ == "get-vanilla-with-session-token") {
    EXPECT_EQ(auth->session_token, kSessionToken);
  }
  if (name_ == "post-sts-header-before" || name_ == "post-sts-header-after") {
    EXPECT_EQ(auth->session_token, kStsToken);
  }

  // Sign() produces the same Authorization from the unsigned request. Not for
  // post-x-www-form-urlencoded, whose .authz leaves content-length unsigned (Sign
  // signs every header).
  if (name_ == "post-x-www-form-urlencoded") return;
  HeaderList unsigned_headers;
  Credentials creds{std::string(kKeyId), SecretBytes(std::string(kSecret)), ""};
  for (const auto& h : req_.headers) {
    if (EqualsIgnoreCase(h.name, "x-amz-date")) continue;
    if (EqualsIgnoreCase(h.name, "x-amz-security-token")) {
      creds.session_token = h.value;
      continue;
    }
    unsigned_headers.push_back(h);
  }
  const RequestView unsigned_view{req_.method, req_.target, unsigned_headers, req_.body};
  const HeaderList added = Sign(unsigned_view, creds, {"us-east-1", "service", time_, false});
  const HeaderField* authorization = FindHeader(added, "authorization");
  ASSERT_NE(authorization, nullptr);
  EXPECT_EQ(authorization->value, authz_);
  EXPECT_EQ(FindHeader(added, "x-amz-date")->value, amz_date_);
}

std::string TestName(const testing::TestParamInfo<std::string>& info) {
  std::string s = info.param;
  for (char& c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return s;
}

INSTANTIATE_TEST_SUITE_P(Aws, Sigv4Vector, testing::ValuesIn(CaseNames()), TestName);

}  // namespace
}  // namespace kw::sigv4
