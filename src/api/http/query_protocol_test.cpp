#include "api/http/query_protocol.hpp"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace kw::api
