#include "api/agent/control_channel.hpp"

#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agentproto/agent_protocol.hpp"
#include "common/clock.hpp"
#include "events/event_log.hpp"
#include "events/event_recorder.hpp"
#include "store/memory/memory_kv_store.hpp"

namespace kw::api {
namespace {

using CloseCode = WebSocketConnection::CloseCode;
constexpr char kInstance[] = "mi-0123456789abcdef0";
constexpr char kOther[] = "mi-00000000000000001";

class FakeConnection final : public WebSocketConnection {
 public:
  void Send(std::string text) override {
    std::lock_guard<std::mutex> lock(mu_);
    sent_.push_back(std::move(text));
  }
  void Close() override { CloseWith(CloseCode::kNormal); }
  void CloseWith(CloseCode code) override {
    std::lock_guard<std::mutex> lock(mu_);
    closes_.push_back(code);
  }
  const std::string& remote_address() const override { return remote_; }

  std::vector<agentproto::ControlMessage> Sent() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<agentproto::ControlMessage> out;
    for (const auto& s : sent_) {
      auto m = agentproto::DecodeControlMessage(s);
      EXPECT_TRUE(m.has_value()) << s;
      if (m) out.push_back(*m);
    }
    return out;
  }
  std::vector<CloseCode> Closes() {
    std::lock_guard<std::mutex> lock(mu_);
    return closes_;
  }

 private:
  std::string remote_ = "192.0.2.7";
  std::mutex mu_;
  std::vector<std::string> sent_;
  std::vector<CloseCode> closes_;
};

class FakePresence final : public fleet::Presence {
 public:
  void Connected(std::string_view instance_id, const agentproto::HelloMessage& hello,
                 std::string_view remote_address, TimePoint) override {
    std::lock_guard<std::mutex> lock(mu);
    events.push_back("connected " + std::string(instance_id) + " " + hello.agent_version + " " +
                     std::string(remote_address));
  }
  void Heartbeat(std::string_view instance_id, TimePoint) override {
    std::lock_guard<std::mutex> lock(mu);
    events.push_back("heartbeat " + std::string(instance_id));
  }
  void Disconnected(std::string_view instance_id, TimePoint) override {
    std::lock_guard<std::mutex> lock(mu);
    events.push_back("disconnected " + std::string(instance_id));
  }
  std::vector<std::string> Events() {
    std::lock_guard<std::mutex> lock(mu);
    return events;
  }

  std::mutex mu;
  std::vector<std::string> events;  // guarded by mu
};

class FakeQueue final : public commands::CommandQueue {
 public:
  Result<Work> PendingWork(std::string_view instance_id, TimePoint) override {
    std::lock_guard<std::mutex> lock(mu);
    pending_work_threads.push_back(std::this_thread::get_id());
    if (fail) return Unavailable("store is down");
    auto it = work.find(std::string(instance_id));
    return it == work.end() ? Work{} : it->second;
  }
  Status Acknowledge(std::string_view instance_id, std::string_view command_id,
                     TimePoint) override {
    std::lock_guard<std::mutex> lock(mu);
    acks.push_back(std::string(instance_id) + " " + std::string(command_id));
    if (command_id == "unknown") return NotFound("no such command");
    return OkStatus();
  }
  Status Complete(std::string_view instance_id, const agentproto::ResultMessage& result,
                  TimePoint) override {
    std::lock_guard<std::mutex> lock(mu);
    results.push_back(std::string(instance_id) + " " + result.command_id + " " + result.status);
    return OkStatus();
  }

  void AddCommand(const std::string& instance, const std::string& id) {
    std::lock_guard<std::mutex> lock(mu);
    agentproto::CommandMessage c;
    c.command_id = id;
    c.document_name = "AWS-RunShellScript";
    agentproto::Step step;
    step.name = "aws:runShellScript";
    step.action = "aws:runShellScript";
    step.run_command = {"echo hi"};
    c.steps.push_back(step);
    work[instance].commands.push_back(c);
  }
  void AddCancel(const std::string& instance, const std::string& id) {
    std::lock_guard<std::mutex> lock(mu);
    work[instance].cancels.push_back({id});
  }
  void Clear(const std::string& instance) {
    std::lock_guard<std::mutex> lock(mu);
    work.erase(instance);
  }

