#pragma once

// The seam between Run Command (commands/command_service.hpp) and the control channel
// that carries commands to agents (api/agent/). The command service persists every
// invocation before anything is sent; the channel asks it what to deliver, and reports
// what agents say. Delivery is at least once: an invocation stays deliverable until
// the agent acknowledges it, and agents deduplicate by command ID.

#include <string>
#include <string_view>
#include <vector>

#include "agentproto/agent_protocol.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"

namespace kw::commands {

// Implemented by the control channel: told when an instance has something new, so that
// a connected agent gets it at once instead of at its next reconnect. Thread-safe;
// must not block or call back into the command service.
class DeliveryNotifier {
 public:
  virtual ~DeliveryNotifier() = default;
  virtual void WorkPending(std::string_view instance_id) = 0;
};

// Implemented by the command service. Thread-safe.
class CommandQueue {
 public:
  virtual ~CommandQueue() = default;

  struct Work {
    // Deliverable Pending ones, and InProgress ones (acknowledged, not final): an agent
    // answers a command it already has with its ack or stored result, never running it
    // twice, so resending recovers a result the server lost. The control channel sends
    // each at most once per connection.
    std::vector<agentproto::CommandMessage> commands;
    std::vector<agentproto::CancelMessage> cancels;  // cancel requested, not yet final
  };
  // What the instance should receive now, oldest first. Invocations whose delivery
  // deadline has passed become DeliveryTimedOut here (and are not returned).
  virtual Result<Work> PendingWork(std::string_view instance_id, TimePoint now) = 0;

  // The agent has the command: the invocation becomes InProgress. Idempotent; an ack
  // for a command that is not the instance's is kNotFound.
  virtual Status Acknowledge(std::string_view instance_id, std::string_view command_id,
                             TimePoint now) = 0;

  // The agent's final result. Output is truncated to SSM's limits when recorded. A
  // second result for the same invocation is ignored (OK).
  virtual Status Complete(std::string_view instance_id, const agentproto::ResultMessage& result,
                          TimePoint now) = 0;
};

}  // namespace kw::commands
