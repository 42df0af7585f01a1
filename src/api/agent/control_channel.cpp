#include "api/agent/control_channel.hpp"

#include <atomic>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "agentproto/agent_protocol.hpp"

namespace kw::api {
namespace {

using CloseCode = WebSocketConnection::CloseCode;

HttpResponse Refusal(int status, std::string_view type, std::string_view message) {
  HttpResponse r;
  r.status = status;
  r.headers = {{"Content-Type", "application/x-amz-json-1.1"},
               {"X-Amzn-ErrorType", std::string(type)}};
  r.body = nlohmann::json{{"__type", type}, {"message", message}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

// 401 when the signature or the credentials are wrong, 403 when they are fine but not
// allowed here, 503/500 when the server could not tell.
int RefusalStatus(const Error& e) {
  switch (e.code) {
    case ErrorCode::kUnauthenticated:
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kNotFound:
      return 401;
    case ErrorCode::kPermissionDenied:
      return 403;
    case ErrorCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

std::string_view PathOf(std::string_view target) {
  const auto q = target.find('?');
  return q == std::string_view::npos ? target : target.substr(0, q);
}

}  // namespace

bool IsManagedInstanceId(std::string_view id) {
  if (id.size() != 20 || id.substr(0, 3) != "mi-") return false;
  for (const char c : id.substr(3)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// One agent's connection. OnMessage and OnClose come from the transport, one at a time;
// MarkSent and Prune come from the delivery thread.
class ControlChannel::Session final : public WebSocketSession {
 public:
  Session(ControlChannel& owner, std::string instance_id,
          std::shared_ptr<WebSocketConnection> connection)
      : owner_(owner), instance_id_(std::move(instance_id)), connection_(std::move(connection)) {}

  const std::string& instance_id() const { return instance_id_; }
  WebSocketConnection& connection() { return *connection_; }
  bool said_hello() const { return hello_.load(std::memory_order_acquire); }

  void OnMessage(std::string_view text) override {
    if (violated_) return;
    auto message = agentproto::DecodeControlMessage(text);
    if (!message) {
      Violation("malformed message (" + message.error().message + ")");
      return;
    }
    using Type = agentproto::ControlMessage::Type;
    const TimePoint now = owner_.deps_.clock.Now();
    if (message->type != Type::kHello && !said_hello()) {
      Violation("a message before hello");
      return;
    }
    switch (message->type) {
      case Type::kHello: {
        RecordEvent("AgentConnected", {{"AgentVersion", message->hello.agent_version}},
                    nlohmann::json(), nullptr);
        owner_.deps_.presence.Connected(instance_id_, message->hello, connection_->remote_address(),
                                        now);
        if (!hello_.exchange(true, std::memory_order_acq_rel)) {
          owner_.ScheduleDelivery(instance_id_);
        }
        return;
      }
      case Type::kHeartbeat:
        owner_.deps_.presence.Heartbeat(instance_id_, now);
        return;
      case Type::kAck: {
        Status s = owner_.deps_.commands.Acknowledge(instance_id_, message->ack.command_id, now);
        if (!s)
          owner_.Warn("control channel " + instance_id_ + ": ack refused: " + s.error().message);
        return;
      }
      case Type::kResult: {
        Status s = owner_.deps_.commands.Complete(instance_id_, message->result, now);
        // Statuses and exit codes only: a step's output may hold anything.
        nlohmann::json steps = nlohmann::json::array();
        for (const auto& step : message->result.steps) {
          steps.push_back(
              {{"name", step.name}, {"status", step.status}, {"responseCode", step.response_code}});
        }
        RecordEvent("CommandInvocationCompleted", {{"CommandId", message->result.command_id}},
                    {{"status", message->result.status},
                     {"responseCode", message->result.response_code},
                     {"steps", std::move(steps)}},
                    s ? nullptr : &s.error());
        if (!s) {
          owner_.Warn("control channel " + instance_id_ + ": result refused: " + s.error().message);
        }
        return;
      }
      case Type::kCommand:
      case Type::kCancel:
        Violation("a server-to-agent message from the agent");
        return;
    }
  }

  void OnClose() override { owner_.Remove(this); }

  // The server ends the channel (the instance lost its right to one).
  void Close() {
    ended_by_.store(EndedBy::kServer, std::memory_order_release);
    connection_->CloseWith(CloseCode::kPolicyViolation);
  }

  // Records "AgentDisconnected"; Remove calls it once, for the instance's current session
  // after its hello. The transport does not say why a connection ended, so the reason is
  // given only when the server ended it.
  void RecordDisconnect() const {
    nlohmann::json details;
    switch (ended_by_.load(std::memory_order_acquire)) {
      case EndedBy::kPeer:
        break;
      case EndedBy::kServer:
        details = {{"reason", "closed by the server"}};
        break;
      case EndedBy::kViolation:
        details = {{"reason", "policy violation"}};
        break;
    }
    RecordEvent("AgentDisconnected", nlohmann::json::object(), std::move(details), nullptr);
  }

  // True the first time `key` is sent on this connection.
  bool MarkSent(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    return sent_.insert(key).second;
  }

  // Forgets sent keys that are no longer pending (acknowledged or final), so the set
  // stays as small as the instance's pending work.
  void Prune(const std::unordered_set<std::string>& pending) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = sent_.begin(); it != sent_.end();) {
      it = pending.count(*it) != 0 ? std::next(it) : sent_.erase(it);
    }
  }

 private:
  void RecordEvent(std::string name, nlohmann::json parameters, nlohmann::json details,
                   const Error* error) const {
    if (owner_.deps_.events == nullptr) return;
    events::ServiceEvent e;
    e.event_name = std::move(name);
    e.instance_id = instance_id_;
    e.source_ip = connection_->remote_address();
    e.request_parameters = std::move(parameters);
    e.additional_event_data = std::move(details);
    if (error != nullptr) {
      e.error_code = error->reason.empty() ? "InternalFailure" : error->reason;
      e.error_message = error->message;
    }
    owner_.deps_.events->RecordServiceEvent(std::move(e));
  }

  void Violation(const std::string& what) {
    violated_ = true;
    ended_by_.store(EndedBy::kViolation, std::memory_order_release);
    owner_.Warn("control channel " + instance_id_ + " from " + connection_->remote_address() +
                ": " + what + "; closing");
    connection_->CloseWith(CloseCode::kPolicyViolation);
  }

  ControlChannel& owner_;
  const std::string instance_id_;
  const std::shared_ptr<WebSocketConnection> connection_;
  std::atomic<bool> hello_{false};
  bool violated_ = false;  // transport calls only (one at a time)
  enum class EndedBy { kPeer, kServer, kViolation };
  std::atomic<EndedBy> ended_by_{EndedBy::kPeer};
  std::mutex mu_;
  std::unordered_set<std::string> sent_;  // guarded by mu_; "c:" / "x:" + command ID
};

ControlChannel::ControlChannel(ControlChannelDeps deps)
    : deps_(std::move(deps)), worker_([this] { DeliveryLoop(); }) {}

ControlChannel::~ControlChannel() {
  {
    std::lock_guard<std::mutex> lock(work_mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  worker_.join();
}

void ControlChannel::Warn(const std::string& line) const {
  if (deps_.log_warning) deps_.log_warning(line);
}

WebSocketHandler::Decision ControlChannel::Accept(const HttpRequest& request,
                                                  std::shared_ptr<WebSocketConnection> connection) {
  const std::string_view path = PathOf(request.target);
  if (path.substr(0, kControlChannelPathPrefix.size()) != kControlChannelPathPrefix ||
      !IsManagedInstanceId(path.substr(kControlChannelPathPrefix.size()))) {
    return Refusal(404, "ResourceNotFoundException", "no such control channel");
  }
  std::string instance_id(path.substr(kControlChannelPathPrefix.size()));
  auto principal = deps_.authenticate(request);
  if (!principal) {
    const Error& e = principal.error();
    return Refusal(RefusalStatus(e), e.reason.empty() ? "AccessDeniedException" : e.reason,
                   e.message);
  }
  if (principal->instance_id != instance_id) {
    return Refusal(403, "AccessDeniedException",
                   "only the credentials of " + instance_id + " may open its control channel");
  }
  auto session = std::make_shared<Session>(*this, instance_id, std::move(connection));
  std::shared_ptr<Session> replaced;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& slot = sessions_[instance_id];
    replaced = std::exchange(slot, session);
  }
  // The agent reconnected (or a stale connection lingered): the newest one wins. The
  // old one's OnClose then finds itself replaced and leaves presence alone.
  if (replaced) replaced->connection().Close();
  return session;
}

void ControlChannel::Remove(const Session* session) {
  bool was_current = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sessions_.find(session->instance_id());
    if (it != sessions_.end() && it->second.get() == session) {
      sessions_.erase(it);
      was_current = true;
    }
  }
  if (was_current && session->said_hello()) {
    deps_.presence.Disconnected(session->instance_id(), deps_.clock.Now());
    session->RecordDisconnect();
  }
}

std::shared_ptr<ControlChannel::Session> ControlChannel::Find(std::string_view instance_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sessions_.find(std::string(instance_id));
  return it == sessions_.end() ? nullptr : it->second;
}

void ControlChannel::Disconnect(std::string_view instance_id) {
  if (auto session = Find(instance_id)) session->Close();
}

std::size_t ControlChannel::connected_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::size_t n = 0;
  for (const auto& [id, session] : sessions_) n += session->said_hello() ? 1 : 0;
  return n;
}

bool ControlChannel::IsConnected(std::string_view instance_id) const {
  auto session = Find(instance_id);
  return session && session->said_hello();
}

void ControlChannel::WorkPending(std::string_view instance_id) {
  // Cheap filter on the caller's thread: nobody to tell.
  if (!IsConnected(instance_id)) return;
  ScheduleDelivery(instance_id);
}

void ControlChannel::ScheduleDelivery(std::string_view instance_id) {
  {
    std::lock_guard<std::mutex> lock(work_mu_);
    if (stopping_) return;
    // Already waiting: that delivery will read the newest pending work anyway.
    if (!queued_.emplace(instance_id).second) return;
    work_.emplace_back(instance_id);
  }
  work_cv_.notify_one();
}

void ControlChannel::WaitForDeliveries() {
  std::unique_lock<std::mutex> lock(work_mu_);
  idle_cv_.wait(lock, [&] { return stopping_ || (work_.empty() && busy_ == 0); });
}

void ControlChannel::DeliveryLoop() {
  std::unique_lock<std::mutex> lock(work_mu_);
  for (;;) {
    work_cv_.wait(lock, [&] { return stopping_ || !work_.empty(); });
    if (stopping_) break;
    std::string instance_id = std::move(work_.front());
    work_.pop_front();
    queued_.erase(instance_id);
    ++busy_;
    lock.unlock();
    Deliver(instance_id);
    lock.lock();
    --busy_;
    if (work_.empty() && busy_ == 0) idle_cv_.notify_all();
  }
  idle_cv_.notify_all();
}

void ControlChannel::Deliver(const std::string& instance_id) {
  const std::shared_ptr<Session> session = Find(instance_id);
  if (!session || !session->said_hello()) return;  // gone; it gets everything on hello
  auto work = deps_.commands.PendingWork(instance_id, deps_.clock.Now());
  if (!work) {
    Warn("control channel " + instance_id +
         ": reading pending commands failed: " + work.error().message);
    return;
  }
  std::unordered_set<std::string> pending;
  for (const auto& command : work->commands) {
    std::string key = "c:" + command.command_id;
    if (session->MarkSent(key)) session->connection().Send(agentproto::Encode(command));
    pending.insert(std::move(key));
  }
  for (const auto& cancel : work->cancels) {
    std::string key = "x:" + cancel.command_id;
    if (session->MarkSent(key)) session->connection().Send(agentproto::Encode(cancel));
    pending.insert(std::move(key));
  }
  session->Prune(pending);
}

}  // namespace kw::api