  std::mutex mu;
  std::map<std::string, Work> work;  // guarded by mu
  bool fail = false;
  std::vector<std::thread::id> pending_work_threads;
  std::vector<std::string> acks, results;
};

HttpRequest Upgrade(std::string target) {
  HttpRequest r;
  r.method = "GET";
  r.target = std::move(target);
  r.remote_address = "192.0.2.7";
  return r;
}

std::vector<std::string> Ids(const std::vector<agentproto::ControlMessage>& messages) {
  std::vector<std::string> out;
  for (const auto& m : messages) {
    if (m.type == agentproto::ControlMessage::Type::kCommand) out.push_back(m.command.command_id);
    if (m.type == agentproto::ControlMessage::Type::kCancel) {
      out.push_back("cancel " + m.cancel.command_id);
    }
  }
  return out;
}

std::string Hello() {
  agentproto::HelloMessage h;
  h.agent_version = "1.2.3";
  h.computer_name = "host-a";
  return agentproto::Encode(h);
}

class ControlChannelTest : public ::testing::Test {
 protected:
  ControlChannelTest()
      : channel_(ControlChannelDeps{clock_, [this](const HttpRequest& r) { return Auth(r); },
                                    presence_, queue_,
                                    [this](const std::string& line) {
                                      std::lock_guard<std::mutex> lock(log_mu_);
                                      log_.push_back(line);
                                    }}) {}

  Result<iam::Principal> Auth(const HttpRequest&) {
    if (auth_error_) return *auth_error_;
    iam::Principal p;
    p.type = iam::PrincipalType::kAssumedRole;
    p.arn = "arn:aws:sts::123456789012:assumed-role/Fleet/" + principal_instance_;
    p.instance_id = principal_instance_;
    return p;
  }

  // Accepts a connection for kInstance; fails the test if refused.
  std::shared_ptr<WebSocketSession> Open(const std::shared_ptr<FakeConnection>& conn,
                                         const std::string& instance = kInstance) {
    auto d = channel_.Accept(Upgrade("/v1/control-channel/" + instance), conn);
    auto* session = std::get_if<std::shared_ptr<WebSocketSession>>(&d);
    EXPECT_NE(session, nullptr);
    return session ? *session : nullptr;
  }

  HttpResponse Refused(const std::string& target) {
    auto d = channel_.Accept(Upgrade(target), std::make_shared<FakeConnection>());
    auto* r = std::get_if<HttpResponse>(&d);
    EXPECT_NE(r, nullptr) << target;
    return r ? *r : HttpResponse{};
  }

  std::vector<std::string> Log() {
    std::lock_guard<std::mutex> lock(log_mu_);
    return log_;
  }

