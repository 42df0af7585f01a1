#include "awsclient/retry.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "awsclient/aws_client.hpp"
#include "awsclient/test_fakes.hpp"

namespace kw::awsclient {
namespace {

using std::chrono::milliseconds;
using testing::QueryErrorBody;
using testing::ScriptedTransport;
using testing::SeededRandom;

TEST(RetryTest, ClassifiesThrottlingServerErrorsAndClientErrors) {
  for (const char* code : {"Throttling", "ThrottlingException", "TooManyRequestsException",
                           "RequestLimitExceeded", "RequestThrottled"}) {
    const Error e = InvalidArgument("slow down", code);
    EXPECT_TRUE(IsRetryable(e, Idempotency::kIdempotent)) << code;
    EXPECT_TRUE(IsRetryable(e, Idempotency::kNotIdempotent)) << code;
  }
  const Error down = Unavailable("HTTP 503");
  EXPECT_TRUE(IsRetryable(down, Idempotency::kIdempotent));
  EXPECT_FALSE(IsRetryable(down, Idempotency::kNotIdempotent));
  EXPECT_FALSE(IsRetryable(InvalidArgument("bad", "ValidationError"), Idempotency::kIdempotent));
  EXPECT_FALSE(IsRetryable(NotFound("gone", "NoSuchEntity"), Idempotency::kIdempotent));
  EXPECT_FALSE(IsRetryable(PermissionDenied("no", "AccessDenied"), Idempotency::kIdempotent));
}

TEST(RetryTest, DelayIsFullJitterUnderAnExponentialCeilingAndTheCap) {
  SeededRandom random(7);
  RetryPolicy policy({8, milliseconds(100), milliseconds(1000)}, random, [](milliseconds) {});
  for (int retry = 0; retry < 8; ++retry) {
    const std::int64_t ceiling = std::min<std::int64_t>(1000, 100LL << retry);
    std::int64_t max_seen = 0;
    std::int64_t min_seen = ceiling;
    for (int i = 0; i < 400; ++i) {
      const auto d = policy.Delay(retry).count();
      ASSERT_GE(d, 0);
      ASSERT_LE(d, ceiling) << "retry " << retry;
      max_seen = std::max(max_seen, d);
      min_seen = std::min(min_seen, d);
    }
    // Full jitter spreads over the whole range, not just near the ceiling.
    EXPECT_GT(max_seen, ceiling * 8 / 10) << retry;
    EXPECT_LT(min_seen, ceiling * 2 / 10) << retry;
  }
}

TEST(RetryTest, RetriesUntilSuccessSleepingBetweenAttempts) {
  SeededRandom random(1);
  std::vector<milliseconds> sleeps;
  RetryPolicy policy({5, milliseconds(100), milliseconds(1000)}, random,
                     [&](milliseconds d) { sleeps.push_back(d); });
  int calls = 0;
  Result<int> r = policy.Run<int>(Idempotency::kIdempotent, [&]() -> Result<int> {
    if (++calls < 3) return Unavailable("HTTP 500");
    return 42;
  });
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, 42);
  EXPECT_EQ(calls, 3);
  ASSERT_EQ(sleeps.size(), 2u);
  EXPECT_LE(sleeps[0].count(), 100);
  EXPECT_LE(sleeps[1].count(), 200);
}

TEST(RetryTest, StopsAtMaxAttemptsAndSaysHowMany) {
  SeededRandom random(1);
  int sleeps = 0;
  RetryPolicy policy({4, milliseconds(10), milliseconds(100)}, random,
                     [&](milliseconds) { ++sleeps; });
  int calls = 0;
  Result<int> r = policy.Run<int>(Idempotency::kIdempotent, [&]() -> Result<int> {
    ++calls;
    return InvalidArgument("Rate exceeded", "Throttling");
  });
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(calls, 4);
  EXPECT_EQ(sleeps, 3);
  EXPECT_EQ(r.error().reason, "Throttling");
  EXPECT_NE(r.error().message.find("after 4 attempts"), std::string::npos);
}

TEST(RetryTest, NeverRetriesOtherClientErrorsNorAmbiguousFailuresOfNonIdempotentCalls) {
  SeededRandom random(1);
  RetryPolicy policy({8, milliseconds(10), milliseconds(100)}, random, [](milliseconds) {});
  int calls = 0;
  auto r = policy.Run<int>(Idempotency::kIdempotent, [&]() -> Result<int> {
    ++calls;
    return NotFound("no", "NoSuchEntity");
  });
  EXPECT_FALSE(r.has_value());
  EXPECT_EQ(calls, 1);
  calls = 0;
  r = policy.Run<int>(Idempotency::kNotIdempotent, [&]() -> Result<int> {
    ++calls;
    return Unavailable("timed out");
  });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
}

class QueryClientRetryTest : public ::testing::Test {
 protected:
  QueryClientRetryTest()
      : random_(3),
        retry_({5, milliseconds(100), milliseconds(1000)}, random_,
               [this](milliseconds d) { slept_ += d; }),
        provider_(ProvidedCredentials{sigv4::Credentials{"AKIDTEST", SecretBytes("s"), ""},
                                      std::nullopt, "test"}) {}

