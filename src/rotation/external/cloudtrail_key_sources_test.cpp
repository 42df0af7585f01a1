#include "rotation/external/cloudtrail_key_sources.hpp"

#include <gtest/gtest.h>

#include "awsclient/test_fakes.hpp"

namespace kw::rotation::external {
namespace {

using awsclient::testing::ScriptedTransport;
using nlohmann::json;

json Event(double when, const std::string& name, const std::string& ip) {
  return json{{"EventTime", when},
              {"EventName", name},
              {"CloudTrailEvent", json{{"sourceIPAddress", ip}, {"userAgent", "aws-cli"}}.dump()}};
}

TEST(CloudTrailKeySources, GroupsEventsBySourceLatestFirstAcrossPages) {
  FakeClock clock(TimePoint(std::chrono::seconds(1700000000)));
  ScriptedTransport transport;
  auto client = awsclient::QueryClient::Create(
      transport, clock, "https://cloudtrail.example.com",
      sigv4::Credentials{"AKIAROTATOR", SecretBytes("s"), ""}, "us-east-1");
  ASSERT_TRUE(client);
  transport.Push(
      200,
      json{{"Events",
            {Event(1000, "GetCallerIdentity", "10.0.0.1"), Event(3000, "ListUsers", "10.0.0.2")}},
           {"NextToken", "n1"}}
          .dump());
  transport.Push(200, json{{"Events", {Event(2000, "GetUser", "10.0.0.1")}}}.dump());
  auto sources = LookupKeySources(*client, "AKIAOLD", TimePoint(std::chrono::seconds(500)),
                                  TimePoint(std::chrono::seconds(4000)));
  ASSERT_TRUE(sources) << sources.error().message;
  ASSERT_EQ(sources->size(), 2u);
  EXPECT_EQ((*sources)[0].source_address, "10.0.0.2");
  EXPECT_EQ((*sources)[1].source_address, "10.0.0.1");
  EXPECT_EQ((*sources)[1].events, 2);
  EXPECT_EQ((*sources)[1].last_event, "GetUser");
  EXPECT_EQ((*sources)[1].last_seen, TimePoint(std::chrono::seconds(2000)));

  const json first = json::parse(transport.requests[0].body);
  EXPECT_EQ(first["LookupAttributes"][0]["AttributeValue"], "AKIAOLD");
  EXPECT_EQ(first["StartTime"], 500);
  EXPECT_EQ(json::parse(transport.requests[1].body)["NextToken"], "n1");
}

TEST(CloudTrailKeySources, AccessDeniedIsAnError) {
  FakeClock clock(TimePoint(std::chrono::seconds(1700000000)));
  ScriptedTransport transport;
  auto client = awsclient::QueryClient::Create(
      transport, clock, "https://cloudtrail.example.com",
      sigv4::Credentials{"AKIAROTATOR", SecretBytes("s"), ""}, "us-east-1");
  transport.Push(400, json{{"__type", "AccessDeniedException"}}.dump());
  auto sources = LookupKeySources(*client, "AKIAOLD", TimePoint{}, TimePoint{});
  ASSERT_FALSE(sources);
  EXPECT_EQ(sources.error().code, ErrorCode::kPermissionDenied);
}

}  // namespace
}  // namespace kw::rotation::external
