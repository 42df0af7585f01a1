#include "cli/output.hpp"

#include <gtest/gtest.h>

#include <sstream>

namespace kw::cli {
namespace {

using Json = nlohmann::ordered_json;

Records Sample() {
  Records r;
  r.columns = {"UserName", "Status", "Count"};
  r.rows.push_back({"alice", "Active", 3});
  r.rows.push_back({"bob-the-builder", nullptr, true});
  return r;
}

TEST(OutputTest, TableAlignsColumnsUnderHeader) {
  EXPECT_EQ(RenderTable(Sample()),
            "UserName         Status  Count\n"
            "alice            Active  3\n"
            "bob-the-builder          true\n");
}

TEST(OutputTest, TableCountsCodePointsAndStripsTrailingSpace) {
  Records r;
  r.columns = {"N", "X"};
  r.rows.push_back({"ユーザ", "1"});
  r.rows.push_back({"ab", ""});
  EXPECT_EQ(RenderTable(r),
            "N    X\n"
            "ユーザ  1\n"
            "ab\n");
}

TEST(OutputTest, TableNeutralisesControlCharacters) {
  Records r;
  r.columns = {"N"};
  r.rows.push_back({"a\x1b[2Jb\nc"});
  EXPECT_EQ(RenderTable(r), "N\na?[2Jb?c\n");
}

TEST(OutputTest, HeaderOnlyWhenNoRows) {
  Records r;
  r.columns = {"A", "B"};
  EXPECT_EQ(RenderTable(r), "A  B\n");
}

TEST(OutputTest, CsvQuotesWhenNeeded) {
  Records r;
  r.columns = {"a", "b"};
  r.rows.push_back({"x,y", "say \"hi\""});
  r.rows.push_back({"plain", nullptr});
  EXPECT_EQ(RenderCsv(r), "a,b\n\"x,y\",\"say \"\"hi\"\"\"\nplain,\n");
}

TEST(OutputTest, JsonKeepsColumnOrderAndTypes) {
  const Json j = RecordsToJson(Sample());
  EXPECT_EQ(j.dump(), R"([{"UserName":"alice","Status":"Active","Count":3},)"
                      R"({"UserName":"bob-the-builder","Status":null,"Count":true}])");
  EXPECT_EQ(RenderJson(Json{{"A", 1}}), "{\n    \"A\": 1\n}\n");
  EXPECT_EQ(RenderJson(nullptr), "");
}

TEST(OutputTest, JsonSurvivesInvalidUtf8) {
  EXPECT_NO_THROW(RenderJson(Json{{"A", std::string("\xff\xfe")}}));
}

TEST(OutputTest, PrintOutputPerFormat) {
  CommandOutput out;
  out.records = Sample();
  out.json = Json{{"k", "v"}};
  out.notices = {"NOTE"};
  std::ostringstream table, json, csv;
  PrintOutput(out, OutputFormat::kTable, table);
  PrintOutput(out, OutputFormat::kJson, json);
  PrintOutput(out, OutputFormat::kCsv, csv);
  EXPECT_EQ(table.str(), RenderTable(out.records) + "NOTE\n");
  EXPECT_EQ(json.str(), "{\n    \"k\": \"v\"\n}\n");
  EXPECT_EQ(csv.str(), RenderCsv(out.records));
  out.raw_csv = "raw,csv";
  std::ostringstream raw;
  PrintOutput(out, OutputFormat::kCsv, raw);
  EXPECT_EQ(raw.str(), "raw,csv\n");
}

TEST(OutputTest, ParseOutputFormat) {
  EXPECT_EQ(*ParseOutputFormat("json"), OutputFormat::kJson);
  EXPECT_EQ(*ParseOutputFormat("table"), OutputFormat::kTable);
  EXPECT_EQ(*ParseOutputFormat("csv"), OutputFormat::kCsv);
  EXPECT_FALSE(ParseOutputFormat("yaml").has_value());
}

}  // namespace
}  // namespace kw::cli
