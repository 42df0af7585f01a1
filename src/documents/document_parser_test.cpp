#include "documents/document_parser.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace kw::documents {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Reason(std::string_view content, DocumentFormat format = DocumentFormat::kJson) {
  auto r = ParseCommandDocument(content, format);
  return r ? "OK" : r.error().reason;
}

std::string Message(std::string_view content, DocumentFormat format = DocumentFormat::kJson) {
  auto r = ParseCommandDocument(content, format);
  return r ? "OK" : r.error().message;
}

constexpr const char* kYaml = R"(---
schemaVersion: '2.2'
description: Say hello
parameters:
  name:
    type: String
    default: world
    allowedPattern: "^[a-z]+$"
  count:
    type: Integer
    default: 3
  verbose:
    type: Boolean
    default: false
  files:
    type: StringList
    default: []
mainSteps:
  - action: aws:runShellScript
    name: hello
    precondition:
      StringEquals: [platformType, Linux]
    inputs:
      timeoutSeconds: 60
      workingDirectory: /tmp
      runCommand:
        - echo hello {{ name }}
        - "seq {{count}}"
)";

TEST(DocumentParserTest, AcceptsTheSeedDocumentAsWritten) {
  std::string seed = ReadFile(std::string(KW_SOURCE_DIR) + "/tests/integration/seed/document.json");
  ASSERT_FALSE(seed.empty());
  auto doc = ParseCommandDocument(seed, DocumentFormat::kJson);
  ASSERT_TRUE(doc.has_value()) << doc.error().message;
  EXPECT_EQ(doc->schema_version, "2.2");
  ASSERT_EQ(doc->steps.size(), 1u);
  EXPECT_EQ(doc->steps[0].name, "OverwriteSecretValue");
  EXPECT_EQ(doc->steps[0].timeout_seconds, "60");
  EXPECT_EQ(doc->steps[0].run_command,
            std::vector<std::string>{"/home/hoshihaya/scripts/overwrite-secret-value.sh"});
  EXPECT_EQ(doc->platform_types, (std::vector<std::string>{"Linux", "MacOS"}));
}

TEST(DocumentParserTest, ParsesYamlWithTypedParametersAndPrecondition) {
  auto doc = ParseCommandDocument(kYaml, DocumentFormat::kYaml);
  ASSERT_TRUE(doc.has_value()) << doc.error().message;
  EXPECT_EQ(doc->description, "Say hello");
  ASSERT_EQ(doc->parameters.size(), 4u);
  EXPECT_EQ(doc->parameters[0].name, "name");  // document order is kept
  EXPECT_EQ(doc->parameters[1].type, ParameterType::kInteger);
  EXPECT_EQ(DefaultValueText(doc->parameters[1]), "3");
  EXPECT_EQ(DefaultValueText(doc->parameters[2]), "false");
  EXPECT_EQ(DefaultValueText(doc->parameters[0]), "world");
  EXPECT_EQ(doc->steps[0].precondition_platform, "Linux");
  EXPECT_EQ(doc->platform_types, std::vector<std::string>{"Linux"});
  EXPECT_EQ(doc->steps[0].working_directory, "/tmp");
}

TEST(DocumentParserTest, DetectsContentInTheWrongFormat) {
  EXPECT_EQ(Reason(kYaml, DocumentFormat::kJson), "InvalidDocumentContent");
  EXPECT_NE(Message(kYaml, DocumentFormat::kJson).find("not valid JSON"), std::string::npos);
  EXPECT_EQ(Reason("schemaVersion: '2.2'\nmainSteps: [", DocumentFormat::kYaml),
            "InvalidDocumentContent");
  // JSON is YAML, as in SSM.
  std::string seed = ReadFile(std::string(KW_SOURCE_DIR) + "/tests/integration/seed/document.json");
  EXPECT_EQ(Reason(seed, DocumentFormat::kYaml), "OK");
}

TEST(DocumentParserTest, RefusesOtherSchemaVersions) {
  EXPECT_EQ(Reason(R"({"schemaVersion":"0.3","mainSteps":[]})"), "InvalidDocumentSchemaVersion");
  EXPECT_EQ(Reason(R"({"mainSteps":[]})"), "InvalidDocumentSchemaVersion");
  EXPECT_NE(Message(R"({"schemaVersion":"2.0"})").find("2.0"), std::string::npos);
}

