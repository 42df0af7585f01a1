#include "api/http/metrics.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace kw::api {
namespace {

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// The value of the sample whose line starts with `series` followed by a space, or -1.
double Sample(const std::string& text, const std::string& series) {
  for (const auto& line : Lines(text)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return -1;
}

int CountPrefix(const std::string& text, const std::string& prefix) {
  int n = 0;
  for (const auto& line : Lines(text)) n += line.rfind(prefix, 0) == 0 ? 1 : 0;
  return n;
}

TEST(MetricsTest, CountsRequestsPerServiceOperationAndStatus) {
  Metrics m;
  m.RecordRequest("iam", "CreateUser", 200, 0.001);
  m.RecordRequest("iam", "CreateUser", 200, 0.001);
  m.RecordRequest("iam", "CreateUser", 409, 0.001);
  m.RecordRequest("sts", "GetCallerIdentity", 200, 0.001);
  const std::string text = m.Render();
  EXPECT_EQ(
      Sample(text, R"(keyward_requests_total{service="iam",operation="CreateUser",status="200"})"),
      2);
  EXPECT_EQ(
      Sample(text, R"(keyward_requests_total{service="iam",operation="CreateUser",status="409"})"),
      1);
  EXPECT_EQ(
      Sample(text,
             R"(keyward_requests_total{service="sts",operation="GetCallerIdentity",status="200"})"),
      1);
  EXPECT_EQ(Sample(text, R"(keyward_request_duration_seconds_count{service="iam"})"), 3);
  EXPECT_EQ(Sample(text, R"(keyward_request_duration_seconds_count{service="sts"})"), 1);
}

TEST(MetricsTest, HistogramBucketsAreCumulativeWithInclusiveUpperBounds) {
  Metrics m;
  m.RecordRequest("iam", "A", 200, 0.0003);  // <= 0.0005
  m.RecordRequest("iam", "A", 200, 0.0005);  // exactly on a bound: that bucket
  m.RecordRequest("iam", "A", 200, 0.003);   // <= 0.005
  m.RecordRequest("iam", "A", 200, 0.7);     // <= 1
  m.RecordRequest("iam", "A", 200, 9);       // only +Inf
  m.RecordRequest("iam", "A", 200, -1);      // clamped to 0
  const std::string text = m.Render();
  auto bucket = [&](const std::string& le) {
    return Sample(text,
                  R"(keyward_request_duration_seconds_bucket{service="iam",le=")" + le + R"("})");
  };
  EXPECT_EQ(bucket("0.0005"), 3);
  EXPECT_EQ(bucket("0.001"), 3);
  EXPECT_EQ(bucket("0.0025"), 3);
  EXPECT_EQ(bucket("0.005"), 4);
  EXPECT_EQ(bucket("0.5"), 4);
  EXPECT_EQ(bucket("1"), 5);
  EXPECT_EQ(bucket("5"), 5);
  EXPECT_EQ(bucket("+Inf"), 6);
  EXPECT_EQ(Sample(text, R"(keyward_request_duration_seconds_count{service="iam"})"), 6);
  EXPECT_NEAR(Sample(text, R"(keyward_request_duration_seconds_sum{service="iam"})"),
              0.0003 + 0.0005 + 0.003 + 0.7 + 9, 1e-9);
  EXPECT_EQ(CountPrefix(text, "keyward_request_duration_seconds_bucket{"),
            static_cast<int>(Metrics::kLatencyBuckets.size() + 1));
}

TEST(MetricsTest, NanLatencyCountsAsZero) {
  Metrics m;
  m.RecordRequest("iam", "A", 200, std::numeric_limits<double>::quiet_NaN());
  const std::string text = m.Render();
  EXPECT_EQ(Sample(text, R"(keyward_request_duration_seconds_sum{service="iam"})"), 0);
  EXPECT_EQ(Sample(text, R"(keyward_request_duration_seconds_bucket{service="iam",le="0.0005"})"),
            1);
}

TEST(MetricsTest, EscapesLabelValues) {
  EXPECT_EQ(EscapeLabelValue(R"(a\b"c)"), R"(a\\b\"c)");
  EXPECT_EQ(EscapeLabelValue("x\ny"), R"(x\ny)");
  Metrics m;
  m.RecordRequest("iam", "Bad\"Op\\\n", 400, 0.001);
  m.RecordAuthFailure("Weird\"Reason");
  const std::string text = m.Render();
  EXPECT_EQ(
      Sample(text, R"(keyward_requests_total{service="iam",operation="Bad\"Op\\\n",status="400"})"),
      1)
      << text;
  EXPECT_EQ(Sample(text, R"(keyward_auth_failures_total{reason="Weird\"Reason"})"), 1) << text;
}

TEST(MetricsTest, ReplacesNonPrintableBytesAndTruncatesLongValues) {
  Metrics m;
  m.RecordRequest("iam", std::string("Op\x01\xff", 4), 200, 0.001);
  m.RecordRequest("iam", std::string(1000, 'x'), 200, 0.001);
  m.RecordRequest("", "", 200, 0.001);
  const std::string text = m.Render();
  EXPECT_EQ(Sample(text, R"(keyward_requests_total{service="iam",operation="Op__",status="200"})"),
            1)
      << text;
  EXPECT_EQ(Sample(text, R"(keyward_requests_total{service="iam",operation=")" +
                             std::string(Metrics::kMaxLabelValueBytes, 'x') + R"(",status="200"})"),
            1);
  EXPECT_EQ(
      Sample(text, R"(keyward_requests_total{service="unknown",operation="unknown",status="200"})"),
      1);
}

