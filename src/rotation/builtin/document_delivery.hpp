#pragma once

// rotation::Delivery that runs a document (Run Command) on each target host; the
// invocation's success is the host's acknowledgement.
//
// DeliverySpec (kind "document") parameters:
//   "document"         the document name (required), e.g. "AWS-RunShellScript"
//   "timeout_seconds"  the delivery timeout of each command (optional, 30..2592000)
//   "param:NAME"       document parameter NAME (one value); "{{SecretId}}" and
//                      "{{VersionId}}" in the value are replaced by the secret and the
//                      version being delivered
//
// One SendCommand per host, so that each host's status is known (CommandStatus reports
// per command); the delivery ID is a JSON object host -> command ID. The ack time is
// the poll that first saw Success (CommandStatus carries no time), which errs late, the
// safe side for the quiet period.

#include "commands/send_command.hpp"
#include "rotation/delivery.hpp"

namespace kw::rotation::builtin {

// Thread-safe (CommandSender is).
class DocumentDelivery final : public Delivery {
 public:
  explicit DocumentDelivery(commands::CommandSender& sender) : sender_(sender) {}

  Status Validate(const DeliverySpec& spec) override;
  Result<std::string> Start(const DeliveryRequest& request, TimePoint now) override;
  Result<std::map<std::string, HostDelivery>> Poll(std::string_view delivery_id,
                                                   TimePoint now) override;

 private:
  commands::CommandSender& sender_;
};

}  // namespace kw::rotation::builtin
