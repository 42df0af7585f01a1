#pragma once

// rotation::Delivery over AWS Systems Manager Run Command (AWS itself, moto, another
// keyward): SendCommand of a document to the rotation's managed instances, then
// GetCommandInvocation per instance until each is final.
//   Success                      -> acked (at ExecutionEndDateTime, else when seen)
//   Failed / TimedOut / Cancelled -> failed, with StatusDetails and the exit code, so
//                                   the engine holds the rotation with the old key
//   anything else (Pending, InProgress, Delayed, not yet created) -> pending
//
// Spec parameters (RotationPolicy::delivery.parameters), all optional:
//   document         the document to run; default kDefaultSsmDocument, the one
//                    `keyward aws bootstrap` creates (the seed's script)
//   document_version SendCommand DocumentVersion
//   max_concurrency  default "50";  max_errors  default "0" (stop at the first failure)
//   timeout_seconds  SendCommand TimeoutSeconds (delivery timeout)
//   parameter.NAME   a document parameter; with the default document, SecretId is the
//                    rotation's secret unless given
// Hosts are the instance IDs the engine resolved from the policy's targets (IDs, or
// tags through the instance directory); more than 50 go out as several commands.
//
// Start is idempotent: before sending it looks (ListCommands) for a command of the same
// document and comment (which carries the rotation and version) to the same instances
// that is still Pending/InProgress, and reuses it; a finished one is not reused, so a
// redelivery round after the ack timeout sends afresh. A repeat that does send is
// harmless anyway: the document installs AWSCURRENT, which is already installed.
//
// Delivery ID: JSON {"c":[{"id":COMMAND,"h":[INSTANCE...]}...]}.
// Thread-safe (QueryClient is; the cache of final results has a mutex).

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "awsclient/aws_client.hpp"
#include "awsclient/aws_connection.hpp"
#include "rotation/delivery.hpp"

namespace kw::rotation::external {

inline constexpr const char* kDefaultSsmDocument = "KeywardOverwriteSecretValue";

class AwsSsmDelivery final : public Delivery {
 public:
  // `connection` must outlive the delivery. Empty endpoint: https://ssm.{region}.amazonaws.com.
  static Result<std::unique_ptr<AwsSsmDelivery>> Create(awsclient::AwsConnection& connection,
                                                        std::string endpoint);
  explicit AwsSsmDelivery(awsclient::QueryClient client) : client_(std::move(client)) {}

  Status Validate(const DeliverySpec& spec) override;
  Result<std::string> Start(const DeliveryRequest& request, TimePoint now) override;
  Result<std::map<std::string, HostDelivery>> Poll(std::string_view delivery_id,
                                                   TimePoint now) override;

 private:
  // A still running command of `document` with `comment` to exactly `hosts`, if any.
  Result<std::string> FindRunning(const std::string& document, const std::string& comment,
                                  const std::vector<std::string>& hosts);

  awsclient::QueryClient client_;
  std::mutex mu_;
  // Final results by command ID + "/" + instance ID; they never change again.
  std::map<std::string, HostDelivery> final_;  // guarded by mu_
};

}  // namespace kw::rotation::external
