#include "api/ssm/documents/documents_api.hpp"

#include <gtest/gtest.h>

#include <set>

#include "common/time_format.hpp"
#include "store/memory/memory_kv_store.hpp"

namespace kw::api {
namespace {

using nlohmann::json;

const char* kSeed = R"({
"schemaVersion": "2.2",
"description": "Simple test document using the aws:runShellScript plugin.",
"mainSteps": [{"action": "aws:runShellScript", "name": "OverwriteSecretValue",
  "inputs": {"timeoutSeconds": 60, "runCommand": ["/home/hoshihaya/scripts/overwrite-secret-value.sh"]}}]
})";

class DocumentsApiTest : public ::testing::Test {
 protected:
  DocumentsApiTest()
      : clock_(*ParseIso8601("2026-03-01T10:00:00Z")),
        account_{"123456789012"},
        docs_(store_, clock_, account_),
        ops_(DocumentOperations(docs_, account_)) {
    caller_.account_id = account_.id;
    caller_.arn = "arn:aws:iam::123456789012:user/admin";
  }

  const JsonOperation& Find(std::string_view name) {
    for (const auto& op : ops_) {
      if (op.name == name) return op;
    }
    ADD_FAILURE() << "no operation " << name;
    static JsonOperation none;
    return none;
  }
  Result<json> Call(std::string_view op, const json& input) {
    JsonCall call{input, caller_, "req-1", "127.0.0.1", clock_.Now(), authorizer_};
    return Find(op).handler(call);
  }
  json Ok(std::string_view op, const json& input) {
    auto r = Call(op, input);
    EXPECT_TRUE(r.has_value()) << op << ": "
                               << (r ? "" : r.error().reason + " " + r.error().message);
    return r ? *r : json();
  }
  std::string Reason(std::string_view op, const json& input) {
    auto r = Call(op, input);
    return r ? "OK" : r.error().reason;
  }

  FakeClock clock_;
  store::MemoryKvStore store_;
  iam::Account account_;
  documents::DocumentService docs_;
  std::vector<JsonOperation> ops_;
  iam::Principal caller_;
  CallAuthorizer authorizer_ = [](std::string_view, std::string_view, const policy::Policy*) {
    return OkStatus();
  };
};

TEST_F(DocumentsApiTest, RegistersTheEightOperations) {
  std::set<std::string> names;
  std::set<std::string> read_only;
  for (const auto& op : ops_) {
    names.insert(op.name);
    if (op.read_only) read_only.insert(op.name);
  }
  EXPECT_EQ(names, (std::set<std::string>{"CreateDocument", "GetDocument", "DescribeDocument",
                                          "ListDocuments", "UpdateDocument",
                                          "UpdateDocumentDefaultVersion", "ListDocumentVersions",
                                          "DeleteDocument"}));
  EXPECT_EQ(read_only, (std::set<std::string>{"GetDocument", "DescribeDocument", "ListDocuments",
                                              "ListDocumentVersions"}));
}

TEST_F(DocumentsApiTest, AuthorizationResources) {
  EXPECT_EQ(Find("GetDocument").resource({{"Name", "Mine"}}, caller_),
            "arn:aws:ssm:us-east-1:123456789012:document/Mine");
  EXPECT_EQ(Find("DescribeDocument").resource({{"Name", "AWS-RunShellScript"}}, caller_),
            "arn:aws:ssm:us-east-1::document/AWS-RunShellScript");
  EXPECT_EQ(Find("ListDocuments").resource(json::object(), caller_), "*");
}

TEST_F(DocumentsApiTest, CreateDescribeGetWithModelShapes) {
  json created = Ok("CreateDocument", {{"Name", "Seed"},
                                       {"Content", kSeed},
                                       {"DocumentType", "Command"},
                                       {"DocumentFormat", "JSON"},
                                       {"Tags", {{{"Key", "team"}, {"Value", "ops"}}}}});
  const json& d = created["DocumentDescription"];
  EXPECT_EQ(d["Name"], "Seed");
  EXPECT_EQ(d["Owner"], "123456789012");
  EXPECT_EQ(d["HashType"], "Sha256");
  EXPECT_EQ(d["Hash"].get<std::string>().size(), 64u);
  EXPECT_EQ(d["Status"], "Active");
  EXPECT_EQ(d["DocumentVersion"], "1");
  EXPECT_EQ(d["LatestVersion"], "1");
  EXPECT_EQ(d["DefaultVersion"], "1");
  EXPECT_EQ(d["SchemaVersion"], "2.2");
  EXPECT_EQ(d["DocumentType"], "Command");
  EXPECT_EQ(d["DocumentFormat"], "JSON");
  EXPECT_EQ(d["PlatformTypes"], json({"Linux", "MacOS"}));
  EXPECT_EQ(d["Tags"][0]["Key"], "team");
  EXPECT_TRUE(d["CreatedDate"].is_number());
  EXPECT_DOUBLE_EQ(d["CreatedDate"].get<double>(), ToEpochSeconds(clock_.Now()));

  json got = Ok("GetDocument", {{"Name", "Seed"}, {"DocumentFormat", "YAML"}});
  EXPECT_EQ(got["DocumentFormat"], "YAML");
  EXPECT_NE(got["Content"].get<std::string>().find("schemaVersion: \"2.2\""), std::string::npos)
      << got["Content"];
  EXPECT_EQ(got["DocumentVersion"], "1");

  json desc = Ok("DescribeDocument", {{"Name", "AWS-RunShellScript"}});
  EXPECT_EQ(desc["Document"]["Owner"], "Amazon");
  EXPECT_EQ(desc["Document"]["Parameters"][2]["Name"], "executionTimeout");
  EXPECT_EQ(desc["Document"]["Parameters"][2]["DefaultValue"], "3600");
  EXPECT_FALSE(desc["Document"]["Parameters"][0].contains("DefaultValue"));
}

