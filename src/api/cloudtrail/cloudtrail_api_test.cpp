#include "api/cloudtrail/cloudtrail_api.hpp"

#include <gtest/gtest.h>

#include "api/cloudtrail/event_observer.hpp"
#include "common/time_format.hpp"
#include "events/redaction.hpp"
#include "store/memory/memory_kv_store.hpp"

namespace kw::api {
namespace {

using nlohmann::json;

TimePoint T0() { return *ParseIso8601("2026-05-01T12:00:00Z"); }

class CloudTrailApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto log = events::EventLog::Open(store_, std::nullopt);
    ASSERT_TRUE(log.has_value());
    log_ = std::move(*log);
    std::vector<json> records;
    for (int i = 0; i < 7; ++i) {
      ObservedRequest r;
      r.time = T0() + std::chrono::minutes(i);
      r.request_id = "req-" + std::to_string(i);
      r.service = "secretsmanager";
      r.operation = i % 2 == 0 ? "GetSecretValue" : "PutSecretValue";
      r.region = "eu-west-1";
      r.access_key_id = "AKIAPRESENTED" + std::to_string(i % 2);
      r.json_input = json{{"SecretId", "app/db"}, {"SecretString", "s3cret-value"}};
      events::Event e = EventFromRequest(r, "us-east-1");
      e.event_id = "ev-" + std::to_string(i);
      records.push_back(events::ToRecord(e));
    }
    ASSERT_TRUE(log_->Append(records).has_value());
    service_ = CloudTrailJsonService(*log_, nullptr);
  }

  Result<json> Lookup(const json& input) {
    iam::Principal p;
    JsonCall call{input, p, "rid", "127.0.0.1", T0(), {}};
    return service_.operations[0].handler(call);
  }

  store::MemoryKvStore store_;
  std::unique_ptr<events::EventLog> log_;
  JsonService service_;
};

TEST_F(CloudTrailApiTest, ServiceNamesFollowTheBotocoreModel) {
  EXPECT_EQ(service_.signing_name, "cloudtrail");
  EXPECT_EQ(service_.target_prefix, "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101");
  ASSERT_EQ(service_.operations.size(), 1u);
  EXPECT_EQ(service_.operations[0].name, "LookupEvents");
}

TEST_F(CloudTrailApiTest, PagesThroughAFilteredLookup) {
  const json filter = {{"AttributeKey", "EventName"}, {"AttributeValue", "GetSecretValue"}};
  auto first = Lookup({{"LookupAttributes", {filter}}, {"MaxResults", 3}});
  ASSERT_TRUE(first.has_value());
  ASSERT_EQ((*first)["Events"].size(), 3u);
  EXPECT_EQ((*first)["Events"][0]["EventId"], "ev-6");
  const json ct = json::parse((*first)["Events"][0]["CloudTrailEvent"].get<std::string>());
  EXPECT_EQ(ct["awsRegion"], "eu-west-1");
  ASSERT_TRUE(first->contains("NextToken"));
  auto second = Lookup(
      {{"LookupAttributes", {filter}}, {"MaxResults", 3}, {"NextToken", (*first)["NextToken"]}});
  ASSERT_TRUE(second.has_value());
  ASSERT_EQ((*second)["Events"].size(), 1u);
  EXPECT_EQ((*second)["Events"][0]["EventId"], "ev-0");
  EXPECT_FALSE(second->contains("NextToken"));
  // A token is bound to its query.
  auto other = Lookup({{"MaxResults", 3}, {"NextToken", (*first)["NextToken"]}});
  ASSERT_FALSE(other.has_value());
  EXPECT_EQ(other.error().reason, "InvalidNextTokenException");
}

TEST_F(CloudTrailApiTest, FiltersByPresentedKeyAndTimeRange) {
  auto r = Lookup({{"LookupAttributes",
                    {{{"AttributeKey", "AccessKeyId"}, {"AttributeValue", "AKIAPRESENTED1"}}}},
                   {"StartTime", ToEpochSeconds(T0() + std::chrono::minutes(2))},
                   {"EndTime", ToEpochSeconds(T0() + std::chrono::minutes(5))}});
  ASSERT_TRUE(r.has_value());
  std::vector<std::string> ids;
  for (const auto& e : (*r)["Events"]) ids.push_back(e["EventId"]);
  EXPECT_EQ(ids, (std::vector<std::string>{"ev-5", "ev-3"}));
  EXPECT_EQ(r->dump().find("s3cret-value"), std::string::npos);
}

