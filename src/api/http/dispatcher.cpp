#include "api/http/dispatcher.hpp"

#include <array>
#include <chrono>
#include <cstdio>

#include "api/http/aws_error.hpp"
#include "common/strings.hpp"
#include "common/time_format.hpp"
#include "common/uuid.hpp"

namespace kw::api {
namespace {

std::string_view PathOf(std::string_view target) {
  const auto q = target.find('?');
  return q == std::string_view::npos ? target : target.substr(0, q);
}

std::string_view QueryOf(std::string_view target) {
  const auto q = target.find('?');
  return q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
}

HttpResponse Text(int status, std::string body, std::string content_type = "text/plain") {
  HttpResponse r;
  r.status = status;
  r.headers = {{"Content-Type", std::move(content_type)}};
  r.body = std::move(body);
  return r;
}

constexpr std::string_view kAgentPrefix = "/v1/agent/";

// The metrics label for an agent endpoint: its path below /v1/agent/ when that is a
// short lowercase word ("register", "credentials"), so that arbitrary paths cannot
// create unbounded label values.
std::string AgentOperationLabel(std::string_view rest) {
  if (rest.empty() || rest.size() > 32) return "unknown";
  for (const char c : rest) {
    if (!((c >= 'a' && c <= 'z') || c == '-' || c == '_')) return "unknown";
  }
  return std::string(rest);
}

bool IsFormBody(const HttpRequest& request) {
  const HeaderField* ct = FindHeader(request.headers, "content-type");
  if (ct == nullptr) return request.method == "POST";
  return ct->value.find("application/x-www-form-urlencoded") != std::string::npos;
}

}  // namespace

Result<iam::ResolvedKey> PrefixCredentialResolver::Resolve(std::string_view access_key_id,
                                                           std::string_view session_token,
                                                           TimePoint now) {
  if (access_key_id.substr(0, 4) == "ASIA") {
    return temporary_.Resolve(access_key_id, session_token, now);
  }
  if (!session_token.empty()) {
    // A session token with a long-term key is never valid.
    return Unauthenticated("The security token included in the request is invalid.",
                           "InvalidClientTokenId");
  }
  return long_term_.Resolve(access_key_id, session_token, now);
}

Result<iam::ResolvedKey> PrefixCredentialResolver::ResolveInactive(std::string_view access_key_id) {
  // Temporary credentials have no Inactive state: they expire or are revoked.
  if (access_key_id.substr(0, 4) == "ASIA") return NotFound("not an inactive access key");
  return long_term_.ResolveInactive(access_key_id);
}

Error AccessDeniedError(const iam::Principal& principal, std::string_view action,
                        std::string_view resource, bool explicit_deny) {
  std::string m = "User: " + principal.arn +
                  " is not authorized to perform: " + std::string(action) +
                  " on resource: " + std::string(resource);
  m += explicit_deny
           ? " with an explicit deny in an identity-based policy"
           : " because no identity-based policy allows the " + std::string(action) + " action";
  return PermissionDenied(std::move(m), "AccessDenied");
}

policy::RequestContext MakePolicyContext(const iam::Principal& principal, std::string action,
                                         std::string resource, const HttpRequest& request,
                                         std::string_view region, TimePoint now) {
  policy::RequestContext ctx;
  ctx.action = std::move(action);
  ctx.resource = std::move(resource);
  ctx.principal_arn = principal.arn;
  ctx.principal_account = principal.account_id;
  auto& k = ctx.keys;
  k["aws:sourceip"] = {request.remote_address};
  k["aws:currenttime"] = {FormatIso8601(now)};
  k["aws:epochtime"] = {std::to_string(
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count())};
  k["aws:securetransport"] = {request.secure ? "true" : "false"};
  k["aws:principalarn"] = {principal.type == iam::PrincipalType::kAssumedRole ? principal.role_arn
                                                                              : principal.arn};
  k["aws:principalaccount"] = {principal.account_id};
  k["aws:userid"] = {principal.user_id};
  k["aws:requestedregion"] = {std::string(region)};
  if (principal.type == iam::PrincipalType::kUser) {
    k["aws:username"] = {principal.name};
    k["aws:principaltype"] = {"User"};
  } else {
    k["aws:principaltype"] = {"AssumedRole"};
  }
  for (const auto& [key, value] : principal.tags) {
    k["aws:principaltag/" + ToLowerAscii(key)] = {value};
  }
  if (principal.temporary && principal.expiration) {
    k["aws:tokenissuetime"] = {FormatIso8601(now)};
  }
  if (const HeaderField* ua = FindHeader(request.headers, "user-agent")) {
    k["aws:useragent"] = {ua->value};
  }
  return ctx;
}

void Dispatcher::AddJsonService(JsonService service) {
  std::string name = service.signing_name;
  json_services_.insert_or_assign(std::move(name), std::move(service));
}

void Dispatcher::AddQueryService(QueryService service) {
  std::string name = service.signing_name;
  query_services_.insert_or_assign(std::move(name), std::move(service));
}

namespace {

// SplitMix64's finaliser: a bijection on 64 bits, so distinct counters give distinct
// outputs.
std::uint64_t Mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

std::string Dispatcher::NewRequestId() {
  // A version 4 UUID, as AWS request IDs look. The low half is unique per request
  // (a bijection of the counter under a random key); the high half varies with it.
  std::call_once(request_id_once_, [this] {
    deps_.random.Fill(reinterpret_cast<std::uint8_t*>(request_id_key_), sizeof request_id_key_);
  });
  const std::uint64_t n = request_id_counter_.fetch_add(1, std::memory_order_relaxed);
  const std::uint64_t lo = Mix64(n ^ request_id_key_[1]);
  const std::uint64_t hi = Mix64(lo ^ request_id_key_[0]);
  std::array<unsigned char, 16> b{};
  for (int i = 0; i < 8; ++i) {
    b[i] = static_cast<unsigned char>(hi >> (8 * i));
    b[8 + i] = static_cast<unsigned char>(lo >> (8 * i));
  }
  return FormatUuidV4(b);
}

HttpResponse Dispatcher::Handle(const HttpRequest& request) {
  const std::string_view path = PathOf(request.target);
  if (request.method == "GET" && path == "/health") {
    return ready_.load() ? Text(200, "ok\n") : Text(503, "starting\n");
  }
  if (request.method == "GET" && path == "/metrics") {
    return Text(200, deps_.metrics.Render(), "text/plain; version=0.0.4");
  }
  const auto started = std::chrono::steady_clock::now();
  std::string service_label = "unknown";
  std::string operation_label = "unknown";
  HttpResponse response;
  if (path.substr(0, kAgentPrefix.size()) == kAgentPrefix) {
    service_label = "agent";
    operation_label = AgentOperationLabel(path.substr(kAgentPrefix.size()));
    response =
        agent_handler_ != nullptr ? agent_handler_->Handle(request) : Text(404, "not found\n");
  } else {
    const std::string request_id = NewRequestId();
    if (observers_.empty()) {
      response = HandleAws(request, request_id, service_label, operation_label, nullptr);
    } else {
      ObservedRequest observed;
      observed.time = deps_.clock.Now();
      observed.request_id = request_id;
      observed.source_ip = request.remote_address;
      if (const auto* ua = FindHeader(request.headers, "user-agent")) {
        observed.user_agent = ua->value;
      }
      response = HandleAws(request, request_id, service_label, operation_label, &observed);
      observed.service = service_label;
      observed.operation = operation_label;
      observed.http_status = response.status;
      for (RequestObserver* o : observers_) o->OnRequest(observed);
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  deps_.metrics.RecordRequest(service_label, operation_label, response.status, seconds);
  return response;
}

namespace {

void NoteError(ObservedRequest* observed, const Error& e) {
  if (observed == nullptr) return;
  observed->error_code = e.reason.empty() ? "InternalFailure" : e.reason;
  observed->error_message = e.message;
}

}  // namespace

HttpResponse Dispatcher::HandleAws(const HttpRequest& request, std::string_view request_id,
                                   std::string& service_label, std::string& operation_label,
                                   ObservedRequest* observed) {
  const bool json = FindHeader(request.headers, "x-amz-target") != nullptr;
  auto fail = [&](const Error& e) {
    NoteError(observed, e);
    return json ? JsonErrorResponse(e, request_id) : QueryErrorResponse(e, request_id);
  };
  if (PathOf(request.target) != "/") {
    return fail(InvalidArgument("keyward serves AWS APIs at the path /.", "InvalidAction"));
  }

  auto authenticated = AuthenticateSigV4(request, &service_label, observed);
  if (!authenticated) return fail(authenticated.error());
  const sigv4::ParsedAuth* auth = &authenticated->auth;
  const iam::Principal& principal = authenticated->principal;

  if (json) {
    const auto svc = json_services_.find(auth->service);
    if (svc == json_services_.end()) {
      return fail(InvalidArgument(
          "keyward does not serve the service '" + auth->service + "' over the JSON protocol.",
          "UnknownOperationException"));
    }
    return HandleJson(request, svc->second, principal, *auth, request_id, operation_label,
                      observed);
  }
  const auto svc = query_services_.find(auth->service);
  if (svc == query_services_.end()) {
    return fail(InvalidArgument("keyward does not serve the service '" + auth->service + "'.",
                                "InvalidAction"));
  }
  auto params = QueryParams::Parse(QueryOf(request.target));
  if (params && request.method == "POST" && IsFormBody(request)) {
    Status merged = params->Merge(request.body);
    if (!merged) return fail(merged.error());
  }
  if (!params) return fail(params.error());
  if (observed != nullptr) {
    observed->query_params = std::move(*params);
    return HandleQuery(request, svc->second, principal, *auth, *observed->query_params, request_id,
                       operation_label, observed);
  }
  return HandleQuery(request, svc->second, principal, *auth, *params, request_id, operation_label,
                     nullptr);
}

Result<Dispatcher::Authenticated> Dispatcher::AuthenticateSigV4(const HttpRequest& request,
                                                                std::string* service_label,
                                                                ObservedRequest* observed) {
  const sigv4::RequestView view{request.method, request.target, request.headers, request.body};
  auto auth = sigv4::ParseAuth(view);
  if (!auth) {
    deps_.metrics.RecordAuthFailure(auth.error().reason);
    return auth.error();
  }
  if (service_label != nullptr) *service_label = auth->service;
  if (observed != nullptr) {
    observed->access_key_id = auth->access_key_id;
    observed->region = auth->region;
  }
  const TimePoint now = deps_.clock.Now();
  auto resolved = deps_.credentials.Resolve(auth->access_key_id, auth->session_token, now);
  if (!resolved) {
    deps_.metrics.RecordAuthFailure(resolved.error().reason);
    if (observed != nullptr && resolved.error().reason == "InvalidClientTokenId" &&
        auth->session_token.empty()) {
      observed->key_inactive = SignedByInactiveKey(view, *auth, now);
    }
    return resolved.error();
  }
  if (Status ok = verifier_.Verify(view, *auth, resolved->secret_access_key, now); !ok) {
    deps_.metrics.RecordAuthFailure(ok.error().reason);
    return ok.error();
  }
  deps_.usage.RecordUse(auth->access_key_id, auth->service, auth->region, now);
  if (observed != nullptr) observed->principal = resolved->principal;
  return Authenticated{std::move(*auth), std::move(resolved->principal)};
}

bool Dispatcher::SignedByInactiveKey(const sigv4::RequestView& view, const sigv4::ParsedAuth& auth,
                                     TimePoint now) {
  auto inactive = deps_.credentials.ResolveInactive(auth.access_key_id);
  return inactive && verifier_.Verify(view, auth, inactive->secret_access_key, now).has_value();
}

Result<iam::Principal> Dispatcher::Authenticate(const HttpRequest& request) {
  KW_ASSIGN_OR_RETURN(Authenticated a, AuthenticateSigV4(request, nullptr));
  return std::move(a.principal);
}

Status Dispatcher::Authorize(const HttpRequest& request, const iam::Principal& principal,
                             const sigv4::ParsedAuth& auth, std::string policy_action,
                             std::string resource, const policy::Policy* resource_policy) {
  auto policies = deps_.policies.IdentityPolicies(principal);
  if (!policies) return policies.error();
  std::vector<const policy::Policy*> ptrs;
  ptrs.reserve(policies->size() + 1);
  for (const auto& p : *policies) ptrs.push_back(p.get());
  // Within one account, a resource policy that allows the caller grants access by
  // itself, as an identity policy does; an explicit deny in either wins.
  if (resource_policy != nullptr) ptrs.push_back(resource_policy);
  const policy::RequestContext ctx =
      MakePolicyContext(principal, std::move(policy_action), std::move(resource), request,
                        auth.region, deps_.clock.Now());
  const policy::Decision d = policy::Evaluate(ptrs, ctx);
  if (d == policy::Decision::kAllow) return OkStatus();
  return AccessDeniedError(principal, ctx.action, ctx.resource,
                           d == policy::Decision::kExplicitDeny);
}

HttpResponse Dispatcher::HandleJson(const HttpRequest& request, const JsonService& service,
                                    const iam::Principal& principal, const sigv4::ParsedAuth& auth,
                                    std::string_view request_id, std::string& operation_label,
                                    ObservedRequest* observed) {
  auto fail = [&](const Error& e) {
    NoteError(observed, e);
    return JsonErrorResponse(e, request_id);
  };
  const std::string_view target = FindHeader(request.headers, "x-amz-target")->value;
  const auto dot = target.rfind('.');
  const std::string_view prefix = dot == std::string_view::npos ? "" : target.substr(0, dot);
  const std::string_view name = dot == std::string_view::npos ? target : target.substr(dot + 1);
  const JsonOperation* op = nullptr;
  if (prefix == service.target_prefix) {
    for (const auto& candidate : service.operations) {
      if (candidate.name == name) {
        op = &candidate;
        break;
      }
    }
  }
  if (op == nullptr) {
    return fail(
        InvalidArgument("Unknown operation: " + std::string(target), "UnknownOperationException"));
  }
  operation_label = op->name;
  auto decoded = DecodeJsonBody(request.body);
  if (!decoded) return fail(decoded.error());
  nlohmann::json* input = &*decoded;
  if (observed != nullptr) input = &observed->json_input.emplace(std::move(*decoded));
  JsonTarget op_target;
  if (op->target) op_target = op->target(*input, principal);
  if (op->authorize) {
    if (!op->target) {
      if (op->resource_policy) op_target.resource_policy = op->resource_policy(*input);
      if (op->resource) op_target.resource = op->resource(*input, principal);
    }
    Status allowed = Authorize(request, principal, auth, service.action_prefix + ":" + op->name,
                               std::move(op_target.resource), op_target.resource_policy.get());
    if (!allowed) return fail(allowed.error());
  }
  CallAuthorizer authorize = [&](std::string_view action, std::string_view resource,
                                 const policy::Policy* resource_policy) {
    return Authorize(request, principal, auth, std::string(action), std::string(resource),
                     resource_policy);
  };
  const JsonCall call{*input,
                      principal,
                      request_id,
                      request.remote_address,
                      deps_.clock.Now(),
                      std::move(authorize),
                      op_target.context.get()};
  auto output = op->handler(call);
  if (!output) return fail(output.error());
  HttpResponse r;
  r.status = 200;
  r.headers = {{"Content-Type", "application/x-amz-json-1.1"},
               {"x-amzn-RequestId", std::string(request_id)}};
  r.body = output->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (observed != nullptr) observed->json_output = std::move(*output);
  return r;
}

HttpResponse Dispatcher::HandleQuery(const HttpRequest& request, const QueryService& service,
                                     const iam::Principal& principal, const sigv4::ParsedAuth& auth,
                                     const QueryParams& params, std::string_view request_id,
                                     std::string& operation_label, ObservedRequest* observed) {
  auto fail = [&](const Error& e) {
    NoteError(observed, e);
    return QueryErrorResponse(e, request_id, service.xmlns);
  };
  const auto action = params.Get("Action");
  if (!action) return fail(InvalidArgument("Missing Action", "MissingAction"));
  const QueryOperation* op = nullptr;
  for (const auto& candidate : service.operations) {
    if (candidate.name == *action) {
      op = &candidate;
      break;
    }
  }
  const auto version = params.Get("Version");
  if (op == nullptr || (version && *version != service.version)) {
    return fail(InvalidArgument(
        "Could not find operation " + *action + " for version " + version.value_or("(none)"),
        "InvalidAction"));
  }
  operation_label = op->name;
  const TimePoint now = deps_.clock.Now();
  if (op->authorize) {
    Status allowed = Authorize(request, principal, auth, service.action_prefix + ":" + op->name,
                               op->resource ? op->resource(params, principal) : "*", nullptr);
    if (!allowed) return fail(allowed.error());
  }
  XmlWriter result;
  // The response's structure for the event log, built as the handler writes (no parse
  // of the XML), and only for writes: reads' responses are never logged.
  if (observed != nullptr && !op->read_only) result.RecordStructure();
  const QueryCall call{params, principal, request_id, request.remote_address, now};
  if (Status s = op->handler(call, result); !s) return fail(s.error());
  if (observed != nullptr && !op->read_only) observed->query_output = result.TakeStructure();

  HttpResponse r;
  r.status = 200;
  r.headers = {{"Content-Type", "text/xml"}, {"x-amzn-RequestId", std::string(request_id)}};
  std::string& b = r.body;
  b.reserve(result.str().size() + 256);
  b += "<" + op->name + "Response xmlns=\"" + service.xmlns + "\">";
  if (!result.str().empty()) {
    b += "<" + op->name + "Result>" + result.str() + "</" + op->name + "Result>";
  }
  b += "<ResponseMetadata><RequestId>" + std::string(request_id) +
       "</RequestId></ResponseMetadata></" + op->name + "Response>";
  return r;
}

}  // namespace kw::api
