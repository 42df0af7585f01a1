#include "api/http/dispatcher.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/time_format.hpp"
#include "sigv4/sigv4.hpp"

namespace kw::api {
namespace {

constexpr char kKeyId[] = "ASIAEXAMPLEINSTANCE1";
constexpr char kSecret[] = "instance-secret-key";
constexpr char kToken[] = "instance-session-token";
constexpr char kInactiveKeyId[] = "AKIAINACTIVEKEY00001";
constexpr char kInactiveSecret[] = "deactivated-secret-key";

class OneKeyResolver final : public iam::CredentialResolver {
 public:
  Result<iam::ResolvedKey> Resolve(std::string_view access_key_id, std::string_view session_token,
                                   TimePoint) override {
    if (access_key_id != kKeyId || session_token != kToken) {
      return Unauthenticated("The security token included in the request is invalid.",
                             "InvalidClientTokenId");
    }
    iam::ResolvedKey key;
    key.secret_access_key = SecretBytes(kSecret);
    key.principal.type = iam::PrincipalType::kAssumedRole;
    key.principal.arn = "arn:aws:sts::123456789012:assumed-role/Fleet/mi-0123456789abcdef0";
    key.principal.instance_id = "mi-0123456789abcdef0";
    return key;
  }
  // One long-term key exists and is Inactive.
  Result<iam::ResolvedKey> ResolveInactive(std::string_view access_key_id) override {
    if (access_key_id != kInactiveKeyId) return NotFound("not an inactive key");
    iam::ResolvedKey key;
    key.secret_access_key = SecretBytes(kInactiveSecret);
    key.principal.arn = "arn:aws:iam::123456789012:user/app";
    return key;
  }
};

class RecordingObserver final : public RequestObserver {
 public:
  void OnRequest(const ObservedRequest& request) override { seen.push_back(request); }
  std::vector<ObservedRequest> seen;
};

class NoPolicies final : public iam::PolicyResolver {
 public:
  Result<std::vector<std::shared_ptr<const policy::Policy>>> IdentityPolicies(
      const iam::Principal&) override {
    return std::vector<std::shared_ptr<const policy::Policy>>{};
  }
};

class RecordingUsage final : public iam::UsageRecorder {
 public:
  void RecordUse(std::string_view access_key_id, std::string_view service, std::string_view,
                 TimePoint) override {
    uses.push_back(std::string(access_key_id) + " " + std::string(service));
  }
  std::vector<std::string> uses;
};

class CountingRandom final : public Random {
 public:
  void Fill(std::uint8_t* out, std::size_t n) override {
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::uint8_t>(next_++);
  }

 private:
  std::uint8_t next_ = 0;
};

class AgentHandler final : public HttpHandler {
 public:
  HttpResponse Handle(const HttpRequest& request) override {
    targets.push_back(request.target);
    HttpResponse r;
    r.body = "agent";
    return r;
  }
  std::vector<std::string> targets;
};

class DispatcherTest : public ::testing::Test {
 protected:
  HttpRequest SignedUpgrade(std::string_view secret) {
    HttpRequest r;
    r.method = "GET";
    r.target = "/v1/control-channel/mi-0123456789abcdef0";
    r.headers = {{"Host", "keyward.test"}, {"Upgrade", "websocket"}};
    const sigv4::Credentials creds{kKeyId, SecretBytes(std::string(secret)), kToken};
    const sigv4::RequestView view{r.method, r.target, r.headers, r.body};
    for (auto& h : sigv4::Sign(view, creds, {"us-east-1", "ssm", clock_.Now()})) {
      r.headers.push_back(std::move(h));
    }
    return r;
  }

  // A JSON 1.1 call to the test service "echo" (no authorization), signed with the
  // given credentials.
  HttpRequest SignedEcho(const sigv4::Credentials& creds, std::string body) {
    HttpRequest r;
    r.method = "POST";
    r.target = "/";
    r.remote_address = "192.0.2.7";
    r.body = std::move(body);
    r.headers = {{"Host", "keyward.test"},
                 {"X-Amz-Target", "Echo.Echo"},
                 {"User-Agent", "aws-cli/2 test"},
                 {"Content-Type", "application/x-amz-json-1.1"}};
    const sigv4::RequestView view{r.method, r.target, r.headers, r.body};
    for (auto& h : sigv4::Sign(view, creds, {"us-east-1", "echo", clock_.Now()})) {
      r.headers.push_back(std::move(h));
    }
    return r;
  }
  void AddEchoService() {
    JsonOperation echo;
    echo.name = "Echo";
    echo.authorize = false;
    echo.handler = [](const JsonCall& call) -> Result<nlohmann::json> {
      return nlohmann::json{{"Echoed", call.input.value("Value", "")}};
    };
    dispatcher_.AddJsonService(JsonService{"echo", "Echo", "echo", {echo}});
  }

