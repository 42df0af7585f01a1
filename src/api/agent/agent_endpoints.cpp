#include "api/agent/agent_endpoints.hpp"

#include "agentproto/agent_protocol.hpp"
#include "api/http/aws_error.hpp"
#include "crypto/digest.hpp"

namespace kw::api {
namespace {

std::string_view PathOf(std::string_view target) {
  const std::size_t q = target.find('?');
  return q == std::string_view::npos ? target : target.substr(0, q);
}

HttpResponse JsonOk(std::string body, std::string_view request_id) {
  HttpResponse r;
  r.status = 200;
  r.headers = {{"Content-Type", "application/x-amz-json-1.1"},
               {"x-amzn-RequestId", std::string(request_id)}};
  r.body = std::move(body);
  return r;
}

}  // namespace

void AgentEndpoints::RecordAgentEvent(std::string name, std::string instance_id, std::string source,
                                      nlohmann::json parameters, const Error* error) {
  if (events_ == nullptr) return;
  events::ServiceEvent e;
  e.event_name = std::move(name);
  e.instance_id = std::move(instance_id);
  e.source_ip = std::move(source);
  e.request_parameters = std::move(parameters);
  if (error != nullptr) {
    e.error_code = error->reason.empty() ? "InternalFailure" : error->reason;
    e.error_message = error->message;
  }
  events_->RecordServiceEvent(std::move(e));
}

bool AgentEndpoints::Owns(const HttpRequest& request) {
  return PathOf(request.target).rfind(kAgentPathPrefix, 0) == 0;
}

HttpResponse AgentEndpoints::Handle(const HttpRequest& request) {
  const std::string request_id = crypto::HexEncode(random_.Bytes(16));
  const std::string_view path = PathOf(request.target);
  const std::string_view name = path.substr(std::min(path.size(), kAgentPathPrefix.size()));
  if (!Owns(request) || (name != "register" && name != "challenge" && name != "credentials")) {
    HttpResponse r = JsonErrorResponse(
        NotFound("No agent endpoint at " + std::string(path) + ".", "UnknownOperationException"),
        request_id);
    r.status = 404;
    return r;
  }
  if (request.method != "POST") {
    HttpResponse r = JsonErrorResponse(
        InvalidArgument("Agent endpoints accept POST only.", "UnknownOperationException"),
        request_id);
    r.status = 405;
    r.headers.push_back({"Allow", "POST"});
    return r;
  }
  const TimePoint now = clock_.Now();
  const std::string& source = request.remote_address;
  if (name == "register") {
    auto req = agentproto::DecodeRegisterRequest(request.body);
    if (!req) return JsonErrorResponse(req.error(), request_id);
    auto out = fleet_.Register(*req, source, now);
    // The activation ID names the activation; the code is the credential, never logged.
    RecordAgentEvent("RegisterManagedInstance", out ? out->instance_id : std::string(), source,
                     {{"ActivationId", req->activation_id}, {"Name", req->computer_name}},
                     out ? nullptr : &out.error());
    if (!out) return JsonErrorResponse(out.error(), request_id);
    return JsonOk(agentproto::Encode(*out), request_id);
  }
  if (name == "challenge") {
    auto req = agentproto::DecodeChallengeRequest(request.body);
    if (!req) return JsonErrorResponse(req.error(), request_id);
    auto out = fleet_.IssueChallenge(req->instance_id, now);
    if (!out) return JsonErrorResponse(out.error(), request_id);
    return JsonOk(agentproto::Encode(*out), request_id);
  }
  auto req = agentproto::DecodeCredentialsRequest(request.body);
  if (!req) return JsonErrorResponse(req.error(), request_id);
  auto out = fleet_.IssueCredentials(*req, source, now);
  // A refusal for fingerprint drift sends the agent into hibernation.
  const bool hibernates = !out && out.error().reason == "FingerprintMismatch";
  RecordAgentEvent(hibernates ? "AgentHibernated" : "RefreshInstanceCredentials", req->instance_id,
                   source, nlohmann::json::object(), out ? nullptr : &out.error());
  if (!out) return JsonErrorResponse(out.error(), request_id);
  HttpResponse r = JsonOk(agentproto::Encode(*out), request_id);
  // Credentials must not be kept by any cache between the agent and the server.
  r.headers.push_back({"Cache-Control", "no-store"});
  return r;
}

}  // namespace kw::api
