// SigV4 microbenchmarks: the server verifies every request (target 20k req/s on two
// cores), so one verification with a cached signing key should stay under 3 us.
//   build/bin/sigv4_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true

#include <benchmark/benchmark.h>

#include "common/time_format.hpp"
#include "sigv4/sigv4.hpp"

namespace {

using kw::sigv4::Credentials;
using kw::sigv4::RequestView;

const kw::TimePoint kNow = *kw::ParseAmzDate("20150830T123600Z");
constexpr std::string_view kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

// A GetCallerIdentity POST as the AWS CLI sends it.
struct Fixture {
  std::string method = "POST";
  std::string target = "/";
  std::string body = "Action=GetCallerIdentity&Version=2011-06-15";
  kw::HeaderList headers{
      {"Host", "sts.us-east-1.amazonaws.com"},
      {"Accept-Encoding", "identity"},
      {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
      {"User-Agent", "aws-cli/2.15.0 Python/3.11.6 Linux/6.1.0 exe/x86_64.debian.12"},
      {"Content-Length", "43"}};

  Fixture() {
    // Sign the headers the CLI signs (not User-Agent, Accept-Encoding, Content-Length).
    kw::HeaderList to_sign{headers[0], headers[2]};
    const RequestView v{method, target, to_sign, body};
    const Credentials c{"AKIDEXAMPLE", kw::SecretBytes(std::string(kSecret)), ""};
    const kw::HeaderList added = kw::sigv4::Sign(v, c, {"us-east-1", "sts", kNow, false});
    headers.insert(headers.end(), added.begin(), added.end());
  }
  RequestView View() const { return RequestView{method, target, headers, body}; }
};

void BM_ParseAndVerify_CachedKey(benchmark::State& state) {
  const Fixture f;
  const kw::SecretBytes secret{std::string(kSecret)};
  kw::sigv4::Verifier verifier;
  for (auto _ : state) {
    auto auth = kw::sigv4::ParseAuth(f.View());
    const kw::Status s = verifier.Verify(f.View(), *auth, secret, kNow);
    if (!s) state.SkipWithError("verification failed");
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_ParseAndVerify_CachedKey);

void BM_Verify_CachedKey(benchmark::State& state) {
  const Fixture f;
  const kw::SecretBytes secret{std::string(kSecret)};
  kw::sigv4::Verifier verifier;
  const auto auth = kw::sigv4::ParseAuth(f.View());
  for (auto _ : state) {
    const kw::Status s = verifier.Verify(f.View(), *auth, secret, kNow);
    if (!s) state.SkipWithError("verification failed");
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_Verify_CachedKey);

void BM_ParseAndVerify_ColdKey(benchmark::State& state) {
  const Fixture f;
  const kw::SecretBytes secret{std::string(kSecret)};
  kw::sigv4::Verifier verifier(0);  // no cache: the signing key is derived every time
  for (auto _ : state) {
    auto auth = kw::sigv4::ParseAuth(f.View());
    const kw::Status s = verifier.Verify(f.View(), *auth, secret, kNow);
    if (!s) state.SkipWithError("verification failed");
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_ParseAndVerify_ColdKey);

void BM_CanonicalRequest(benchmark::State& state) {
  const Fixture f;
  const auto auth = kw::sigv4::ParseAuth(f.View());
  for (auto _ : state) {
    std::string c = kw::sigv4::CanonicalRequest(
        f.View(), auth->signed_headers,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    benchmark::DoNotOptimize(c);
  }
}
BENCHMARK(BM_CanonicalRequest);

void BM_CanonicalRequest_Query(benchmark::State& state) {
  const kw::HeaderList headers{{"Host", "sts.amazonaws.com"}};
  const RequestView v{"GET",
                      "/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-"
                      "SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fsts%2Faws4_"
                      "request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=900&X-Amz-"
                      "SignedHeaders=host&X-Amz-Signature=e8d7e61248a0d11a99b5981a6802d73250938b"
                      "6d2c6f32f9a6b8a331d25ef4b1",
                      headers, ""};
  const std::vector<std::string> names{"host"};
  for (auto _ : state) {
    std::string c =
        kw::sigv4::CanonicalRequest(v, names, kw::sigv4::kUnsignedPayload, "X-Amz-Signature");
    benchmark::DoNotOptimize(c);
  }
}
BENCHMARK(BM_CanonicalRequest_Query);

}  // namespace

BENCHMARK_MAIN();
