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

}  // namespace
}  // namespace kw::events
