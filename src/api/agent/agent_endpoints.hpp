#pragma once

// The keyward-agent's plain HTTP endpoints (docs/agent-protocol.md), over
// fleet::FleetService:
//   POST /v1/agent/register     RegisterRequest    -> RegisterResponse  (unsigned: the
//                                                      activation code is the credential)
//   POST /v1/agent/challenge    ChallengeRequest   -> ChallengeResponse
//   POST /v1/agent/credentials  CredentialsRequest -> CredentialsResponse
// Bodies are agentproto JSON; errors are JSON 1.1 errors ({"__type", "message"}) mapped
// by api/http/aws_error (FingerprintMismatch is 403). The caller's address is the
// transport's peer address (HttpRequest::remote_address).
//
// None of these requests is SigV4-signed, so the composition root routes them here
// before the AWS dispatcher: Owns() tells which requests are this handler's.

#include <string_view>

#include "common/clock.hpp"
#include "common/http_message.hpp"
#include "common/random.hpp"
#include "events/event_recorder.hpp"
#include "fleet/fleet_service.hpp"

namespace kw::api {

inline constexpr std::string_view kAgentPathPrefix = "/v1/agent/";

// Thread-safe (FleetService is). References must outlive the handler.
class AgentEndpoints final : public HttpHandler {
 public:
  AgentEndpoints(fleet::FleetService& fleet, const Clock& clock, Random& random)
      : fleet_(fleet), clock_(clock), random_(random) {}

  // True for any request whose path starts with /v1/agent/ (whatever the method: a
  // wrong method is answered here, with 405).
  static bool Owns(const HttpRequest& request);

  // 404 for an unknown path under /v1/agent/, 405 for a method other than POST.
  HttpResponse Handle(const HttpRequest& request) override;

  // Records registrations, credential refreshes and hibernations (a refresh refused for
  // fingerprint drift) in the event log. Set before serving; null: none recorded.
  void SetEventRecorder(events::EventRecorder* recorder) { events_ = recorder; }

 private:
  void RecordAgentEvent(std::string name, std::string instance_id, std::string source,
                        nlohmann::json parameters, const Error* error);

  fleet::FleetService& fleet_;
  const Clock& clock_;
  Random& random_;
  events::EventRecorder* events_ = nullptr;
};

}  // namespace kw::api
