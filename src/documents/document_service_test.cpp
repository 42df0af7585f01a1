#include "documents/document_service.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "common/time_format.hpp"
#include "crypto/digest.hpp"
#include "store/memory/memory_kv_store.hpp"

namespace kw::documents {
namespace {

std::string Seed() {
  std::ifstream in(std::string(KW_SOURCE_DIR) + "/tests/integration/seed/document.json");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Doc(const std::string& command) {
  return R"({"schemaVersion":"2.2","description":"d","parameters":{"who":{"type":"String","default":"me"}},
    "mainSteps":[{"action":"aws:runShellScript","name":"s","inputs":{"runCommand":[")" +
         command + R"( {{ who }}"]}}]})";
}

class DocumentServiceTest : public ::testing::Test {
 protected:
  DocumentServiceTest()
      : clock_(*ParseIso8601("2026-03-01T10:00:00Z")),
        account_{"123456789012"},
        docs_(store_, clock_, account_) {}

  DocumentDescription Create(const std::string& name, const std::string& content,
                             std::optional<std::string> format = std::nullopt) {
    CreateDocumentRequest req;
    req.name = name;
    req.content = content;
    req.document_format = format;
    auto r = docs_.CreateDocument(req);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().reason + ": " + r.error().message);
    return r ? *r : DocumentDescription{};
  }
  std::string CreateReason(CreateDocumentRequest req) {
    auto r = docs_.CreateDocument(req);
    return r ? "OK" : r.error().reason;
  }
  Result<DocumentDescription> Update(const std::string& name, const std::string& content,
                                     std::optional<std::string> version = "$LATEST") {
    UpdateDocumentRequest req;
    req.name = name;
    req.content = content;
    req.document_version = version;
    return docs_.UpdateDocument(req);
  }

  FakeClock clock_;
  store::MemoryKvStore store_;
  iam::Account account_;
  DocumentService docs_;
};

TEST_F(DocumentServiceTest, CreatesTheSeedDocument) {
  const std::string seed = Seed();
  DocumentDescription d = Create("OverwriteSecretValue", seed);
  EXPECT_EQ(d.name, "OverwriteSecretValue");
  EXPECT_EQ(d.owner, "123456789012");
  EXPECT_EQ(d.hash, crypto::Sha256Hex(seed));
  EXPECT_EQ(d.hash_type, "Sha256");
  EXPECT_EQ(d.document_version, "1");
  EXPECT_EQ(d.latest_version, "1");
  EXPECT_EQ(d.default_version, "1");
  EXPECT_EQ(d.schema_version, "2.2");
  EXPECT_EQ(d.status, "Active");
  EXPECT_EQ(d.created, clock_.Now());
  EXPECT_EQ(d.platform_types, (std::vector<std::string>{"Linux", "MacOS"}));
  EXPECT_EQ(d.description, "Simple test document using the aws:runShellScript plugin.");

  auto got = docs_.GetDocument("OverwriteSecretValue", {}, std::nullopt);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->content, seed);
  EXPECT_EQ(got->format, DocumentFormat::kJson);

  auto resolved = docs_.Resolve("OverwriteSecretValue", std::nullopt, {}, "Linux");
  ASSERT_TRUE(resolved.has_value()) << resolved.error().message;
  EXPECT_EQ(resolved->document_version, "1");
  EXPECT_EQ(resolved->document_hash, crypto::Sha256Hex(seed));
  ASSERT_EQ(resolved->steps.size(), 1u);
  EXPECT_EQ(resolved->steps[0].timeout_seconds, 60);
  EXPECT_EQ(resolved->steps[0].run_command,
            std::vector<std::string>{"/home/hoshihaya/scripts/overwrite-secret-value.sh"});
}

