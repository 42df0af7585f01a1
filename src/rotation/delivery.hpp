#pragma once

// The seam through which a promoted secret version reaches the hosts that consume it:
// a document run through Run Command (builtin/document_delivery.hpp), or the agent's
// secret sync (builtin/agent_sync_delivery.hpp).

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"
#include "common/result.hpp"

namespace kw::rotation {

// What the policy says about delivery; `kind` names a registered Delivery.
struct DeliverySpec {
  std::string kind;                               // e.g. "document"
  std::map<std::string, std::string> parameters;  // kind-specific (document name...)
};

struct DeliveryRequest {
  std::string secret_id;
  std::string version_id;
  std::vector<std::string> hosts;  // instance IDs
  DeliverySpec spec;
  std::string comment;  // for the operator: which rotation
};

enum class HostDeliveryState { kPending, kAcked, kFailed };

struct HostDelivery {
  HostDeliveryState state = HostDeliveryState::kPending;
  TimePoint acked_at;  // kAcked: when the host reported the version installed
  std::string reason;  // kFailed: why, for the operator (never secret)
};

// Thread-safe. Starting the same delivery twice must be harmless (a crash between
// Start and recording its ID makes the engine start it again): installing a version
// that is already installed is a no-op for the host.
class Delivery {
 public:
  virtual ~Delivery() = default;
  // kInvalidArgument for a spec this delivery cannot run (reported at policy creation
  // through Validate as well).
  virtual Status Validate(const DeliverySpec& spec) = 0;
  // Starts delivering; returns an opaque delivery ID (at most a few KB) for Poll.
  virtual Result<std::string> Start(const DeliveryRequest& request, TimePoint now) = 0;
  // The state of every host of the delivery. Hosts not in the map are pending.
  virtual Result<std::map<std::string, HostDelivery>> Poll(std::string_view delivery_id,
                                                           TimePoint now) = 0;
};

}  // namespace kw::rotation
