#include "awsclient/aws_client.hpp"

#include <gtest/gtest.h>

#include "awsclient/test_fakes.hpp"

namespace kw::awsclient {
namespace {

using testing::ScriptedTransport;

class QueryClientTest : public ::testing::Test {
 protected:
  QueryClientTest() {
    auto c = QueryClient::Create(transport_, clock_, "http://127.0.0.1:5000",
                                 sigv4::Credentials{"AKIAX", SecretBytes("s"), ""}, "us-east-1");
    client_ = std::make_unique<QueryClient>(std::move(*c));
  }
  FakeClock clock_{TimePoint(std::chrono::seconds(1700000000))};
  ScriptedTransport transport_;
  std::unique_ptr<QueryClient> client_;
};

TEST_F(QueryClientTest, DecodesMotoErrorsAndSendsSpacesAsBotocoreDoes) {
  // moto's IAM answers with <ErrorResponse><Errors><Error>.
  transport_.Push(404,
                  "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<ErrorResponse><Errors><Error>"
                  "<Code>NoSuchEntity</Code><Message>The user with name a b cannot be found."
                  "</Message></Error></Errors></ErrorResponse>");
  auto r = client_->Call(kIam, "GetUser", {{"UserName", "a b"}});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(r.error().reason, "NoSuchEntity");
  EXPECT_EQ(r.error().message, "NoSuchEntity: The user with name a b cannot be found.");
  ASSERT_EQ(transport_.requests.size(), 1u);
  EXPECT_EQ(transport_.requests[0].body, "Action=GetUser&Version=2010-05-08&UserName=a+b");
}

TEST_F(QueryClientTest, ServerErrorInAnyShapeIsUnavailable) {
  transport_.Push(503,
                  "<Response><Errors><Error><Code>ServiceUnavailable</Code><Message>busy</Message>"
                  "</Error></Errors></Response>");
  auto r = client_->Call(kSts, "GetCallerIdentity");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(r.error().reason, "ServiceUnavailable");
}

}  // namespace
}  // namespace kw::awsclient