TEST(MetricsTest, BoundsOperationCardinality) {
  Metrics m(MetricsLimits{.max_request_series = 10, .max_services = 32, .max_auth_reasons = 64});
  for (int i = 0; i < 10; ++i) m.RecordRequest("iam", "Op" + std::to_string(i), 200, 0.001);
  // Known series keep counting after the limit is reached.
  m.RecordRequest("iam", "Op3", 200, 0.001);
  for (int i = 0; i < 1000; ++i) m.RecordRequest("iam", "Client" + std::to_string(i), 200, 0.001);
  const std::string text = m.Render();
  EXPECT_EQ(CountPrefix(text, "keyward_requests_total{"), 11);  // 10 + "other"
  EXPECT_EQ(Sample(text, R"(keyward_requests_total{service="iam",operation="Op3",status="200"})"),
            2);
  EXPECT_EQ(Sample(text, R"(keyward_requests_total{service="iam",operation="other",status="200"})"),
            1000);
  EXPECT_EQ(Sample(text, R"(keyward_request_duration_seconds_count{service="iam"})"), 1011);
}

TEST(MetricsTest, BoundsServicesAndAuthReasons) {
  Metrics m(MetricsLimits{.max_request_series = 500, .max_services = 2, .max_auth_reasons = 2});
  for (int i = 0; i < 50; ++i) {
    m.RecordRequest("svc" + std::to_string(i), "Op", 200, 0.001);
    m.RecordAuthFailure("Reason" + std::to_string(i));
  }
  const std::string text = m.Render();
  EXPECT_EQ(CountPrefix(text, "keyward_request_duration_seconds_count{"), 3);
  EXPECT_EQ(Sample(text, R"(keyward_request_duration_seconds_count{service="other"})"), 48);
  EXPECT_EQ(Sample(text, R"(keyward_requests_total{service="other",operation="Op",status="200"})"),
            48);
  EXPECT_EQ(CountPrefix(text, "keyward_auth_failures_total{"), 3);
  EXPECT_EQ(Sample(text, R"(keyward_auth_failures_total{reason="other"})"), 48);
  EXPECT_EQ(Sample(text, R"(keyward_auth_failures_total{reason="Reason1"})"), 1);
}

// Every line is a HELP/TYPE comment or a sample `name{labels} value` as in the text
// format 0.0.4; each metric family has its TYPE before its samples.
TEST(MetricsTest, RenderIsValidPrometheusText) {
  Metrics m;
  m.RecordRequest("iam", "CreateUser", 200, 0.02);
  m.RecordRequest("secretsmanager", "Get\"Secret\\Value\n", 400, 3);
  m.RecordAuthFailure("SignatureDoesNotMatch");
  m.RecordAuthFailure("InvalidClientTokenId");
  const std::string text = m.Render();
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');

  const std::regex help(R"(# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .+)");
  const std::regex type(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|histogram|gauge))");
  const std::string label_value = R"("(?:[^"\\\n]|\\\\|\\"|\\n)*")";
  const std::string label = "[a-zA-Z_][a-zA-Z0-9_]*=" + label_value;
  const std::regex sample("([a-zA-Z_:][a-zA-Z0-9_:]*)\\{" + label + "(?:," + label +
                          ")*\\} (?:[0-9]+(?:\\.[0-9]*)?(?:e[-+]?[0-9]+)?|\\+Inf)");
  std::set<std::string> typed;
  int samples = 0;
  for (const auto& line : Lines(text)) {
    std::smatch match;
    if (std::regex_match(line, help)) continue;
    if (std::regex_match(line, match, type)) {
      EXPECT_TRUE(typed.insert(match[1]).second) << "duplicate TYPE: " << line;
      continue;
    }
    ASSERT_TRUE(std::regex_match(line, match, sample)) << "bad line: " << line;
    std::string family = match[1];
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      const std::string s = suffix;
      if (family.size() > s.size() && family.compare(family.size() - s.size(), s.size(), s) == 0 &&
          typed.count(family.substr(0, family.size() - s.size())) != 0) {
        family = family.substr(0, family.size() - s.size());
      }
    }
    EXPECT_EQ(typed.count(family), 1u) << "sample before its TYPE: " << line;
    ++samples;
  }
  EXPECT_EQ(typed,
            (std::set<std::string>{"keyward_requests_total", "keyward_request_duration_seconds",
                                   "keyward_auth_failures_total"}));
  EXPECT_EQ(samples, 2 + 2 * 16 + 2);
}

TEST(MetricsTest, EmptyRenderStillDeclaresFamilies) {
  Metrics m;
  const std::string text = m.Render();
  EXPECT_EQ(CountPrefix(text, "# TYPE "), 3);
  EXPECT_EQ(CountPrefix(text, "keyward_"), 0);
}

TEST(MetricsTest, ConcurrentRecordingLosesNothing) {
  Metrics m;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&m, t] {
      for (int i = 0; i < 2000; ++i) {
        m.RecordRequest("iam", (i % 2) ? "A" : "B", 200, 0.001 * t);
        if (i % 10 == 0) m.RecordAuthFailure("SignatureDoesNotMatch");
      }
    });
  }
  for (auto& th : threads) th.join();
  const std::string text = m.Render();
  EXPECT_EQ(Sample(text, R"(keyward_requests_total{service="iam",operation="A",status="200"})"),
            4000);
  EXPECT_EQ(Sample(text, R"(keyward_requests_total{service="iam",operation="B",status="200"})"),
            4000);
  EXPECT_EQ(Sample(text, R"(keyward_auth_failures_total{reason="SignatureDoesNotMatch"})"), 800);
}

}  // namespace
}  // namespace kw::api