  FakeClock clock_{TimePoint{} + std::chrono::hours(24 * 365 * 56)};
  FakePresence presence_;
  FakeQueue queue_;
  std::optional<Error> auth_error_;
  std::string principal_instance_ = kInstance;
  std::mutex log_mu_;
  std::vector<std::string> log_;
  ControlChannel channel_;  // last: its thread stops before the fakes go
};

TEST(ManagedInstanceIdTest, AcceptsOnlyMiAnd17LowercaseHexDigits) {
  EXPECT_TRUE(IsManagedInstanceId("mi-0123456789abcdef0"));
  EXPECT_FALSE(IsManagedInstanceId("mi-0123456789ABCDEF0"));
  EXPECT_FALSE(IsManagedInstanceId("mi-0123456789abcdef"));
  EXPECT_FALSE(IsManagedInstanceId("mi-0123456789abcdef01"));
  EXPECT_FALSE(IsManagedInstanceId("i-0123456789abcdef000"));
  EXPECT_FALSE(IsManagedInstanceId("mi-0123456789abcdefg"));
}

TEST_F(ControlChannelTest, UnknownPathsAndMalformedInstanceIdsAre404) {
  EXPECT_EQ(Refused("/v1/control-channel/").status, 404);
  EXPECT_EQ(Refused("/v1/control-channel/mi-XYZ").status, 404);
  EXPECT_EQ(Refused("/v1/control-channel/mi-0123456789abcdef0/extra").status, 404);
  EXPECT_EQ(Refused("/v1/other/mi-0123456789abcdef0").status, 404);
}

TEST_F(ControlChannelTest, BadSignatureIs401) {
  auth_error_ = Unauthenticated("The request signature we calculated does not match",
                                "SignatureDoesNotMatch");
  const HttpResponse r = Refused(std::string("/v1/control-channel/") + kInstance);
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(r.body.find("SignatureDoesNotMatch"), std::string::npos);
  EXPECT_EQ(channel_.connected_count(), 0u);
}

TEST_F(ControlChannelTest, OtherInstancesAndNonInstancePrincipalsAre403) {
  principal_instance_ = kOther;
  EXPECT_EQ(Refused(std::string("/v1/control-channel/") + kInstance).status, 403);
  principal_instance_ = "";  // an IAM user or an ordinary role session
  EXPECT_EQ(Refused(std::string("/v1/control-channel/") + kInstance).status, 403);
}

TEST_F(ControlChannelTest, HelloMarksConnectedAndDeliversPendingCommandsAndCancels) {
  queue_.AddCommand(kInstance, "cmd-1");
  queue_.AddCommand(kInstance, "cmd-2");
  queue_.AddCancel(kInstance, "cmd-0");
  queue_.AddCommand(kOther, "not-mine");
  auto conn = std::make_shared<FakeConnection>();
  auto session = Open(conn);
  ASSERT_NE(session, nullptr);
  channel_.WaitForDeliveries();
  EXPECT_TRUE(conn->Sent().empty());  // nothing before hello
  EXPECT_FALSE(channel_.IsConnected(kInstance));

  session->OnMessage(Hello());
  channel_.WaitForDeliveries();
  EXPECT_EQ(presence_.Events(),
            (std::vector<std::string>{std::string("connected ") + kInstance + " 1.2.3 192.0.2.7"}));
  EXPECT_EQ(Ids(conn->Sent()), (std::vector<std::string>{"cmd-1", "cmd-2", "cancel cmd-0"}));
  EXPECT_TRUE(channel_.IsConnected(kInstance));
  EXPECT_EQ(channel_.connected_count(), 1u);
}

TEST_F(ControlChannelTest, WorkPendingSendsOnlyWhatThisConnectionHasNotSeen) {
  queue_.AddCommand(kInstance, "cmd-1");
  auto conn = std::make_shared<FakeConnection>();
  auto session = Open(conn);
  session->OnMessage(Hello());
  channel_.WaitForDeliveries();
  queue_.AddCommand(kInstance, "cmd-2");
  channel_.WorkPending(kInstance);
  channel_.WaitForDeliveries();
  channel_.WorkPending(kInstance);  // nothing new
  channel_.WaitForDeliveries();
  EXPECT_EQ(Ids(conn->Sent()), (std::vector<std::string>{"cmd-1", "cmd-2"}));
  queue_.AddCancel(kInstance, "cmd-2");
  channel_.WorkPending(kInstance);
  channel_.WaitForDeliveries();
  EXPECT_EQ(Ids(conn->Sent()), (std::vector<std::string>{"cmd-1", "cmd-2", "cancel cmd-2"}));
}

TEST_F(ControlChannelTest, DeliveriesRunOffTheNotifiersThread) {
  auto conn = std::make_shared<FakeConnection>();
  auto session = Open(conn);
  session->OnMessage(Hello());
  channel_.WaitForDeliveries();
  queue_.AddCommand(kInstance, "cmd-1");
  channel_.WorkPending(kInstance);
  channel_.WaitForDeliveries();
  std::lock_guard<std::mutex> lock(queue_.mu);
  ASSERT_FALSE(queue_.pending_work_threads.empty());
  for (const auto& id : queue_.pending_work_threads) EXPECT_NE(id, std::this_thread::get_id());
}

TEST_F(ControlChannelTest, WorkPendingForAnInstanceThatIsNotConnectedReadsNothing) {
  queue_.AddCommand(kOther, "cmd-1");
  channel_.WorkPending(kOther);
  channel_.WaitForDeliveries();
  std::lock_guard<std::mutex> lock(queue_.mu);
  EXPECT_TRUE(queue_.pending_work_threads.empty());
}

TEST_F(ControlChannelTest, HeartbeatAckAndResultReachPresenceAndQueue) {
  auto conn = std::make_shared<FakeConnection>();
  auto session = Open(conn);
  session->OnMessage(Hello());
  session->OnMessage(agentproto::Encode(agentproto::HeartbeatMessage{}));
  session->OnMessage(agentproto::Encode(agentproto::AckMessage{"cmd-1"}));
  agentproto::ResultMessage result;
  result.command_id = "cmd-1";
  result.status = "Success";
  result.response_code = 0;
  session->OnMessage(agentproto::Encode(result));
  EXPECT_EQ(presence_.Events().back(), std::string("heartbeat ") + kInstance);
  EXPECT_EQ(queue_.acks, (std::vector<std::string>{std::string(kInstance) + " cmd-1"}));
  EXPECT_EQ(queue_.results, (std::vector<std::string>{std::string(kInstance) + " cmd-1 Success"}));
  EXPECT_TRUE(conn->Closes().empty());

  // An ack the queue refuses is logged, not fatal.
  session->OnMessage(agentproto::Encode(agentproto::AckMessage{"unknown"}));
  EXPECT_TRUE(conn->Closes().empty());
  ASSERT_FALSE(Log().empty());
  EXPECT_NE(Log().back().find("ack refused"), std::string::npos);
}

TEST_F(ControlChannelTest, MalformedMessageClosesWithPolicyViolationAndLogsNoContent) {
  auto conn = std::make_shared<FakeConnection>();
  auto session = Open(conn);
  session->OnMessage(Hello());
  session->OnMessage(R"({"type":"result","secret":"wJalrXUtnFEMI/K7MDENG"})");
  EXPECT_EQ(conn->Closes(), (std::vector<CloseCode>{CloseCode::kPolicyViolation}));
  ASSERT_EQ(Log().size(), 1u);
  EXPECT_NE(Log()[0].find(kInstance), std::string::npos);
  EXPECT_EQ(Log()[0].find("wJalrXUtnFEMI"), std::string::npos);
  // Nothing more is acted on once the agent broke the protocol.
  session->OnMessage(agentproto::Encode(agentproto::AckMessage{"cmd-1"}));
  EXPECT_TRUE(queue_.acks.empty());
}

TEST_F(ControlChannelTest, MessagesBeforeHelloAndServerMessagesFromTheAgentAreViolations) {
  {
    auto conn = std::make_shared<FakeConnection>();
    auto session = Open(conn);
    session->OnMessage(agentproto::Encode(agentproto::HeartbeatMessage{}));
    EXPECT_EQ(conn->Closes(), (std::vector<CloseCode>{CloseCode::kPolicyViolation}));
    session->OnClose();
  }
  EXPECT_TRUE(presence_.Events().empty());  // never connected, so no disconnect either
  {
    auto conn = std::make_shared<FakeConnection>();
    auto session = Open(conn);
    session->OnMessage(Hello());
    session->OnMessage(agentproto::Encode(agentproto::CancelMessage{"cmd-1"}));
    EXPECT_EQ(conn->Closes(), (std::vector<CloseCode>{CloseCode::kPolicyViolation}));
  }
}

TEST_F(ControlChannelTest, DisconnectClosesOnlyThatInstancesChannel) {
  auto conn = std::make_shared<FakeConnection>();
  auto session = Open(conn);
  session->OnMessage(Hello());
  channel_.Disconnect("mi-00000000000000000");  // not connected: nothing happens
  EXPECT_TRUE(conn->Closes().empty());
  channel_.Disconnect(kInstance);
  EXPECT_EQ(conn->Closes(), (std::vector<CloseCode>{CloseCode::kPolicyViolation}));
}

TEST_F(ControlChannelTest, CloseReportsDisconnectAndStopsDeliveries) {
  auto conn = std::make_shared<FakeConnection>();
  auto session = Open(conn);
  session->OnMessage(Hello());
  session->OnClose();
  EXPECT_EQ(presence_.Events().back(), std::string("disconnected ") + kInstance);
  EXPECT_EQ(channel_.connected_count(), 0u);
  queue_.AddCommand(kInstance, "cmd-1");
  channel_.WorkPending(kInstance);
  channel_.WaitForDeliveries();
  EXPECT_TRUE(conn->Sent().empty());
}

TEST_F(ControlChannelTest, NewConnectionReplacesOldAndGetsPendingWorkAgain) {
  queue_.AddCommand(kInstance, "cmd-1");
  auto first = std::make_shared<FakeConnection>();
  auto first_session = Open(first);
  first_session->OnMessage(Hello());
  channel_.WaitForDeliveries();
  ASSERT_EQ(Ids(first->Sent()), (std::vector<std::string>{"cmd-1"}));

  auto second = std::make_shared<FakeConnection>();
  auto second_session = Open(second);
  EXPECT_EQ(first->Closes(), (std::vector<CloseCode>{CloseCode::kNormal}));
  second_session->OnMessage(Hello());
  channel_.WaitForDeliveries();
  EXPECT_EQ(Ids(second->Sent()), (std::vector<std::string>{"cmd-1"}));  // not yet acked
  // The old connection's end does not mark the instance disconnected.
  first_session->OnClose();
  EXPECT_TRUE(channel_.IsConnected(kInstance));
  EXPECT_NE(presence_.Events().back(), std::string("disconnected ") + kInstance);

  // Only the live connection receives new work.
  queue_.AddCommand(kInstance, "cmd-2");
  channel_.WorkPending(kInstance);
  channel_.WaitForDeliveries();
  EXPECT_EQ(Ids(first->Sent()), (std::vector<std::string>{"cmd-1"}));
  EXPECT_EQ(Ids(second->Sent()), (std::vector<std::string>{"cmd-1", "cmd-2"}));
}

TEST_F(ControlChannelTest, AcknowledgedCommandIsForgottenButNotResent) {
  queue_.AddCommand(kInstance, "cmd-1");
  auto conn = std::make_shared<FakeConnection>();
  auto session = Open(conn);
  session->OnMessage(Hello());
  channel_.WaitForDeliveries();
  queue_.Clear(kInstance);  // acked: no longer pending
  queue_.AddCommand(kInstance, "cmd-2");
  channel_.WorkPending(kInstance);
  channel_.WaitForDeliveries();
  EXPECT_EQ(Ids(conn->Sent()), (std::vector<std::string>{"cmd-1", "cmd-2"}));
}

TEST_F(ControlChannelTest, FailedPendingWorkReadIsLogged) {
  queue_.fail = true;
  auto conn = std::make_shared<FakeConnection>();
  auto session = Open(conn);
  session->OnMessage(Hello());
  channel_.WaitForDeliveries();
  EXPECT_TRUE(conn->Sent().empty());
  ASSERT_EQ(Log().size(), 1u);
  EXPECT_NE(Log()[0].find("store is down"), std::string::npos);
}

// The channel's own events, through a real recorder into a real (in-memory) event log.
class ControlChannelEventsTest : public ::testing::Test {
 protected:
  struct ZeroRandom final : Random {
    void Fill(std::uint8_t* out, std::size_t n) override { std::fill(out, out + n, 0); }
  };

