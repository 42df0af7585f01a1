#include "directory/directory.hpp"

#include <gtest/gtest.h>

#include "directory/directory_service.hpp"
#include "store/memory/memory_kv_store.hpp"

namespace kw::directory {
namespace {

TEST(DirectoryExport, CsvByColumnNameInAnyOrder) {
  auto snap = ParseCsvExport(
      "\xEF\xBB\xBFstatus,id,email,extra,department\r\n"
      "active,alice,alice@example.com,x,eng\r\n"
      "Departed,bob,,y,\"ops, night\"\n");
  ASSERT_TRUE(snap.has_value()) << snap.error().message;
  ASSERT_EQ(snap->people.size(), 2u);
  EXPECT_EQ(snap->people[0].id, "alice");
  EXPECT_EQ(snap->people[0].email, "alice@example.com");
  EXPECT_EQ(snap->people[1].status, PersonStatus::kDeparted);
  EXPECT_EQ(snap->people[1].department, "ops, night");
  EXPECT_EQ(snap->people[1].kind, "person");
}

TEST(DirectoryExport, MalformedCsvIsRefusedNamingTheRow) {
  EXPECT_NE(ParseCsvExport("name,status\nalice,active\n").error().message.find("'id'"),
            std::string::npos);
  EXPECT_NE(ParseCsvExport("id,status\nalice,active\nbob,gone\n").error().message.find("row 3"),
            std::string::npos);
  EXPECT_NE(ParseCsvExport("id,status\nalice\n").error().message.find("row 2"), std::string::npos);
  EXPECT_NE(ParseCsvExport("id,status\n,active\n").error().message.find("id is missing"),
            std::string::npos);
  EXPECT_NE(ParseCsvExport("id,status\na,active\nA,active\n").error().message.find("twice"),
            std::string::npos);
  EXPECT_FALSE(ParseCsvExport("id,status\n\"a,active\n").has_value());
  EXPECT_FALSE(ParseCsvExport("").has_value());
}

TEST(DirectoryExport, Json) {
  auto snap = ParseJsonExport(
      R"({"people":[{"id":"alice","status":"active"},{"id":"ops","kind":"team","status":"transferred"}]})");
  ASSERT_TRUE(snap.has_value()) << snap.error().message;
  EXPECT_EQ(snap->people[1].kind, "team");
  EXPECT_EQ(snap->people[1].status, PersonStatus::kTransferred);
  EXPECT_TRUE(ParseJsonExport(R"([{"id":"a","status":"active"}])").has_value());
  EXPECT_FALSE(ParseJsonExport("{").has_value());
  EXPECT_FALSE(ParseJsonExport(R"({"people":[{"id":1,"status":"active"}]})").has_value());
  EXPECT_FALSE(ParseJsonExport(R"({"people":[{"id":"a"}]})").has_value());
  EXPECT_FALSE(
      ParseJsonExport(R"({"people":[{"id":"a","status":"active","kind":"robot"}]})").has_value());
  EXPECT_FALSE(ParseJsonExport(R"({"folks":[]})").has_value());
}

TEST(DirectoryExport, FileSourceErrors) {
  FileSource missing("/nonexistent/people.csv");
  EXPECT_EQ(missing.Fetch().error().code, ErrorCode::kUnavailable);
}

class DirectorySyncTest : public ::testing::Test {
 protected:
  store::MemoryKvStore store_;
  FakeClock clock_{TimePoint(std::chrono::seconds(1700000000))};
  DirectoryService service_{store_, clock_};

  static Person P(std::string id, PersonStatus s, std::string dept = "eng") {
    Person p;
    p.id = std::move(id);
    p.status = s;
    p.department = std::move(dept);
    return p;
  }
};

TEST_F(DirectorySyncTest, RecordsDeparturesTransfersAndWhen) {
  ASSERT_TRUE(service_.Sync({{P("alice", PersonStatus::kActive), P("bob", PersonStatus::kActive),
                              P("carol", PersonStatus::kActive)}},
                            {}));
  clock_.Advance(std::chrono::hours(1));
  auto r = service_.Sync(
      {{P("alice", PersonStatus::kDeparted), P("bob", PersonStatus::kActive, "sales")}}, {});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_EQ(r->changes.size(), 3u);
  auto people = *service_.Load();
  ASSERT_EQ(people.size(), 3u);
  EXPECT_EQ(people[0].person.status, PersonStatus::kDeparted);
  EXPECT_EQ(people[0].departed_at, clock_.Now());
  EXPECT_EQ(people[1].person.status, PersonStatus::kTransferred);
  EXPECT_EQ(people[1].previous_department, "eng");
  EXPECT_TRUE(people[2].absent);  // carol vanished: departed
  auto page = service_.ListChanges(std::nullopt, 2);
  ASSERT_TRUE(page.has_value());
  EXPECT_EQ(page->changes.size(), 2u);
  ASSERT_FALSE(page->next_token.empty());
  auto rest = service_.ListChanges(page->next_token, 2);
  ASSERT_TRUE(rest.has_value());
  EXPECT_EQ(rest->changes.size(), 1u);
  EXPECT_TRUE(rest->next_token.empty());

  // The same snapshot again changes nothing.
  r = service_.Sync(
      {{P("alice", PersonStatus::kDeparted), P("bob", PersonStatus::kActive, "sales")}}, {});
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->changes.empty());
  // Someone coming back.
  r = service_.Sync({{P("alice", PersonStatus::kActive), P("bob", PersonStatus::kActive, "sales"),
                      P("carol", PersonStatus::kActive)}},
                    {});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->changes.size(), 2u);
  EXPECT_EQ(r->changes[0].kind, ChangeKind::kReturned);
}

TEST_F(DirectorySyncTest, FindByIdOrEmail) {
  Person p = P("alice", PersonStatus::kActive);
  p.email = "Alice@Example.com";
  ASSERT_TRUE(service_.Sync({{p}}, {}));
  EXPECT_TRUE(service_.Find("ALICE")->has_value());
  EXPECT_TRUE(service_.Find("alice@example.com")->has_value());
  EXPECT_FALSE(service_.Find("bob")->has_value());
}

}  // namespace
}  // namespace kw::directory
