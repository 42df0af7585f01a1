#include "awsclient/query_response.hpp"

#include <gtest/gtest.h>

namespace kw::awsclient {
namespace {

TEST(QueryResponseTest, EncodesFormInOrderWithPercentEncoding) {
  EXPECT_EQ(EncodeQueryForm("CreateUser", "2010-05-08", {{"UserName", "a b+c"}, {"Path", "/x/"}}),
            "Action=CreateUser&Version=2010-05-08&UserName=a+b%2Bc&Path=%2Fx%2F");
  // As botocore (urlencode): a literal "%20" stays distinguishable from a space.
  EXPECT_EQ(EncodeQueryForm("TagUser", "2010-05-08", {{"Tags.member.1.Value", "x %20~y"}}),
            "Action=TagUser&Version=2010-05-08&Tags.member.1.Value=x+%2520~y");
  EXPECT_EQ(EncodeQueryForm("GetCallerIdentity", "2011-06-15", {}),
            "Action=GetCallerIdentity&Version=2011-06-15");
}

TEST(QueryResponseTest, ParsesErrorResponse) {
  const char* body = R"(<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
  <Error>
    <Type>Sender</Type>
    <Code>AccessDenied</Code>
    <Message>User: arn:aws:iam::123456789012:user/bob is not authorized to perform: iam:ListUsers</Message>
  </Error>
  <RequestId>abc</RequestId>
</ErrorResponse>)";
  const Error e = ParseQueryError(403, body);
  EXPECT_EQ(e.code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(e.reason, "AccessDenied");
  EXPECT_EQ(e.message,
            "AccessDenied: User: arn:aws:iam::123456789012:user/bob is not authorized to perform: "
            "iam:ListUsers");
}

TEST(QueryResponseTest, MapsCodes) {
  auto err = [](int status, const std::string& code) {
    return ParseQueryError(status,
                           "<ErrorResponse><Error><Code>" + code +
                               "</Code><Message>m &amp; n</Message></Error></ErrorResponse>");
  };
  EXPECT_EQ(err(404, "NoSuchEntity").code, ErrorCode::kNotFound);
  EXPECT_EQ(err(409, "EntityAlreadyExists").code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(err(409, "DeleteConflict").code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(err(403, "SignatureDoesNotMatch").code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(err(403, "InvalidClientTokenId").code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(err(400, "ValidationError").code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(err(400, "Throttling").code, ErrorCode::kUnavailable);
  // An unknown code falls back to the HTTP status.
  EXPECT_EQ(err(503, "SomethingNew").code, ErrorCode::kUnavailable);
  EXPECT_EQ(err(404, "SomethingNew").code, ErrorCode::kNotFound);
  EXPECT_EQ(err(404, "NoSuchEntity").message, "NoSuchEntity: m & n");
}

TEST(QueryResponseTest, Ec2StyleErrorsAccepted) {
  const Error e = ParseQueryError(
      400,
      "<Response><Errors><Error><Code>InvalidAction</Code><Message>no</Message></Error>"
      "</Errors><RequestID>x</RequestID></Response>");
  EXPECT_EQ(e.reason, "InvalidAction");
  EXPECT_EQ(e.message, "InvalidAction: no");
}

TEST(QueryResponseTest, MotoStyleErrorsListAccepted) {
  // moto's query services wrap the Error in <Errors> inside <ErrorResponse>.
  const Error e = ParseQueryError(
      404,
      "<ErrorResponse><Errors><Error><Code>NoSuchEntity</Code><Message>The user with name x "
      "cannot be found.</Message></Error></Errors><RequestId>r</RequestId></ErrorResponse>");
  EXPECT_EQ(e.code, ErrorCode::kNotFound);
  EXPECT_EQ(e.reason, "NoSuchEntity");
  EXPECT_EQ(e.message, "NoSuchEntity: The user with name x cannot be found.");
}

TEST(QueryResponseTest, AllThreeShapesGiveTheSameError) {
  const std::string inner = "<Error><Code>AccessDenied</Code><Message>no</Message></Error>";
  for (const std::string& body : {"<ErrorResponse>" + inner + "</ErrorResponse>",
                                  "<ErrorResponse><Errors>" + inner + "</Errors></ErrorResponse>",
                                  "<Response><Errors>" + inner + "</Errors></Response>"}) {
    const Error e = ParseQueryError(403, body);
    EXPECT_EQ(e.code, ErrorCode::kPermissionDenied) << body;
    EXPECT_EQ(e.reason, "AccessDenied") << body;
    EXPECT_EQ(e.message, "AccessDenied: no") << body;
  }
  // An <Errors> list that is empty, or an unrelated root, is no error document.
  EXPECT_TRUE(ParseQueryError(400, "<ErrorResponse><Errors/></ErrorResponse>").reason.empty());
  EXPECT_TRUE(ParseQueryError(400, "<Other><Errors>" + inner + "</Errors></Other>").reason.empty());
}

TEST(QueryResponseTest, NonXmlErrorBodyGivesStatusOnly) {
  const Error e = ParseQueryError(502, "<html>bad gateway secret-ish</html");
  EXPECT_EQ(e.code, ErrorCode::kUnavailable);
  EXPECT_EQ(e.message, "HTTP 502 (the response is not an AWS error document)");
  EXPECT_TRUE(e.reason.empty());
  EXPECT_EQ(ParseQueryError(500, "").code, ErrorCode::kInternal);
}

TEST(QueryResponseTest, ResultElement) {
  auto r = ParseQueryResult(
      "GetCallerIdentity",
      "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
      "<GetCallerIdentityResult><Arn>arn:aws:iam::1:user/a</Arn><UserId>AIDA</UserId>"
      "<Account>1</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r"
      "</RequestId></ResponseMetadata></GetCallerIdentityResponse>");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->TextAt("Account"), "1");
  EXPECT_EQ(r->TextAt("Arn"), "arn:aws:iam::1:user/a");
}

TEST(QueryResponseTest, EmptyResultForActionsWithoutOutput) {
  auto r = ParseQueryResult("DeleteUser",
                            "<DeleteUserResponse><ResponseMetadata><RequestId>r</RequestId>"
                            "</ResponseMetadata></DeleteUserResponse>");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->name, "DeleteUserResult");
  EXPECT_TRUE(r->children.empty());
}

TEST(QueryResponseTest, WrongRootOrGarbageIsInternal) {
  auto wrong = ParseQueryResult("ListUsers", "<DeleteUserResponse/>");
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().code, ErrorCode::kInternal);
  EXPECT_FALSE(ParseQueryResult("ListUsers", "not xml").has_value());
}

}  // namespace
}  // namespace kw::awsclient
