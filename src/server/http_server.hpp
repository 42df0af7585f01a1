#pragma once

// keyward's HTTP/1.1 transport: accepts connections, parses requests with Boost.Beast
// and hands each one to an HttpHandler as plain structs (common/http_message.hpp).
// Beast and Asio stay inside http_server.cpp so that including this header is cheap.
//
// Threading: `config.threads` threads run the I/O loop, and the handler is called on
// them synchronously. A handler that blocks (SQLite, a durable commit's sync) therefore
// holds one of those threads for as long as it blocks, so the server runs more threads
// than cores (ServerConfig::threads). That is acceptable while handlers are short; a
// separate handler pool is the fix if it stops being so.
//
// A request that arrived whole is parsed where it lies, and a response is first written
// straight to the (non-blocking) socket; only what does not fit waits asynchronously.
// Each asynchronous step costs a trip through the scheduler, the connection's strand
// and a timer, which was a fifth of the CPU of a small request.
//
// Per connection, requests are handled strictly one after another, so pipelined
// requests get their responses in order.
//
// WebSocket: when a WebSocketHandler is given, a GET with `Upgrade: websocket` goes to
// its Accept() instead of the HttpHandler. An accepted connection reads text frames one
// at a time (binary frames and frames over websocket_max_message_bytes close it), pings
// a silent peer and closes it after websocket_idle_timeout, and writes queued frames one
// at a time. Per-connection memory is kept small on purpose (no compression, read buffer
// released between messages) because the control channel holds thousands of idle agents.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "agentproto/agent_protocol.hpp"
#include "common/http_message.hpp"
#include "common/result.hpp"

namespace kw::server {

struct HttpServerConfig {
  std::string host = "127.0.0.1";  // an IP literal; "0.0.0.0" or "::" for all interfaces
  std::uint16_t port = 8787;       // 0 picks a free port; see HttpServer::port()
  int threads = 2;

  // A request whose start line and headers exceed this is answered 431 and closed.
  std::size_t max_header_bytes = 16 * 1024;
  // A body larger than this is answered 413 and closed. A Content-Length above the
  // limit is refused as soon as the headers arrive, without reading the body.
  std::size_t max_body_bytes = 1024 * 1024;

  // From the first byte of a request (or from accepting the connection) until its
  // headers are complete. Bounds slow-header ("slowloris") clients.
  std::chrono::milliseconds header_timeout = std::chrono::seconds(10);
  // How long a keep-alive connection may sit between requests.
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(60);
  // From the end of the headers until the body is complete.
  std::chrono::milliseconds body_timeout = std::chrono::seconds(30);
  // For writing one response to a client that reads slowly.
  std::chrono::milliseconds write_timeout = std::chrono::seconds(30);
  // How long Stop() lets in-flight requests finish before closing their connections.
  std::chrono::milliseconds drain_timeout = std::chrono::seconds(10);

  // WebSocket connections: closed when nothing (not even a pong to the server's ping,
  // sent after half this time) arrives for this long. The opening and closing
  // handshakes are bounded by header_timeout.
  std::chrono::milliseconds websocket_idle_timeout = std::chrono::seconds(90);
  // A larger message closes the connection (close code 1009).
  std::size_t websocket_max_message_bytes = agentproto::kMaxMessageBytes;
  // A peer that does not read: its connection is closed once the frames queued for it
  // exceed either limit, rather than buffering without bound.
  std::size_t websocket_max_queued_bytes = 1024 * 1024;
  std::size_t websocket_max_queued_frames = 1000;

  // TLS: when both are set, connections are TLS-only (PEM files; the chain file may
  // hold intermediates after the leaf) and requests arrive with `secure = true`.
  std::string tls_cert_chain_file;
  std::string tls_private_key_file;
};

// A running server. Thread-safe: port(), Stop(), Wait() may be called from any thread
// except the handler's (Stop() and Wait() from inside Handle() would wait for
// themselves).
class HttpServer {
 public:
  // Binds, listens and starts the I/O threads. `handler` and `websockets` (optional:
  // without it, upgrade requests go to `handler` like any other) must outlive the server.
  // Errors: kInvalidArgument for a bad host or config, kUnavailable when the address
  // cannot be bound ("address already in use: 127.0.0.1:8787"), kInvalidArgument for
  // unreadable TLS files.
  static Result<std::unique_ptr<HttpServer>> Start(const HttpServerConfig& config,
                                                   HttpHandler& handler,
                                                   WebSocketHandler* websockets = nullptr);

  // Stops (as Stop()) if still running.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound port (the real one when config.port was 0).
  std::uint16_t port() const;

  // Graceful shutdown; idempotent. Stops accepting, closes idle keep-alive connections
  // and WebSocket connections (close frame, after the frames already queued),
  // lets requests already being read or handled finish and answers them with
  // `Connection: close`, then waits up to drain_timeout for those connections to end
  // before closing the rest. Returns when the I/O threads have exited. A handler call
  // that is still running cannot be interrupted: Stop() waits for it to return.
  void Stop();

  // Blocks until the server has stopped (by Stop() or RunUntilSignal()).
  void Wait();

  // Blocks until SIGINT or SIGTERM arrives (or Stop() is called elsewhere), then stops
  // gracefully as Stop() does. kInternal if the signal handlers cannot be installed.
  Status RunUntilSignal();

  class Impl;  // public only so that http_server.cpp's helpers can name it

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kw::server