TEST_F(DocumentServiceTest, ValidatesCreateRequests) {
  CreateDocumentRequest req;
  req.content = Seed();
  req.name = "ab";
  EXPECT_EQ(CreateReason(req), "ValidationError");
  for (const char* reserved : {"AWS-Mine", "aws_thing", "Amazon-x", "amzn.y"}) {
    req.name = reserved;
    EXPECT_EQ(CreateReason(req), "ValidationError") << reserved;
  }
  req.name = "Mine";
  req.document_type = "Automation";
  EXPECT_EQ(CreateReason(req), "InvalidDocumentType");
  req.document_type = "Nonsense";
  EXPECT_EQ(CreateReason(req), "ValidationError");
  req.document_type = "Command";
  req.document_format = "TEXT";
  EXPECT_EQ(CreateReason(req), "ValidationError");
  req.document_format = "YAML";
  req.content = "schemaVersion: '3.0'\n";
  EXPECT_EQ(CreateReason(req), "InvalidDocumentSchemaVersion");
  req.content = "{";
  req.document_format = "JSON";
  EXPECT_EQ(CreateReason(req), "InvalidDocumentContent");
  req.content = Seed();
  req.target_type = "no-slash";
  EXPECT_EQ(CreateReason(req), "ValidationError");
  req.target_type = "/AWS::EC2::Instance";
  EXPECT_EQ(CreateReason(req), "OK");
  EXPECT_EQ(CreateReason(req), "DocumentAlreadyExists");
}

TEST_F(DocumentServiceTest, BuiltInSyncSecret) {
  auto d = docs_.DescribeDocument("Keyward-SyncSecret", {});
  ASSERT_TRUE(d.has_value()) << d.error().message;
  EXPECT_EQ(d->owner, "Keyward");
  EXPECT_EQ(d->platform_types, std::vector<std::string>{"Linux"});

  auto r = docs_.Resolve("Keyward-SyncSecret", std::nullopt,
                         {{"SecretId", {"app-key"}},
                          {"VersionId", {"v-2"}},
                          {"Path", {"/etc/app/credentials"}},
                          {"Reload", {"command:kill -HUP $(cat /run/app.pid)"}}},
                         "Linux");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_EQ(r->steps.size(), 1u);
  EXPECT_EQ(r->steps[0].action, "keyward:syncSecret");
  // Values verbatim (no shell quoting), empty ones left out, the guard line first.
  EXPECT_EQ(r->steps[0].run_command,
            (std::vector<std::string>{agentproto::kSyncStepGuard, "SecretId=app-key",
                                      "VersionId=v-2", "Format=credentials",
                                      "Path=/etc/app/credentials", "Profile=default", "Mode=0600",
                                      "Reload=command:kill -HUP $(cat /run/app.pid)",
                                      "ReloadTimeoutSeconds=30", "HealthTimeoutSeconds=30"}));
  EXPECT_EQ(r->steps[0].timeout_seconds, 7800);
  EXPECT_TRUE(docs_
                  .Resolve("Keyward-SyncSecret", std::nullopt,
                           {{"SecretId", {"s"}}, {"VersionId", {"v"}}}, "MacOS")
                  ->steps.empty());
  auto bad =
      docs_.Resolve("Keyward-SyncSecret", std::nullopt,
                    {{"SecretId", {"s"}}, {"VersionId", {"v"}}, {"Format", {"yaml"}}}, "Linux");
  EXPECT_EQ(bad.error().reason, "InvalidParameters");
  auto newline = docs_.Resolve(
      "Keyward-SyncSecret", std::nullopt,
      {{"SecretId", {"s"}}, {"VersionId", {"v"}}, {"HealthCheck", {"true\nrm -rf /"}}}, "Linux");
  EXPECT_EQ(newline.error().reason, "InvalidParameters");

  EXPECT_EQ(docs_.DeleteDocument("Keyward-SyncSecret", {}).error().reason,
            "InvalidDocumentOperation");
  CreateDocumentRequest req;
  req.name = "Keyward-SyncSecret";
  req.content = Seed();
  EXPECT_EQ(CreateReason(req), "DocumentAlreadyExists");
  EXPECT_EQ(docs_.DocumentArn("Keyward-SyncSecret"),
            "arn:aws:ssm:us-east-1::document/Keyward-SyncSecret");
}

