#include "cli/aws_client.hpp"

namespace kw::cli {

Result<QueryClient> QueryClient::Create(HttpTransport& transport, const Clock& clock,
                                        std::string endpoint, sigv4::Credentials credentials,
                                        std::string region) {
  KW_ASSIGN_OR_RETURN(ParsedUrl url, ParseUrl(endpoint));
  return QueryClient(transport, clock, std::move(endpoint), std::move(url), std::move(credentials),
                     std::move(region));
}

Result<xml::Node> QueryClient::Call(const QueryService& service, std::string_view action,
                                    const QueryParamList& params) const {
  ClientRequest request;
  request.method = "POST";
  request.url = endpoint_;
  request.body = EncodeQueryForm(action, service.version, params);
  request.headers = {
      {"Host", url_.host_header},
      {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
  };
  const sigv4::RequestView view{request.method, url_.path, request.headers, request.body};
  const sigv4::SigningParams signing{region_, std::string(service.signing_name), clock_->Now()};
  HeaderList auth = sigv4::Sign(view, credentials_, signing);
  for (auto& h : auth) request.headers.push_back(std::move(h));

  KW_ASSIGN_OR_RETURN(ClientResponse response, transport_->Send(request));
  if (response.status >= 400) return ParseQueryError(response.status, response.body);
  if (response.status < 200 || response.status >= 300) {
    return Unavailable("HTTP " + std::to_string(response.status) + " from " + endpoint_);
  }
  return ParseQueryResult(action, response.body);
}

}  // namespace kw::cli