TEST_F(CloudTrailApiTest, BadInputGetsTheModelsErrors) {
  auto two = Lookup({{"LookupAttributes",
                      {{{"AttributeKey", "EventName"}, {"AttributeValue", "a"}},
                       {{"AttributeKey", "EventName"}, {"AttributeValue", "b"}}}}});
  EXPECT_EQ(two.error().reason, "InvalidLookupAttributesException");
  auto key = Lookup({{"LookupAttributes", {{{"AttributeKey", "Nope"}, {"AttributeValue", "a"}}}}});
  EXPECT_EQ(key.error().reason, "InvalidLookupAttributesException");
  auto range = Lookup({{"StartTime", 2000}, {"EndTime", 1000}});
  EXPECT_EQ(range.error().reason, "InvalidTimeRangeException");
  auto max = Lookup({{"MaxResults", 51}});
  EXPECT_EQ(max.error().reason, "InvalidMaxResultsException");
  auto token = Lookup({{"NextToken", "garbage"}});
  EXPECT_EQ(token.error().reason, "InvalidNextTokenException");
}

TEST(EventFromRequestTest, ARefusedSignatureKeepsThePresentedKeyAndNoCaller) {
  ObservedRequest r;
  r.service = "iam";
  r.operation = "unknown";
  r.access_key_id = "AKIAFORGED";
  r.error_code = "SignatureDoesNotMatch";
  events::Event e = EventFromRequest(r, "us-east-1");
  EXPECT_EQ(e.identity.type, "Unknown");
  EXPECT_EQ(e.identity.access_key_id, "AKIAFORGED");
  EXPECT_EQ(e.region, "us-east-1");
  EXPECT_EQ(e.error_code, "SignatureDoesNotMatch");
}

TEST(EventFromRequestTest, AnAssumedRoleNamesItsIssuerAndInstance) {
  ObservedRequest r;
  r.service = "secretsmanager";
  r.operation = "CreateSecret";
  iam::Principal p;
  p.type = iam::PrincipalType::kAssumedRole;
  p.arn = "arn:aws:sts::123456789012:assumed-role/Fleet/mi-0123456789abcdef0";
  p.user_id = "AROAEXAMPLE:mi-0123456789abcdef0";
  p.name = "Fleet";
  p.role_arn = "arn:aws:iam::123456789012:role/Fleet";
  p.access_key_id = "ASIAEXAMPLE";
  p.instance_id = "mi-0123456789abcdef0";
  r.principal = p;
  r.json_output = json{{"ARN", "arn:x"}, {"Name", "n"}, {"SecretString", "leak"}};
  const json record = events::ToRecord(EventFromRequest(r, "us-east-1"));
  EXPECT_EQ(record["userIdentity"]["type"], "AssumedRole");
  EXPECT_EQ(record["userIdentity"]["sessionContext"]["sessionIssuer"]["principalId"],
            "AROAEXAMPLE");
  EXPECT_EQ(record["userIdentity"]["instanceId"], "mi-0123456789abcdef0");
  EXPECT_EQ(record["responseElements"]["ARN"], "arn:x");
  EXPECT_EQ(record.dump().find("leak"), std::string::npos);
  EXPECT_FALSE(record["readOnly"].get<bool>());
}

TEST(EventFromRequestTest, AQueryWriteKeepsItsResponseRedactedInCloudTrailCase) {
  ObservedRequest r;
  r.service = "iam";
  r.operation = "CreateAccessKey";
  r.query_params = *QueryParams::Parse("Action=CreateAccessKey&UserName=bob");
  r.query_output = json{{"AccessKey",
                         {{"UserName", "bob"},
                          {"AccessKeyId", "AKIAEXAMPLE"},
                          {"Status", "Active"},
                          {"SecretAccessKey", "leak-secret"}}}};
  const json record = events::ToRecord(EventFromRequest(r, "us-east-1"));
  EXPECT_EQ(record["requestParameters"], (json{{"userName", "bob"}}));
  EXPECT_EQ(record["responseElements"]["accessKey"]["accessKeyId"], "AKIAEXAMPLE");
  EXPECT_EQ(record["responseElements"]["accessKey"]["status"], "Active");
  EXPECT_EQ(record["responseElements"]["accessKey"]["secretAccessKey"], events::kRedacted);
  EXPECT_EQ(record.dump().find("leak"), std::string::npos);

  // A failed write, and a read that still carried a structure: no response.
  ObservedRequest failed = r;
  failed.error_code = "LimitExceeded";
  EXPECT_TRUE(
      events::ToRecord(EventFromRequest(failed, "us-east-1"))["responseElements"].is_null());
  ObservedRequest read = r;
  read.operation = "GetAccessKeyLastUsed";
  EXPECT_TRUE(events::ToRecord(EventFromRequest(read, "us-east-1"))["responseElements"].is_null());
  // An empty result (DeleteUser writes none).
  ObservedRequest empty = r;
  empty.query_output = json(nullptr);
  EXPECT_TRUE(events::ToRecord(EventFromRequest(empty, "us-east-1"))["responseElements"].is_null());
}