TEST_F(DocumentServiceTest, BuiltInRunShellScript) {
  auto d = docs_.DescribeDocument("AWS-RunShellScript", {});
  ASSERT_TRUE(d.has_value()) << d.error().message;
  EXPECT_EQ(d->owner, "Amazon");
  EXPECT_EQ(d->schema_version, "2.2");
  ASSERT_EQ(d->parameters.size(), 3u);
  EXPECT_EQ(d->parameters[0].name, "commands");
  EXPECT_EQ(d->parameters[0].type, "StringList");
  EXPECT_FALSE(d->parameters[0].default_value.has_value());
  EXPECT_EQ(d->parameters[1].default_value, "");
  EXPECT_EQ(d->parameters[2].default_value, "3600");

  auto r =
      docs_.Resolve("AWS-RunShellScript", "$DEFAULT",
                    {{"commands", {"echo hi", "date"}}, {"executionTimeout", {"120"}}}, "Linux");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_EQ(r->steps.size(), 1u);
  EXPECT_EQ(r->steps[0].run_command, (std::vector<std::string>{"echo hi", "date"}));
  EXPECT_EQ(r->steps[0].timeout_seconds, 120);
  EXPECT_EQ(r->steps[0].working_directory, "");

  auto missing = docs_.Resolve("AWS-RunShellScript", std::nullopt, {}, "Linux");
  EXPECT_EQ(missing.error().reason, "InvalidParameters");
  auto too_long = docs_.Resolve("AWS-RunShellScript", std::nullopt,
                                {{"commands", {"x"}}, {"executionTimeout", {"172801"}}}, "Linux");
  EXPECT_EQ(too_long.error().reason, "InvalidParameters");

  EXPECT_EQ(docs_.DeleteDocument("AWS-RunShellScript", {}).error().reason,
            "InvalidDocumentOperation");
  EXPECT_EQ(Update("AWS-RunShellScript", Seed()).error().reason, "InvalidDocumentOperation");
  EXPECT_EQ(docs_.DocumentArn("AWS-RunShellScript"),
            "arn:aws:ssm:us-east-1::document/AWS-RunShellScript");
  EXPECT_EQ(docs_.DocumentArn("Mine"), "arn:aws:ssm:us-east-1:123456789012:document/Mine");
  EXPECT_TRUE(
      docs_.DescribeDocument("arn:aws:ssm:us-east-1::document/AWS-RunShellScript", {}).has_value());
}

TEST_F(DocumentServiceTest, VersionsDefaultAndDelete) {
  Create("Deploy", Doc("echo one"));
  clock_.Advance(std::chrono::minutes(1));
  EXPECT_EQ(Update("Deploy", Doc("echo one")).error().reason, "DuplicateDocumentContent");
  auto v2 = Update("Deploy", Doc("echo two"));
  ASSERT_TRUE(v2.has_value());
  EXPECT_EQ(v2->document_version, "2");
  EXPECT_EQ(v2->latest_version, "2");
  EXPECT_EQ(v2->default_version, "1");  // an update does not move the default
  EXPECT_EQ(Update("Deploy", Doc("echo three"), "1").error().reason, "InvalidDocumentVersion");
  ASSERT_TRUE(Update("Deploy", Doc("echo three"), "2").has_value());

  auto def = docs_.Resolve("Deploy", std::nullopt, {}, "Linux");
  ASSERT_TRUE(def.has_value());
  EXPECT_EQ(def->steps[0].run_command[0], "echo one 'me'");
  auto latest = docs_.Resolve("Deploy", "$LATEST", {{"who", {"you"}}}, "Linux");
  EXPECT_EQ(latest->steps[0].run_command[0], "echo three 'you'");
  EXPECT_EQ(docs_.Resolve("Deploy", "9", {}, "Linux").error().reason, "InvalidDocumentVersion");
  EXPECT_EQ(docs_.Resolve("Nope", std::nullopt, {}, "Linux").error().reason, "InvalidDocument");

  auto set = docs_.UpdateDocumentDefaultVersion("Deploy", "2");
  ASSERT_TRUE(set.has_value());
  EXPECT_EQ(set->default_version, "2");
  EXPECT_EQ(docs_.UpdateDocumentDefaultVersion("Deploy", "7").error().reason,
            "InvalidDocumentVersion");

  EXPECT_EQ(docs_.DeleteDocument("Deploy", {"2", std::nullopt}).error().reason,
            "InvalidDocumentOperation");
  ASSERT_TRUE(docs_.DeleteDocument("Deploy", {"3", std::nullopt}).has_value());
  auto versions = docs_.ListDocumentVersions("Deploy", std::nullopt, std::nullopt);
  ASSERT_TRUE(versions.has_value());
  ASSERT_EQ(versions->versions.size(), 2u);
  EXPECT_TRUE(versions->versions[1].is_default);
  EXPECT_EQ(docs_.DescribeDocument("Deploy", {})->latest_version, "2");
  // Version numbers are not reused after a delete.
  EXPECT_EQ(Update("Deploy", Doc("echo four"))->document_version, "4");

  ASSERT_TRUE(docs_.DeleteDocument("Deploy", {}).has_value());
  EXPECT_EQ(docs_.DescribeDocument("Deploy", {}).error().reason, "InvalidDocument");
  EXPECT_EQ(docs_.DeleteDocument("Deploy", {}).error().reason, "InvalidDocument");
  EXPECT_FALSE(store_.Get("ssm_document_content", "Deploy/1")->has_value());
}

