#pragma once

// The request pipeline behind the HTTP transport: health and metrics endpoints, then
// for AWS requests: SigV4 authentication, credential resolution, usage recording,
// operation lookup, authorization with the policy engine, the handler, and the AWS
// response or error. Thread-safe after construction (services are registered before
// the server starts).

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "api/http/json_protocol.hpp"
#include "api/http/metrics.hpp"
#include "api/http/query_protocol.hpp"
#include "api/http/request_observer.hpp"
#include "common/clock.hpp"
#include "common/http_message.hpp"
#include "common/random.hpp"
#include "iam/principal.hpp"
#include "sigv4/sigv4.hpp"

namespace kw::api {

struct DispatcherDeps {
  const Clock& clock;
  Random& random;
  iam::CredentialResolver& credentials;  // routes AKIA/ASIA to IAM/STS
  iam::PolicyResolver& policies;
  iam::UsageRecorder& usage;
  Metrics& metrics;
};

class Dispatcher final : public HttpHandler {
 public:
  explicit Dispatcher(DispatcherDeps deps) : deps_(deps) {}

  // Registers a query-protocol service under its SigV4 signing name. Call before
  // serving.
  void AddQueryService(QueryService service);
  // Registers a JSON 1.1 service under its SigV4 signing name. Call before serving.
  void AddJsonService(JsonService service);

  // Routes paths under /v1/agent/ to the agent handler (set before serving; may be
  // left unset, then those paths answer 404). It authenticates by itself where it needs
  // to (registration is unsigned), so nothing of the AWS pipeline runs first.
  void SetAgentHandler(HttpHandler* handler) { agent_handler_ = handler; }

  // Adds an observer of every AWS API request, allowed or refused (not of /health,
  // /metrics or the agents' endpoints). Call before serving; the observer must outlive
  // the dispatcher's use. With none, the pipeline builds no ObservedRequest at all.
  void AddObserver(RequestObserver* observer) { observers_.push_back(observer); }

  HttpResponse Handle(const HttpRequest& request) override;

  // The SigV4 part of the pipeline, for requests that are not AWS API calls (the
  // agents' control channel): parses and verifies the signature, resolves the
  // credentials, records the key's use and counts failures in the metrics. Errors carry
  // the AWS reason (kUnauthenticated "InvalidClientTokenId", "SignatureDoesNotMatch",
  // "ExpiredToken", ...). Thread-safe.
  Result<iam::Principal> Authenticate(const HttpRequest& request);

  // Marks the server ready (GET /health answers 200 only after this).
  void SetReady(bool ready) { ready_.store(ready); }

 private:
  // `observed` is null when nobody observes; else the handlers fill it as they go.
  HttpResponse HandleAws(const HttpRequest& request, std::string_view request_id,
                         std::string& service_label, std::string& operation_label,
                         ObservedRequest* observed);
  HttpResponse HandleQuery(const HttpRequest& request, const QueryService& service,
                           const iam::Principal& principal, const sigv4::ParsedAuth& auth,
                           const QueryParams& params, std::string_view request_id,
                           std::string& operation_label, ObservedRequest* observed);
  std::string NewRequestId();
  struct Authenticated {
    sigv4::ParsedAuth auth;
    iam::Principal principal;
  };
  // Authenticate's work, also giving the parsed signature; `service_label` is set as
  // soon as the signing service is known.
  Result<Authenticated> AuthenticateSigV4(const HttpRequest& request, std::string* service_label,
                                          ObservedRequest* observed = nullptr);
  // A request refused because its key is not active: was it validly signed by an
  // Inactive long-term key? (Then a consumer still uses a deactivated key.)
  bool SignedByInactiveKey(const sigv4::RequestView& view, const sigv4::ParsedAuth& auth,
                           TimePoint now);

  DispatcherDeps deps_;
  std::atomic<bool> ready_{false};
  // Request IDs only need to be unique, not unpredictable: a key drawn once from
  // deps_.random, mixed with a counter (a CSPRNG draw per request cost ~10% of a
  // GetSecretValue's CPU).
  std::once_flag request_id_once_;
  std::uint64_t request_id_key_[2] = {0, 0};
  std::atomic<std::uint64_t> request_id_counter_{0};
  HttpResponse HandleJson(const HttpRequest& request, const JsonService& service,
                          const iam::Principal& principal, const sigv4::ParsedAuth& auth,
                          std::string_view request_id, std::string& operation_label,
                          ObservedRequest* observed);
  // OK if the caller's identity policies (and `resource_policy`, if any) allow
  // `policy_action` on `resource`; else AccessDenied worded as AWS words it.
  Status Authorize(const HttpRequest& request, const iam::Principal& principal,
                   const sigv4::ParsedAuth& auth, std::string policy_action, std::string resource,
                   const policy::Policy* resource_policy);

  std::unordered_map<std::string, QueryService> query_services_;  // by signing name
  std::unordered_map<std::string, JsonService> json_services_;    // by signing name
  sigv4::Verifier verifier_;
  HttpHandler* agent_handler_ = nullptr;
  std::vector<RequestObserver*> observers_;
};

// The composite resolver: AKIA keys to IAM, ASIA keys to STS.
class PrefixCredentialResolver final : public iam::CredentialResolver {
 public:
  PrefixCredentialResolver(iam::CredentialResolver& long_term, iam::CredentialResolver& temporary)
      : long_term_(long_term), temporary_(temporary) {}
  Result<iam::ResolvedKey> Resolve(std::string_view access_key_id, std::string_view session_token,
                                   TimePoint now) override;
  Result<iam::ResolvedKey> ResolveInactive(std::string_view access_key_id) override;

 private:
  iam::CredentialResolver& long_term_;
  iam::CredentialResolver& temporary_;
};

// "User: arn:... is not authorized to perform: iam:CreateUser on resource: arn:..."
// with AWS's explanation of which kind of policy decided.
Error AccessDeniedError(const iam::Principal& principal, std::string_view action,
                        std::string_view resource, bool explicit_deny);

// The condition keys of a request for policy evaluation (lowercase names).
policy::RequestContext MakePolicyContext(const iam::Principal& principal, std::string action,
                                         std::string resource, const HttpRequest& request,
                                         std::string_view region, TimePoint now);

}  // namespace kw::api
