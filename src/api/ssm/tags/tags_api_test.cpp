#include "api/ssm/tags/tags_api.hpp"

#include <gtest/gtest.h>

#include <set>

namespace kw::api {
namespace {

using nlohmann::json;

// Records what reaches the resource, so the tests can tell what the operations let
// through.
class FakeAccess : public SsmTagAccess {
 public:
  explicit FakeAccess(std::string arn_prefix) : arn_prefix_(std::move(arn_prefix)) {}
  Result<SsmTagList> List(std::string_view id) override {
    if (id != "known") return NotFound("no", "InvalidResourceId");
    return tags;
  }
  Status Add(std::string_view id, const SsmTagList& add) override {
    if (id != "known") return NotFound("no", "InvalidResourceId");
    ++adds;
    for (const auto& t : add) tags.push_back(t);
    return OkStatus();
  }
  Status Remove(std::string_view id, const std::vector<std::string>& keys) override {
    if (id != "known") return NotFound("no", "InvalidResourceId");
    removed = keys;
    return OkStatus();
  }
  std::string Arn(std::string_view id) const override { return arn_prefix_ + std::string(id); }

  SsmTagList tags;
  int adds = 0;
  std::vector<std::string> removed;

 private:
  std::string arn_prefix_;
};

class TagsApiTest : public ::testing::Test {
 protected:
  TagsApiTest() : ops_(TagOperations({{"Document", &docs_}, {"MaintenanceWindow", &windows_}})) {}

  const JsonOperation& Find(std::string_view name) {
    for (const auto& op : ops_) {
      if (op.name == name) return op;
    }
    ADD_FAILURE() << "no operation " << name;
    static JsonOperation none;
    return none;
  }
  std::string Reason(std::string_view op, const json& input) {
    JsonCall call{input, caller_, "req-1", "127.0.0.1", TimePoint(), authorize_};
    auto r = Find(op).handler(call);
    return r ? "OK" : r.error().reason;
  }
  json Ok(std::string_view op, const json& input) {
    JsonCall call{input, caller_, "req-1", "127.0.0.1", TimePoint(), authorize_};
    auto r = Find(op).handler(call);
    EXPECT_TRUE(r.has_value()) << op << ": " << (r ? "" : r.error().reason);
    return r ? *r : json();
  }
  json AddRequest(std::string key, std::string value) {
    return {{"ResourceType", "Document"},
            {"ResourceId", "known"},
            {"Tags", {{{"Key", std::move(key)}, {"Value", std::move(value)}}}}};
  }

  FakeAccess docs_{"arn:doc/"};
  FakeAccess windows_{"arn:mw/"};
  std::vector<JsonOperation> ops_;
  iam::Principal caller_;
  CallAuthorizer authorize_ = [](std::string_view, std::string_view, const policy::Policy*) {
    return OkStatus();
  };
};

TEST_F(TagsApiTest, OperationTable) {
  std::set<std::string> names;
  for (const auto& op : ops_) {
    names.insert(op.name);
    EXPECT_EQ(op.read_only, op.name == "ListTagsForResource") << op.name;
  }
  EXPECT_EQ(names, (std::set<std::string>{"AddTagsToResource", "RemoveTagsFromResource",
                                          "ListTagsForResource"}));
}

TEST_F(TagsApiTest, RoutesByResourceType) {
  EXPECT_EQ(Ok("AddTagsToResource", AddRequest("team", "blue")), json::object());
  EXPECT_EQ(docs_.adds, 1);
  EXPECT_EQ(windows_.adds, 0);
  EXPECT_EQ(Ok("ListTagsForResource", {{"ResourceType", "Document"}, {"ResourceId", "known"}}),
            (json{{"TagList", {{{"Key", "team"}, {"Value", "blue"}}}}}));
  EXPECT_EQ(Ok("ListTagsForResource",
               {{"ResourceType", "MaintenanceWindow"}, {"ResourceId", "known"}})["TagList"],
            json::array());
  EXPECT_EQ(
      Ok("RemoveTagsFromResource",
         {{"ResourceType", "MaintenanceWindow"}, {"ResourceId", "known"}, {"TagKeys", {"a", "b"}}}),
      json::object());
  EXPECT_EQ(windows_.removed, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(Reason("ListTagsForResource", {{"ResourceType", "PatchBaseline"}, {"ResourceId", "x"}}),
            "InvalidResourceType");
  EXPECT_EQ(Reason("ListTagsForResource", {{"ResourceType", "Document"}, {"ResourceId", "gone"}}),
            "InvalidResourceId");
  EXPECT_EQ(Find("AddTagsToResource").resource(AddRequest("a", "b"), caller_), "arn:doc/known");
  EXPECT_EQ(Find("ListTagsForResource")
                .resource({{"ResourceType", "MaintenanceWindow"}, {"ResourceId", "mw-1"}}, caller_),
            "arn:mw/mw-1");
  EXPECT_EQ(Find("ListTagsForResource")
                .resource({{"ResourceType", "Parameter"}, {"ResourceId", "p"}}, caller_),
            "*");
}

TEST_F(TagsApiTest, ChecksTagsBeforeTheResource) {
  EXPECT_EQ(Reason("AddTagsToResource", AddRequest("", "v")), "ValidationError");
  EXPECT_EQ(Reason("AddTagsToResource", AddRequest(std::string(129, 'k'), "v")), "ValidationError");
  EXPECT_EQ(Reason("AddTagsToResource", AddRequest("k", std::string(257, 'v'))), "ValidationError");
  EXPECT_EQ(Reason("AddTagsToResource", AddRequest("aws:owner", "v")), "ValidationError");
  EXPECT_EQ(Reason("AddTagsToResource", AddRequest("AWS:owner", "v")), "ValidationError");
  EXPECT_EQ(Reason("AddTagsToResource", AddRequest("semi;colon", "v")), "ValidationError");
  EXPECT_EQ(Reason("AddTagsToResource", AddRequest("k", "$(reboot)")), "ValidationError");
  EXPECT_EQ(docs_.adds, 0);
  // Edges that are allowed.
  EXPECT_EQ(Reason("AddTagsToResource", AddRequest(std::string(128, 'k'), "")), "OK");
  EXPECT_EQ(Reason("AddTagsToResource", AddRequest("awsome", std::string(256, 'v'))), "OK");
  EXPECT_EQ(Reason("AddTagsToResource", AddRequest("a b_c.d:e/f=g+h-i@j", "caf\xc3\xa9")), "OK");
  EXPECT_EQ(docs_.adds, 3);

  json no_tags = {{"ResourceType", "Document"}, {"ResourceId", "known"}};
  EXPECT_EQ(Reason("AddTagsToResource", no_tags), "ValidationError");
  EXPECT_EQ(Reason("RemoveTagsFromResource", no_tags), "ValidationError");
  EXPECT_EQ(Reason("ListTagsForResource", {{"ResourceType", "Document"}}), "ValidationError");
  json no_value = no_tags;
  no_value["Tags"] = {{{"Key", "k"}}};
  EXPECT_EQ(Reason("AddTagsToResource", no_value), "ValidationError");
}

}  // namespace
}  // namespace kw::api