TEST_F(DocumentServiceTest, VersionNames) {
  CreateDocumentRequest req;
  req.name = "Named";
  req.content = Doc("a");
  req.version_name = "first";
  ASSERT_TRUE(docs_.CreateDocument(req).has_value());
  UpdateDocumentRequest up;
  up.name = "Named";
  up.content = Doc("b");
  up.version_name = "first";
  EXPECT_EQ(docs_.UpdateDocument(up).error().reason, "DuplicateDocumentVersionName");
  up.version_name = "second";
  ASSERT_TRUE(docs_.UpdateDocument(up).has_value());
  auto got = docs_.GetDocument("Named", {std::nullopt, "second"}, std::nullopt);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->document_version, "2");
  EXPECT_EQ(docs_.GetDocument("Named", {"1", "second"}, std::nullopt).error().reason,
            "InvalidDocumentVersion");
}

TEST_F(DocumentServiceTest, GetDocumentConvertsFormats) {
  Create("Yamly",
         "schemaVersion: '2.2'\nmainSteps:\n  - action: aws:runShellScript\n    name: s\n"
         "    inputs:\n      runCommand: [\"echo 1\"]\n",
         "YAML");
  auto as_json = docs_.GetDocument("Yamly", {}, "JSON");
  ASSERT_TRUE(as_json.has_value());
  EXPECT_EQ(as_json->format, DocumentFormat::kJson);
  auto j = nlohmann::json::parse(as_json->content);
  EXPECT_EQ(j["schemaVersion"], "2.2");
  EXPECT_EQ(j["mainSteps"][0]["inputs"]["runCommand"][0], "echo 1");
  auto as_yaml = docs_.GetDocument("Yamly", {}, std::nullopt);
  EXPECT_EQ(as_yaml->format, DocumentFormat::kYaml);
  EXPECT_EQ(docs_.GetDocument("Yamly", {}, "TEXT").error().reason, "ValidationError");
  EXPECT_EQ(docs_.GetDocument("Yamly", {"x", std::nullopt}, std::nullopt).error().reason,
            "ValidationError");
}

TEST_F(DocumentServiceTest, ListDocumentsFiltersAndPages) {
  CreateDocumentRequest req;
  req.content = Seed();
  for (const char* name : {"Alpha", "Beta", "Bravo"}) {
    req.name = name;
    req.tags = {{"team", std::string(name) == "Beta" ? "red" : "blue"}};
    ASSERT_TRUE(docs_.CreateDocument(req).has_value());
  }
  auto names = [&](ListDocumentsRequest r) {
    std::vector<std::string> out;
    auto page = docs_.ListDocuments(r);
    EXPECT_TRUE(page.has_value());
    if (page) {
      for (const auto& d : page->documents) out.push_back(d.name);
    }
    return out;
  };
  EXPECT_EQ(names({}), (std::vector<std::string>{"AWS-RunShellScript", "Alpha", "Beta", "Bravo",
                                                 "Keyward-SyncSecret"}));
  EXPECT_EQ(names({{{"Owner", {"Self"}}}}), (std::vector<std::string>{"Alpha", "Beta", "Bravo"}));
  EXPECT_EQ(names({{{"Owner", {"Amazon"}}}}), std::vector<std::string>{"AWS-RunShellScript"});
  EXPECT_EQ(names({{{"Name", {"B"}}}}), (std::vector<std::string>{"Beta", "Bravo"}));
  EXPECT_EQ(names({{{"tag:team", {"blue"}}, {"Owner", {"All"}}}}),
            (std::vector<std::string>{"Alpha", "Bravo"}));
  EXPECT_EQ(names({{{"PlatformTypes", {"Windows"}}}}), std::vector<std::string>{});
  EXPECT_EQ(names({{{"DocumentType", {"Command"}}, {"SearchKeyword", {"ra"}}}}),
            std::vector<std::string>{"Bravo"});

  ListDocumentsRequest paged;
  paged.max_results = 3;
  auto first = docs_.ListDocuments(paged);
  ASSERT_TRUE(first.has_value());
  ASSERT_EQ(first->documents.size(), 3u);
  ASSERT_FALSE(first->next_token.empty());
  paged.next_token = first->next_token;
  auto second = docs_.ListDocuments(paged);
  ASSERT_EQ(second->documents.size(), 2u);
  EXPECT_EQ(second->documents[0].name, "Bravo");
  EXPECT_EQ(second->documents[1].name, "Keyward-SyncSecret");
  EXPECT_TRUE(second->next_token.empty());

  ListDocumentsRequest bad;
  bad.filters = {{"Colour", {"x"}}};
  EXPECT_EQ(docs_.ListDocuments(bad).error().reason, "InvalidFilterKey");
  bad.filters.clear();
  bad.next_token = "garbage";
  EXPECT_EQ(docs_.ListDocuments(bad).error().reason, "InvalidNextToken");
  bad.next_token.reset();
  bad.max_results = 51;
  EXPECT_EQ(docs_.ListDocuments(bad).error().reason, "ValidationError");
}

