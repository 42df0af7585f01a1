#include "agent/actions.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "agent/state_dir.hpp"
#include "crypto/digest.hpp"
#include "crypto/signature.hpp"

namespace kw::agent {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A fake server for the three agent endpoints, checking what the agent sends.
struct FakeServer {
  std::string public_key;  // from the registration
  agentproto::Fingerprint fingerprint;
  std::string challenge = crypto::Base64Encode(std::string(32, 'c'));
  std::string credentials_error;  // __type to answer /credentials with
  int calls = 0;

  PostFn Poster() {
    return [this](const std::string& path, std::string body) -> Result<HttpReply> {
      ++calls;
      if (path == "/v1/agent/register") {
        auto req = agentproto::DecodeRegisterRequest(body);
        if (!req) return HttpReply{400, R"({"__type":"SerializationException"})"};
        if (req->activation_code != "good-code") {
          return HttpReply{400, R"({"__type":"InvalidActivation","message":"bad code"})"};
        }
        public_key = req->public_key;
        fingerprint = req->fingerprint;
        return HttpReply{200, R"({"InstanceId":"mi-0123456789abcdef0"})"};
      }
      if (path == "/v1/agent/challenge") {
        return HttpReply{200, agentproto::Encode(agentproto::ChallengeResponse{challenge, 0})};
      }
      if (path == "/v1/agent/credentials") {
        if (!credentials_error.empty()) {
          return HttpReply{403, json{{"__type", credentials_error}, {"message", "no"}}.dump()};
        }
        auto req = agentproto::DecodeCredentialsRequest(body);
        if (!req || req->challenge != challenge ||
            !crypto::VerifyEd25519(public_key,
                                   agentproto::CredentialProofMessage(
                                       req->instance_id, req->challenge, req->fingerprint),
                                   req->signature)) {
          return HttpReply{400, R"({"__type":"AccessDeniedException"})"};
        }
        agentproto::CredentialsResponse resp;
        resp.access_key_id = "ASIAINSTANCE";
        resp.secret_access_key = "instance-secret";
        resp.session_token = "instance-token";
        resp.expiration = 1767225600;
        return HttpReply{200, agentproto::Encode(resp)};
      }
      return HttpReply{404, "{}"};
    };
  }
};

class ActionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kw_agent_actions_XXXXXX";
    base_ = ::mkdtemp(tmpl);
    fs::create_directories(base_ / "root/etc");
    std::ofstream(base_ / "root/etc/machine-id") << "abcdef\n";
    options_.state_dir = base_ / "state";
    options_.identity_root = base_ / "root";
    options_.endpoint = "http://127.0.0.1:1/";
    options_.activation_code = "good-code";
    options_.activation_id = "act-1";
    options_.region = "eu-west-1";
  }
  void TearDown() override { fs::remove_all(base_); }

  fs::path base_;
  RegisterOptions options_;
  FakeServer server_;
  SystemClock clock_;
};

TEST_F(ActionsTest, RegistersStoresStateAndRefusesToRegisterTwice) {
  auto id = RegisterHost(options_, clock_, server_.Poster());
  ASSERT_TRUE(id.has_value()) << id.error().message;
  EXPECT_EQ(*id, "mi-0123456789abcdef0");
  EXPECT_EQ(server_.public_key.size(), 32u);
  EXPECT_EQ(server_.fingerprint.at("machine_id"), crypto::Sha256Hex("abcdef"));
  const StateDir state(options_.state_dir);
  auto reg = state.ReadRegistration();
  ASSERT_TRUE(reg.has_value());
  EXPECT_EQ(reg->instance_id, *id);
  EXPECT_EQ(reg->endpoint, "http://127.0.0.1:1");
  EXPECT_EQ(reg->fingerprint, server_.fingerprint);
  auto key = state.ReadHostKey();
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(*crypto::Ed25519PublicKey(*key), server_.public_key);

  auto again = RegisterHost(options_, clock_, server_.Poster());
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);
  options_.force = true;
  EXPECT_TRUE(RegisterHost(options_, clock_, server_.Poster()).has_value());
}

TEST_F(ActionsTest, RefusedActivationKeepsTheServersReason) {
  options_.activation_code = "wrong";
  auto id = RegisterHost(options_, clock_, server_.Poster());
  ASSERT_FALSE(id.has_value());
  EXPECT_EQ(id.error().reason, "InvalidActivation");
  EXPECT_NE(id.error().message.find("bad code"), std::string::npos);
  EXPECT_EQ(StateDir(options_.state_dir).ReadRegistration().error().code, ErrorCode::kNotFound);
}

TEST_F(ActionsTest, CredentialProcessSignsTheChallengeAndPrintsVersion1Json) {
  ASSERT_TRUE(RegisterHost(options_, clock_, server_.Poster()).has_value());
  auto out =
      CredentialProcessOutput(options_.state_dir, options_.identity_root, "", server_.Poster());
  ASSERT_TRUE(out.has_value()) << out.error().message;
  const json j = json::parse(*out);
  EXPECT_EQ(j["Version"], 1);
  EXPECT_EQ(j["AccessKeyId"], "ASIAINSTANCE");
  EXPECT_EQ(j["SecretAccessKey"], "instance-secret");
  EXPECT_EQ(j["SessionToken"], "instance-token");
  EXPECT_EQ(j["Expiration"], "2026-01-01T00:00:00Z");
}

TEST_F(ActionsTest, CredentialErrorsCarryTheProtocolReason) {
  ASSERT_TRUE(RegisterHost(options_, clock_, server_.Poster()).has_value());
  for (const char* reason : {"FingerprintMismatch", "InvalidInstanceId"}) {
    server_.credentials_error = reason;
    auto out =
        CredentialProcessOutput(options_.state_dir, options_.identity_root, "", server_.Poster());
    ASSERT_FALSE(out.has_value());
    EXPECT_EQ(out.error().reason, reason);
  }
}

TEST_F(ActionsTest, StatusReportsAFingerprintChange) {
  ASSERT_TRUE(RegisterHost(options_, clock_, server_.Poster()).has_value());
  auto report = StatusReport(options_.state_dir, options_.identity_root, clock_);
  ASSERT_TRUE(report.has_value());
  EXPECT_NE(report->find("mi-0123456789abcdef0"), std::string::npos);
  EXPECT_NE(report->find("Fingerprint:        matches"), std::string::npos);
  EXPECT_NE(report->find("never ran"), std::string::npos);
  std::ofstream(base_ / "root/etc/machine-id") << "another-machine\n";
  report = StatusReport(options_.state_dir, options_.identity_root, clock_);
  ASSERT_TRUE(report.has_value());
  EXPECT_NE(report->find("DOES NOT MATCH"), std::string::npos);
  EXPECT_NE(report->find("machine_id"), std::string::npos);
}

}  // namespace
}  // namespace kw::agent