TEST(EventFromRequestTest, AReusedEventIsFilledExactlyAsAFreshOne) {
  iam::Principal role;
  role.type = iam::PrincipalType::kAssumedRole;
  role.arn = "arn:aws:sts::123456789012:assumed-role/Fleet/mi-0123456789abcdef0";
  role.user_id = "AROAEXAMPLE:mi-0123456789abcdef0";
  role.name = "Fleet";
  role.role_arn = "arn:aws:iam::123456789012:role/Fleet";
  role.instance_id = "mi-0123456789abcdef0";
  ObservedRequest full;
  full.time = T0();
  full.request_id = "req-full";
  full.service = "secretsmanager";
  full.operation = "CreateSecret";
  full.region = "eu-west-1";
  full.source_ip = "10.0.0.1";
  full.user_agent = "aws-cli/2";
  full.access_key_id = "ASIAEXAMPLE";
  full.principal = role;
  full.key_inactive = true;
  full.json_input = json{{"Name", "app/db"}, {"SecretString", "s3cret"}};
  full.json_output = json{{"ARN", "arn:x"}, {"Name", "app/db"}};
  ObservedRequest query;  // a query request after it: identity, parameters and resources differ
  query.time = T0() + std::chrono::seconds(1);
  query.service = "iam";
  query.operation = "GetUser";
  query.query_params.emplace();
  ObservedRequest query_write = query;  // with a response
  query_write.operation = "CreateUser";
  query_write.query_output = json{{"User", {{"UserName", "u"}, {"UserId", "AIDA1"}}}};
  ObservedRequest refused;  // nothing but a presented key and an error
  refused.access_key_id = "AKIAFORGED";
  refused.error_code = "SignatureDoesNotMatch";
  refused.error_message = "no";
  events::Event reused;
  for (const ObservedRequest* r : {&full, &query_write, &query, &refused, &full}) {
    FillEventFromRequest(*r, "us-east-1", reused);
    const events::Event fresh = EventFromRequest(*r, "us-east-1");
    EXPECT_EQ(events::RecordJson(reused), events::RecordJson(fresh)) << r->operation;
    EXPECT_TRUE(reused.event_id.empty());  // the recorder gives it a new one
  }
  FillEventFromRequest(full, "us-east-1", reused);
  const json record = json::parse(events::RecordJson(reused));
  EXPECT_EQ(record["requestParameters"]["SecretString"], events::kRedacted);
  EXPECT_EQ(record["responseElements"]["ARN"], "arn:x");
  EXPECT_EQ(record["resources"][0]["ARN"], "app/db");
  EXPECT_TRUE(record["additionalEventData"]["keyInactive"].get<bool>());
}

}  // namespace
}  // namespace kw::api

namespace kw::api {
namespace {

TEST(EventObserverTest, EventsTheQueueCannotTakeAreCountedInTheMetrics) {
  store::MemoryKvStore store;
  auto log = events::EventLog::Open(store, std::nullopt);
  ASSERT_TRUE(log.has_value());
  FakeClock clock(TimePoint{});
  struct ZeroRandom final : Random {
    void Fill(std::uint8_t* out, std::size_t n) override { std::fill(out, out + n, 0); }
  } random;
  events::RecorderOptions opts;
  opts.max_queue = 0;  // everything is dropped
  events::EventRecorder recorder(**log, clock, random, opts);
  Metrics metrics;
  EXPECT_EQ(metrics.Render().find("keyward_events_dropped_total"), std::string::npos);
  EventObserver observer(recorder, &metrics, "us-east-1");
  ObservedRequest r;
  r.operation = "ListUsers";
  observer.OnRequest(r);
  observer.OnRequest(r);
  EXPECT_NE(metrics.Render().find("keyward_events_dropped_total{reason=\"queue_full\"} 2\n"),
            std::string::npos);
  EXPECT_EQ(recorder.dropped(), 2u);
}

}  // namespace
}  // namespace kw::api