TEST_F(DocumentServiceTest, ResolveFiltersStepsByPlatform) {
  Create("MacOnly",
         R"({"schemaVersion":"2.2","mainSteps":[{"action":"aws:runShellScript","name":"m",
    "precondition":{"StringEquals":["platformType","MacOS"]},"inputs":{"runCommand":"true"}}]})");
  auto r = docs_.Resolve("MacOnly", std::nullopt, {}, "Linux");
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->steps.empty());
  EXPECT_EQ(r->platform_types, std::vector<std::string>{"MacOS"});
  EXPECT_EQ(docs_.Resolve("MacOnly", std::nullopt, {}, "MacOS")->steps.size(), 1u);
}

TEST_F(DocumentServiceTest, TagsAddReplaceRemoveAndPersist) {
  CreateDocumentRequest req;
  req.name = "tagged-doc";
  req.content = Doc("echo hi");
  req.tags = {{"team", "blue"}};
  ASSERT_EQ(CreateReason(req), "OK");
  auto reason = [](const Status& s) { return s ? std::string("OK") : s.error().reason; };
  EXPECT_EQ(reason(docs_.AddTags("tagged-doc", {{"team", "red"}, {"tier", "web"}})), "OK");
  auto tags = docs_.ListTags("tagged-doc");
  ASSERT_TRUE(tags.has_value());
  ASSERT_EQ(tags->size(), 2u);
  EXPECT_EQ((*tags)[0].key, "team");
  EXPECT_EQ((*tags)[0].value, "red");
  EXPECT_EQ((*tags)[1].key, "tier");
  EXPECT_EQ(reason(docs_.RemoveTags("tagged-doc", {"team", "absent"})), "OK");
  // Through a fresh service over the same store, and by ARN.
  DocumentService again(store_, clock_, account_);
  tags = again.ListTags(again.DocumentArn("tagged-doc"));
  ASSERT_TRUE(tags.has_value());
  ASSERT_EQ(tags->size(), 1u);
  EXPECT_EQ((*tags)[0].key, "tier");
  // Other changes keep the tags.
  ASSERT_TRUE(Update("tagged-doc", Doc("echo two")).has_value());
  EXPECT_EQ(docs_.ListTags("tagged-doc")->size(), 1u);

  std::vector<Tag> many;
  for (int i = 0; i < 50; ++i) many.push_back({"k" + std::to_string(i), "v"});
  EXPECT_EQ(reason(docs_.AddTags("tagged-doc", many)), "TooManyTagsError");  // 51 with tier
  EXPECT_EQ(docs_.ListTags("tagged-doc")->size(), 1u);                       // nothing applied
  many.pop_back();
  EXPECT_EQ(reason(docs_.AddTags("tagged-doc", many)), "OK");

  EXPECT_EQ(reason(docs_.AddTags("AWS-RunShellScript", {{"a", "b"}})), "InvalidResourceId");
  EXPECT_EQ(docs_.ListTags("AWS-RunShellScript").error().reason, "InvalidResourceId");
  EXPECT_EQ(reason(docs_.RemoveTags("no-such-doc", {"a"})), "InvalidResourceId");
  EXPECT_EQ(docs_.ListTags("no-such-doc").error().reason, "InvalidResourceId");
}

}  // namespace
}  // namespace kw::documents
