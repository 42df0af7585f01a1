#pragma once

// A small HTTP(S) client over libcurl, behind an interface so that the AWS client and
// the commands can be tested with a fake transport.

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "common/http_message.hpp"
#include "common/result.hpp"

namespace kw::awsclient {

struct ClientRequest {
  std::string method = "GET";  // "GET" or "POST"
  std::string url;             // http:// or https://
  HeaderList headers;          // sent as given; a Host header here replaces curl's
  std::string body;
};

struct ClientResponse {
  int status = 0;
  HeaderList headers;  // of the final response (not of a 100 Continue)
  std::string body;
};

// Sends one request and returns whatever the server answered, 4xx and 5xx included.
class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  // kUnavailable when no response arrived (refused, DNS, TLS, timeout), with curl's
  // message; kInvalidArgument for a URL that is not http(s).
  virtual Result<ClientResponse> Send(const ClientRequest& request) = 0;
};

struct HttpClientOptions {
  std::chrono::milliseconds connect_timeout = std::chrono::seconds(10);
  std::chrono::milliseconds total_timeout = std::chrono::seconds(60);
  std::size_t max_response_bytes = 64 << 20;
  bool verify_tls = true;  // peer and host name; off only for explicit testing
};

// libcurl easy interface, one handle per Send. Redirects are not followed (a signed
// request must not be replayed elsewhere). Thread-safe: Send may run concurrently.
class CurlHttpClient final : public HttpTransport {
 public:
  explicit CurlHttpClient(HttpClientOptions options = {});
  Result<ClientResponse> Send(const ClientRequest& request) override;

 private:
  HttpClientOptions options_;
};

// The parts of an http(s) URL a client needs to sign a request.
struct ParsedUrl {
  std::string scheme;       // "http" or "https", lower case
  std::string host;         // as written, brackets kept for IPv6 literals
  std::string port;         // empty when absent
  std::string path;         // "/" when absent; no query
  std::string host_header;  // host[:port], the port only when it is not the default
};

// kInvalidArgument for anything but http(s)://host[:port][/path], or with a query,
// fragment or user info.
Result<ParsedUrl> ParseUrl(std::string_view url);

}  // namespace kw::awsclient