TEST(DocumentParserTest, AcceptsSchema12RuntimeConfig) {
  auto doc = ParseCommandDocument(
      R"({"schemaVersion":"1.2","parameters":{"commands":{"type":"StringList"}},
    "runtimeConfig":{"aws:runShellScript":{"properties":[{"id":"0.aws:runShellScript",
    "runCommand":"{{ commands }}","timeoutSeconds":"100"}]}}})",
      DocumentFormat::kJson);
  ASSERT_TRUE(doc.has_value()) << doc.error().message;
  ASSERT_EQ(doc->steps.size(), 1u);
  EXPECT_EQ(doc->steps[0].name, "0.aws:runShellScript");
}

TEST(DocumentParserTest, ReportsWhereTheProblemIs) {
  const char* bad_action = R"({"schemaVersion":"2.2","mainSteps":[
    {"action":"aws:runShellScript","name":"a","inputs":{"runCommand":["true"]}},
    {"action":"aws:runPowerShellScript","name":"b","inputs":{"runCommand":["x"]}}]})";
  EXPECT_EQ(Reason(bad_action), "InvalidDocumentContent");
  EXPECT_NE(Message(bad_action).find("mainSteps[1].action"), std::string::npos);

  const char* dup = R"({"schemaVersion":"2.2","mainSteps":[
    {"action":"aws:runShellScript","name":"a","inputs":{"runCommand":["true"]}},
    {"action":"aws:runShellScript","name":"a","inputs":{"runCommand":["true"]}}]})";
  EXPECT_NE(Message(dup).find("mainSteps[1].name"), std::string::npos);

  const char* bad_name = R"({"schemaVersion":"2.2","mainSteps":[
    {"action":"aws:runShellScript","name":"a b","inputs":{"runCommand":["true"]}}]})";
  EXPECT_EQ(Reason(bad_name), "InvalidDocumentContent");

  const char* no_steps = R"({"schemaVersion":"2.2","mainSteps":[]})";
  EXPECT_EQ(Reason(no_steps), "InvalidDocumentContent");

  const char* unknown_member = R"({"schemaVersion":"2.2","files":{},"mainSteps":[
    {"action":"aws:runShellScript","name":"a","inputs":{"runCommand":["true"]}}]})";
  EXPECT_NE(Message(unknown_member).find("files"), std::string::npos);

  const char* bad_timeout = R"({"schemaVersion":"2.2","mainSteps":[
    {"action":"aws:runShellScript","name":"a","inputs":{"runCommand":["true"],"timeoutSeconds":172801}}]})";
  EXPECT_NE(Message(bad_timeout).find("mainSteps[0].inputs.timeoutSeconds"), std::string::npos);

  const char* bad_precondition = R"({"schemaVersion":"2.2","mainSteps":[
    {"action":"aws:runShellScript","name":"a","precondition":{"StringEquals":["platformType","Windows"]},
     "inputs":{"runCommand":["true"]}}]})";
  EXPECT_NE(Message(bad_precondition).find("mainSteps[0].precondition"), std::string::npos);
}

TEST(DocumentParserTest, RefusesTwentyOneSteps) {
  std::string steps;
  for (int i = 0; i < 21; ++i) {
    if (i) steps += ",";
    steps += R"({"action":"aws:runShellScript","name":"s)" + std::to_string(i) +
             R"(","inputs":{"runCommand":["true"]}})";
  }
  EXPECT_EQ(Reason(R"({"schemaVersion":"2.2","mainSteps":[)" + steps + "]}"),
            "InvalidDocumentContent");
}