TEST_F(DocumentsApiTest, ErrorsUseModelNames) {
  EXPECT_EQ(Reason("CreateDocument", {{"Name", "Seed"}}), "ValidationError");
  EXPECT_EQ(Reason("CreateDocument", {{"Name", "Seed"}, {"Content", ""}}), "ValidationError");
  EXPECT_EQ(Reason("CreateDocument", {{"Name", "Seed"}, {"Content", 5}}), "SerializationException");
  EXPECT_EQ(Reason("CreateDocument", {{"Name", "Seed"}, {"Content", "{}"}}),
            "InvalidDocumentSchemaVersion");
  EXPECT_EQ(Reason("CreateDocument", {{"Name", "Seed"}, {"Content", "nope"}}),
            "InvalidDocumentContent");
  EXPECT_EQ(
      Reason("CreateDocument",
             {{"Name", "Seed"}, {"Content", kSeed}, {"Attachments", {{{"Key", "SourceUrl"}}}}}),
      "InvalidDocumentContent");
  EXPECT_EQ(Reason("GetDocument", {{"Name", "Missing"}}), "InvalidDocument");
  EXPECT_EQ(Reason("ListDocuments", {{"MaxResults", 0}}), "ValidationError");
  EXPECT_EQ(Reason("ListDocuments", {{"Filters", {{{"Key", "Bogus"}, {"Values", {"x"}}}}}}),
            "InvalidFilterKey");
  EXPECT_EQ(Reason("UpdateDocumentDefaultVersion", {{"Name", "Seed"}}), "ValidationError");
}

TEST_F(DocumentsApiTest, UpdateListVersionsDefaultAndDelete) {
  Ok("CreateDocument", {{"Name", "Seed"}, {"Content", kSeed}});
  std::string v2 = std::string(kSeed);
  v2.replace(v2.find("60"), 2, "90");
  json updated = Ok("UpdateDocument", {{"Name", "Seed"},
                                       {"Content", v2},
                                       {"DocumentVersion", "$LATEST"},
                                       {"VersionName", "ninety"}});
  EXPECT_EQ(updated["DocumentDescription"]["DocumentVersion"], "2");
  EXPECT_EQ(updated["DocumentDescription"]["VersionName"], "ninety");
  EXPECT_EQ(Reason("UpdateDocument", {{"Name", "Seed"}, {"Content", v2}}),
            "DuplicateDocumentContent");

  json def = Ok("UpdateDocumentDefaultVersion", {{"Name", "Seed"}, {"DocumentVersion", "2"}});
  EXPECT_EQ(def["Description"],
            json({{"Name", "Seed"}, {"DefaultVersion", "2"}, {"DefaultVersionName", "ninety"}}));

  json versions = Ok("ListDocumentVersions", {{"Name", "Seed"}, {"MaxResults", 1}});
  ASSERT_EQ(versions["DocumentVersions"].size(), 1u);
  EXPECT_EQ(versions["DocumentVersions"][0]["DocumentVersion"], "1");
  EXPECT_EQ(versions["DocumentVersions"][0]["IsDefaultVersion"], false);
  ASSERT_TRUE(versions.contains("NextToken"));
  json rest = Ok("ListDocumentVersions", {{"Name", "Seed"}, {"NextToken", versions["NextToken"]}});
  EXPECT_EQ(rest["DocumentVersions"][0]["IsDefaultVersion"], true);
  EXPECT_FALSE(rest.contains("NextToken"));

  json list =
      Ok("ListDocuments", {{"DocumentFilterList", {{{"key", "Owner"}, {"value", "Self"}}}}});
  ASSERT_EQ(list["DocumentIdentifiers"].size(), 1u);
  EXPECT_EQ(list["DocumentIdentifiers"][0]["Name"], "Seed");
  EXPECT_EQ(list["DocumentIdentifiers"][0]["DocumentVersion"], "2");
  EXPECT_EQ(list["DocumentIdentifiers"][0]["VersionName"], "ninety");

  EXPECT_EQ(Reason("DeleteDocument", {{"Name", "Seed"}, {"DocumentVersion", "2"}}),
            "InvalidDocumentOperation");
  EXPECT_EQ(Ok("DeleteDocument", {{"Name", "Seed"}, {"DocumentVersion", "1"}}), json::object());
  EXPECT_EQ(Ok("DeleteDocument", {{"Name", "Seed"}}), json::object());
  EXPECT_EQ(Reason("DescribeDocument", {{"Name", "Seed"}}), "InvalidDocument");
}

}  // namespace
}  // namespace kw::api