  static std::unique_ptr<events::EventLog> OpenLog(store::KvStore& store) {
    auto log = events::EventLog::Open(store, std::nullopt);
    EXPECT_TRUE(log.has_value());
    return log ? std::move(*log) : nullptr;
  }

  std::shared_ptr<WebSocketSession> Open(const std::shared_ptr<FakeConnection>& conn) {
    auto d = channel_.Accept(Upgrade(std::string("/v1/control-channel/") + kInstance), conn);
    auto* session = std::get_if<std::shared_ptr<WebSocketSession>>(&d);
    EXPECT_NE(session, nullptr);
    return session ? *session : nullptr;
  }

  // The records named `name`, oldest first.
  std::vector<nlohmann::json> Records(const std::string& name) {
    recorder_.Flush();
    events::LookupQuery q;
    q.attribute = std::make_pair(events::LookupAttribute::kEventName, name);
    auto page = log_->Lookup(q);
    EXPECT_TRUE(page.has_value());
    std::vector<nlohmann::json> out;
    if (page) {
      for (const auto& e : page->events) out.insert(out.begin(), e.record);
    }
    return out;
  }

  FakeClock clock_{TimePoint{} + std::chrono::hours(24 * 365 * 56)};
  ZeroRandom random_;
  store::MemoryKvStore store_;
  std::unique_ptr<events::EventLog> log_ = OpenLog(store_);
  events::EventRecorder recorder_{*log_, clock_, random_, events::RecorderOptions{}};
  FakePresence presence_;
  FakeQueue queue_;
  ControlChannel channel_{ControlChannelDeps{clock_,
                                             [](const HttpRequest&) -> Result<iam::Principal> {
                                               iam::Principal p;
                                               p.type = iam::PrincipalType::kAssumedRole;
                                               p.instance_id = kInstance;
                                               return p;
                                             },
                                             presence_, queue_, nullptr, &recorder_}};
};

TEST_F(ControlChannelEventsTest, ClosingAfterHelloRecordsAgentDisconnectedWithoutAReason) {
  auto conn = std::make_shared<FakeConnection>();
  auto session = Open(conn);
  session->OnMessage(Hello());
  EXPECT_TRUE(Records("AgentDisconnected").empty());
  session->OnClose();
  ASSERT_EQ(Records("AgentConnected").size(), 1u);
  auto records = Records("AgentDisconnected");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]["eventType"], "AwsServiceEvent");
  EXPECT_EQ(records[0]["sourceIPAddress"], "192.0.2.7");
  EXPECT_EQ(records[0]["requestParameters"]["InstanceId"], kInstance);
  EXPECT_FALSE(records[0].contains("errorCode"));
  // The peer went away: the transport gives no reason, so none is claimed.
  EXPECT_TRUE(!records[0].contains("additionalEventData") ||
              !records[0]["additionalEventData"].contains("reason"))
      << records[0].dump();
}

