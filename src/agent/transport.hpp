#pragma once

// The agent's only network code: HTTP(S) requests and one WebSocket client connection,
// over Boost.Beast (kept inside transport.cpp so nothing else compiles Asio). TLS when
// the URL is https: the server certificate is verified against the system store, or
// against `ca_file` when given, including the host name.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/http_message.hpp"
#include "common/result.hpp"

namespace kw::agent {

struct ServerUrl {
  bool tls = false;
  std::string host;         // without brackets for IPv6 literals
  std::string port;         // always set ("80"/"443" by default)
  std::string base_path;    // "" or "/prefix" (no trailing slash)
  std::string host_header;  // host[:port], the port only when it is not the default
  std::string text;         // the URL as given, without a trailing slash
};

// kInvalidArgument for anything but http(s)://host[:port][/path] (no query, fragment or
// user info).
Result<ServerUrl> ParseServerUrl(std::string_view url);

struct TlsOptions {
  std::string ca_file;  // PEM bundle; empty for the system store
};

struct HttpReply {
  int status = 0;
  std::string body;
};

// Sends one request (the Host header is added) and returns the answer, 4xx/5xx included.
// kUnavailable when no answer came (DNS, refused, TLS, timeout); kInvalidArgument for a
// bad CA file. Thread-safe (each call has its own I/O context).
Result<HttpReply> HttpRequest(const ServerUrl& server, std::string_view method,
                              std::string_view target, const HeaderList& headers, std::string body,
                              const TlsOptions& tls, std::chrono::seconds timeout);

// One client WebSocket connection with its own I/O thread.
//
// Thread-safe: Send and Close from any thread; Receive from one thread at a time.
class WebSocketChannel {
 public:
  virtual ~WebSocketChannel() = default;
  // Queues a text frame. False when the connection is closed (the frame is dropped).
  virtual bool Send(std::string text) = 0;
  // The next text frame, waiting up to `timeout`: nullopt on timeout; kUnavailable once
  // the connection has ended (with the reason).
  virtual Result<std::optional<std::string>> Receive(std::chrono::milliseconds timeout) = 0;
  // Starts a clean close; Receive then reports the end. Idempotent.
  virtual void Close() = 0;
};

struct WebSocketOptions {
  std::chrono::seconds connect_timeout{30};
  // Without any frame from the server for this long, a ping goes out; without an answer
  // for as long again, the connection is considered lost. Zero disables it.
  std::chrono::seconds idle_timeout{0};
  std::size_t max_message_bytes = 256 * 1024;
};

// Connects and upgrades `target` with `headers` added to the upgrade request (the caller
// signs them; Host is `server.host_header`). A refused upgrade is kPermissionDenied for
// 401/403 and kUnavailable otherwise, with the HTTP status in the message and `reason`
// set to the status code ("401").
Result<std::unique_ptr<WebSocketChannel>> ConnectWebSocket(const ServerUrl& server,
                                                           std::string_view target,
                                                           const HeaderList& headers,
                                                           const TlsOptions& tls,
                                                           const WebSocketOptions& options);

}  // namespace kw::agent
