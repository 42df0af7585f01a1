#pragma once

// What the control channel tells the fleet about connected agents, for
// DescribeInstanceInformation (PingStatus, LastPingDateTime, agent version, platform,
// address). Thread-safe; cheap enough to call on every heartbeat (implementations may
// keep presence in memory and persist it lazily).

#include <string_view>

#include "agentproto/agent_protocol.hpp"
#include "common/clock.hpp"

namespace kw::fleet {

class Presence {
 public:
  virtual ~Presence() = default;
  // A control channel opened and the agent said hello. `remote_address` is the address
  // the server saw (it wins over the agent's own claim for IPAddress when they differ).
  virtual void Connected(std::string_view instance_id, const agentproto::HelloMessage& hello,
                         std::string_view remote_address, TimePoint now) = 0;
  virtual void Heartbeat(std::string_view instance_id, TimePoint now) = 0;
  virtual void Disconnected(std::string_view instance_id, TimePoint now) = 0;
};

}  // namespace kw::fleet
