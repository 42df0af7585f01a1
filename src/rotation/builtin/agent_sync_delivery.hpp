#pragma once

// rotation::Delivery "agent-sync": keyward-agent itself installs the promoted version
// (agent/secret_sync.hpp). It sends the built-in document Keyward-SyncSecret through a
// DocumentDelivery, so persistence, at-least-once delivery, re-offer after a reconnect
// and per-host status all come from Run Command, and the invocation's Success is the
// host's acknowledgement. The command carries only the secret's ID and version: the
// agent fetches the key itself with GetSecretValue under its instance credentials (the
// instance role must allow secretsmanager:GetSecretValue on the secret).
//
// DeliverySpec (kind "agent-sync") parameters, all optional but `path` (see docs/agent.md):
//   "format"                  credentials (default) | env | json | credential-process
//   "path"                    absolute file path; required, except for credential-process
//   "profile"                 credentials: the profile to update (default "default")
//   "owner", "group"          the file's owner and group (names or numeric IDs)
//   "mode"                    octal, default 0600 (0400 for credential-process)
//   "reload"                  command:CMD | signal:SIGHUP|SIGUSR1|SIGUSR2:/pid/file |
//                             systemd:UNIT (runs `systemctl reload UNIT`)
//   "reload_timeout_seconds"  1..3600, default 30
//   "health_check"            a command; exit 0 means the consumer works with the new key
//   "health_timeout_seconds"  1..3600, default 30
//   "user"                    credential-process: the local user who may read the key
//   "timeout_seconds"         the delivery timeout of each command (30..2592000)

#include "rotation/builtin/document_delivery.hpp"

namespace kw::rotation::builtin {

inline constexpr const char* kAgentSyncDocument = "Keyward-SyncSecret";

// Thread-safe (DocumentDelivery is).
class AgentSyncDelivery final : public Delivery {
 public:
  explicit AgentSyncDelivery(commands::CommandSender& sender) : documents_(sender) {}

  Status Validate(const DeliverySpec& spec) override;
  Result<std::string> Start(const DeliveryRequest& request, TimePoint now) override;
  Result<std::map<std::string, HostDelivery>> Poll(std::string_view delivery_id,
                                                   TimePoint now) override;

  // The "document" spec this delivery runs for `spec` (exposed for tests).
  static Result<DeliverySpec> DocumentSpec(const DeliverySpec& spec);

 private:
  DocumentDelivery documents_;
};

}  // namespace kw::rotation::builtin