TEST(DocumentParserTest, ChecksParameterDeclarations) {
  auto doc = [](const std::string& params, const std::string& run = "true") {
    return R"({"schemaVersion":"2.2","parameters":)" + params +
           R"(,"mainSteps":[{"action":"aws:runShellScript","name":"a","inputs":{"runCommand":[")" +
           run + R"("]}}]})";
  };
  EXPECT_EQ(Reason(doc(R"({"p":{"type":"Number"}})")), "InvalidDocumentContent");
  EXPECT_EQ(Reason(doc(R"({"p":{"type":"Integer","default":"x"}})")), "InvalidDocumentContent");
  EXPECT_EQ(Reason(doc(R"({"p":{"type":"Boolean","default":1}})")), "InvalidDocumentContent");
  EXPECT_EQ(Reason(doc(R"({"p-q":{"type":"String"}})")), "InvalidDocumentContent");
  EXPECT_EQ(Reason(doc(R"({"p":{"type":"String"}})", "echo {{ q }}")), "InvalidDocumentContent");
  EXPECT_EQ(Reason(doc(R"({"p":{"type":"String"}})", "echo {{ssm:/x}}")), "InvalidDocumentContent");
  EXPECT_EQ(Reason(doc(R"({"p":{"type":"String"}})", "echo {{ p }}")), "OK");
  // A placeholder where no quoting is safe is refused when the document is created.
  EXPECT_EQ(Reason(doc(R"({"p":{"type":"String"}})", "echo `echo {{ p }}`")),
            "InvalidDocumentContent");
  EXPECT_EQ(Reason(doc(R"({"p":{"type":"Integer"}})", "echo `echo {{ p }}`")), "OK");
}

TEST(DocumentParserTest, GuardsAgainstCatastrophicPatterns) {
  EXPECT_TRUE(ValidatePattern("^[a-z]+$").has_value());
  EXPECT_TRUE(ValidatePattern("([1-9][0-9]{0,4})|(1[0-6][0-9]{4})|(172800)").has_value());
  EXPECT_TRUE(ValidatePattern("^v(\\.[0-9]+)?$").has_value());
  EXPECT_FALSE(ValidatePattern("(a+)+b").has_value());
  EXPECT_FALSE(ValidatePattern("(a|aa)*$").has_value());
  EXPECT_FALSE(ValidatePattern("((ab)*c)*").has_value());
  EXPECT_FALSE(ValidatePattern("(a)\\1").has_value());
  EXPECT_FALSE(ValidatePattern("a{5000}").has_value());
  EXPECT_TRUE(ValidatePattern("^s3://[^/]+/.*$").has_value());
  EXPECT_FALSE(ValidatePattern(".*.*.*x").has_value());
  EXPECT_FALSE(ValidatePattern("a{0,100}b+c*").has_value());
  EXPECT_FALSE(ValidatePattern("[a-").has_value());
  EXPECT_FALSE(ValidatePattern(std::string(kMaxPatternLength + 1, 'a')).has_value());
}

TEST(DocumentParserTest, BoundsSizeDepthAndAliases) {
  std::string big =
      R"({"schemaVersion":"2.2","description":")" + std::string(kMaxContentBytes, 'x') + R"("})";
  EXPECT_EQ(Reason(big), "MaxDocumentSizeExceeded");
  std::string deep = std::string(100, '[') + std::string(100, ']');
  EXPECT_EQ(Reason(deep), "InvalidDocumentContent");
  EXPECT_EQ(Reason(deep, DocumentFormat::kYaml), "InvalidDocumentContent");
  std::string dashes;
  for (int i = 0; i < 300; ++i) dashes += "- ";
  EXPECT_EQ(Reason(dashes + "x", DocumentFormat::kYaml), "InvalidDocumentContent");
  // Billion laughs: each alias doubles the tree.
  std::string laughs = "a: &a [x, x]\n";
  for (int i = 0; i < 30; ++i) {
    laughs += "b" + std::to_string(i) + ": &b" + std::to_string(i) + " [*" +
              (i == 0 ? std::string("a") : "b" + std::to_string(i - 1)) + ", *" +
              (i == 0 ? std::string("a") : "b" + std::to_string(i - 1)) + "]\n";
  }
  EXPECT_NE(Message(laughs, DocumentFormat::kYaml).find("too many"), std::string::npos);
  EXPECT_EQ(Reason("{\"a\":\"\xff\"}"), "InvalidDocumentContent");
  EXPECT_EQ(Reason("a: 1\na: 2\n", DocumentFormat::kYaml), "InvalidDocumentContent");
  EXPECT_EQ(Reason("[1]"), "InvalidDocumentContent");
}

