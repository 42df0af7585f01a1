#include <gtest/gtest.h>

#include <string>

#include "policy/detail/internal.hpp"
#include "policy/policy.hpp"

namespace kw::policy {
namespace {

using Keys = std::map<std::string, std::vector<std::string>>;

// Whether an Allow statement with `condition` (the JSON of the Condition element)
// allows a request carrying `keys`.
bool Allows(const std::string& condition, const Keys& keys,
            const std::string& version = "2012-10-17") {
  std::string doc = R"({"Version":")";
  doc += version;
  doc += R"(","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":)";
  doc += condition;
  doc += "}}";
  Result<Policy> p = Parse(doc, PolicyKind::kIdentity);
  EXPECT_TRUE(p.has_value()) << doc << ": " << p.error().message;
  if (!p) return false;
  const RequestContext r{.action = "s3:GetObject",
                         .resource = "*",
                         .keys = keys,
                         .principal_arn = {},
                         .principal_account = {}};
  return Evaluate({&*p}, r) == Decision::kAllow;
}

std::string ParseError(const std::string& condition) {
  const std::string doc =
      R"({"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*",)"
      R"("Condition":)" +
      condition + "}}";
  Result<Policy> p = Parse(doc, PolicyKind::kIdentity);
  if (p) return "parsed";
  EXPECT_EQ(p.error().reason, "MalformedPolicyDocument");
  EXPECT_EQ(p.error().code, ErrorCode::kInvalidArgument);
  return p.error().message;
}

TEST(StringConditions, EqualsIsCaseSensitiveAndLiteral) {
  const std::string c = R"({"StringEquals":{"aws:username":"alice"}})";
  EXPECT_TRUE(Allows(c, {{"aws:username", {"alice"}}}));
  EXPECT_FALSE(Allows(c, {{"aws:username", {"Alice"}}}));
  EXPECT_FALSE(Allows(c, {{"aws:username", {"bob"}}}));
  EXPECT_FALSE(Allows(c, {}));
  // '*' is not a wildcard for StringEquals.
  const std::string star = R"({"StringEquals":{"aws:username":"al*"}})";
  EXPECT_FALSE(Allows(star, {{"aws:username", {"alice"}}}));
  EXPECT_TRUE(Allows(star, {{"aws:username", {"al*"}}}));
}

TEST(StringConditions, ValuesAreOredKeysAreAnded) {
  const std::string c =
      R"({"StringEquals":{"aws:username":["alice","bob"],"aws:principaltag/team":"ops"}})";
  EXPECT_TRUE(Allows(c, {{"aws:username", {"bob"}}, {"aws:principaltag/team", {"ops"}}}));
  EXPECT_TRUE(Allows(c, {{"aws:username", {"alice"}}, {"aws:principaltag/team", {"ops"}}}));
  EXPECT_FALSE(Allows(c, {{"aws:username", {"carol"}}, {"aws:principaltag/team", {"ops"}}}));
  EXPECT_FALSE(Allows(c, {{"aws:username", {"bob"}}, {"aws:principaltag/team", {"dev"}}}));
  EXPECT_FALSE(Allows(c, {{"aws:username", {"bob"}}}));
}

TEST(StringConditions, OperatorBlocksAreAnded) {
  const std::string c =
      R"({"StringEquals":{"aws:username":"alice"},"StringLike":{"aws:userid":"AID*"}})";
  EXPECT_TRUE(Allows(c, {{"aws:username", {"alice"}}, {"aws:userid", {"AIDX"}}}));
  EXPECT_FALSE(Allows(c, {{"aws:username", {"alice"}}, {"aws:userid", {"XAID"}}}));
}

TEST(StringConditions, KeyNamesAreCaseInsensitive) {
  const std::string c = R"({"StringEquals":{"AWS:UserName":"alice"}})";
  EXPECT_TRUE(Allows(c, {{"aws:username", {"alice"}}}));
  // Callers should store keys lowercase, but a mixed-case key is still found.
  EXPECT_TRUE(Allows(c, {{"aws:userName", {"alice"}}}));
}

