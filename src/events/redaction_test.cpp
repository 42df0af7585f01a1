#include "events/redaction.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace kw::events {
namespace {

using nlohmann::json;

TEST(RedactionTest, SecretMembersOfARequestAreHidden) {
  const json in = {{"Name", "app/db"},
                   {"SecretString", "hunter2"},
                   {"SecretBinary", "aHVudGVyMg=="},
                   {"Tags", {{{"Key", "team"}, {"Value", "blue"}}}},
                   {"ClientRequestToken", "tok"}};
  const json out = RedactJsonInput(in);
  EXPECT_EQ(out["Name"], "app/db");
  EXPECT_EQ(out["SecretString"], kRedacted);
  EXPECT_EQ(out["SecretBinary"], kRedacted);
  EXPECT_EQ(out["Tags"][0]["Value"], "blue");
  EXPECT_EQ(out["ClientRequestToken"], "tok");
  EXPECT_EQ(out.dump().find("hunter2"), std::string::npos);
}

TEST(RedactionTest, UnknownMembersAreHiddenEvenNested) {
  const json in = {{"SecretId", "x"},
                   {"BrandNewMember", "maybe-secret"},
                   {"RotationRules", {{"AutomaticallyAfterDays", 30}, {"Surprise", "s3cret"}}}};
  const json out = RedactJsonInput(in);
  EXPECT_EQ(out["BrandNewMember"], kRedacted);
  EXPECT_EQ(out["RotationRules"]["AutomaticallyAfterDays"], 30);
  EXPECT_EQ(out["RotationRules"]["Surprise"], kRedacted);
}

TEST(RedactionTest, AValueMemberIsSafeOnlyInsideTags) {
  const json out = RedactJsonInput({{"Name", "/db/password"}, {"Value", "p4ss"}});
  EXPECT_EQ(out["Value"], kRedacted);
}

TEST(RedactionTest, ResponsesOfReadsAreNotLoggedAndWritesAreRedacted) {
  const json value = {{"ARN", "arn"}, {"SecretString", "hunter2"}};
  EXPECT_TRUE(RedactJsonOutput(true, value).is_null());
  const json activation = {{"ActivationId", "a-1"}, {"ActivationCode", "code123"}};
  const json out = RedactJsonOutput(false, activation);
  EXPECT_EQ(out["ActivationId"], "a-1");
  EXPECT_EQ(out["ActivationCode"], kRedacted);
}

TEST(RedactionTest, QueryParametersAreLowerCamelCasedAndRedacted) {
  const std::map<std::string, std::string, std::less<>> params = {{"Action", "CreateLoginProfile"},
                                                                  {"Version", "2010-05-08"},
                                                                  {"UserName", "alice"},
                                                                  {"Password", "Sup3r!"},
                                                                  {"Tags.member.1.Key", "team"},
                                                                  {"Tags.member.1.Value", "blue"}};
  const json out = RedactQueryInput(params);
  EXPECT_FALSE(out.contains("action"));
  EXPECT_EQ(out["userName"], "alice");
  EXPECT_EQ(out["password"], kRedacted);
  EXPECT_EQ(out["tags.member.1.key"], "team");
  EXPECT_EQ(out["tags.member.1.value"], "blue");
}

}  // namespace
}  // namespace kw::events