TEST(DocumentParserTest, ValidFuzzSeedsParse) {
  const std::string dir = std::string(KW_SOURCE_DIR) + "/fuzz/corpus/document_parse/";
  for (const char* name :
       {"seed.json", "schema12.json", "run_shell_script.json", "sync_secret.json"}) {
    EXPECT_EQ(Reason(ReadFile(dir + name)), "OK") << name << ": " << Message(ReadFile(dir + name));
  }
  EXPECT_EQ(Reason(ReadFile(dir + "params.yaml"), DocumentFormat::kYaml), "OK")
      << Message(ReadFile(dir + "params.yaml"), DocumentFormat::kYaml);
  EXPECT_EQ(Reason(ReadFile(dir + "bad_pattern.json")), "InvalidDocumentContent");
}

TEST(DocumentParserTest, ConvertsBetweenJsonAndYaml) {
  auto json = ConvertContent(kYaml, DocumentFormat::kYaml, DocumentFormat::kJson);
  ASSERT_TRUE(json.has_value()) << json.error().message;
  auto from_json = ParseCommandDocument(*json, DocumentFormat::kJson);
  ASSERT_TRUE(from_json.has_value()) << from_json.error().message;
  auto yaml = ConvertContent(*json, DocumentFormat::kJson, DocumentFormat::kYaml);
  ASSERT_TRUE(yaml.has_value());
  // Strings that look like numbers keep their type across the round trip.
  auto tree = ParseContentTree(*yaml, DocumentFormat::kYaml);
  ASSERT_TRUE(tree.has_value()) << *yaml;
  EXPECT_EQ((*tree)["schemaVersion"], "2.2");
  EXPECT_EQ((*tree)["parameters"]["count"]["default"], 3);
  EXPECT_EQ((*tree)["mainSteps"][0]["inputs"]["runCommand"][1], "seq {{count}}");
  EXPECT_EQ(*ConvertContent("{\"a\":1}", DocumentFormat::kJson, DocumentFormat::kJson),
            "{\"a\":1}");
}

}  // namespace
}  // namespace kw::documents

namespace kw::documents {
namespace {

TEST(DocumentParserTest, AcceptsSyncSecretSteps) {
  const std::string content = R"({
    "schemaVersion": "2.2",
    "parameters": {"V": {"type": "String"}},
    "mainSteps": [{"action": "keyward:syncSecret", "name": "sync",
                   "inputs": {"SecretId": "app", "VersionId": "{{ V }}", "Format": "json",
                              "Path": "/etc/app.json", "ReloadTimeoutSeconds": 5,
                              "timeoutSeconds": 60}}]})";
  auto doc = ParseCommandDocument(content, DocumentFormat::kJson);
  ASSERT_TRUE(doc.has_value()) << doc.error().message;
  EXPECT_EQ(doc->platform_types, std::vector<std::string>{"Linux"});
  ASSERT_EQ(doc->steps.size(), 1u);
  EXPECT_TRUE(doc->steps[0].run_command.empty());
  EXPECT_EQ(doc->steps[0].sync_inputs.size(), 5u);
  EXPECT_EQ(doc->steps[0].sync_inputs[4],
            (std::pair<std::string, std::string>{"ReloadTimeoutSeconds", "5"}));
  EXPECT_EQ(doc->steps[0].timeout_seconds, "60");

  auto with_inputs = [](const std::string& inputs) {
    return ParseCommandDocument(
        R"({"schemaVersion": "2.2", "mainSteps": [{"action": "keyward:syncSecret",
            "name": "s", "inputs": )" +
            inputs + "}]}",
        DocumentFormat::kJson);
  };
  auto unknown = with_inputs(R"({"SecretId": "a", "VersionId": "b", "Format": "json",
                                 "runCommand": ["id"]})");
  ASSERT_FALSE(unknown.has_value());
  EXPECT_NE(unknown.error().message.find("mainSteps[0].inputs.runCommand"), std::string::npos);
  auto missing = with_inputs(R"({"SecretId": "a", "Format": "json"})");
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message.find("VersionId: is required"), std::string::npos);
  EXPECT_FALSE(with_inputs(R"({"SecretId": ["a"], "VersionId": "b", "Format": "json"})"));
  auto other = ParseCommandDocument(
      R"({"schemaVersion": "2.2", "mainSteps": [{"action": "aws:runPowerShellScript",
          "name": "s", "inputs": {"runCommand": ["x"]}}]})",
      DocumentFormat::kJson);
  EXPECT_EQ(other.error().reason, "InvalidDocumentContent");
}

}  // namespace
}  // namespace kw::documents
