#include "events/event.hpp"

#include <gtest/gtest.h>

#include "common/time_format.hpp"
#include "events/redaction.hpp"

namespace kw::events {
namespace {

Event Sample() {
  Event e;
  e.time = *ParseIso8601("2026-04-05T06:07:08Z");
  e.event_source = "sts.amazonaws.com";
  e.event_name = "GetCallerIdentity";
  e.region = "eu-central-1";
  e.source_ip = "10.1.2.3";
  e.user_agent = "agent \"quoted\" \\ tab\t nl\n ctl\x01 utf8 \xc3\xa9";
  e.identity.type = "AssumedRole";
  e.identity.principal_id = "AROAX:mi-0123456789abcdef0";
  e.identity.arn = "arn:aws:sts::123456789012:assumed-role/Fleet/mi-0123456789abcdef0";
  e.identity.account_id = "123456789012";
  e.identity.access_key_id = "ASIAX";
  e.identity.session_issuer_arn = "arn:aws:iam::123456789012:role/Fleet";
  e.identity.session_issuer_name = "Fleet";
  e.identity.session_issuer_principal_id = "AROAX";
  e.identity.instance_id = "mi-0123456789abcdef0";
  e.request_parameters = {{"SecretId", "a"}, {"Tags", {{{"Key", "k"}, {"Value", "v"}}}}};
  e.response_elements = {{"ARN", "arn:x"}};
  e.additional_event_data = {{"status", "Success"}};
  e.error_code = "AccessDenied";
  e.error_message = "no";
  e.request_id = "req";
  e.event_id = "ev";
  e.resources = {{"AWS::SecretsManager::Secret", "a"}};
  e.recipient_account_id = "123456789012";
  return e;
}

TEST(EventTest, RecordJsonIsExactlyTheCanonicalDumpOfTheRecord) {
  Event e = Sample();
  EXPECT_EQ(RecordJson(e), ToRecord(e).dump());
  // The minimal shapes too: no error, no resources, no identity beyond the type.
  Event bare;
  bare.time = e.time;
  EXPECT_EQ(RecordJson(bare), ToRecord(bare).dump());
  Event user = Sample();
  user.identity = UserIdentity{};
  user.identity.type = "IAMUser";
  user.identity.user_name = "alice";
  user.error_code.clear();
  EXPECT_EQ(RecordJson(user), ToRecord(user).dump());
  // Every JSON type and escapes inside the free-form members.
  Event typed = Sample();
  typed.request_parameters = {{"n", -3},
                              {"u", 18446744073709551615u},
                              {"f", 1.5},
                              {"b", false},
                              {"z", nullptr},
                              {"e", nlohmann::json::array()},
                              {"o", nlohmann::json::object()},
                              {"s", "q\"\\\n\x01\xc3\xa9"}};
  typed.additional_event_data = {{"k\"ey", {1, "two", true}}};
  EXPECT_EQ(RecordJson(typed), ToRecord(typed).dump());
}

TEST(EventTest, InvalidUtf8IsReplacedNotThrown) {
  Event e = Sample();
  e.user_agent = "bad \xff\xfe bytes";
  const std::string out = RecordJson(e);
  EXPECT_EQ(out, ToRecord(e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  EXPECT_TRUE(nlohmann::json::accept(out));
}

TEST(EventTest, SummaryReadsTheLookupFields) {
  const auto s = Summarize(7, ToRecord(Sample()));
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->sequence, 7);
  EXPECT_EQ(s->username, "mi-0123456789abcdef0");  // an assumed role's session name
  EXPECT_EQ(s->access_key_id, "ASIAX");
  EXPECT_EQ(s->instance_id, "mi-0123456789abcdef0");
  ASSERT_EQ(s->resources.size(), 1u);
  EXPECT_EQ(s->resources[0].name, "a");
}

}  // namespace
}  // namespace kw::events

namespace kw::events {
namespace {

TEST(EventTest, ParametersAsTextGiveTheSameRecordAsParametersAsJson) {
  Event as_json = Sample();
  Event as_text = Sample();
  as_text.request_parameters = nullptr;
  as_text.response_elements = nullptr;
  as_text.request_parameters_text = as_json.request_parameters.dump();
  as_text.response_elements_text = as_json.response_elements.dump();
  EXPECT_EQ(RecordJson(as_text), RecordJson(as_json));
  EXPECT_EQ(ToRecord(as_text), ToRecord(as_json));
  std::string appended = "x";
  AppendRecordJson(appended, as_text);
  EXPECT_EQ(appended, "x" + RecordJson(as_json));
}

TEST(EventTest, ResourcesFromTheRawInputAreThoseOfTheRedactedInput) {
  const std::vector<nlohmann::json> inputs = {
      nullptr,
      "not an object",
      {{"SecretId", "app/db"}, {"SecretString", "s"}},
      {{"secretId", "lower-case is not on the safe list"}, {"Name", "n"}},
      {{"SecretId", {{"not", "a string"}}}, {"UserName", "u"}, {"AccessKeyId", "AKIA1"}},
      {{"InstanceIds", {"mi-1", 2, "mi-3"}}, {"DocumentName", "AWS-RunShellScript"}},
      {{"roleArn", "arn:aws:iam::1:role/r"}, {"RoleArn", "arn:aws:iam::1:role/R"}},
  };
  for (const char* source :
       {"secretsmanager.amazonaws.com", "ssm.amazonaws.com", "iam.amazonaws.com"}) {
    for (const auto& in : inputs) {
      // A reused vector with more, and different, elements than the answer.
      std::vector<Resource> out = {{"t1", "n1"}, {"t2", "n2"}, {"t3", "n3"}, {"t4", "n4"}};
      ResourcesInto(source, in, false, out);
      const std::vector<Resource> want = ResourcesOf(source, RedactJsonInput(in));
      ASSERT_EQ(out.size(), want.size()) << source << " " << in.dump();
      for (std::size_t i = 0; i < want.size(); ++i) {
        EXPECT_EQ(out[i].type, want[i].type);
        EXPECT_EQ(out[i].name, want[i].name);
      }
    }
  }
  std::vector<Resource> hidden;
  ResourcesInto("secretsmanager.amazonaws.com", {{"secretId", "x"}}, false, hidden);
  ASSERT_EQ(hidden.size(), 1u);
  EXPECT_EQ(hidden[0].name, kRedacted);
}

}  // namespace
}  // namespace kw::events
