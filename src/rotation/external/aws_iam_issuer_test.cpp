#include "rotation/external/aws_iam_issuer.hpp"

#include <gtest/gtest.h>

#include "awsclient/test_fakes.hpp"
#include "common/time_format.hpp"

namespace kw::rotation::external {
namespace {

using awsclient::testing::Header;
using awsclient::testing::QueryErrorBody;
using awsclient::testing::ScriptedTransport;
using awsclient::testing::SeededRandom;
using std::chrono::milliseconds;

std::string Body(const std::string& action, const std::string& inner) {
  return "<" + action + "Response><" + action + "Result>" + inner + "</" + action + "Result></" +
         action + "Response>";
}

std::string Member(const std::string& id, const std::string& status, const std::string& date) {
  return "<member><UserName>app</UserName><AccessKeyId>" + id + "</AccessKeyId><Status>" + status +
         "</Status><CreateDate>" + date + "</CreateDate></member>";
}

class AwsIamIssuerTest : public ::testing::Test {
 protected:
  AwsIamIssuerTest()
      : random_(5),
        retry_({4, milliseconds(10), milliseconds(100)}, random_, [](milliseconds) {}),
        provider_(awsclient::ProvidedCredentials{
            sigv4::Credentials{"AKIAROTATOR", SecretBytes("rotsecret"), ""}, std::nullopt, "t"}) {
    policy_.credentials = &provider_;
    policy_.retry = &retry_;
    auto iam = awsclient::QueryClient::Create(transport_, clock_, "https://iam.example.com",
                                              policy_, "us-east-1");
    issuer_ = std::make_unique<AwsIamIssuer>(std::move(*iam), "https://sts.example.com", transport_,
                                             clock_, policy_, "us-east-1");
  }

  FakeClock clock_{TimePoint(std::chrono::seconds(1700000000))};
  SeededRandom random_;
  awsclient::RetryPolicy retry_;
  awsclient::StaticCredentialProvider provider_;
  awsclient::ClientPolicy policy_;
  ScriptedTransport transport_;
  std::unique_ptr<AwsIamIssuer> issuer_;
};

TEST_F(AwsIamIssuerTest, ListKeysFollowsMarkersToTheLastPage) {
  transport_.Push(200,
                  Body("ListAccessKeys", "<AccessKeyMetadata>" +
                                             Member("AKIA1", "Active", "2023-01-01T00:00:00Z") +
                                             "</AccessKeyMetadata><IsTruncated>true</IsTruncated>"
                                             "<Marker>page2</Marker>"));
  transport_.Push(
      200, Body("ListAccessKeys", "<AccessKeyMetadata>" +
                                      Member("AKIA2", "Inactive", "2023-02-01T00:00:00.123Z") +
                                      "</AccessKeyMetadata><IsTruncated>false</IsTruncated>"));
  auto keys = issuer_->ListKeys("app");
  ASSERT_TRUE(keys.has_value()) << keys.error().message;
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0].access_key_id, "AKIA1");
  EXPECT_EQ((*keys)[0].status, KeyStatus::kActive);
  EXPECT_EQ(FormatIso8601((*keys)[0].create_date), "2023-01-01T00:00:00Z");
  EXPECT_EQ((*keys)[1].status, KeyStatus::kInactive);
  ASSERT_EQ(transport_.requests.size(), 2u);
  EXPECT_EQ(transport_.requests[0].body.find("Marker="), std::string::npos);
  EXPECT_NE(transport_.requests[1].body.find("Marker=page2"), std::string::npos);
  EXPECT_NE(transport_.requests[1].body.find("UserName=app"), std::string::npos);
}

