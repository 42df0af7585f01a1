#include "api/agent/agent_endpoints.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fleet/fleet_test_support.hpp"

namespace kw::api {
namespace {

using fleet::testing::FakeHost;
using nlohmann::json;

class AgentEndpointsTest : public ::testing::Test, protected fleet::testing::FleetFixture {
 protected:
  AgentEndpointsTest() : endpoints_(fleet_, clock_, random_) {
    MakeRole("fleet-role");
    activation_ = Activate(2);
  }

  HttpResponse Post(std::string_view path, std::string body, std::string ip = "192.0.2.10") {
    HttpRequest r;
    r.method = "POST";
    r.target = std::string(path);
    r.headers = {{"Content-Type", "application/x-amz-json-1.1"}};
    r.body = std::move(body);
    r.remote_address = std::move(ip);
    return endpoints_.Handle(r);
  }
  static std::string Type(const HttpResponse& r) {
    return json::parse(r.body).value("__type", std::string("<none>"));
  }

  // Registers `host` over HTTP.
  void RegisterOverHttp(FakeHost& host) {
    HttpResponse r =
        Post("/v1/agent/register", agentproto::Encode(host.Registration(
                                       activation_.activation_id, activation_.activation_code)));
    ASSERT_EQ(r.status, 200) << r.body;
    auto decoded = agentproto::DecodeRegisterResponse(r.body);
    ASSERT_TRUE(decoded.has_value());
    host.instance_id = decoded->instance_id;
  }

  HttpResponse CredentialsOverHttp(const FakeHost& host) {
    HttpResponse c = Post("/v1/agent/challenge",
                          agentproto::Encode(agentproto::ChallengeRequest{host.instance_id}));
    EXPECT_EQ(c.status, 200) << c.body;
    auto challenge = agentproto::DecodeChallengeResponse(c.body);
    EXPECT_TRUE(challenge.has_value());
    if (!challenge) return c;
    EXPECT_EQ(challenge->expires_at,
              std::chrono::duration_cast<std::chrono::seconds>(
                  (clock_.Now() + std::chrono::seconds(60)).time_since_epoch())
                  .count());
    return Post("/v1/agent/credentials", agentproto::Encode(host.Prove(challenge->challenge)));
  }

  AgentEndpoints endpoints_;
  fleet::CreatedActivation activation_;
};

TEST_F(AgentEndpointsTest, RegisterChallengeCredentials) {
  FakeHost host = FakeHost::Make("one");
  RegisterOverHttp(host);
  EXPECT_TRUE(fleet::IsManagedInstanceId(host.instance_id));
  EXPECT_EQ(fleet_.GetInstance(host.instance_id)->ip_address, "192.0.2.10");

  HttpResponse r = CredentialsOverHttp(host);
  ASSERT_EQ(r.status, 200) << r.body;
  const HeaderField* cache = FindHeader(r.headers, "Cache-Control");
  ASSERT_NE(cache, nullptr);
  EXPECT_EQ(cache->value, "no-store");
  auto creds = agentproto::DecodeCredentialsResponse(r.body);
  ASSERT_TRUE(creds.has_value());
  EXPECT_EQ(creds->access_key_id.substr(0, 4), "ASIA");
  EXPECT_EQ(creds->role_arn, "arn:aws:iam::123456789012:role/fleet-role");
  auto resolved = sts_.Resolve(creds->access_key_id, creds->session_token, clock_.Now());
  ASSERT_TRUE(resolved.has_value());
  EXPECT_EQ(resolved->principal.instance_id, host.instance_id);
}

TEST_F(AgentEndpointsTest, FingerprintMismatchIs403) {
  FakeHost host = FakeHost::Make("one");
  RegisterOverHttp(host);
  FakeHost copy = host.Clone();
  copy.fingerprint = FakeHost::Make("elsewhere").fingerprint;
  HttpResponse r = CredentialsOverHttp(copy);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(Type(r), "FingerprintMismatch");
  const HeaderField* type = FindHeader(r.headers, "X-Amzn-ErrorType");
  ASSERT_NE(type, nullptr);
  EXPECT_EQ(type->value, "FingerprintMismatch");
}

TEST_F(AgentEndpointsTest, RefusalsAreJsonErrors) {
  FakeHost host = FakeHost::Make("one");
  HttpResponse wrong = Post("/v1/agent/register",
                            agentproto::Encode(host.Registration(activation_.activation_id, "x")));
  EXPECT_EQ(wrong.status, 400);
  EXPECT_EQ(Type(wrong), "InvalidActivation");
  EXPECT_EQ(json::parse(wrong.body)["message"],
            "The activation ID or activation code is not valid.");

  HttpResponse malformed = Post("/v1/agent/register", "{not json");
  EXPECT_EQ(malformed.status, 400);
  EXPECT_EQ(Type(malformed), "SerializationException");

  HttpResponse unknown =
      Post("/v1/agent/challenge",
           agentproto::Encode(agentproto::ChallengeRequest{"mi-00000000000000000"}));
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(Type(unknown), "InvalidInstanceId");

  RegisterOverHttp(host);
  agentproto::CredentialsRequest forged = host.Prove(std::string(44, 'A'));
  HttpResponse denied = Post("/v1/agent/credentials", agentproto::Encode(forged));
  EXPECT_EQ(denied.status, 400);  // SSM's AccessDeniedException is a 400
  EXPECT_EQ(Type(denied), "AccessDeniedException");
}

TEST_F(AgentEndpointsTest, ThrottlingAfterRepeatedWrongCodes) {
  FakeHost host = FakeHost::Make("one");
  const std::string body =
      agentproto::Encode(host.Registration(activation_.activation_id, "guess"));
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(Type(Post("/v1/agent/register", body, "203.0.113.9")), "InvalidActivation");
  HttpResponse r = Post("/v1/agent/register", body, "203.0.113.9");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Type(r), "ThrottlingException");
}

TEST_F(AgentEndpointsTest, RoutingAndMethods) {
  HttpRequest get;
  get.method = "GET";
  get.target = "/v1/agent/register";
  EXPECT_TRUE(AgentEndpoints::Owns(get));
  HttpResponse r = endpoints_.Handle(get);
  EXPECT_EQ(r.status, 405);
  ASSERT_NE(FindHeader(r.headers, "Allow"), nullptr);

  EXPECT_EQ(Post("/v1/agent/nothing", "{}").status, 404);
  EXPECT_EQ(Post("/v1/agent/register?x=1", "{}").status, 400);  // routed, then refused
  HttpRequest other;
  other.target = "/";
  EXPECT_FALSE(AgentEndpoints::Owns(other));
  other.target = "/v1/control-channel/mi-0123456789abcdef0";
  EXPECT_FALSE(AgentEndpoints::Owns(other));
  other.target = "/v1/agentx";
  EXPECT_FALSE(AgentEndpoints::Owns(other));
}

}  // namespace
}  // namespace kw::api