namespace kw::events {
namespace {

// Inputs that exercise every branch of the redaction: safe and unsafe members, nested
// containers whose safety depends on the parent, non-object inputs, escapes and bytes
// that are not UTF-8.
std::vector<nlohmann::json> RedactionInputs() {
  using nlohmann::json;
  return {
      nullptr,
      json::array({1, 2}),
      "just a string",
      json::object(),
      {{"SecretId", "app/db"}, {"VersionStage", "AWSCURRENT"}},
      {{"Name", "n"},
       {"SecretString", "hunter2"},
       {"Tags", {{{"Key", "k\"q"}, {"Value", "v\n"}, {"Extra", "x"}}}},
       {"Filters", {{{"Key", "name"}, {"Values", {"a", "b"}}}}},
       {"MaxResults", 5},
       {"ForceDeleteWithoutRecovery", true},
       {"RecoveryWindowInDays", -7},
       {"Nested", {{"Deep", {{"Value", "hidden"}}}}},
       {"Value", "top-level value is secret"},
       {"Description", std::string("bad utf8 \xff\xfe end")}},
      {{"InstanceIds", {"mi-1", {{"Value", "x"}}, 3}}, {"Parameters", {{"commands", {"ls"}}}}},
  };
}

TEST(RedactionTest, AppendRedactedJsonInputWritesExactlyTheDumpOfTheRedactedTree) {
  for (const auto& in : RedactionInputs()) {
    std::string out = "prefix";
    AppendRedactedJsonInput(out, in);
    EXPECT_EQ(out, "prefix" + RedactJsonInput(in).dump(-1, ' ', false,
                                                       nlohmann::json::error_handler_t::replace))
        << in.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
}

// AppendRedactedQueryOutput's text, parsed; it must also be canonical (sorted keys, no
// spaces), as every stored record is.
json QueryOutput(const json& output) {
  std::string text;
  AppendRedactedQueryOutput(text, output);
  const json parsed = json::parse(text);
  EXPECT_EQ(text, parsed.dump());
  return parsed;
}

TEST(RedactionTest, CreateAccessKeyKeepsTheKeyIdAndStatusNeverTheSecret) {
  const json out = QueryOutput({{"AccessKey",
                                 {{"UserName", "bob"},
                                  {"AccessKeyId", "AKIAEXAMPLE"},
                                  {"Status", "Active"},
                                  {"SecretAccessKey", "wJalr-secret"},
                                  {"CreateDate", "Oct 20, 2021 3:52:34 PM"}}}});
  EXPECT_EQ(out, json::parse(R"({"accessKey": {"userName": "bob", "accessKeyId": "AKIAEXAMPLE",
      "status": "Active", "secretAccessKey": "HIDDEN_DUE_TO_SECURITY_REASONS",
      "createDate": "Oct 20, 2021 3:52:34 PM"}})"));
}

TEST(RedactionTest, AssumeRoleKeepsTheKeyIdExpirationAndRoleUserNeverSecretOrToken) {
  const json out = QueryOutput(
      {{"Credentials",
        {{"AccessKeyId", "ASIAEXAMPLE"},
         {"SecretAccessKey", "temp-secret"},
         {"SessionToken", "temp-token"},
         {"Expiration", "Jan 6, 2022 9:46:47 PM"}}},
       {"AssumedRoleUser", {{"AssumedRoleId", "AROAEXAMPLE:s1"}, {"Arn", "arn:aws:sts::1:x"}}},
       {"SourceIdentity", "alice"}});
  EXPECT_EQ(out["credentials"]["accessKeyId"], "ASIAEXAMPLE");
  EXPECT_EQ(out["credentials"]["expiration"], "Jan 6, 2022 9:46:47 PM");
  EXPECT_EQ(out["credentials"]["secretAccessKey"], kRedacted);
  EXPECT_EQ(out["credentials"]["sessionToken"], kRedacted);
  EXPECT_EQ(out["assumedRoleUser"],
            (json{{"assumedRoleId", "AROAEXAMPLE:s1"}, {"arn", "arn:aws:sts::1:x"}}));
  EXPECT_EQ(out["sourceIdentity"], "alice");
  EXPECT_EQ(out.dump().find("temp-"), std::string::npos);
}

TEST(RedactionTest, QueryStructuresAreKeptOnlyAsContainers) {
  // A scalar named like a result structure is hidden ("Policy" is AssumeRole's session
  // policy document), and so is any member nobody listed, however deep.
  const json out = QueryOutput({{"Policy", "{\"Statement\":[]}"},
                                {"Credentials", "flat-secret"},
                                {"User",
                                 {{"UserName", "bob"},
                                  {"Password", "pw"},
                                  {"Tags", json::array({{{"Key", "k"}, {"Value", "v"}}})},
                                  {"Value", "top-value"}}},
                                {"Content", "Y3N2"},
                                {"State", "COMPLETE"}});
  EXPECT_EQ(out, json::parse(R"({"policy": "HIDDEN_DUE_TO_SECURITY_REASONS",
      "credentials": "HIDDEN_DUE_TO_SECURITY_REASONS",
      "user": {"userName": "bob", "password": "HIDDEN_DUE_TO_SECURITY_REASONS",
               "tags": [{"key": "k", "value": "v"}], "value": "HIDDEN_DUE_TO_SECURITY_REASONS"},
      "content": "HIDDEN_DUE_TO_SECURITY_REASONS", "state": "COMPLETE"})"));
}

TEST(RedactionTest, QueryOutputOfNothingIsNull) {
  std::string text;
  AppendRedactedQueryOutput(text, nullptr);
  EXPECT_EQ(text, "null");
  text.clear();
  AppendRedactedQueryOutput(text, "scalar-secret");
  EXPECT_EQ(text, "\"HIDDEN_DUE_TO_SECURITY_REASONS\"");
}

}  // namespace
}  // namespace kw::events
