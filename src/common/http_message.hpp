#pragma once

// Plain HTTP messages, independent of any transport library. The Beast transport in
// server/ converts to and from these, so nothing above it includes Beast.

#include <string>
#include <string_view>
#include <vector>

#include "common/strings.hpp"

namespace kw {

struct HeaderField {
  std::string name;  // as received; compare case-insensitively
  std::string value;
};
using HeaderList = std::vector<HeaderField>;

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // raw request-target: path and optional "?query", as on the wire
  HeaderList headers;  // in wire order
  std::string body;
  std::string remote_address;  // peer IP, no port
  bool secure = false;         // arrived over TLS
};

struct HttpResponse {
  int status = 200;
  HeaderList headers;
  std::string body;
};

// The application behind the transport. Thread-safe: called concurrently from the
// transport's threads. Must not throw.
class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  virtual HttpResponse Handle(const HttpRequest& request) = 0;
};

// First header named `name` (ASCII case-insensitive), or nullptr.
const HeaderField* FindHeader(const HeaderList& headers, std::string_view name);

}  // namespace kw
