#include "awsclient/xml_reader.hpp"

#include <gtest/gtest.h>

namespace kw::awsclient::xml {
namespace {

TEST(XmlReaderTest, ParsesAwsListUsersResponse) {
  const char* doc = R"(<?xml version="1.0" encoding="UTF-8"?>
<ListUsersResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
  <ListUsersResult>
    <IsTruncated>false</IsTruncated>
    <Users>
      <member>
        <Path>/division_abc/</Path>
        <UserName>Andrew</UserName>
        <Arn>arn:aws:iam::123456789012:user/division_abc/Andrew</Arn>
      </member>
      <member>
        <UserName>Jackie</UserName>
      </member>
    </Users>
  </ListUsersResult>
  <ResponseMetadata>
    <RequestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</RequestId>
  </ResponseMetadata>
</ListUsersResponse>
)";
  auto root = Parse(doc);
  ASSERT_TRUE(root.has_value()) << root.error().message;
  EXPECT_EQ(root->name, "ListUsersResponse");
  EXPECT_EQ(root->TextAt("ListUsersResult/IsTruncated"), "false");
  const Node* users = root->Find("ListUsersResult/Users");
  ASSERT_NE(users, nullptr);
  auto members = users->Children("member");
  ASSERT_EQ(members.size(), 2u);
  EXPECT_EQ(members[0]->TextAt("UserName"), "Andrew");
  EXPECT_EQ(members[0]->TextAt("Arn"), "arn:aws:iam::123456789012:user/division_abc/Andrew");
  EXPECT_EQ(members[1]->TextAt("UserName"), "Jackie");
  EXPECT_EQ(members[1]->TextAt("Path", "none"), "none");
  EXPECT_EQ(root->TextAt("ResponseMetadata/RequestId"), "7a62c49f-347e-4fc4-9331-6e8eEXAMPLE");
  EXPECT_EQ(root->Find("ListUsersResult/Nope"), nullptr);
  EXPECT_EQ(root->Find(""), &*root);
}

TEST(XmlReaderTest, DecodesEntitiesAndCharacterReferences) {
  auto root =
      Parse("<a>&lt;x&gt; &amp; &quot;q&quot; &apos;s&apos; &#65;&#x42;&#xe9;&#x1F600;</a>");
  ASSERT_TRUE(root.has_value()) << root.error().message;
  EXPECT_EQ(root->text, "<x> & \"q\" 's' AB\xC3\xA9\xF0\x9F\x98\x80");
}

TEST(XmlReaderTest, PolicyDocumentLikeEscapedJson) {
  auto root = Parse("<Doc>%7B%22Version%22%3A%222012-10-17%22%7D &#10;</Doc>");
  ASSERT_TRUE(root.has_value());
  EXPECT_EQ(root->text, "%7B%22Version%22%3A%222012-10-17%22%7D \n");
}

TEST(XmlReaderTest, CdataCommentsPisAndSelfClosing) {
  auto root = Parse(
      "<!-- before --><?pi x?><r a='1' b=\"&amp;2\"><e/><![CDATA[<raw & stuff>]]><!-- c -->"
      "<f  /><?x?></r >  <!-- after -->\n");
  ASSERT_TRUE(root.has_value()) << root.error().message;
  EXPECT_EQ(root->text, "<raw & stuff>");
  ASSERT_EQ(root->children.size(), 2u);
  EXPECT_EQ(root->children[0].name, "e");
  EXPECT_EQ(root->children[1].name, "f");
}

TEST(XmlReaderTest, PrefixedNamesAndBom) {
  auto root = Parse("\xEF\xBB\xBF<ns:a xmlns:ns=\"u\"><ns:b>1</ns:b></ns:a>");
  ASSERT_TRUE(root.has_value()) << root.error().message;
  EXPECT_EQ(root->name, "ns:a");
  EXPECT_EQ(root->TextAt("ns:b"), "1");
}

TEST(XmlReaderTest, KeepsUtf8Text) {
  auto root = Parse("<a>ユーザー</a>");
  ASSERT_TRUE(root.has_value());
  EXPECT_EQ(root->text, "ユーザー");
}

TEST(XmlReaderTest, RejectsMalformedInput) {
  const char* bad[] = {
      "",
      "   ",
      "text",
      "<a>",
      "<a></b>",
      "<a><b></a></b>",
      "<a></a><b></b>",
      "<a></a>trailing",
      "<a>&unknown;</a>",
      "<a>&amp</a>",
      "<a>& x</a>",
      "<a>&#;</a>",
      "<a>&#x;</a>",
      "<a>&#xZZ;</a>",
      "<a>&#0;</a>",
      "<a>&#xD800;</a>",
      "<a>&#x110000;</a>",
      "<a>&#99999999999;</a>",
      "<a x=1></a>",
      "<a x=\"1></a>",
      "<a x=\"<\"></a>",
      "<a x></a>",
      "<a x=\"1\"y=\"2\"></a>",
      "<1a></1a>",
      "<a><!-- unterminated </a>",
      "<a><!-- a -- b --></a>",
      "<a><![CDATA[ x </a>",
      "<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>",
      "<a><!ENTITY x \"y\"></a>",
      "<a>\x01</a>",
      "<a>]]></a>",
      "<a/ >",
      "<?xml version=\"1.0\"",
      "<a></a",
  };
  for (const char* text : bad) {
    auto root = Parse(text);
    EXPECT_FALSE(root.has_value()) << "accepted: " << text;
    if (!root) {
      EXPECT_EQ(root.error().code, ErrorCode::kInvalidArgument);
      EXPECT_EQ(root.error().message.rfind("XML: ", 0), 0u);
    }
  }
}

TEST(XmlReaderTest, ErrorsCarryTheOffset) {
  auto root = Parse("<a></b>");
  ASSERT_FALSE(root.has_value());
  EXPECT_NE(root.error().message.find("mismatched end tag </b> for <a>"), std::string::npos)
      << root.error().message;
  EXPECT_NE(root.error().message.find("at byte"), std::string::npos);
}

std::string Nested(int depth) {
  std::string s;
  for (int i = 0; i < depth; ++i) s += "<e>";
  for (int i = 0; i < depth; ++i) s += "</e>";
  return s;
}

TEST(XmlReaderTest, DepthLimit) {
  Limits limits;
  limits.max_depth = 10;
  EXPECT_TRUE(Parse(Nested(10), limits).has_value());
  auto deep = Parse(Nested(11), limits);
  ASSERT_FALSE(deep.has_value());
  EXPECT_NE(deep.error().message.find("nested too deeply"), std::string::npos);
  // The default limit stops a deep document long before the stack could overflow.
  EXPECT_FALSE(Parse(Nested(100000)).has_value());
}

TEST(XmlReaderTest, SizeAndNodeLimits) {
  Limits limits;
  limits.max_bytes = 10;
  EXPECT_TRUE(Parse("<a>12</a>", limits).has_value());
  EXPECT_FALSE(Parse("<a>1234567</a>", limits).has_value());

  Limits nodes;
  nodes.max_nodes = 3;
  EXPECT_TRUE(Parse("<a><b/><c/></a>", nodes).has_value());
  EXPECT_FALSE(Parse("<a><b/><c/><d/></a>", nodes).has_value());
}

}  // namespace
}  // namespace kw::awsclient::xml