TEST(StringConditions, NotEqualsAndMissingKey) {
  const std::string c = R"({"StringNotEquals":{"aws:username":["alice","bob"]}})";
  EXPECT_FALSE(Allows(c, {{"aws:username", {"alice"}}}));
  EXPECT_FALSE(Allows(c, {{"aws:username", {"bob"}}}));
  EXPECT_TRUE(Allows(c, {{"aws:username", {"carol"}}}));
  EXPECT_TRUE(Allows(c, {}));  // negated operator, key absent: true (AWS behaviour)
  EXPECT_TRUE(Allows(c, {{"aws:username", {}}}));  // no values counts as absent
}

TEST(StringConditions, IgnoreCase) {
  const std::string c = R"({"StringEqualsIgnoreCase":{"aws:username":"ALICE"}})";
  EXPECT_TRUE(Allows(c, {{"aws:username", {"alice"}}}));
  EXPECT_TRUE(Allows(c, {{"aws:username", {"AlIcE"}}}));
  EXPECT_FALSE(Allows(c, {{"aws:username", {"alicex"}}}));
  const std::string n = R"({"StringNotEqualsIgnoreCase":{"aws:username":"ALICE"}})";
  EXPECT_FALSE(Allows(n, {{"aws:username", {"Alice"}}}));
  EXPECT_TRUE(Allows(n, {{"aws:username", {"bob"}}}));
  EXPECT_TRUE(Allows(n, {}));
}

