#pragma once

// The agents' control channel (docs/agent-protocol.md, "Control channel"): the server's
// side of `GET /v1/control-channel/{instance-id}` upgraded to a WebSocket.
//
// - Accept: the path names the instance; the upgrade request must be SigV4-signed with
//   that same instance's credentials (401 for a bad or missing signature, 403 for any
//   other principal, 404 for another path or a malformed instance ID).
// - One live connection per instance: a new one replaces (and closes) the old one.
// - Agent to server: `hello` first (marks the instance connected in fleet::Presence and
//   triggers delivery of everything pending), `heartbeat`, `ack`
//   (CommandQueue::Acknowledge), `result` (CommandQueue::Complete). Anything else, a
//   malformed frame, or a message before `hello` closes the connection with close code
//   1008 (policy violation).
// - Server to agent: `command` and `cancel`, from CommandQueue::PendingWork, on hello
//   and whenever the command service calls WorkPending(). A command or cancel is sent
//   at most once per connection (the agent deduplicates across connections; a new
//   connection gets everything still pending again).
//
// Threading: thread-safe. Deliveries run on one thread of the channel's own, so that
// WorkPending() returns at once and never calls back into the command service on the
// caller's thread (command_queue.hpp requires that); frames reach the transport through
// WebSocketConnection::Send, which does not block. Presence and CommandQueue calls for
// incoming messages run on the transport's I/O thread that delivers the message.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "commands/command_queue.hpp"
#include "common/clock.hpp"
#include "common/http_message.hpp"
#include "common/result.hpp"
#include "events/event_recorder.hpp"
#include "fleet/presence.hpp"
#include "iam/principal.hpp"

namespace kw::api {

inline constexpr std::string_view kControlChannelPathPrefix = "/v1/control-channel/";

// SigV4 authentication of a request: Dispatcher::Authenticate in the server.
using RequestAuthenticator = std::function<Result<iam::Principal>(const HttpRequest&)>;

struct ControlChannelDeps {
  const Clock& clock;
  RequestAuthenticator authenticate;
  fleet::Presence& presence;
  commands::CommandQueue& commands;
  // Receives one line per problem (malformed messages, refused acks, failed
  // deliveries). Lines name the instance and the problem, never message contents.
  // May be empty (no logging).
  std::function<void(const std::string&)> log_warning;
  // Records agent connections and command results (command runs, secret syncs) in the
  // event log. May be null.
  events::EventRecorder* events = nullptr;
};

// True for "mi-" followed by 17 lowercase hex digits.
bool IsManagedInstanceId(std::string_view id);

class ControlChannel final : public WebSocketHandler, public commands::DeliveryNotifier {
 public:
  // Starts the delivery thread. The references in `deps` must outlive the channel.
  explicit ControlChannel(ControlChannelDeps deps);
  // Stops the delivery thread (deliveries not yet made are dropped: they stay pending
  // in the command queue). Destroy the channel only after the transport has stopped and
  // the command service no longer calls WorkPending.
  ~ControlChannel() override;
  ControlChannel(const ControlChannel&) = delete;
  ControlChannel& operator=(const ControlChannel&) = delete;

  Decision Accept(const HttpRequest& request,
                  std::shared_ptr<WebSocketConnection> connection) override;

  // Schedules a delivery to the instance if it is connected; returns at once.
  void WorkPending(std::string_view instance_id) override;

  // Blocks until every delivery scheduled so far has been made (for tests and the
  // benchmark).
  void WaitForDeliveries();

  // Closes the instance's channel, if open (policy violation): its agent is no longer
  // entitled to one, e.g. after DeregisterManagedInstance. Returns at once.
  void Disconnect(std::string_view instance_id);

  // Instances whose agent has said hello on a connection that is still open.
  std::size_t connected_count() const;
  bool IsConnected(std::string_view instance_id) const;

 private:
  class Session;

  void Warn(const std::string& line) const;
  void ScheduleDelivery(std::string_view instance_id);
  void DeliveryLoop();
  void Deliver(const std::string& instance_id);
  // The session ended: forget it (unless already replaced) and report the disconnect.
  void Remove(const Session* session);
  std::shared_ptr<Session> Find(std::string_view instance_id) const;

  ControlChannelDeps deps_;

  mutable std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Session>> sessions_;  // guarded by mu_

  std::mutex work_mu_;
  std::condition_variable work_cv_;
  std::condition_variable idle_cv_;
  std::deque<std::string> work_;            // guarded by work_mu_; instance IDs, FIFO
  std::unordered_set<std::string> queued_;  // guarded by work_mu_; the IDs in work_
  int busy_ = 0;                            // guarded by work_mu_; deliveries running
  bool stopping_ = false;                   // guarded by work_mu_
  std::thread worker_;                      // last: starts after everything above
};

}  // namespace kw::api
