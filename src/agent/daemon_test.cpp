// The agent against a small in-process Beast server that speaks the agent protocol:
// transport (HTTP and WebSocket), SigV4 on the upgrade, and the daemon end to end.
#include "agent/daemon.hpp"

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <fstream>
#include <future>
#include <sstream>

#include "agent/state_dir.hpp"
#include "agent/transport.hpp"
#include "common/net.hpp"
#include "crypto/digest.hpp"
#include "crypto/signature.hpp"
#include "sigv4/sigv4.hpp"

namespace kw::agent {
namespace {

namespace fs = std::filesystem;
namespace asio = net::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using net::error_code;
using net::tcp;
using namespace std::chrono_literals;

constexpr const char* kInstance = "mi-0123456789abcdef0";
constexpr const char* kSecret = "instance-secret";
constexpr const char* kToken = "instance-token";

class FakeKeyward {
 public:
  explicit FakeKeyward(std::string public_key) : public_key_(std::move(public_key)) {
    acceptor_.open(tcp::v4());
    acceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    asio::co_spawn(io_, Accept(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~FakeKeyward() {
    io_.stop();
    thread_.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // Waits until `pred(messages)` holds; false after `timeout`.
  template <class Pred>
  bool WaitFor(Pred pred, std::chrono::seconds timeout = 20s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return pred(messages_); });
  }
  std::vector<agentproto::ControlMessage> messages() {
    std::lock_guard lock(mu_);
    return messages_;
  }
  int refused_upgrades() {
    std::lock_guard lock(mu_);
    return refused_;
  }

  std::string fingerprint_error;  // __type to answer /credentials with, if set

 private:
  asio::awaitable<void> Accept() {
    for (;;) {
      error_code ec;
      tcp::socket socket =
          co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      asio::co_spawn(io_, Serve(std::move(socket)), asio::detached);
    }
  }

  std::pair<int, std::string> HandleApi(const std::string& target, const std::string& body) {
    if (target == "/v1/agent/challenge") {
      return {200, agentproto::Encode(agentproto::ChallengeResponse{challenge_, 0})};
    }
    if (target == "/v1/agent/credentials") {
      auto req = agentproto::DecodeCredentialsRequest(body);
      if (!req || req->instance_id != kInstance ||
          !crypto::VerifyEd25519(public_key_,
                                 agentproto::CredentialProofMessage(
                                     req->instance_id, req->challenge, req->fingerprint),
                                 req->signature)) {
        return {400, R"({"__type":"AccessDeniedException","message":"bad proof"})"};
      }
      agentproto::CredentialsResponse resp;
      resp.access_key_id = "ASIAINSTANCE";
      resp.secret_access_key = kSecret;
      resp.session_token = kToken;
      resp.expiration = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count() +
                        3600;
      return {200, agentproto::Encode(resp)};
    }
    return {404, R"({"__type":"UnknownOperationException"})"};
  }

  asio::awaitable<void> Serve(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> req;
      error_code ec;
      co_await http::async_read(stream, buffer, req, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      if (websocket::is_upgrade(req)) {
        co_await ServeChannel(std::move(stream), std::move(req));
        co_return;
      }
      auto [status, body] = HandleApi(std::string(req.target()), req.body());
      http::response<http::string_body> res{static_cast<http::status>(status), 11};
      res.set(http::field::content_type, "application/x-amz-json-1.1");
      res.body() = body;
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
      if (ec || !req.keep_alive()) co_return;
    }
  }

  bool Authorized(const http::request<http::string_body>& req) {
    HeaderList headers;
    for (const auto& f : req) {
      headers.push_back({std::string(f.name_string()), std::string(f.value())});
    }
    const std::string target(req.target());
    const sigv4::RequestView view{"GET", target, headers, ""};
    auto auth = sigv4::ParseAuth(view);
    if (!auth || auth->service != "ssm" || auth->region != "eu-west-1" ||
        auth->access_key_id != "ASIAINSTANCE" || auth->session_token != kToken ||
        target != std::string("/v1/control-channel/") + kInstance) {
      return false;
    }
    return verifier_.Verify(view, *auth, SecretBytes(kSecret), std::chrono::system_clock::now())
        .has_value();
  }

  asio::awaitable<void> ServeChannel(beast::tcp_stream stream,
                                     http::request<http::string_body> req) {
    error_code ec;
    if (!Authorized(req)) {
      {
        std::lock_guard lock(mu_);
        ++refused_;
      }
      http::response<http::string_body> res{http::status::forbidden, 11};
      res.body() = R"({"message":"not this instance"})";
      res.prepare_payload();
      co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
      co_return;
    }
    websocket::stream<beast::tcp_stream> ws(std::move(stream));
    co_await ws.async_accept(req, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    ws.text(true);
    beast::flat_buffer buffer;
    // A scripted server: every write happens here, in order, so none overlap. (Named
    // strings, no temporaries in co_await expressions: GCC 12 mishandles those.)
    for (;;) {
      co_await ws.async_read(buffer, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      auto message = agentproto::DecodeControlMessage(beast::buffers_to_string(buffer.data()));
      buffer.consume(buffer.size());
      if (!message) continue;
      {
        std::lock_guard lock(mu_);
        messages_.push_back(*message);
      }
      cv_.notify_all();
      using Type = agentproto::ControlMessage::Type;
      std::vector<std::string> replies;
      if (message->type == Type::kHello) {
        agentproto::CommandMessage c1;
        c1.command_id = "c1";
        c1.document_name = "AWS-RunShellScript";
        c1.steps.resize(1);
        c1.steps[0].name = "aws:runShellScript";
        c1.steps[0].run_command = {"echo key=$AWS_ACCESS_KEY_ID",
                                   "echo endpoint=$AWS_ENDPOINT_URL region=$AWS_REGION"};
        replies.push_back(agentproto::Encode(c1));
        replies.push_back(agentproto::Encode(c1));  // delivered twice: must run once
      } else if (message->type == Type::kResult && message->result.command_id == "c1") {
        agentproto::CommandMessage c2;
        c2.command_id = "c2";
        c2.steps.resize(1);
        c2.steps[0].run_command = {"sleep 30"};
        replies.push_back(agentproto::Encode(c2));
      } else if (message->type == Type::kAck && message->ack.command_id == "c2") {
        replies.push_back(agentproto::Encode(agentproto::CancelMessage{"c2"}));
      }
      for (const std::string& reply : replies) {
        co_await ws.async_write(asio::buffer(reply), asio::redirect_error(asio::use_awaitable, ec));
      }
    }
  }

  std::string public_key_;
  std::string challenge_ = crypto::Base64Encode(std::string(32, 'q'));
  asio::io_context io_;
  tcp::acceptor acceptor_{io_};
  unsigned short port_ = 0;
  std::thread thread_;
  sigv4::Verifier verifier_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<agentproto::ControlMessage> messages_;  // guarded by mu_
  int refused_ = 0;                                   // guarded by mu_
};

using Type = agentproto::ControlMessage::Type;

std::size_t Count(const std::vector<agentproto::ControlMessage>& ms, Type type,
                  const std::string& id = {}) {
  std::size_t n = 0;
  for (const auto& m : ms) {
    if (m.type != type) continue;
    if (!id.empty() && type == Type::kAck && m.ack.command_id != id) continue;
    if (!id.empty() && type == Type::kResult && m.result.command_id != id) continue;
    ++n;
  }
  return n;
}

const agentproto::ResultMessage* FindResult(const std::vector<agentproto::ControlMessage>& ms,
                                            const std::string& id) {
  for (const auto& m : ms) {
    if (m.type == Type::kResult && m.result.command_id == id) return &m.result;
  }
  return nullptr;
}

TEST(Transport, ParsesServerUrls) {
  auto u = ParseServerUrl("https://kw.example.com:8443/base/");
  ASSERT_TRUE(u.has_value());
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "kw.example.com");
  EXPECT_EQ(u->port, "8443");
  EXPECT_EQ(u->base_path, "/base");
  EXPECT_EQ(u->host_header, "kw.example.com:8443");
  u = ParseServerUrl("http://[::1]");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, "80");
  EXPECT_EQ(u->host_header, "[::1]");
  for (const char* bad :
       {"ftp://x", "kw.example.com", "http://", "http://x:99999", "http://u@x", "http://x/?a=b"}) {
    EXPECT_FALSE(ParseServerUrl(bad).has_value()) << bad;
  }
}

TEST(Transport, UnsignedUpgradeIsRefusedWithPermissionDenied) {
  FakeKeyward server("");
  auto url = ParseServerUrl(server.url());
  ASSERT_TRUE(url.has_value());
  const auto t0 = std::chrono::steady_clock::now();
  auto channel = ConnectWebSocket(*url, std::string("/v1/control-channel/") + kInstance,
                                  {{"Host", url->host_header}}, {}, {});
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);  // no wait for a handshake timer
  ASSERT_FALSE(channel.has_value());
  EXPECT_EQ(channel.error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(channel.error().reason, "403");
  auto reply = HttpRequest(*url, "POST", "/v1/agent/challenge", {}, "{}", {}, 5s);
  ASSERT_TRUE(reply.has_value()) << reply.error().message;
  EXPECT_EQ(reply->status, 200);
  auto refused = ParseServerUrl("http://127.0.0.1:1");
  auto none = HttpRequest(*refused, "POST", "/", {}, "", {}, 5s);
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.error().code, ErrorCode::kUnavailable);
}

TEST(Daemon, RunsCommandsOnceAcksCancelsAndHeartbeats) {
  // The daemon waits for SIGTERM on a thread of its own; block it here first so that no
  // other thread (the fake server's) takes it with the default action.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  ::pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  char tmpl[] = "/tmp/kw_agent_daemon_XXXXXX";
  const fs::path base = ::mkdtemp(tmpl);
  auto key = crypto::GenerateEd25519();
  ASSERT_TRUE(key.has_value());
  FakeKeyward server(key->public_key);

  const StateDir state(base / "state");
  ASSERT_TRUE(state.Ensure().has_value());
  ASSERT_TRUE(state.WriteHostKey(key->private_key_pem).has_value());
  Registration reg;
  reg.instance_id = kInstance;
  reg.endpoint = server.url();
  reg.region = "eu-west-1";
  ASSERT_TRUE(state.WriteRegistration(reg).has_value());
  { std::ofstream(base / "credentials") << "[default]\naws_access_key_id = MINE\n"; }

  RunOptions options;
  options.state_dir = state.root();
  options.credentials_file = (base / "credentials").string();
  options.profile = "keyward";
  options.heartbeat = 1s;
  options.kill_grace = 1s;
  options.agent_version = "test";
  auto done = std::async(std::launch::async, [&] { return RunDaemon(options); });

  const bool finished = server.WaitFor([](const auto& ms) {
    return Count(ms, Type::kResult, "c2") == 1 && Count(ms, Type::kHeartbeat) >= 1;
  });
  const auto ms = server.messages();
  ::kill(::getpid(), SIGTERM);
  ASSERT_EQ(done.wait_for(30s), std::future_status::ready);
  EXPECT_EQ(done.get(), kExitOk);
  ASSERT_TRUE(finished);

  ASSERT_FALSE(ms.empty());
  EXPECT_EQ(ms[0].type, Type::kHello);
  EXPECT_EQ(ms[0].hello.agent_version, "test");
  EXPECT_FALSE(ms[0].hello.ip_address.empty());
  EXPECT_EQ(Count(ms, Type::kAck, "c1"), 2u);     // each delivery is acknowledged...
  EXPECT_EQ(Count(ms, Type::kResult, "c1"), 1u);  // ...but it ran once
  const auto* c1 = FindResult(ms, "c1");
  ASSERT_NE(c1, nullptr);
  EXPECT_EQ(c1->status, "Success");
  ASSERT_EQ(c1->steps.size(), 1u);
  EXPECT_EQ(c1->steps[0].standard_output,
            "key=ASIAINSTANCE\nendpoint=" + server.url() + " region=eu-west-1\n");
  const auto* c2 = FindResult(ms, "c2");
  ASSERT_NE(c2, nullptr);
  EXPECT_EQ(c2->status, "Cancelled");

  std::stringstream creds;
  creds << std::ifstream(base / "credentials").rdbuf();
  EXPECT_NE(creds.str().find("[default]\naws_access_key_id = MINE\n"), std::string::npos);
  EXPECT_NE(creds.str().find("[keyward]\naws_access_key_id = ASIAINSTANCE\n"), std::string::npos);
  auto status = state.ReadStatus();
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->connection, "stopped");
  EXPECT_GT(status->credential_expiration, 0);
  EXPECT_EQ(status->last_command_id, "c2");
  EXPECT_EQ(status->last_command_status, "Cancelled");
  EXPECT_EQ(server.refused_upgrades(), 0);
  fs::remove_all(base);
}

}  // namespace
}  // namespace kw::agent