  // A query-protocol call of the test service "qecho" (no authorization).
  HttpRequest SignedQuery(const sigv4::Credentials& creds, std::string_view action) {
    HttpRequest r;
    r.method = "POST";
    r.target = "/";
    r.body = "Action=" + std::string(action) + "&Version=2010-05-08&Name=n1";
    r.headers = {{"Host", "keyward.test"},
                 {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
    const sigv4::RequestView view{r.method, r.target, r.headers, r.body};
    for (auto& h : sigv4::Sign(view, creds, {"us-east-1", "qecho", clock_.Now()})) {
      r.headers.push_back(std::move(h));
    }
    return r;
  }
  // CreateThing (a write) and GetThing (a read) write the same result.
  void AddQueryEchoService() {
    auto write_thing = [](const QueryCall& call, XmlWriter& x) -> Status {
      x.Open("Thing")
          .Element("Name", call.params.Get("Name").value_or(""))
          .Element("SecretAccessKey", "thing-secret")
          .Close("Thing");
      return OkStatus();
    };
    auto star = [](const QueryParams&, const iam::Principal&) { return std::string("*"); };
    QueryService svc{"qecho", "qecho", "https://qecho.test/doc/", "2010-05-08", {}};
    svc.operations.push_back(MakeOperation("CreateThing", false, star, write_thing, false));
    svc.operations.push_back(MakeOperation("GetThing", true, star, write_thing, false));
    dispatcher_.AddQueryService(std::move(svc));
  }

  FakeClock clock_{*ParseIso8601("2026-03-01T12:00:00Z")};
  CountingRandom random_;
  OneKeyResolver credentials_;
  NoPolicies policies_;
  RecordingUsage usage_;
  Metrics metrics_;
  Dispatcher dispatcher_{
      DispatcherDeps{clock_, random_, credentials_, policies_, usage_, metrics_}};
};

TEST_F(DispatcherTest, AuthenticateVerifiesTheSignatureAndRecordsUse) {
  auto principal = dispatcher_.Authenticate(SignedUpgrade(kSecret));
  ASSERT_TRUE(principal.has_value()) << principal.error().message;
  EXPECT_EQ(principal->instance_id, "mi-0123456789abcdef0");
  EXPECT_EQ(usage_.uses, (std::vector<std::string>{std::string(kKeyId) + " ssm"}));
}

TEST_F(DispatcherTest, AuthenticateRefusesABadSignatureAndCountsIt) {
  auto principal = dispatcher_.Authenticate(SignedUpgrade("wrong-secret"));
  ASSERT_FALSE(principal.has_value());
  EXPECT_EQ(principal.error().reason, "SignatureDoesNotMatch");
  EXPECT_TRUE(usage_.uses.empty());
  EXPECT_NE(metrics_.Render().find("SignatureDoesNotMatch"), std::string::npos);

  HttpRequest unsigned_request;
  unsigned_request.method = "GET";
  unsigned_request.target = "/v1/control-channel/mi-0123456789abcdef0";
  EXPECT_FALSE(dispatcher_.Authenticate(unsigned_request).has_value());
}

TEST_F(DispatcherTest, ObserversSeeTheCallerTheRequestAndTheResponse) {
  AddEchoService();
  RecordingObserver observer;
  dispatcher_.AddObserver(&observer);
  const sigv4::Credentials creds{kKeyId, SecretBytes(kSecret), kToken};
  const HttpResponse response = dispatcher_.Handle(SignedEcho(creds, R"({"Value":"v1"})"));
  ASSERT_EQ(response.status, 200) << response.body;
  ASSERT_EQ(observer.seen.size(), 1u);
  const ObservedRequest& seen = observer.seen[0];
  EXPECT_EQ(seen.service, "echo");
  EXPECT_EQ(seen.operation, "Echo");
  EXPECT_EQ(seen.region, "us-east-1");
  EXPECT_EQ(seen.source_ip, "192.0.2.7");
  EXPECT_EQ(seen.user_agent, "aws-cli/2 test");
  EXPECT_EQ(seen.access_key_id, kKeyId);
  ASSERT_TRUE(seen.principal.has_value());
  EXPECT_EQ(seen.principal->instance_id, "mi-0123456789abcdef0");
  EXPECT_EQ(seen.json_input, (nlohmann::json{{"Value", "v1"}}));
  EXPECT_EQ(seen.json_output, (nlohmann::json{{"Echoed", "v1"}}));
  EXPECT_EQ(seen.http_status, 200);
  EXPECT_TRUE(seen.error_code.empty());
  EXPECT_FALSE(seen.request_id.empty());
  EXPECT_NE(response.body.find("v1"), std::string::npos);  // the response still has it
}

TEST_F(DispatcherTest, ObserversSeeTheStructureOfAQueryWriteButNotOfAQueryRead) {
  AddQueryEchoService();
  RecordingObserver observer;
  dispatcher_.AddObserver(&observer);
  const sigv4::Credentials creds{kKeyId, SecretBytes(kSecret), kToken};
  const HttpResponse write = dispatcher_.Handle(SignedQuery(creds, "CreateThing"));
  ASSERT_EQ(write.status, 200) << write.body;
  EXPECT_NE(write.body.find("<CreateThingResult><Thing><Name>n1</Name>"), std::string::npos)
      << write.body;
  const HttpResponse read = dispatcher_.Handle(SignedQuery(creds, "GetThing"));
  ASSERT_EQ(read.status, 200) << read.body;
  ASSERT_EQ(observer.seen.size(), 2u);
  EXPECT_EQ(observer.seen[0].operation, "CreateThing");
  EXPECT_EQ(observer.seen[0].query_output,
            (nlohmann::json{{"Thing", {{"Name", "n1"}, {"SecretAccessKey", "thing-secret"}}}}));
  EXPECT_FALSE(observer.seen[0].json_output.has_value());
  EXPECT_EQ(observer.seen[1].operation, "GetThing");
  EXPECT_FALSE(observer.seen[1].query_output.has_value());  // reads: nothing built
}

TEST_F(DispatcherTest, ObserversSeeRefusedRequestsWithTheKeyThatWasPresented) {
  AddEchoService();
  RecordingObserver observer;
  dispatcher_.AddObserver(&observer);
  const sigv4::Credentials wrong{kKeyId, SecretBytes("wrong-secret"), kToken};
  EXPECT_EQ(dispatcher_.Handle(SignedEcho(wrong, "{}")).status, 403);
  ASSERT_EQ(observer.seen.size(), 1u);
  EXPECT_EQ(observer.seen[0].error_code, "SignatureDoesNotMatch");
  EXPECT_EQ(observer.seen[0].access_key_id, kKeyId);
  EXPECT_FALSE(observer.seen[0].principal.has_value());
  EXPECT_FALSE(observer.seen[0].key_inactive);
}

TEST_F(DispatcherTest, AValidSignatureByAnInactiveKeyIsRefusedButReportedAsSuch) {
  AddEchoService();
  RecordingObserver observer;
  dispatcher_.AddObserver(&observer);
  const sigv4::Credentials old_key{kInactiveKeyId, SecretBytes(kInactiveSecret), ""};
  const HttpResponse refused = dispatcher_.Handle(SignedEcho(old_key, "{}"));
  EXPECT_EQ(refused.status, 403);
  // As AWS answers a JSON-protocol call with a key that is not active.
  EXPECT_NE(refused.body.find("UnrecognizedClientException"), std::string::npos) << refused.body;
  ASSERT_EQ(observer.seen.size(), 1u);
  EXPECT_TRUE(observer.seen[0].key_inactive);
  EXPECT_EQ(observer.seen[0].error_code, "InvalidClientTokenId");
  EXPECT_TRUE(usage_.uses.empty());  // a refused request is no use of the key

  // Knowing only the key ID is not enough to pass for its holder.
  const sigv4::Credentials forged{kInactiveKeyId, SecretBytes("guessed-secret"), ""};
  EXPECT_EQ(dispatcher_.Handle(SignedEcho(forged, "{}")).status, 403);
  ASSERT_EQ(observer.seen.size(), 2u);
  EXPECT_FALSE(observer.seen[1].key_inactive);
}

TEST_F(DispatcherTest, AgentPathsGoToTheAgentHandlerWithAgentMetrics) {
  HttpRequest r;
  r.method = "POST";
  r.target = "/v1/agent/register";
  EXPECT_EQ(dispatcher_.Handle(r).status, 404);  // no agent handler yet

  AgentHandler agent;
  dispatcher_.SetAgentHandler(&agent);
  const HttpResponse response = dispatcher_.Handle(r);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "agent");
  EXPECT_EQ(agent.targets, (std::vector<std::string>{"/v1/agent/register"}));
  const std::string metrics = metrics_.Render();
  EXPECT_NE(metrics.find("service=\"agent\""), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("operation=\"register\""), std::string::npos) << metrics;

  // Other paths still take the AWS pipeline (which refuses them unsigned).
  HttpRequest other;
  other.method = "POST";
  other.target = "/";
  EXPECT_NE(dispatcher_.Handle(other).body, "agent");
  EXPECT_EQ(agent.targets.size(), 1u);
}

}  // namespace
}  // namespace kw::api
