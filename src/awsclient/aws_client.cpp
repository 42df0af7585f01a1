#include "awsclient/aws_client.hpp"

namespace kw::awsclient {

Result<QueryClient> QueryClient::Create(HttpTransport& transport, const Clock& clock,
                                        std::string endpoint, sigv4::Credentials credentials,
                                        std::string region) {
  KW_ASSIGN_OR_RETURN(ParsedUrl url, ParseUrl(endpoint));
  return QueryClient(transport, clock, std::move(endpoint), std::move(url), std::move(credentials),
                     std::move(region));
}

Result<QueryClient> QueryClient::Create(HttpTransport& transport, const Clock& clock,
                                        std::string endpoint, ClientPolicy policy,
                                        std::string region) {
  if (policy.credentials == nullptr) return InvalidArgument("a credential provider is required");
  KW_ASSIGN_OR_RETURN(ParsedUrl url, ParseUrl(endpoint));
  QueryClient client(transport, clock, std::move(endpoint), std::move(url), sigv4::Credentials{},
                     std::move(region));
  client.policy_ = policy;
  return client;
}

Status QueryClient::Prepare(ClientRequest& request, std::string_view signing_name) const {
  if (policy_.limiter != nullptr) policy_.limiter->Acquire();
  const sigv4::RequestView view{request.method, url_.path, request.headers, request.body};
  const sigv4::SigningParams signing{region_, std::string(signing_name), clock_->Now()};
  HeaderList auth;
  if (policy_.credentials != nullptr) {
    KW_ASSIGN_OR_RETURN(ProvidedCredentials provided, policy_.credentials->Get());
    auth = sigv4::Sign(view, provided.credentials, signing);
  } else {
    auth = sigv4::Sign(view, credentials_, signing);
  }
  for (auto& h : auth) request.headers.push_back(std::move(h));
  return OkStatus();
}

Result<xml::Node> QueryClient::Call(const QueryService& service, std::string_view action,
                                    const QueryParamList& params, Idempotency idempotency) const {
  if (policy_.retry == nullptr) return CallOnce(service, action, params);
  return policy_.retry->Run<xml::Node>(idempotency,
                                       [&]() { return CallOnce(service, action, params); });
}

Result<nlohmann::json> QueryClient::CallJson(const JsonTarget& service, std::string_view operation,
                                             const nlohmann::json& input,
                                             Idempotency idempotency) const {
  if (policy_.retry == nullptr) return CallJsonOnce(service, operation, input);
  return policy_.retry->Run<nlohmann::json>(
      idempotency, [&]() { return CallJsonOnce(service, operation, input); });
}

Result<xml::Node> QueryClient::CallOnce(const QueryService& service, std::string_view action,
                                        const QueryParamList& params) const {
  ClientRequest request;
  request.method = "POST";
  request.url = endpoint_;
  request.body = EncodeQueryForm(action, service.version, params);
  request.headers = {
      {"Host", url_.host_header},
      {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
  };
  KW_RETURN_IF_ERROR(Prepare(request, service.signing_name));

  KW_ASSIGN_OR_RETURN(ClientResponse response, transport_->Send(request));
  if (response.status >= 400) {
    Error e = ParseQueryError(response.status, response.body);
    // A server error says nothing about the request: it may work next time.
    if (response.status >= 500) e.code = ErrorCode::kUnavailable;
    return e;
  }
  if (response.status < 200 || response.status >= 300) {
    return Unavailable("HTTP " + std::to_string(response.status) + " from " + endpoint_);
  }
  return ParseQueryResult(action, response.body);
}

Result<nlohmann::json> QueryClient::CallJsonOnce(const JsonTarget& service,
                                                 std::string_view operation,
                                                 const nlohmann::json& input) const {
  ClientRequest request;
  request.method = "POST";
  request.url = endpoint_;
  request.body = input.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  request.headers = {
      {"Host", url_.host_header},
      {"Content-Type", "application/x-amz-json-1.1"},
      {"X-Amz-Target", std::string(service.target_prefix) + "." + std::string(operation)},
  };
  KW_RETURN_IF_ERROR(Prepare(request, service.signing_name));

  KW_ASSIGN_OR_RETURN(ClientResponse response, transport_->Send(request));
  nlohmann::json body = response.body.empty()
                            ? nlohmann::json::object()
                            : nlohmann::json::parse(response.body, nullptr, false);
  if (response.status >= 400) {
    const ErrorCode kind = response.status >= 500   ? ErrorCode::kUnavailable
                           : response.status == 403 ? ErrorCode::kPermissionDenied
                           : response.status == 404 ? ErrorCode::kNotFound
                                                    : ErrorCode::kInvalidArgument;
    if (!body.is_object() || !body.contains("__type")) {
      return MakeError(kind, "HTTP " + std::to_string(response.status) +
                                 " (the response is not an AWS error document)");
    }
    std::string type = body["__type"].is_string() ? body["__type"].get<std::string>() : "";
    // Some services send "namespace#Code".
    if (auto hash = type.rfind('#'); hash != std::string::npos) type = type.substr(hash + 1);
    std::string message;
    for (const char* key : {"message", "Message"}) {
      if (body.contains(key) && body[key].is_string()) message = body[key].get<std::string>();
    }
    std::string text = type.empty() ? "HTTP " + std::to_string(response.status) : type;
    if (!message.empty()) text += ": " + message;
    return MakeError(kind, std::move(text), type);
  }
  if (response.status < 200 || response.status >= 300) {
    return Unavailable("HTTP " + std::to_string(response.status) + " from " + endpoint_);
  }
  if (!body.is_object()) {
    return Internal(std::string(operation) + ": the response is not a JSON object");
  }
  return body;
}

}  // namespace kw::awsclient
