#pragma once

// Plain HTTP messages, independent of any transport library. The Beast transport in
// server/ converts to and from these, so nothing above it includes Beast.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
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

// ---- WebSocket (the agents' control channel) ---------------------------------------

// The transport's side of one accepted WebSocket connection. Thread-safe: Send and
// Close may be called from any thread, also after the peer has gone (then they do
// nothing). Text frames only.
class WebSocketConnection {
 public:
  virtual ~WebSocketConnection() = default;
  // Queues one text frame; frames go out in the order queued. A connection whose peer
  // does not read is closed once its queue exceeds the transport's limit, rather than
  // buffering without bound.
  virtual void Send(std::string text) = 0;
  // Starts a clean close (close frame, then the socket); OnClose follows.
  virtual void Close() = 0;
  // Close codes of RFC 6455 section 7.4.1.
  enum class CloseCode : std::uint16_t {
    kNormal = 1000,
    kGoingAway = 1001,
    kUnsupportedData = 1003,
    kPolicyViolation = 1008,
  };
  // As Close(), with a close code other than kNormal (a peer that broke the protocol
  // gets kPolicyViolation). Frames queued before it still go out first.
  virtual void CloseWith(CloseCode code) = 0;
  virtual const std::string& remote_address() const = 0;
};

// The application's side of one connection. The transport calls OnMessage for each
// complete text frame, one at a time per connection, on an I/O thread (so keep it
// short), and OnClose exactly once when the connection ends for any reason; after
// OnClose no further calls come. Must not throw.
class WebSocketSession {
 public:
  virtual ~WebSocketSession() = default;
  virtual void OnMessage(std::string_view text) = 0;
  virtual void OnClose() = 0;
};

// Decides on upgrade requests (GET with `Upgrade: websocket`). Returns a session to
// accept the upgrade, or a response to refuse it with (401, 403, 404...). `connection`
// may be kept and used as soon as Accept returns a session: frames queued before the
// handshake completes are sent after it. Thread-safe; must not throw.
class WebSocketHandler {
 public:
  virtual ~WebSocketHandler() = default;
  using Decision = std::variant<std::shared_ptr<WebSocketSession>, HttpResponse>;
  virtual Decision Accept(const HttpRequest& request,
                          std::shared_ptr<WebSocketConnection> connection) = 0;
};

// First header named `name` (ASCII case-insensitive), or nullptr.
const HeaderField* FindHeader(const HeaderList& headers, std::string_view name);

}  // namespace kw