  QueryClient Client() {
    ClientPolicy policy;
    policy.credentials = &provider_;
    policy.retry = &retry_;
    auto c =
        QueryClient::Create(transport_, clock_, "https://iam.example.com", policy, "us-east-1");
    EXPECT_TRUE(c.has_value());
    return std::move(*c);
  }

  FakeClock clock_{TimePoint(std::chrono::seconds(1700000000))};
  SeededRandom random_;
  milliseconds slept_{0};
  RetryPolicy retry_;
  StaticCredentialProvider provider_;
  ScriptedTransport transport_;
};

const char* kListUsersOk =
    "<ListUsersResponse><ListUsersResult><IsTruncated>false</IsTruncated>"
    "</ListUsersResult></ListUsersResponse>";

TEST_F(QueryClientRetryTest, ThrottlingServerErrorsAndTimeoutsAreRetriedThenSucceed) {
  transport_.Push(400, QueryErrorBody("Throttling"));
  transport_.Push(500, QueryErrorBody("InternalFailure"));
  transport_.PushError(Unavailable("Operation timed out"));
  transport_.Push(200, kListUsersOk);
  auto r = Client().Call(kIam, "ListUsers");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(transport_.requests.size(), 4u);
  // Each attempt is signed afresh.
  for (const auto& req : transport_.requests) {
    bool signed_ = false;
    for (const auto& h : req.headers) signed_ |= h.name == "Authorization";
    EXPECT_TRUE(signed_);
  }
}

TEST_F(QueryClientRetryTest, OtherClientErrorsAreNotRetried) {
  transport_.Push(404, QueryErrorBody("NoSuchEntity"));
  auto r = Client().Call(kIam, "ListUsers");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(r.error().reason, "NoSuchEntity");
  EXPECT_EQ(transport_.requests.size(), 1u);
  EXPECT_EQ(slept_.count(), 0);
}

TEST_F(QueryClientRetryTest, NonIdempotentCallRetriesThrottlingButNotServerErrors) {
  transport_.Push(400, QueryErrorBody("Throttling"));
  transport_.Push(503, QueryErrorBody("ServiceUnavailable"));
  transport_.Push(200, kListUsersOk);
  auto r = Client().Call(kIam, "ListUsers", {}, Idempotency::kNotIdempotent);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(transport_.requests.size(), 2u);
}

TEST_F(QueryClientRetryTest, JsonThrottlingIsRetried) {
  transport_.Push(400, R"({"__type":"ThrottlingException","message":"Rate exceeded"})");
  transport_.Push(200, R"({"Ok":true})");
  auto r = Client().CallJson(kSsm, "DescribeInstanceInformation", nlohmann::json::object());
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(transport_.requests.size(), 2u);
}

// The JSON services (Secrets Manager, SSM, CloudTrail) go through the same policy: a
// namespaced TooManyRequestsException, a 5xx whose body is not JSON, and a timeout are
// each retried, after a back-off, until the call succeeds.
TEST_F(QueryClientRetryTest, JsonThrottlingServerErrorsAndTimeoutsAreRetriedWithBackOff) {
  constexpr JsonTarget kSecretsManager{"secretsmanager", "secretsmanager"};
  transport_.Push(400, R"({"__type":"com.amazonaws.secretsmanager#TooManyRequestsException",)"
                       R"("message":"slow down"})");
  transport_.Push(503, "<html>Service Unavailable</html>");
  transport_.PushError(Unavailable("Operation timed out after 5000 milliseconds"));
  transport_.Push(200, R"({"Name":"iam-user-app"})");
  auto r = Client().CallJson(kSecretsManager, "GetSecretValue",
                             nlohmann::json{{"SecretId", "iam-user-app"}});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ((*r)["Name"], "iam-user-app");
  EXPECT_EQ(transport_.requests.size(), 4u);
  EXPECT_GT(slept_.count(), 0);
}

TEST_F(QueryClientRetryTest, JsonRetriesStopAtMaxAttemptsWithTheLastError) {
  for (int i = 0; i < 6; ++i) {
    transport_.Push(400, R"({"__type":"ThrottlingException","message":"Rate exceeded"})");
  }
  auto r = Client().CallJson(kSsm, "GetCommandInvocation", nlohmann::json::object());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().reason, "ThrottlingException");
  EXPECT_EQ(transport_.requests.size(), 5u);  // the policy's max_attempts
}

}  // namespace
}  // namespace kw::awsclient