TEST_F(ControlChannelEventsTest, ServerEndedChannelsSayWhy) {
  auto conn = std::make_shared<FakeConnection>();
  auto session = Open(conn);
  session->OnMessage(Hello());
  channel_.Disconnect(kInstance);  // e.g. deregistered
  session->OnClose();              // the transport's answer to the close
  auto conn2 = std::make_shared<FakeConnection>();
  auto session2 = Open(conn2);
  session2->OnMessage(Hello());
  session2->OnMessage("{\"type\":\"heartbeat\",");  // malformed: a policy violation
  session2->OnClose();
  auto records = Records("AgentDisconnected");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0]["additionalEventData"]["reason"], "closed by the server");
  EXPECT_EQ(records[1]["additionalEventData"]["reason"], "policy violation");
}

TEST_F(ControlChannelEventsTest, NoDisconnectForAReplacedSessionOrOneThatNeverSaidHello) {
  auto silent = std::make_shared<FakeConnection>();
  Open(silent)->OnClose();  // never said hello: it was never connected
  auto first = std::make_shared<FakeConnection>();
  auto first_session = Open(first);
  first_session->OnMessage(Hello());
  auto second = std::make_shared<FakeConnection>();
  auto second_session = Open(second);  // replaces the first
  second_session->OnMessage(Hello());
  first_session->OnClose();
  EXPECT_TRUE(Records("AgentDisconnected").empty());
  EXPECT_EQ(Records("AgentConnected").size(), 2u);
  second_session->OnClose();
  EXPECT_EQ(Records("AgentDisconnected").size(), 1u);
}

}  // namespace
}  // namespace kw::api
