// Unit tests: every error reason, clock skew both ways, presigned expiry, session
// tokens, the signing-key cache, payload hashing and the URI helpers.

#include "sigv4/sigv4.hpp"

#include <gtest/gtest.h>

#include "common/time_format.hpp"
#include "sigv4/detail/canonical.hpp"

namespace kw::sigv4 {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

const TimePoint kT0 = *ParseAmzDate("20150830T123600Z");
constexpr std::string_view kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr std::string_view kMismatch =
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details.";

Credentials Creds(std::string token = {}) {
  return Credentials{"AKIDEXAMPLE", SecretBytes(std::string(kSecret)), std::move(token)};
}

// A GetCallerIdentity POST as the AWS CLI sends it.
struct Req {
  std::string method = "POST";
  std::string target = "/";
  HeaderList headers{{"Host", "sts.amazonaws.com"},
                     {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
  std::string body = "Action=GetCallerIdentity&Version=2011-06-15";
  RequestView View() const { return RequestView{method, target, headers, body}; }
};

Req Signed(Req r, const Credentials& c = Creds(), TimePoint t = kT0, bool content_sha = false) {
  const HeaderList added = Sign(r.View(), c, SigningParams{"us-east-1", "sts", t, content_sha});
  r.headers.insert(r.headers.end(), added.begin(), added.end());
  return r;
}

HeaderField* Header(Req& r, std::string_view name) {
  for (auto& h : r.headers) {
    if (EqualsIgnoreCase(h.name, name)) return &h;
  }
  return nullptr;
}

Status Check(const Req& r, TimePoint now = kT0, std::string_view secret = kSecret,
             Verifier* verifier = nullptr) {
  Verifier local;
  Verifier& v = verifier != nullptr ? *verifier : local;
  auto auth = ParseAuth(r.View());
  if (!auth) return auth.error();
  return v.Verify(r.View(), *auth, SecretBytes(std::string(secret)), now);
}

std::string Reason(const Status& s) { return s.has_value() ? "OK" : s.error().reason; }
std::string Message(const Status& s) { return s.has_value() ? "" : s.error().message; }

// ---- URI helpers ----

TEST(UriEncode, KeepsUnreservedAndEncodesTheRestUppercase) {
  EXPECT_EQ(UriEncode("AZaz09-_.~", false), "AZaz09-_.~");
  EXPECT_EQ(UriEncode("a b/c+d=e&f%", false), "a%20b%2Fc%2Bd%3De%26f%25");
  EXPECT_EQ(UriEncode("a b/c", true), "a%20b/c");
  EXPECT_EQ(UriEncode("\xe1\x88\xb4", false), "%E1%88%B4");
  EXPECT_EQ(UriEncode(std::string_view("\0\xff", 2), false), "%00%FF");
  EXPECT_EQ(UriEncode("", true), "");
}

TEST(UriDecode, DecodesEscapesAndOptionallyPlus) {
  EXPECT_EQ(UriDecode("%41%2f%2F+x", true), "A// x");
  EXPECT_EQ(UriDecode("%41+x", false), "A+x");
  EXPECT_EQ(UriDecode("%E1%88%b4", false), "\xe1\x88\xb4");
  EXPECT_EQ(UriDecode("", false), "");
  EXPECT_EQ(UriDecode("%00", false), std::string(1, '\0'));
}

TEST(UriDecode, RejectsBadEscapes) {
  EXPECT_EQ(UriDecode("%", false), std::nullopt);
  EXPECT_EQ(UriDecode("a%4", false), std::nullopt);
  EXPECT_EQ(UriDecode("%zz", false), std::nullopt);
  EXPECT_EQ(UriDecode("%4g", true), std::nullopt);
}

TEST(UriEncode, RoundTripsEveryByte) {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  EXPECT_EQ(UriDecode(UriEncode(all, false), false), all);
  EXPECT_EQ(UriDecode(UriEncode(all, true), false), all);
}

// ---- canonicalisation details beyond the suite ----

std::string Creq(std::string target, HeaderList headers = {{"Host", "h"}},
                 std::vector<std::string> names = {"host"}, std::string_view exclude = {}) {
  const RequestView v{"GET", target, headers, ""};
  return CanonicalRequest(v, names, "UNSIGNED-PAYLOAD", exclude);
}

std::string QueryLine(std::string target) {
  const std::string c = Creq(std::move(target));
  const std::size_t a = c.find('\n') + 1;
  const std::size_t b = c.find('\n', a) + 1;
  return c.substr(b, c.find('\n', b) - b);
}
std::string PathLine(std::string target) {
  const std::string c = Creq(std::move(target));
  const std::size_t a = c.find('\n') + 1;
  return c.substr(a, c.find('\n', a) - a);
}

TEST(CanonicalRequest, SortsQueryByEncodedKeyThenValue) {
  EXPECT_EQ(QueryLine("/?b=2&a=2&a=1&c&=x"), "=x&a=1&a=2&b=2&c=");
  EXPECT_EQ(QueryLine("/?a=%7e&%41=+&z=%zz"), "A=%20&a=~&z=%25zz");
  EXPECT_EQ(QueryLine("/?a=b%2Fc/d"), "a=b%2Fc%2Fd");
  EXPECT_EQ(QueryLine("/?"), "");
  EXPECT_EQ(QueryLine("/?x=1#frag"), "x=1");
}

TEST(CanonicalRequest, ExcludesTheNamedQueryParameter) {
  const std::string c = Creq("/?X-Amz-Signature=abc&a=1&X-Amz-Signature=def", {{"Host", "h"}},
                             {"host"}, "X-Amz-Signature");
  EXPECT_NE(c.find("\na=1\n"), std::string::npos) << c;
}

TEST(CanonicalRequest, NormalisesAndDoubleEncodesThePath) {
  EXPECT_EQ(PathLine("/a/./b/../c//d/"), "/a/c/d/");
  EXPECT_EQ(PathLine("/../.."), "/");
  EXPECT_EQ(PathLine(""), "/");
  EXPECT_EQ(PathLine("?a=b"), "/");
  EXPECT_EQ(PathLine("/a%20b/%E1%88%B4"), "/a%2520b/%25E1%2588%25B4");
  EXPECT_EQ(PathLine("/a b"), "/a%20b");
  EXPECT_EQ(PathLine("/a/%2e%2e/b"), "/a/%252e%252e/b");
}

TEST(CanonicalRequest, TrimsFoldsAndJoinsHeaderValues) {
  const HeaderList headers{
      {"Host", "h"}, {"X-A", "  one \t two\r\n   three  "}, {"x-a", "four"}, {"X-Empty", "   "}};
  const std::string c = Creq("/", headers, {"host", "x-a", "x-empty", "x-missing"});
  EXPECT_NE(c.find("host:h\nx-a:one two three,four\nx-empty:\nx-missing:\n\n"
                   "host;x-a;x-empty;x-missing\nUNSIGNED-PAYLOAD"),
            std::string::npos)
      << c;
}

// ---- round trip and header lookup ----

TEST(Verify, AcceptsSignedRequest) {
  const Req r = Signed(Req{});
  EXPECT_EQ(Reason(Check(r)), "OK");
}

TEST(Verify, HeaderNamesAreCaseInsensitive) {
  Req r = Signed(Req{});
  for (auto& h : r.headers) {
    for (char& c : h.name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  EXPECT_EQ(Reason(Check(r)), "OK");
}

// ---- MissingAuthenticationToken ----

TEST(ParseAuth, MissingAuthenticationToken) {
  Req r;
  auto a = ParseAuth(r.View());
  ASSERT_FALSE(a.has_value());
  EXPECT_EQ(a.error().reason, "MissingAuthenticationToken");
  EXPECT_EQ(a.error().code, ErrorCode::kUnauthenticated);
  // Query protocol (form body): AWS's wording differs.
  EXPECT_EQ(a.error().message, "Request is missing Authentication Token");
  r.headers = {{"Host", "h"}, {"Content-Type", "application/x-amz-json-1.1"}};
  a = ParseAuth(r.View());
  EXPECT_EQ(a.error().message, "Missing Authentication Token");
  r.target = "/?Action=GetCallerIdentity&Version=2011-06-15";
  a = ParseAuth(r.View());
  EXPECT_EQ(a.error().message, "Request is missing Authentication Token");
}

// ---- IncompleteSignature ----

Status ParseWithAuthorization(std::string authorization, bool with_date = true) {
  Req r;
  r.headers.push_back({"Authorization", std::move(authorization)});
  if (with_date) r.headers.push_back({"X-Amz-Date", "20150830T123600Z"});
  auto a = ParseAuth(r.View());
  if (!a) return a.error();
  return OkStatus();
}

TEST(ParseAuth, IncompleteSignatureListsEveryMissingPart) {
  const Status s = ParseWithAuthorization("foo", false);
  EXPECT_EQ(Reason(s), "IncompleteSignature");
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(Message(s),
            "Authorization header requires 'Credential' parameter. Authorization header requires "
            "'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. "
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
            "header. Authorization=foo");
}

TEST(ParseAuth, IncompleteSignatureForOneMissingPart) {
  const Status s = ParseWithAuthorization(
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/sts/aws4_request, "
      "SignedHeaders=host;x-amz-date");
  EXPECT_EQ(Reason(s), "IncompleteSignature");
  EXPECT_EQ(Message(s).rfind("Authorization header requires 'Signature' parameter. "
                             "Authorization=AWS4-HMAC-SHA256 Credential=",
                             0),
            0u)
      << Message(s);
}

TEST(ParseAuth, IncompleteSignatureForGarbledParts) {
  const std::string ok_tail = ", SignedHeaders=host;x-amz-date, Signature=abcd";
  struct Case {
    std::string header;
    std::string message_start;
  };
  const std::vector<Case> cases = {
      {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/sts/aws4_req" + ok_tail,
       "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws4_req'."},
      {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/aws4_request" + ok_tail,
       "Credential should be of the form"},
      {"AWS4-HMAC-SHA256 Credential=AKID/X/20150830/us-east-1/sts/aws4_request" + ok_tail,
       "Credential should be of the form"},
      {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/2015083/us-east-1/sts/aws4_request" + ok_tail,
       "Credential should be scoped to a valid date"},
      {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830//sts/aws4_request" + ok_tail,
       "Credential should be scoped to a valid region"},
      {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/s t/aws4_request" + ok_tail,
       "Credential should be scoped to a valid service"},
      {"AWS4-HMAC-SHA256 Credential=AKID EXAMPLE/20150830/us-east-1/sts/aws4_request" + ok_tail,
       "Credential should begin with a valid access key id"},
      {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/sts/aws4_request, "
       "SignedHeaders=host;;x-amz-date, Signature=abcd",
       "SignedHeaders has an empty"},
      {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/sts/aws4_request, "
       "SignedHeaders, Signature=abcd",
       "'SignedHeaders' not a valid key=value pair (missing equal-sign)"},
      {"AWS4-HMAC-SHA512 Credential=AKIDEXAMPLE/20150830/us-east-1/sts/aws4_request" + ok_tail,
       "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512'."},
      {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/sts/aws4_request, "
       "SignedHeaders=host, Signature=",
       "Authorization header has an empty 'Signature'."},
  };
  for (const auto& c : cases) {
    const Status s = ParseWithAuthorization(c.header);
    EXPECT_EQ(Reason(s), "IncompleteSignature") << c.header;
    EXPECT_EQ(Message(s).rfind(c.message_start, 0), 0u) << c.header << "\n -> " << Message(s);
  }
}

TEST(ParseAuth, IncompleteSignatureForTooManySignedHeaders) {
  std::string names = "host";
  for (int i = 0; i < 64; ++i) names += ";x-h" + std::to_string(i);
  const Status s = ParseWithAuthorization(
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/sts/aws4_request, "
      "SignedHeaders=" +
      names + ", Signature=abcd");
  EXPECT_EQ(Reason(s), "IncompleteSignature");
  EXPECT_NE(Message(s).find("more than 64 headers"), std::string::npos);
}

TEST(ParseAuth, IncompleteSignatureForOversizedInput) {
  EXPECT_EQ(Reason(ParseWithAuthorization("AWS4-HMAC-SHA256 Credential=" + std::string(9000, 'A'))),
            "IncompleteSignature");
  Req r = Signed(Req{});
  r.target = "/?" + std::string(70000, 'a');
  EXPECT_EQ(Reason(Check(r)), "IncompleteSignature");
  r = Signed(Req{});
  for (int i = 0; i < 300; ++i) r.headers.push_back({"X-Pad", "x"});
  EXPECT_EQ(Reason(Check(r)), "IncompleteSignature");
  r = Signed(Req{});
  r.headers.push_back({"X-Big", std::string(17000, 'b')});
  EXPECT_EQ(Reason(Check(r)), "IncompleteSignature");
}

TEST(ParseAuth, IncompleteSignatureForBadDates) {
  Req r = Signed(Req{});
  Header(r, "x-amz-date")->value = "2015-08-30T12:36:00Z";
  const Status s = Check(r);
  EXPECT_EQ(Reason(s), "IncompleteSignature");
  EXPECT_EQ(
      Message(s).rfind("Date must be in ISO-8601 'basic format'. Got '2015-08-30T12:36:00Z'", 0),
      0u);
  Header(r, "x-amz-date")->value = "20150231T123600Z";  // 31 February
  EXPECT_EQ(Reason(Check(r)), "IncompleteSignature");
  // Found by fuzzing: a year past 2262 overflowed the nanosecond time_point.
  Header(r, "x-amz-date")->value = "51020830T123600Z";
  EXPECT_EQ(Reason(Check(r)), "IncompleteSignature");
  Header(r, "x-amz-date")->value = "22000830T123600Z";
  EXPECT_EQ(Reason(Check(r)), "SignatureDoesNotMatch");  // far future, but representable
}

TEST(Verify, IncompleteSignatureWhenHostIsNotSigned) {
  Req r;
  r.headers.push_back({"X-Amz-Date", "20150830T123600Z"});
  const RequestView v = r.View();
  const std::string sts =
      StringToSign("20150830T123600Z", "20150830/us-east-1/sts/aws4_request",
                   CanonicalRequest(v, {"x-amz-date"}, crypto::Sha256Hex(r.body)));
  r.headers.push_back(
      {"Authorization",
       "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/sts/aws4_request, "
       "SignedHeaders=x-amz-date, Signature=" +
           Signature(SigningKey(kSecret, "20150830", "us-east-1", "sts"), sts)});
  const Status s = Check(r);
  EXPECT_EQ(Reason(s), "IncompleteSignature");
  EXPECT_EQ(Message(s), "'Host' must be a 'SignedHeader' in the AWS Authorization.");
}

// ---- SignatureDoesNotMatch ----

TEST(Verify, SignatureDoesNotMatchForWrongSecret) {
  const Status s = Check(Signed(Req{}), kT0, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEz");
  EXPECT_EQ(Reason(s), "SignatureDoesNotMatch");
  EXPECT_EQ(s.error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(Message(s), kMismatch);
}

TEST(Verify, SignatureDoesNotMatchForAnyTamperedPart) {
  const Req good = Signed(Req{});
  std::vector<Req> bad(7, good);
  bad[0].method = "PUT";
  bad[1].target = "/x";
  bad[2].target = "/?a=b";
  bad[3].body += "&x=1";
  Header(bad[4], "content-type")->value = "text/plain";
  Header(bad[5], "x-amz-date")->value = "20150830T123601Z";
  std::string& auth = Header(bad[6], "authorization")->value;
  auth.back() = auth.back() == '0' ? '1' : '0';
  for (std::size_t i = 0; i < bad.size(); ++i) {
    const Status s = Check(bad[i]);
    EXPECT_EQ(Reason(s), "SignatureDoesNotMatch") << i;
    EXPECT_EQ(Message(s), kMismatch) << i;
  }
  // Uppercase hex in the claimed signature is still the same signature.
  Req upper = good;
  std::string& a = Header(upper, "authorization")->value;
  for (std::size_t i = a.find("Signature=") + 10; i < a.size(); ++i) {
    a[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(a[i])));
  }
  EXPECT_EQ(Reason(Check(upper)), "OK");
}

TEST(Verify, SignatureDoesNotMatchWhenScopeDayDiffersFromDate) {
  Req r = Signed(Req{});
  std::string& a = Header(r, "authorization")->value;
  a.replace(a.find("20150830"), 8, "20150831");
  const Status s = Check(r);
  EXPECT_EQ(Reason(s), "SignatureDoesNotMatch");
  EXPECT_EQ(Message(s),
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            "from HTTP: '20150831' != '20150830', from '20150830T123600Z'.");
}

// ---- clock skew ----

TEST(Verify, SkewOfFifteenMinutesEitherWayIsAccepted) {
  const Req r = Signed(Req{});
  EXPECT_EQ(Reason(Check(r, kT0 + minutes(15))), "OK");
  EXPECT_EQ(Reason(Check(r, kT0 - minutes(15))), "OK");
}

TEST(Verify, SignatureExpiredAfterFifteenMinutes) {
  const Req r = Signed(Req{});
  const Status s = Check(r, *ParseAmzDate("20150830T130600Z"));
  EXPECT_EQ(Reason(s), "SignatureDoesNotMatch");
  EXPECT_EQ(Message(s),
            "Signature expired: 20150830T123600Z is now earlier than 20150830T125100Z "
            "(20150830T130600Z - 15 min.)");
  EXPECT_EQ(Reason(Check(r, kT0 + minutes(15) + seconds(1))), "SignatureDoesNotMatch");
}

TEST(Verify, SignatureNotYetCurrent) {
  const Req r = Signed(Req{});
  const Status s = Check(r, *ParseAmzDate("20150830T120000Z"));
  EXPECT_EQ(Reason(s), "SignatureDoesNotMatch");
  EXPECT_EQ(Message(s),
            "Signature not yet current: 20150830T123600Z is still later than 20150830T121500Z "
            "(20150830T120000Z + 15 min.)");
  EXPECT_EQ(Reason(Check(r, kT0 - minutes(15) - seconds(1))), "SignatureDoesNotMatch");
}

TEST(Verify, AcceptsRfc1123DateHeader) {
  Req r;
  r.headers.push_back({"Date", "Sun, 30 Aug 2015 12:36:00 GMT"});
  const std::string sts = StringToSign(
      "20150830T123600Z", "20150830/us-east-1/sts/aws4_request",
      CanonicalRequest(r.View(), {"content-type", "date", "host"}, crypto::Sha256Hex(r.body)));
  r.headers.push_back(
      {"Authorization",
       "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/sts/aws4_request, "
       "SignedHeaders=content-type;date;host, Signature=" +
           Signature(SigningKey(kSecret, "20150830", "us-east-1", "sts"), sts)});
  auto auth = ParseAuth(r.View());
  ASSERT_TRUE(auth.has_value()) << auth.error().message;
  EXPECT_EQ(auth->amz_date, "20150830T123600Z");
  EXPECT_EQ(Reason(Check(r)), "OK");
  EXPECT_EQ(Reason(Check(r, kT0 + minutes(16))), "SignatureDoesNotMatch");
  Header(r, "date")->value = "Sun, 30 Aug 2015 12:36:00 PST";
  EXPECT_EQ(Reason(Check(r)), "IncompleteSignature");
}

// ---- payload ----

TEST(Verify, ContentSha256HeaderMustDescribeTheBody) {
  Req r = Signed(Req{}, Creds(), kT0, /*content_sha=*/true);
  EXPECT_EQ(Header(r, "x-amz-content-sha256")->value, crypto::Sha256Hex(r.body));
  EXPECT_NE(Header(r, "authorization")->value.find("x-amz-content-sha256"), std::string::npos);
  EXPECT_EQ(Reason(Check(r)), "OK");
  r.body += " ";
  const Status s = Check(r);
  EXPECT_EQ(Reason(s), "SignatureDoesNotMatch");
  EXPECT_EQ(Message(s),
            "The provided 'x-amz-content-sha256' header does not match what was computed.");
}

TEST(Verify, UnsignedPayloadOnlyWhereTheHeaderSaysSo) {
  // Signed with x-amz-content-sha256: UNSIGNED-PAYLOAD: the body is not covered.
  Req r;
  r.headers.push_back({"x-amz-content-sha256", "UNSIGNED-PAYLOAD"});
  r = Signed(r);
  // Sign() hashes the body; rebuild the signature over UNSIGNED-PAYLOAD by hand.
  const auto auth = ParseAuth(r.View());
  ASSERT_TRUE(auth.has_value());
  const std::string sts =
      StringToSign(auth->amz_date, auth->scope,
                   CanonicalRequest(r.View(), auth->signed_headers, kUnsignedPayload));
  std::string& a = Header(r, "authorization")->value;
  a = a.substr(0, a.find("Signature=") + 10) +
      Signature(SigningKey(kSecret, "20150830", "us-east-1", "sts"), sts);
  EXPECT_EQ(Reason(Check(r)), "OK");
  r.body = "anything else";
  EXPECT_EQ(Reason(Check(r)), "OK");
  // Without the header the same signature does not hold: the body hash is used.
  Req no_header = r;
  no_header.headers.erase(no_header.headers.begin() + 2);
  EXPECT_EQ(Reason(Check(no_header)), "SignatureDoesNotMatch");
}

// ---- session tokens ----

TEST(Verify, SessionTokenHeaderIsParsedAndSigned) {
  Req r = Signed(Req{}, Creds("FwoGZXIvYXdzEXAMPLE//token=="));
  EXPECT_EQ(Header(r, "x-amz-security-token")->value, "FwoGZXIvYXdzEXAMPLE//token==");
  auto auth = ParseAuth(r.View());
  ASSERT_TRUE(auth.has_value());
  EXPECT_EQ(auth->session_token, "FwoGZXIvYXdzEXAMPLE//token==");
  EXPECT_EQ(Reason(Check(r)), "OK");
  Header(r, "x-amz-security-token")->value = "FwoGZXIvYXdzEXAMPLE//token=!";
  EXPECT_EQ(Reason(Check(r)), "SignatureDoesNotMatch");
}

TEST(ParseAuth, NoSessionTokenIsEmpty) {
  auto auth = ParseAuth(Signed(Req{}).View());
  ASSERT_TRUE(auth.has_value());
  EXPECT_EQ(auth->session_token, "");
}

// ---- presigned URLs ----

Req Presigned(std::chrono::seconds expires, std::string token = {}) {
  Req r;
  r.method = "GET";
  r.body.clear();
  r.headers = {{"Host", "sts.amazonaws.com"}};
  r.target = "/?Action=GetCallerIdentity&Version=2011-06-15";
  r.target = Presign(r.View(), Creds(std::move(token)), {"us-east-1", "sts", kT0, false}, expires);
  return r;
}

TEST(Presign, ProducesAVerifiableUrl) {
  const Req r = Presigned(seconds(300));
  EXPECT_EQ(r.target.rfind("/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm="
                           "AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1"
                           "%2Fsts%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=300&"
                           "X-Amz-SignedHeaders=host&X-Amz-Signature=",
                           0),
            0u)
      << r.target;
  auto auth = ParseAuth(r.View());
  ASSERT_TRUE(auth.has_value()) << auth.error().message;
  EXPECT_TRUE(auth->presigned);
  EXPECT_EQ(auth->expires, seconds(300));
  EXPECT_EQ(auth->signed_headers, std::vector<std::string>{"host"});
  EXPECT_EQ(auth->signature.size(), 64u);
  EXPECT_EQ(Reason(Check(r)), "OK");
  // Presign signs the (empty) body's hash, so a body added later is refused.
  Req with_body = r;
  with_body.body = "added";
  EXPECT_EQ(Reason(Check(with_body)), "SignatureDoesNotMatch");
}

TEST(Presign, ExpiresAfterXAmzExpires) {
  const Req r = Presigned(seconds(3600));
  EXPECT_EQ(Reason(Check(r, kT0 + seconds(3600))), "OK");  // older than 15 min is fine
  const Status s = Check(r, kT0 + seconds(3601));
  EXPECT_EQ(Reason(s), "RequestExpired");
  EXPECT_EQ(s.error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(Reason(Check(r, kT0 - minutes(16))), "SignatureDoesNotMatch");  // not yet current
  EXPECT_EQ(Reason(Check(r, kT0 - minutes(15))), "OK");
}

TEST(Presign, UnsignedPayloadWithoutXAmzExpires) {
  // Hand-built the S3 way (UNSIGNED-PAYLOAD), without X-Amz-Expires: the usual skew
  // applies.
  Req r;
  r.method = "GET";
  r.body.clear();
  r.headers = {{"Host", "sts.amazonaws.com"}};
  r.target =
      "/?Action=GetCallerIdentity&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
      "AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date=20150830T123600Z"
      "&X-Amz-SignedHeaders=host";
  const std::string sts = StringToSign("20150830T123600Z", "20150830/us-east-1/sts/aws4_request",
                                       CanonicalRequest(r.View(), {"host"}, kUnsignedPayload));
  r.target +=
      "&X-Amz-Signature=" + Signature(SigningKey(kSecret, "20150830", "us-east-1", "sts"), sts);
  EXPECT_EQ(Reason(Check(r)), "OK");
  EXPECT_EQ(Reason(Check(r, kT0 + minutes(16))), "SignatureDoesNotMatch");
  // Signed over UNSIGNED-PAYLOAD: the body is not covered.
  r.body = "not covered";
  EXPECT_EQ(Reason(Check(r)), "OK");
}

TEST(Presign, SessionTokenInQuery) {
  const Req r = Presigned(seconds(60), "tok/en+=");
  EXPECT_NE(r.target.find("&X-Amz-Security-Token=tok%2Fen%2B%3D&"), std::string::npos);
  auto auth = ParseAuth(r.View());
  ASSERT_TRUE(auth.has_value());
  EXPECT_EQ(auth->session_token, "tok/en+=");
  EXPECT_EQ(Reason(Check(r)), "OK");
  Req tampered = r;
  tampered.target.replace(tampered.target.find("tok%2Fen"), 8, "tok%2Fem");
  EXPECT_EQ(Reason(Check(tampered)), "SignatureDoesNotMatch");
}

TEST(Presign, TamperedQueryIsRejected) {
  Req r = Presigned(seconds(60));
  r.target.replace(r.target.find("Version=2011"), 12, "Version=2012");
  EXPECT_EQ(Reason(Check(r)), "SignatureDoesNotMatch");
  r = Presigned(seconds(60));
  r.target.replace(r.target.find("X-Amz-Expires=60"), 16, "X-Amz-Expires=61");
  EXPECT_EQ(Reason(Check(r)), "SignatureDoesNotMatch");
}

TEST(Presign, IncompleteSignatureForMissingOrBadParameters) {
  Req r = Presigned(seconds(60));
  r.target = "/?X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fsts%2Faws4_request";
  const Status s = Check(r);
  EXPECT_EQ(Reason(s), "IncompleteSignature");
  EXPECT_EQ(Message(s),
            "AWS query-string parameters must include 'X-Amz-Algorithm'. AWS query-string "
            "parameters must include 'X-Amz-Signature'. AWS query-string parameters must "
            "include 'X-Amz-SignedHeaders'. AWS query-string parameters must include "
            "'X-Amz-Date'. Re-examine the query-string parameters.");

  const Req good = Presigned(seconds(60));
  auto with = [&](std::string_view from, std::string_view to) {
    Req x = good;
    x.target.replace(x.target.find(from), from.size(), to);
    return Check(x);
  };
  EXPECT_EQ(Message(with("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1")),
            "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\".");
  EXPECT_EQ(Reason(with("X-Amz-Expires=60", "X-Amz-Expires=604801")), "IncompleteSignature");
  EXPECT_EQ(Reason(with("X-Amz-Expires=60", "X-Amz-Expires=0")), "IncompleteSignature");
  EXPECT_EQ(Reason(with("X-Amz-Expires=60", "X-Amz-Expires=-1")), "IncompleteSignature");
  EXPECT_EQ(Reason(with("X-Amz-Expires=60", "X-Amz-Expires=99999999999999999999")),
            "IncompleteSignature");
  EXPECT_EQ(Reason(with("X-Amz-Date=20150830T123600Z", "X-Amz-Date=2015")), "IncompleteSignature");
  EXPECT_EQ(Reason(with("X-Amz-Credential=AKIDEXAMPLE%2F", "X-Amz-Credential=AKIDEXAMPLE%2")),
            "IncompleteSignature");
  EXPECT_EQ(Reason(with("X-Amz-Signature=", "X-Amz-Signature=00&X-Amz-Signature=")),
            "IncompleteSignature");
  EXPECT_EQ(Reason(with("X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=x-amz-date")),
            "IncompleteSignature");  // Host must be signed
}

TEST(Presign, BotocoreGetCallerIdentityUrlVerifies) {
  // Produced by botocore 1.43 and 1.29 (sts client generate_presigned_url) for
  // GET https://sts.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15 with the
  // suite's key at 20150830T123600Z, ExpiresIn=900, HttpMethod='GET' (as `aws eks
  // get-token` does). botocore signs the empty body's hash, not UNSIGNED-PAYLOAD.
  Req r;
  r.method = "GET";
  r.body.clear();
  r.headers = {{"Host", "sts.amazonaws.com"}};
  r.target =
      "/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256&"
      "X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fsts%2Faws4_request&"
      "X-Amz-Date=20150830T123600Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&"
      "X-Amz-Signature=e8d7e61248a0d11a99b5981a6802d73250938b6d2c6f32f9a6b8a331d25ef4b1";
  EXPECT_EQ(Reason(Check(r)), "OK");
  // Our Presign produces the same URL, byte for byte.
  EXPECT_EQ(Presigned(seconds(900)).target, r.target);
  EXPECT_EQ(Reason(Check(r, kT0 + seconds(901))), "RequestExpired");
}

// ---- the signing-key cache ----

TEST(Verifier, CacheHitGivesTheSameResult) {
  Verifier v(2);
  const Req r = Signed(Req{});
  EXPECT_EQ(Reason(Check(r, kT0, kSecret, &v)), "OK");  // miss
  EXPECT_EQ(Reason(Check(r, kT0, kSecret, &v)), "OK");  // hit
  // Same key id and scope, other secret: the cached key must not be used.
  EXPECT_EQ(Reason(Check(r, kT0, "other-secret", &v)), "SignatureDoesNotMatch");
  EXPECT_EQ(Reason(Check(r, kT0, kSecret, &v)), "OK");
  // A wrong signature stays wrong with a warm cache.
  Req bad = r;
  bad.body += "x";
  EXPECT_EQ(Reason(Check(bad, kT0, kSecret, &v)), "SignatureDoesNotMatch");
}

TEST(Verifier, EvictsLeastRecentlyUsedAndStillVerifies) {
  Verifier v(1);
  Verifier no_cache(0);
  std::vector<Req> reqs;
  for (const char* region : {"us-east-1", "eu-west-1", "ap-south-1"}) {
    Req r;
    const HeaderList added = Sign(r.View(), Creds(), {region, "sts", kT0, false});
    r.headers.insert(r.headers.end(), added.begin(), added.end());
    reqs.push_back(r);
  }
  for (int round = 0; round < 2; ++round) {
    for (const Req& r : reqs) {
      EXPECT_EQ(Reason(Check(r, kT0, kSecret, &v)), "OK");
      EXPECT_EQ(Reason(Check(r, kT0, kSecret, &no_cache)), "OK");
      EXPECT_EQ(Reason(Check(r, kT0, "nope", &v)), "SignatureDoesNotMatch");
    }
  }
}

// ---- untrusted input never crashes ----

TEST(ParseAuth, SurvivesHostileInput) {
  const std::vector<std::string> headers = {
      "",
      ",,,",
      "AWS4-HMAC-SHA256",
      "AWS4-HMAC-SHA256 ",
      "AWS4-HMAC-SHA256 ,=,=,",
      "AWS4-HMAC-SHA256 Credential=////, SignedHeaders=;, Signature=",
      "AWS4-HMAC-SHA256 Credential=a/b/c/d/e/f/g, SignedHeaders=host, Signature=zz",
      std::string("AWS4-HMAC-SHA256 Credential=\0/\xff", 33)};
  for (const auto& h : headers) {
    Req r;
    r.headers.push_back({"Authorization", h});
    r.headers.push_back({"Date", "garbage"});
    auto a = ParseAuth(r.View());
    EXPECT_FALSE(a.has_value()) << h;
  }
  for (const std::string target :
       {"?X-Amz-Signature", "/?X-Amz-Algorithm=&X-Amz-Credential=%", "/%",
        "/?%%%&&&===", "/../../..//./?&&X-Amz-Signature=1&X-Amz-Signature=2"}) {
    Req r;
    r.target = target;
    auto a = ParseAuth(r.View());
    EXPECT_FALSE(a.has_value()) << target;
    EXPECT_FALSE(Creq(target).empty());
  }
}

}  // namespace
}  // namespace kw::sigv4