TEST(StringConditions, LikeAndNotLike) {
  const std::string c = R"({"StringLike":{"s3:prefix":["home/*","pub?ic"]}})";
  EXPECT_TRUE(Allows(c, {{"s3:prefix", {"home/alice/x"}}}));
  EXPECT_TRUE(Allows(c, {{"s3:prefix", {"public"}}}));
  EXPECT_FALSE(Allows(c, {{"s3:prefix", {"Home/alice"}}}));
  EXPECT_FALSE(Allows(c, {{"s3:prefix", {"pubic"}}}));
  EXPECT_FALSE(Allows(c, {}));
  const std::string n = R"({"StringNotLike":{"s3:prefix":"home/*"}})";
  EXPECT_FALSE(Allows(n, {{"s3:prefix", {"home/x"}}}));
  EXPECT_TRUE(Allows(n, {{"s3:prefix", {"etc/x"}}}));
  EXPECT_TRUE(Allows(n, {}));
}

TEST(StringConditions, IfExists) {
  const std::string c = R"({"StringEqualsIfExists":{"aws:username":"alice"}})";
  EXPECT_TRUE(Allows(c, {}));
  EXPECT_TRUE(Allows(c, {{"aws:username", {"alice"}}}));
  EXPECT_FALSE(Allows(c, {{"aws:username", {"bob"}}}));
  const std::string like = R"({"StringLikeIfExists":{"aws:username":"a*"}})";
  EXPECT_TRUE(Allows(like, {}));
  EXPECT_FALSE(Allows(like, {{"aws:username", {"bob"}}}));
}

TEST(StringConditions, NumbersAndBoolsAsValues) {
  EXPECT_TRUE(Allows(R"({"StringEquals":{"k":5}})", {{"k", {"5"}}}));
  EXPECT_TRUE(Allows(R"({"StringEquals":{"k":true}})", {{"k", {"true"}}}));
  EXPECT_FALSE(Allows(R"({"StringEquals":{"k":5}})", {{"k", {"6"}}}));
}

TEST(SetQualifiers, ForAnyValue) {
  const std::string c = R"({"ForAnyValue:StringEquals":{"aws:tagkeys":["a","b"]}})";
  EXPECT_TRUE(Allows(c, {{"aws:tagkeys", {"x", "b"}}}));
  EXPECT_FALSE(Allows(c, {{"aws:tagkeys", {"x", "y"}}}));
  EXPECT_FALSE(Allows(c, {}));                     // missing key: false
  EXPECT_FALSE(Allows(c, {{"aws:tagkeys", {}}}));  // empty set: false
  const std::string n = R"({"ForAnyValue:StringNotEquals":{"aws:tagkeys":["a","b"]}})";
  EXPECT_TRUE(Allows(n, {{"aws:tagkeys", {"a", "z"}}}));
  EXPECT_FALSE(Allows(n, {{"aws:tagkeys", {"a", "b"}}}));
  EXPECT_FALSE(Allows(n, {}));  // ForAnyValue with a missing key is false even negated
}

TEST(SetQualifiers, ForAllValues) {
  const std::string c = R"({"ForAllValues:StringEquals":{"aws:tagkeys":["a","b"]}})";
  EXPECT_TRUE(Allows(c, {{"aws:tagkeys", {"a", "b"}}}));
  EXPECT_TRUE(Allows(c, {{"aws:tagkeys", {"a"}}}));
  EXPECT_FALSE(Allows(c, {{"aws:tagkeys", {"a", "c"}}}));
  EXPECT_TRUE(Allows(c, {}));                     // missing: true
  EXPECT_TRUE(Allows(c, {{"aws:tagkeys", {}}}));  // empty: true
  const std::string n = R"({"ForAllValues:StringNotLike":{"aws:tagkeys":["sys*"]}})";
  EXPECT_TRUE(Allows(n, {{"aws:tagkeys", {"a", "b"}}}));
  EXPECT_FALSE(Allows(n, {{"aws:tagkeys", {"a", "system"}}}));
}

TEST(SetQualifiers, IfExistsOverridesForAnyValueOnMissingKey) {
  const std::string c = R"({"ForAnyValue:StringEqualsIfExists":{"aws:tagkeys":"a"}})";
  EXPECT_TRUE(Allows(c, {}));
  EXPECT_FALSE(Allows(c, {{"aws:tagkeys", {"b"}}}));
}

TEST(SetQualifiers, MultiValuedKeyWithoutQualifierActsLikeForAnyValue) {
  const std::string c = R"({"StringEquals":{"k":"a"}})";
  EXPECT_TRUE(Allows(c, {{"k", {"x", "a"}}}));
  EXPECT_FALSE(Allows(c, {{"k", {"x", "y"}}}));
}

TEST(NumericConditions, AllComparisons) {
  const Keys k5 = {{"s3:max-keys", {"5"}}};
  EXPECT_TRUE(Allows(R"({"NumericEquals":{"s3:max-keys":"5"}})", k5));
  EXPECT_TRUE(Allows(R"({"NumericEquals":{"s3:max-keys":5.0}})", k5));
  EXPECT_FALSE(Allows(R"({"NumericEquals":{"s3:max-keys":"6"}})", k5));
  EXPECT_TRUE(Allows(R"({"NumericNotEquals":{"s3:max-keys":"6"}})", k5));
  EXPECT_FALSE(Allows(R"({"NumericNotEquals":{"s3:max-keys":"5"}})", k5));
  EXPECT_TRUE(Allows(R"({"NumericNotEquals":{"s3:max-keys":"5"}})", {}));
  EXPECT_TRUE(Allows(R"({"NumericLessThan":{"s3:max-keys":10}})", k5));
  EXPECT_FALSE(Allows(R"({"NumericLessThan":{"s3:max-keys":5}})", k5));
  EXPECT_TRUE(Allows(R"({"NumericLessThanEquals":{"s3:max-keys":5}})", k5));
  EXPECT_FALSE(Allows(R"({"NumericLessThanEquals":{"s3:max-keys":4.5}})", k5));
  EXPECT_TRUE(Allows(R"({"NumericGreaterThan":{"s3:max-keys":"4.5"}})", k5));
  EXPECT_FALSE(Allows(R"({"NumericGreaterThan":{"s3:max-keys":5}})", k5));
  EXPECT_TRUE(Allows(R"({"NumericGreaterThanEquals":{"s3:max-keys":5}})", k5));
  EXPECT_FALSE(Allows(R"({"NumericGreaterThanEquals":{"s3:max-keys":6}})", k5));
  EXPECT_FALSE(Allows(R"({"NumericLessThan":{"s3:max-keys":10}})", {}));
  EXPECT_TRUE(Allows(R"({"NumericLessThanIfExists":{"s3:max-keys":10}})", {}));
  // A request value that is not a number matches no positive comparison.
  EXPECT_FALSE(Allows(R"({"NumericLessThan":{"s3:max-keys":10}})", {{"s3:max-keys", {"x"}}}));
}

TEST(NumericConditions, InvalidPolicyValueIsMalformed) {
  EXPECT_NE(ParseError(R"({"NumericEquals":{"k":"ten"}})"), "parsed");
  EXPECT_NE(ParseError(R"({"NumericEquals":{"k":"1e999"}})"), "parsed");
}

TEST(DateConditions, IsoAndEpoch) {
  const Keys now = {{"aws:currenttime", {"2026-06-01T12:00:00Z"}}};
  EXPECT_TRUE(Allows(R"({"DateLessThan":{"aws:currenttime":"2026-12-31T00:00:00Z"}})", now));
  EXPECT_FALSE(Allows(R"({"DateLessThan":{"aws:currenttime":"2026-01-01T00:00:00Z"}})", now));
  EXPECT_TRUE(Allows(R"({"DateGreaterThan":{"aws:currenttime":"2026-01-01"}})", now));
  EXPECT_FALSE(Allows(R"({"DateGreaterThan":{"aws:currenttime":"2026-06-01T12:00:00Z"}})", now));
  EXPECT_TRUE(
      Allows(R"({"DateGreaterThanEquals":{"aws:currenttime":"2026-06-01T12:00:00Z"}})", now));
  EXPECT_TRUE(
      Allows(R"({"DateLessThanEquals":{"aws:currenttime":"2026-06-01T12:00:00.000Z"}})", now));
  // 2026-06-01T12:00:00Z is epoch 1780315200.
  EXPECT_TRUE(Allows(R"({"DateEquals":{"aws:currenttime":1780315200}})", now));
  EXPECT_TRUE(Allows(R"({"DateEquals":{"aws:currenttime":"2026-06-01T14:00:00+02:00"}})", now));
  EXPECT_FALSE(Allows(R"({"DateEquals":{"aws:currenttime":"1780315201"}})", now));
  EXPECT_TRUE(Allows(R"({"DateNotEquals":{"aws:currenttime":"1780315201"}})", now));
  EXPECT_TRUE(Allows(R"({"DateEquals":{"aws:epochtime":"2026-06-01T12:00:00Z"}})",
                     {{"aws:epochtime", {"1780315200"}}}));
  EXPECT_FALSE(Allows(R"({"DateLessThan":{"aws:currenttime":"2026-12-31T00:00:00Z"}})", {}));
  EXPECT_TRUE(Allows(R"({"DateNotEquals":{"aws:currenttime":"2026-12-31T00:00:00Z"}})", {}));
  EXPECT_TRUE(Allows(R"({"DateLessThanIfExists":{"aws:currenttime":"2026-12-31T00:00:00Z"}})", {}));
  EXPECT_NE(ParseError(R"({"DateEquals":{"k":"yesterday"}})"), "parsed");
}

TEST(BoolAndBinaryConditions, Compare) {
  const std::string c = R"({"Bool":{"aws:securetransport":"true"}})";
  EXPECT_TRUE(Allows(c, {{"aws:securetransport", {"true"}}}));
  EXPECT_TRUE(Allows(c, {{"aws:securetransport", {"TRUE"}}}));
  EXPECT_FALSE(Allows(c, {{"aws:securetransport", {"false"}}}));
  EXPECT_FALSE(Allows(c, {}));
  EXPECT_TRUE(Allows(R"({"BoolIfExists":{"aws:multifactorauthpresent":false}})", {}));
  EXPECT_TRUE(Allows(R"({"Bool":{"aws:multifactorauthpresent":false}})",
                     {{"aws:multifactorauthpresent", {"false"}}}));
  EXPECT_NE(ParseError(R"({"Bool":{"k":"yes"}})"), "parsed");

  const std::string b = R"({"BinaryEquals":{"k":"QmluYXJ5VmFsdWU="}})";
  EXPECT_TRUE(Allows(b, {{"k", {"QmluYXJ5VmFsdWU="}}}));
  EXPECT_FALSE(Allows(b, {{"k", {"qmluyxj5vmfsdwu="}}}));
  EXPECT_FALSE(Allows(b, {}));
}

TEST(IpConditions, Ipv4AndIpv6) {
  const std::string c = R"({"IpAddress":{"aws:sourceip":["203.0.113.0/24","10.1.2.3"]}})";
  EXPECT_TRUE(Allows(c, {{"aws:sourceip", {"203.0.113.77"}}}));
  EXPECT_TRUE(Allows(c, {{"aws:sourceip", {"10.1.2.3"}}}));
  EXPECT_FALSE(Allows(c, {{"aws:sourceip", {"10.1.2.4"}}}));
  EXPECT_FALSE(Allows(c, {{"aws:sourceip", {"203.0.114.1"}}}));
  EXPECT_FALSE(Allows(c, {{"aws:sourceip", {"not-an-ip"}}}));
  EXPECT_FALSE(Allows(c, {}));
  EXPECT_TRUE(Allows(c, {{"aws:sourceip", {"::ffff:203.0.113.9"}}}));  // IPv4-mapped
  const std::string v6 = R"({"IpAddress":{"aws:sourceip":"2001:db8::/32"}})";
  EXPECT_TRUE(Allows(v6, {{"aws:sourceip", {"2001:db8:1::5"}}}));
  EXPECT_FALSE(Allows(v6, {{"aws:sourceip", {"2001:db9::5"}}}));
  EXPECT_FALSE(Allows(v6, {{"aws:sourceip", {"203.0.113.9"}}}));
  const std::string host6 = R"({"IpAddress":{"aws:sourceip":"2001:db8::1"}})";
  EXPECT_TRUE(Allows(host6, {{"aws:sourceip", {"2001:db8::1"}}}));
  EXPECT_FALSE(Allows(host6, {{"aws:sourceip", {"2001:db8::2"}}}));
  const std::string odd = R"({"IpAddress":{"aws:sourceip":"10.0.0.0/9"}})";
  EXPECT_TRUE(Allows(odd, {{"aws:sourceip", {"10.127.255.255"}}}));
  EXPECT_FALSE(Allows(odd, {{"aws:sourceip", {"10.128.0.0"}}}));
  const std::string all = R"({"IpAddress":{"aws:sourceip":"0.0.0.0/0"}})";
  EXPECT_TRUE(Allows(all, {{"aws:sourceip", {"8.8.8.8"}}}));
  const std::string n = R"({"NotIpAddress":{"aws:sourceip":"203.0.113.0/24"}})";
  EXPECT_TRUE(Allows(n, {{"aws:sourceip", {"127.0.0.1"}}}));
  EXPECT_FALSE(Allows(n, {{"aws:sourceip", {"203.0.113.1"}}}));
  EXPECT_TRUE(Allows(n, {}));
}

TEST(IpConditions, InvalidCidrsAreMalformed) {
  for (const char* bad : {"300.0.0.1", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1", "::1/129",
                          "1.2.3", "", "10.0.0.0/8x", "fe80::1%eth0"}) {
    EXPECT_NE(ParseError(std::string(R"({"IpAddress":{"aws:sourceip":")") + bad + "\"}}"), "parsed")
        << bad;
  }
}

TEST(ArnConditions, PerPartWildcards) {
  const std::string c = R"({"ArnLike":{"aws:sourcearn":"arn:aws:iam::*:role/app-*"}})";
  EXPECT_TRUE(Allows(c, {{"aws:sourcearn", {"arn:aws:iam::123456789012:role/app-web"}}}));
  EXPECT_FALSE(Allows(c, {{"aws:sourcearn", {"arn:aws:iam::123456789012:user/app-web"}}}));
  EXPECT_FALSE(Allows(c, {{"aws:sourcearn", {"arn:aws:sts::123456789012:role/app-web"}}}));
  // The account wildcard must not swallow the colon-separated parts that follow it.
  const std::string acct = R"({"ArnLike":{"aws:sourcearn":"arn:aws:s3:::*"}})";
  EXPECT_FALSE(Allows(acct, {{"aws:sourcearn", {"arn:aws:s3:us-east-1::bucket"}}}));
  EXPECT_TRUE(Allows(acct, {{"aws:sourcearn", {"arn:aws:s3:::bucket/with:colon"}}}));
  EXPECT_FALSE(Allows(c, {{"aws:sourcearn", {"not-an-arn"}}}));
  EXPECT_FALSE(Allows(c, {}));

  const std::string eq = R"({"ArnEquals":{"aws:sourcearn":"arn:aws:sns:us-east-1:1:topic"}})";
  EXPECT_TRUE(Allows(eq, {{"aws:sourcearn", {"arn:aws:sns:us-east-1:1:topic"}}}));
  EXPECT_FALSE(Allows(eq, {{"aws:sourcearn", {"arn:aws:sns:us-east-1:1:topic2"}}}));

  const std::string ne = R"({"ArnNotEquals":{"aws:sourcearn":"arn:aws:sns:*:1:topic"}})";
  EXPECT_FALSE(Allows(ne, {{"aws:sourcearn", {"arn:aws:sns:eu-west-1:1:topic"}}}));
  EXPECT_TRUE(Allows(ne, {{"aws:sourcearn", {"arn:aws:sns:eu-west-1:2:topic"}}}));
  EXPECT_TRUE(Allows(ne, {}));
  const std::string nl = R"({"ArnNotLike":{"aws:sourcearn":"arn:aws:sns:*:1:*"}})";
  EXPECT_FALSE(Allows(nl, {{"aws:sourcearn", {"arn:aws:sns:x:1:t"}}}));
  EXPECT_TRUE(Allows(nl, {{"aws:sourcearn", {"arn:aws:sqs:x:1:t"}}}));
  EXPECT_TRUE(Allows(R"({"ArnLikeIfExists":{"aws:sourcearn":"arn:aws:sns:*:1:*"}})", {}));
}

TEST(ArnConditions, Variables) {
  const std::string c = R"({"ArnLike":{"aws:sourcearn":"arn:aws:iam::*:user/${aws:username}"}})";
  EXPECT_TRUE(
      Allows(c, {{"aws:username", {"alice"}}, {"aws:sourcearn", {"arn:aws:iam::1:user/alice"}}}));
  EXPECT_FALSE(
      Allows(c, {{"aws:username", {"alice"}}, {"aws:sourcearn", {"arn:aws:iam::1:user/bob"}}}));
  EXPECT_FALSE(Allows(c, {{"aws:sourcearn", {"arn:aws:iam::1:user/alice"}}}));
}

TEST(NullCondition, PresenceAndAbsence) {
  const std::string absent = R"({"Null":{"aws:tokenissuetime":"true"}})";
  EXPECT_TRUE(Allows(absent, {}));
  EXPECT_FALSE(Allows(absent, {{"aws:tokenissuetime", {"x"}}}));
  const std::string present = R"({"Null":{"aws:tokenissuetime":false}})";
  EXPECT_FALSE(Allows(present, {}));
  EXPECT_TRUE(Allows(present, {{"aws:tokenissuetime", {"x"}}}));
  EXPECT_NE(ParseError(R"({"NullIfExists":{"k":"true"}})"), "parsed");
  EXPECT_NE(ParseError(R"({"Null":{"k":"maybe"}})"), "parsed");
}

TEST(PolicyVariables, InConditionValues) {
  const std::string c = R"({"StringEquals":{"s3:prefix":"home/${aws:username}"}})";
  EXPECT_TRUE(Allows(c, {{"aws:username", {"alice"}}, {"s3:prefix", {"home/alice"}}}));
  EXPECT_FALSE(Allows(c, {{"aws:username", {"bob"}}, {"s3:prefix", {"home/alice"}}}));
  // Unresolvable variable: no match.
  EXPECT_FALSE(Allows(c, {{"s3:prefix", {"home/alice"}}}));
  // Version 2008-10-17 takes ${...} literally.
  EXPECT_TRUE(Allows(c, {{"aws:username", {"alice"}}, {"s3:prefix", {"home/${aws:username}"}}},
                     "2008-10-17"));
  EXPECT_FALSE(
      Allows(c, {{"aws:username", {"alice"}}, {"s3:prefix", {"home/alice"}}}, "2008-10-17"));
}

TEST(PolicyVariables, VariableValuesAreLiteralInLike) {
  const std::string c = R"({"StringLike":{"s3:prefix":"home/${aws:username}/*"}})";
  EXPECT_TRUE(Allows(c, {{"aws:username", {"alice"}}, {"s3:prefix", {"home/alice/x"}}}));
  // A username containing '*' must not act as a wildcard.
  EXPECT_FALSE(Allows(c, {{"aws:username", {"*"}}, {"s3:prefix", {"home/alice/x"}}}));
  EXPECT_TRUE(Allows(c, {{"aws:username", {"*"}}, {"s3:prefix", {"home/*/x"}}}));
}