TEST_F(AwsIamIssuerTest, CreateKeyReturnsTheSecretAsSecretBytes) {
  transport_.Push(400, QueryErrorBody("Throttling"));
  transport_.Push(200, Body("CreateAccessKey",
                            "<AccessKey><UserName>app</UserName><AccessKeyId>AKIANEW</AccessKeyId>"
                            "<Status>Active</Status><SecretAccessKey>newsecret</SecretAccessKey>"
                            "<CreateDate>2023-11-14T22:13:20Z</CreateDate></AccessKey>"));
  auto k = issuer_->CreateKey("app");
  ASSERT_TRUE(k.has_value()) << k.error().message;
  EXPECT_EQ(k->access_key_id, "AKIANEW");
  EXPECT_EQ(k->secret_access_key.Reveal(), "newsecret");
  EXPECT_EQ(FormatIso8601(k->create_date), "2023-11-14T22:13:20Z");
  EXPECT_EQ(transport_.requests.size(), 2u);  // throttling is safe to retry
}

TEST_F(AwsIamIssuerTest, CreateKeyIsNotRetriedAfterAnAmbiguousFailure) {
  transport_.Push(500, QueryErrorBody("InternalFailure"));
  transport_.Push(200, Body("CreateAccessKey",
                            "<AccessKey><AccessKeyId>AKIAX</AccessKeyId>"
                            "<SecretAccessKey>s</SecretAccessKey></AccessKey>"));
  auto k = issuer_->CreateKey("app");
  ASSERT_FALSE(k.has_value());
  EXPECT_EQ(k.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(transport_.requests.size(), 1u);
}

TEST_F(AwsIamIssuerTest, SeamErrorMapping) {
  transport_.Push(409, QueryErrorBody("LimitExceeded"));
  auto k = issuer_->CreateKey("app");
  ASSERT_FALSE(k.has_value());
  EXPECT_EQ(k.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(k.error().reason, "LimitExceeded");

  transport_.Push(404, QueryErrorBody("NoSuchEntity"));
  Status del = issuer_->DeleteKey("app", "AKIAGONE");
  ASSERT_FALSE(del.has_value());
  EXPECT_EQ(del.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(del.error().reason, "NoSuchEntity");

  transport_.Push(503, QueryErrorBody("ServiceUnavailable"));
  transport_.Push(503, QueryErrorBody("ServiceUnavailable"));
  transport_.Push(503, QueryErrorBody("ServiceUnavailable"));
  transport_.Push(503, QueryErrorBody("ServiceUnavailable"));
  Status set = issuer_->SetStatus("app", "AKIA1", KeyStatus::kInactive);
  ASSERT_FALSE(set.has_value());
  EXPECT_EQ(set.error().code, ErrorCode::kUnavailable);
  const auto& last = transport_.requests.back();
  EXPECT_NE(last.body.find("Action=UpdateAccessKey"), std::string::npos);
  EXPECT_NE(last.body.find("Status=Inactive"), std::string::npos);
}

TEST_F(AwsIamIssuerTest, UsageIsServiceSlashRegionAndAbsentWhenNeverUsed) {
  transport_.Push(200, Body("GetAccessKeyLastUsed",
                            "<UserName>app</UserName><AccessKeyLastUsed>"
                            "<LastUsedDate>2023-11-14T20:00:00Z</LastUsedDate>"
                            "<ServiceName>s3</ServiceName><Region>eu-west-1</Region>"
                            "</AccessKeyLastUsed>"));
  auto u = issuer_->Usage("AKIA1");
  ASSERT_TRUE(u.has_value()) << u.error().message;
  ASSERT_TRUE(u->last_accepted.has_value());
  EXPECT_EQ(u->last_accepted->source, "s3/eu-west-1");
  EXPECT_EQ(FormatIso8601(u->last_accepted->when), "2023-11-14T20:00:00Z");
  EXPECT_FALSE(u->last_rejected.has_value());

  transport_.Push(200, Body("GetAccessKeyLastUsed",
                            "<UserName>app</UserName><AccessKeyLastUsed><ServiceName>N/A"
                            "</ServiceName><Region>N/A</Region></AccessKeyLastUsed>"));
  u = issuer_->Usage("AKIA2");
  ASSERT_TRUE(u.has_value());
  EXPECT_FALSE(u->last_accepted.has_value());
}

TEST_F(AwsIamIssuerTest, TestKeySignsWithTheKeyUnderTestAndRejectionIsFalse) {
  transport_.Push(200, Body("GetCallerIdentity", "<Arn>arn:aws:iam::1:user/app</Arn>"));
  auto ok = issuer_->TestKey("AKIANEW", SecretBytes("newsecret"));
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_TRUE(*ok);
  const auto& req = transport_.requests.back();
  EXPECT_EQ(req.url, "https://sts.example.com");
  EXPECT_NE(Header(req, "Authorization").find("Credential=AKIANEW/"), std::string::npos);
  EXPECT_NE(Header(req, "Authorization").find("/sts/aws4_request"), std::string::npos);

  for (const char* code : {"InvalidClientTokenId", "SignatureDoesNotMatch"}) {
    transport_.Push(403, QueryErrorBody(code));
    auto no = issuer_->TestKey("AKIANEW", SecretBytes("newsecret"));
    ASSERT_TRUE(no.has_value()) << code;
    EXPECT_FALSE(*no) << code;
  }
  transport_.Push(400, QueryErrorBody("ValidationError"));
  auto err = issuer_->TestKey("AKIANEW", SecretBytes("newsecret"));
  ASSERT_FALSE(err.has_value());
  EXPECT_EQ(err.error().message.find("newsecret"), std::string::npos);
}

TEST_F(AwsIamIssuerTest, ReportsGetAccessKeyLastUsedSemantics) {
  EXPECT_FALSE(issuer_->exact_usage());
  EXPECT_FALSE(issuer_->observes_rejected());
  EXPECT_EQ(issuer_->max_keys_per_user(), 2u);
}

class AwsIamIssuerCloudTrailTest : public AwsIamIssuerTest {
 protected:
  AwsIamIssuerCloudTrailTest() {
    auto ct = awsclient::QueryClient::Create(transport_, clock_, "https://cloudtrail.example.com",
                                             policy_, "eu-west-1");
    issuer_->SetCloudTrail(CloudTrailLookup{std::move(*ct), std::chrono::hours(2)});
  }

  // GetAccessKeyLastUsed as AWS reports it: to the hour, 2 hours ago at the latest.
  void PushLastUsed(const std::string& date) {
    transport_.Push(200, Body("GetAccessKeyLastUsed",
                              "<UserName>app</UserName><AccessKeyLastUsed><LastUsedDate>" + date +
                                  "</LastUsedDate><ServiceName>sts</ServiceName><Region>us-east-1"
                                  "</Region></AccessKeyLastUsed>"));
  }
  static nlohmann::json Event(double when, const std::string& name, const std::string& ip) {
    return nlohmann::json{{"EventTime", when},
                          {"EventName", name},
                          {"CloudTrailEvent", nlohmann::json{{"sourceIPAddress", ip}}.dump()}};
  }
};

TEST_F(AwsIamIssuerCloudTrailTest, NamesTheSourcesAndTakesTheirLaterTime) {
  // clock: 1700000000 = 2023-11-14T22:13:20Z.
  PushLastUsed("2023-11-14T22:00:00Z");
  transport_.Push(200, nlohmann::json{{"Events",
                                       {Event(1699999990, "GetCallerIdentity", "10.1.2.3"),
                                        Event(1699999000, "ListBuckets", "10.9.9.9")}}}
                           .dump());
  auto u = issuer_->Usage("AKIAOLD");
  ASSERT_TRUE(u.has_value()) << u.error().message;
  ASSERT_TRUE(u->last_accepted);
  EXPECT_EQ(u->last_accepted->when, TimePoint(std::chrono::seconds(1699999990)));
  const std::string& source = u->last_accepted->source;
  EXPECT_EQ(source.rfind("sts/us-east-1; CloudTrail: 10.1.2.3 (1 event, last GetCallerIdentity", 0),
            0u)
      << source;
  EXPECT_NE(source.find("10.9.9.9"), std::string::npos) << source;

  const auto& lookup = transport_.requests.back();
  EXPECT_EQ(lookup.url, "https://cloudtrail.example.com");
  EXPECT_NE(Header(lookup, "Authorization").find("/eu-west-1/cloudtrail/aws4_request"),
            std::string::npos);
  const auto input = nlohmann::json::parse(lookup.body);
  EXPECT_EQ(input["LookupAttributes"][0]["AttributeValue"], "AKIAOLD");
  EXPECT_EQ(input["StartTime"], 1700000000 - 7200);
}

TEST_F(AwsIamIssuerCloudTrailTest, AnOlderCloudTrailUseDoesNotMoveTheLastUseBack) {
  PushLastUsed("2023-11-14T22:10:00Z");
  transport_.Push(200,
                  nlohmann::json{{"Events", {Event(1699990000, "GetUser", "10.1.2.3")}}}.dump());
  auto u = issuer_->Usage("AKIAOLD");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(FormatIso8601(u->last_accepted->when), "2023-11-14T22:10:00Z");
  EXPECT_NE(u->last_accepted->source.find("10.1.2.3"), std::string::npos);
}

TEST_F(AwsIamIssuerCloudTrailTest, CloudTrailAloneWhenIamReportsNoUse) {
  transport_.Push(200, Body("GetAccessKeyLastUsed",
                            "<UserName>app</UserName><AccessKeyLastUsed><ServiceName>N/A"
                            "</ServiceName><Region>N/A</Region></AccessKeyLastUsed>"));
  transport_.Push(200,
                  nlohmann::json{{"Events", {Event(1699999999, "GetUser", "192.0.2.7")}}}.dump());
  auto u = issuer_->Usage("AKIAOLD");
  ASSERT_TRUE(u.has_value());
  ASSERT_TRUE(u->last_accepted);
  EXPECT_EQ(u->last_accepted->when, TimePoint(std::chrono::seconds(1699999999)));
  EXPECT_EQ(u->last_accepted->source.rfind("CloudTrail: 192.0.2.7", 0), 0u);
}

TEST_F(AwsIamIssuerCloudTrailTest, AccessDeniedFallsBackToLastUsedWithANote) {
  PushLastUsed("2023-11-14T22:00:00Z");
  transport_.Push(400, nlohmann::json{{"__type", "AccessDeniedException"},
                                      {"message", "User arn:aws:iam::1:user/r is not authorized"}}
                           .dump());
  auto u = issuer_->Usage("AKIAOLD");
  ASSERT_TRUE(u.has_value()) << u.error().message;
  EXPECT_EQ(FormatIso8601(u->last_accepted->when), "2023-11-14T22:00:00Z");
  EXPECT_EQ(u->last_accepted->source,
            "sts/us-east-1 (CloudTrail LookupEvents not allowed: source addresses unknown)");

  // No use known at all, and CloudTrail denied: still no use, not an error.
  transport_.Push(200, Body("GetAccessKeyLastUsed", "<UserName>app</UserName>"));
  transport_.Push(400, nlohmann::json{{"__type", "AccessDeniedException"}}.dump());
  auto none = issuer_->Usage("AKIAOLD");
  ASSERT_TRUE(none.has_value());
  EXPECT_FALSE(none->last_accepted);
}

TEST_F(AwsIamIssuerCloudTrailTest, GetAccessKeyLastUsedErrorsStillFail) {
  transport_.Push(404, QueryErrorBody("NoSuchEntity"));
  auto u = issuer_->Usage("AKIAGONE");
  ASSERT_FALSE(u.has_value());
  EXPECT_EQ(u.error().reason, "NoSuchEntity");
  EXPECT_EQ(transport_.requests.size(), 1u);  // CloudTrail not asked
}

}  // namespace
}  // namespace kw::rotation::external
