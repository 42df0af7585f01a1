#include "api/http/query_protocol.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "common/time_format.hpp"

namespace kw::api {
namespace {

TEST(QueryParams, DecodesFormEncoding) {
  auto q = QueryParams::Parse("Action=CreateUser&UserName=a%2Bb+c&Path=%2Fx%2F&Empty=&Flag");
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->Get("Action"), "CreateUser");
  EXPECT_EQ(q->Get("UserName"), "a+b c");
  EXPECT_EQ(q->Get("Path"), "/x/");
  EXPECT_EQ(q->Get("Empty"), "");
  EXPECT_EQ(q->Get("Flag"), "");
  EXPECT_FALSE(q->Get("Missing").has_value());
}

TEST(QueryParams, FirstDuplicateWinsAndMergeKeepsExisting) {
  auto q = QueryParams::Parse("A=1&A=2");
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->Get("A"), "1");
  ASSERT_TRUE(q->Merge("A=3&B=4").has_value());
  EXPECT_EQ(q->Get("A"), "1");
  EXPECT_EQ(q->Get("B"), "4");
}

TEST(QueryParams, BadEscapeIsMalformedQueryString) {
  for (const char* bad : {"A=%zz", "A=%4", "%=1", "A=%"}) {
    auto q = QueryParams::Parse(bad);
    ASSERT_FALSE(q.has_value()) << bad;
    EXPECT_EQ(q.error().reason, "MalformedQueryString") << bad;
  }
}

TEST(QueryParams, TooManyParametersAreRefused) {
  std::string form;
  for (int i = 0; i < 10001; ++i) form += "k" + std::to_string(i) + "=v&";
  auto q = QueryParams::Parse(form);
  ASSERT_FALSE(q.has_value());
  EXPECT_EQ(q.error().reason, "MalformedQueryString");
}

TEST(QueryParams, RequiredNamesTheMissingParameter) {
  auto q = QueryParams::Parse("Action=CreateUser");
  auto r = q->Required("UserName");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().reason, "MissingParameter");
  EXPECT_NE(r.error().message.find("UserName"), std::string::npos);
}

TEST(QueryParams, IntChecksTypeAndRange) {
  auto q = QueryParams::Parse("MaxItems=50&Bad=5x&Big=1001&Neg=-1");
  EXPECT_EQ(*q->Int("MaxItems", 1, 1000).value(), 50);
  EXPECT_FALSE(q->Int("Absent", 1, 1000).value().has_value());
  for (const char* name : {"Bad", "Big", "Neg"}) {
    auto r = q->Int(name, 1, 1000);
    ASSERT_FALSE(r.has_value()) << name;
    EXPECT_EQ(r.error().reason, "ValidationError") << name;
  }
}

TEST(QueryParams, BoolAcceptsOnlyTrueAndFalse) {
  auto q = QueryParams::Parse("T=true&F=false&X=yes");
  EXPECT_EQ(q->Bool("T").value(), true);
  EXPECT_EQ(q->Bool("F").value(), false);
  EXPECT_FALSE(q->Bool("X").has_value());
}

TEST(QueryParams, ListsAndStructsInIndexOrder) {
  auto q = QueryParams::Parse(
      "TagKeys.member.2=b&TagKeys.member.10=c&TagKeys.member.1=a&TagKeys.member.x=bad&"
      "Tags.member.2.Key=k2&Tags.member.1.Key=k1&Tags.member.1.Value=v1&Tags.member.2.Value=v2");
  EXPECT_EQ(q->List("TagKeys"), (std::vector<std::string>{"a", "b", "c"}));
  auto tags = q->Structs("Tags");
  ASSERT_EQ(tags.size(), 2u);
  EXPECT_EQ(tags[0].at("Key"), "k1");
  EXPECT_EQ(tags[0].at("Value"), "v1");
  EXPECT_EQ(tags[1].at("Key"), "k2");
  EXPECT_TRUE(q->List("Nothing").empty());
}

TEST(XmlWriter, EscapesText) {
  XmlWriter x;
  x.Open("A").Element("B", "<&>\"'").Element("N", 42).BoolElement("T", true).Close("A");
  EXPECT_EQ(x.str(), "<A><B>&lt;&amp;&gt;&quot;&apos;</B><N>42</N><T>true</T></A>");
}

// What CreateUser and AssumeRole write, recorded: the XML is what it is without
// recording, and the structure has objects, "member" lists as arrays, typed scalars.
void WriteSample(XmlWriter& x, TimePoint t) {
  x.Open("User").Element("UserName", "bob").Element("Count", 3).BoolElement("On", false);
  x.TimeElement("CreateDate", t);
  WriteTags(x, std::map<std::string, std::string>{{"a", "1"}, {"b", "<2>"}});
  x.Open("Empty").Close("Empty");
  x.Close("User");
  x.Open("Names").Element("member", "n1").Element("member", "n2").Close("Names");
  x.Open("Credentials").Element("SecretAccessKey", "s3cr3t").Close("Credentials");
}

TEST(XmlWriter, RecordsTheStructureOfWhatItWrites) {
  const TimePoint t = *ParseIso8601("2021-10-20T15:52:34Z");
  XmlWriter plain;
  WriteSample(plain, t);
  XmlWriter recorded;
  recorded.RecordStructure();
  WriteSample(recorded, t);
  EXPECT_EQ(recorded.str(), plain.str());
  EXPECT_NE(plain.str().find("<CreateDate>2021-10-20T15:52:34Z</CreateDate>"), std::string::npos);
  EXPECT_TRUE(plain.TakeStructure().is_null());  // nothing recorded unless asked

  const nlohmann::json expected = nlohmann::json::parse(R"({
    "User": {"UserName": "bob", "Count": 3, "On": false, "CreateDate": "Oct 20, 2021 3:52:34 PM",
             "Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "<2>"}], "Empty": []},
    "Names": ["n1", "n2"],
    "Credentials": {"SecretAccessKey": "s3cr3t"}})");
  EXPECT_EQ(recorded.TakeStructure(), expected);
  // Taking ends the recording.
  recorded.Element("Later", "x");
  EXPECT_TRUE(recorded.TakeStructure().is_null());
}

TEST(XmlWriter, RecordsAnEmptyResultAsNull) {
  XmlWriter x;
  x.RecordStructure();
  EXPECT_TRUE(x.TakeStructure().is_null());
}

TEST(CloudTrailResponseDate, IsJavasDefaultFormatInUtc) {
  EXPECT_EQ(FormatCloudTrailResponseDate(*ParseIso8601("2021-10-20T15:52:34Z")),
            "Oct 20, 2021 3:52:34 PM");
  EXPECT_EQ(FormatCloudTrailResponseDate(*ParseIso8601("2022-01-06T00:05:09Z")),
            "Jan 6, 2022 12:05:09 AM");
  EXPECT_EQ(FormatCloudTrailResponseDate(*ParseIso8601("2026-12-31T12:00:00Z")),
            "Dec 31, 2026 12:00:00 PM");
  EXPECT_EQ(FormatCloudTrailResponseDate(*ParseIso8601("2026-05-01T11:59:59Z")),
            "May 1, 2026 11:59:59 AM");
}

}  // namespace
}  // namespace kw::api