TEST(PolicyVariables, SpecialCharactersAndDefaults) {
  const std::string c = R"({"StringLike":{"k":"a${*}b${?}c${$}"}})";
  EXPECT_TRUE(Allows(c, {{"k", {"a*b?c$"}}}));
  EXPECT_FALSE(Allows(c, {{"k", {"axxb?c$"}}}));
  EXPECT_FALSE(Allows(c, {{"k", {"a*bxc$"}}}));
  const std::string d = R"({"StringEquals":{"k":"${aws:PrincipalTag/team, 'Company-Wide'}"}})";
  EXPECT_TRUE(Allows(d, {{"k", {"Company-Wide"}}}));
  EXPECT_TRUE(Allows(d, {{"k", {"ops"}}, {"aws:principaltag/team", {"ops"}}}));
  EXPECT_FALSE(Allows(d, {{"k", {"Company-Wide"}}, {"aws:principaltag/team", {"ops"}}}));
  // An unterminated ${ is plain text.
  EXPECT_TRUE(Allows(R"({"StringEquals":{"k":"${aws:username"}})", {{"k", {"${aws:username"}}}));
}

TEST(ConditionParsing, InvalidOperators) {
  EXPECT_EQ(ParseError(R"({"StringEqualz":{"k":"v"}})"),
            "Invalid Condition operator: StringEqualz");
  EXPECT_NE(ParseError(R"({"ForSomeValues:StringEquals":{"k":"v"}})"), "parsed");
  EXPECT_NE(ParseError(R"({"StringEquals":"v"})"), "parsed");
  EXPECT_NE(ParseError(R"({"StringEquals":{"k":{"x":"y"}}})"), "parsed");
  EXPECT_NE(ParseError(R"({"StringEquals":{"k":null}})"), "parsed");
  EXPECT_NE(ParseError(R"({"StringEquals":{"k":[["v"]]}})"), "parsed");
  EXPECT_NE(ParseError(R"(["StringEquals"])"), "parsed");
  // Operator names are accepted in any case, as are set qualifiers.
  EXPECT_EQ(ParseError(R"({"forallvalues:stringequalsifexists":{"k":"v"}})"), "parsed");
}

TEST(Helpers, ParseCidrAndContains) {
  auto net = detail::ParseCidr("192.168.0.0/16");
  auto in = detail::ParseCidr("192.168.255.1");
  auto out = detail::ParseCidr("192.169.0.1");
  ASSERT_TRUE(net && in && out);
  EXPECT_TRUE(detail::CidrContains(*net, *in));
  EXPECT_FALSE(detail::CidrContains(*net, *out));
  EXPECT_FALSE(detail::ParseCidr("192.168.0.0/16/1").has_value());
}

TEST(Helpers, ParseDate) {
  auto a = detail::ParseDate("2026-06-01T12:00:00Z");
  auto b = detail::ParseDate("1780315200");
  auto c = detail::ParseDate("2026-06-01T08:00:00-04:00");
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(*a, *c);
  EXPECT_FALSE(detail::ParseDate("1e300").has_value());
  EXPECT_FALSE(detail::ParseDate("99999999999999").has_value());
  EXPECT_FALSE(detail::ParseDate("2026-13-01").has_value());
  // Beyond what a nanosecond TimePoint holds (found by the fuzzer as an overflow).
  EXPECT_FALSE(detail::ParseDate("3204-01-01T00:00:00Z").has_value());
  EXPECT_FALSE(detail::ParseDate("9999-01-01").has_value());
  EXPECT_FALSE(detail::ParseDate("99999999999").has_value());
  EXPECT_TRUE(detail::ParseDate("2261-12-31T00:00:00Z").has_value());
  EXPECT_FALSE(detail::ParseDate("+2026-01-01").has_value());
  EXPECT_FALSE(detail::ParseDate("2026-06-01T12:00:00+-1:00").has_value());
  EXPECT_FALSE(detail::ParseDate("2026-06-01T12:00:00+24:00").has_value());
}

}  // namespace
}  // namespace kw::policy
