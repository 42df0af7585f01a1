#include "server/http_server.hpp"

// clang-format off
// net.hpp must precede every Boost header (see its comment).
#include "common/net.hpp"
// clang-format on

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <iterator>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace kw::server {
namespace {

using namespace kw::net;  // NOLINT: asio, tcp, error_code
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace ssl = boost::asio::ssl;
namespace websocket = boost::beast::websocket;

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// After a response that ends the connection, how long the client may keep sending
// before the socket is closed anyway. Closing with unread input makes the kernel send
// a reset, which can destroy the response still in flight to the client (RFC 7230
// section 6.6), so the close waits briefly for the client's own close instead.
constexpr std::chrono::seconds kLingerTimeout{2};
// After the drain timeout, connections are closed and Stop() waits this much longer
// for their coroutines to unwind before stopping the I/O loop.
constexpr std::chrono::seconds kForceCloseGrace{1};
constexpr std::size_t kReadChunk = 4096;
// A WebSocket read buffer larger than this after a message is released rather than kept
// for the next one: an idle agent then costs no buffer at all.
constexpr std::size_t kKeptWebSocketBuffer = 0;

std::string EndpointText(const std::string& host, std::uint16_t port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::string PeerAddress(const tcp::socket& socket) {
  error_code ec;
  const tcp::endpoint ep = socket.remote_endpoint(ec);
  if (ec) return {};
  asio::ip::address addr = ep.address();
  if (addr.is_v6() && addr.to_v6().is_v4_mapped()) {
    addr = asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6());
  }
  return addr.to_string(ec);
}

bool HasLineBreak(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

HttpResponse InternalFailureResponse() {
  HttpResponse r;
  r.status = 500;
  r.headers.push_back({"Content-Type", "application/x-amz-json-1.1"});
  r.body = R"({"__type":"InternalFailure","message":"internal error"})";
  return r;
}

// Converts the handler's response to Beast's. The transport owns message framing, so
// the handler's Content-Length, Transfer-Encoding and Connection headers are replaced,
// and header fields with line breaks (which would split the response) are dropped.
http::response<http::string_body> ToBeast(HttpResponse&& in, unsigned version, bool keep_alive,
                                          bool head_request) {
  if (in.status < 200 || in.status > 599) {
    spdlog::error("http: handler returned status {}; answering 500", in.status);
    in = InternalFailureResponse();
  }
  http::response<http::string_body> res;
  res.version(version);
  res.result(static_cast<unsigned>(in.status));
  for (auto& h : in.headers) {
    if (EqualsIgnoreCase(h.name, "Content-Length") ||
        EqualsIgnoreCase(h.name, "Transfer-Encoding") || EqualsIgnoreCase(h.name, "Connection")) {
      continue;
    }
    if (h.name.empty() || HasLineBreak(h.name) || HasLineBreak(h.value)) {
      spdlog::warn("http: dropping a response header with a line break or empty name");
      continue;
    }
    res.insert(h.name, h.value);
  }
  res.keep_alive(keep_alive);
  const bool bodiless_status = in.status == 204 || in.status == 304;
  if (bodiless_status) in.body.clear();
  const std::size_t size = in.body.size();
  if (head_request) {
    // A HEAD response announces the length the GET would have, without the bytes.
    if (!bodiless_status) res.content_length(size);
  } else {
    res.body() = std::move(in.body);
    res.prepare_payload();
  }
  return res;
}

HttpRequest ToRequest(http::request<http::string_body>&& in, const std::string& remote,
                      bool secure) {
  HttpRequest out;
  out.method = std::string(in.method_string());
  out.target = std::string(in.target());
  out.headers.reserve(static_cast<std::size_t>(std::distance(in.begin(), in.end())));
  for (const auto& field : in) {
    out.headers.push_back({std::string(field.name_string()), std::string(field.value())});
  }
  out.body = std::move(in.body());
  out.remote_address = remote;
  out.secure = secure;
  return out;
}

// A connection as the server's registry sees it. OnStop and ForceClose must run on
// the connection's strand (executor()).
class ConnectionBase {
 public:
  virtual ~ConnectionBase() = default;
  virtual asio::any_io_executor executor() = 0;
  // Stop() began: close the connection if it is between requests; otherwise the
  // request in progress finishes with `Connection: close`.
  virtual void OnStop() = 0;
  // The drain timeout passed: close whatever the state.
  virtual void ForceClose() = 0;
};

}  // namespace

class HttpServer::Impl {
 public:
  Impl(const HttpServerConfig& config, HttpHandler& handler, WebSocketHandler* websockets)
      : config_(config),
        handler_(handler),
        websockets_(websockets),
        io_(config.threads),
        work_(asio::make_work_guard(io_)),
        acceptor_(asio::make_strand(io_)) {}

  ~Impl() { Stop(); }

  Status Listen();
  void Run();
  void Stop();
  void Wait();
  Status RunUntilSignal();
  std::uint16_t port() const { return port_; }

  const HttpServerConfig& config() const { return config_; }
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }

  HttpResponse CallHandler(const HttpRequest& request) {
    // The handler contract says it never throws; a bug that makes it throw costs one
    // 500, not the process.
    try {
      return handler_.Handle(request);
    } catch (const std::exception& e) {
      spdlog::error("http: handler threw: {}", e.what());
    } catch (...) {
      spdlog::error("http: handler threw a non-standard exception");
    }
    return InternalFailureResponse();
  }

  WebSocketHandler* websockets() const { return websockets_; }

  // The WebSocketHandler's decision; a throwing handler (a bug) refuses with 500.
  WebSocketHandler::Decision CallAccept(const HttpRequest& request,
                                        std::shared_ptr<WebSocketConnection> connection) {
    try {
      WebSocketHandler::Decision d = websockets_->Accept(request, std::move(connection));
      if (auto* s = std::get_if<std::shared_ptr<WebSocketSession>>(&d); s && !*s) {
        spdlog::error("http: WebSocket handler accepted with a null session; answering 500");
        return InternalFailureResponse();
      }
      return d;
    } catch (const std::exception& e) {
      spdlog::error("http: WebSocket handler threw: {}", e.what());
    } catch (...) {
      spdlog::error("http: WebSocket handler threw a non-standard exception");
    }
    return InternalFailureResponse();
  }

  // Adds a connection that did not come from the acceptor (a WebSocket taking over an
  // HTTP connection's socket) to the registry that Stop() walks. nullopt once Stop()
  // has begun.
  std::optional<std::uint64_t> Register(const std::shared_ptr<ConnectionBase>& conn) {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_started_) return std::nullopt;
    const std::uint64_t id = next_id_++;
    connections_.emplace(id, conn);
    return id;
  }

  void Deregister(std::uint64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    connections_.erase(id);
    if (connections_.empty()) cv_.notify_all();
  }

 private:
  asio::awaitable<void> AcceptLoop();
  void StartConnection(tcp::socket socket);
  std::vector<std::shared_ptr<ConnectionBase>> SnapshotConnections();  // requires mu_

  const HttpServerConfig config_;
  HttpHandler& handler_;
  WebSocketHandler* const websockets_;  // may be null
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};

  // Declared before io_ so that connections destroyed with the io_context can still
  // deregister themselves.
  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<std::uint64_t, std::weak_ptr<ConnectionBase>> connections_;  // guarded by mu_
  std::uint64_t next_id_ = 0;                                                     // guarded by mu_
  bool started_ = false;                                                          // guarded by mu_
  bool stop_started_ = false;                                                     // guarded by mu_
  bool stopped_ = false;                                                          // guarded by mu_
  bool signal_received_ = false;                                                  // guarded by mu_
  std::optional<ssl::context> tls_;  // immutable after Listen(); outlives the streams

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  tcp::acceptor acceptor_;                   // strand-confined (its own strand)
  std::optional<asio::signal_set> signals_;  // guarded by mu_
  std::vector<std::thread> threads_;
};

namespace {

// One WebSocket connection, after an HTTP connection's upgrade request was accepted. It
// takes over the HTTP connection's stream. Strand-confined: every member below is used
// only on the stream's strand (ex_); Send/Close/CloseWith post there first.
//
// Lifetime: owned by shared_ptrs held by the application (as WebSocketConnection), the
// read and write coroutines and posted handlers. The stream (and its socket) is
// destroyed as soon as both coroutines have ended, even while the application still
// holds the object, and the registry entry goes with it.
template <class Stream>
class WebSocket final : public ConnectionBase,
                        public WebSocketConnection,
                        public std::enable_shared_from_this<WebSocket<Stream>> {
 public:
  // No permessage-deflate: its zlib state would cost hundreds of KiB per connection.
  using WsStream = websocket::stream<Stream, /*deflateSupported=*/false>;

  WebSocket(HttpServer::Impl& server, std::string remote, asio::any_io_executor ex)
      : server_(server), remote_(std::move(remote)), ex_(std::move(ex)) {}

  ~WebSocket() override {
    if (id_) server_.Deregister(*id_);
  }

  // Enters the server's registry; false once Stop() has begun.
  bool Register() {
    id_ = server_.Register(this->shared_from_this());
    return id_.has_value();
  }

  // The upgrade was refused: nothing will run; leave the registry now.
  void Abandon() {
    closed_ = true;
    if (id_) server_.Deregister(*std::exchange(id_, std::nullopt));
  }

  // The upgrade was accepted: takes the stream and starts the handshake and read loop.
  // Runs on the strand.
  void Attach(Stream&& stream, http::request<http::string_body>&& request,
              std::shared_ptr<WebSocketSession> session) {
    ws_.emplace(std::move(stream));
    session_ = std::move(session);
    reading_ = true;
    asio::co_spawn(ex_, ReadLoop(this->shared_from_this(), std::move(request)), asio::detached);
  }

  // --- WebSocketConnection (any thread) ---
  void Send(std::string text) override {
    asio::post(ex_, [self = this->shared_from_this(), text = std::move(text)]() mutable {
      self->Enqueue(std::move(text));
    });
  }
  void Close() override { CloseWith(CloseCode::kNormal); }
  void CloseWith(CloseCode code) override {
    asio::post(ex_, [self = this->shared_from_this(), code] { self->RequestClose(code); });
  }
  const std::string& remote_address() const override { return remote_; }

  // --- ConnectionBase (on the strand) ---
  asio::any_io_executor executor() override { return ex_; }
  void OnStop() override { RequestClose(CloseCode::kGoingAway); }
  void ForceClose() override { HardClose(); }

 private:
  static asio::awaitable<void> ReadLoop(std::shared_ptr<WebSocket> self,
                                        http::request<http::string_body> request) {
    try {
      co_await self->Read(std::move(request));
    } catch (const std::exception& e) {
      spdlog::error("http: WebSocket from {} failed: {}", self->remote_, e.what());
    } catch (...) {
      spdlog::error("http: WebSocket from {} failed", self->remote_);
    }
    self->reading_ = false;
    self->Finish();
  }

  asio::awaitable<void> Read(http::request<http::string_body> request) {
    const HttpServerConfig& cfg = server_.config();
    WsStream& ws = *ws_;
    ws.set_option(websocket::stream_base::timeout{cfg.header_timeout, cfg.websocket_idle_timeout,
                                                  /*keep_alive_pings=*/true});
    ws.read_message_max(cfg.websocket_max_message_bytes);
    error_code ec;
    co_await ws.async_accept(request, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    request = {};  // its memory is not needed for the life of the connection
    open_ = true;
    MaybeStartWriter();
    for (;;) {
      co_await ws.async_read(buffer_, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;  // closed by either side, timed out, too big, or reset
      if (!ws.got_text()) {
        RequestClose(CloseCode::kUnsupportedData);
      } else if (!close_requested_) {
        const auto data = buffer_.cdata();
        session_->OnMessage(std::string_view(static_cast<const char*>(data.data()), data.size()));
      }
      buffer_.consume(buffer_.size());
      if (buffer_.capacity() > kKeptWebSocketBuffer) buffer_.shrink_to_fit();
    }
  }

  void Enqueue(std::string text) {
    if (closed_ || close_requested_) return;
    const HttpServerConfig& cfg = server_.config();
    if (queue_.size() >= cfg.websocket_max_queued_frames ||
        queued_bytes_ + text.size() > cfg.websocket_max_queued_bytes) {
      spdlog::warn("http: WebSocket peer {} does not read; closing its connection", remote_);
      close_requested_ = true;  // drops what is still sent until the read loop ends
      HardClose();
      return;
    }
    queued_bytes_ += text.size();
    queue_.push_back(std::move(text));
    MaybeStartWriter();
  }

  void RequestClose(CloseCode code) {
    if (closed_ || close_requested_) return;
    close_requested_ = true;
    close_code_ = code;
    if (!ws_) return;  // handshake not begun yet; ReadLoop's Finish ends it
    MaybeStartWriter();
  }

  void MaybeStartWriter() {
    if (!open_ || writing_ || closed_) return;
    if (queue_.empty() && !(close_requested_ && !close_sent_)) return;
    writing_ = true;
    asio::co_spawn(ex_, WriteLoop(this->shared_from_this()), asio::detached);
  }

  // One write at a time, as Beast requires; the close frame goes after queued frames.
  static asio::awaitable<void> WriteLoop(std::shared_ptr<WebSocket> self) {
    error_code ec;
    try {
      while (!self->closed_ && !self->queue_.empty()) {
        self->ws_->text(true);
        co_await self->ws_->async_write(asio::buffer(self->queue_.front()),
                                        asio::redirect_error(asio::use_awaitable, ec));
        if (ec) break;
        self->queued_bytes_ -= self->queue_.front().size();
        self->queue_.pop_front();
      }
      if (!ec && !self->closed_ && self->close_requested_ && !self->close_sent_) {
        self->close_sent_ = true;
        co_await self->ws_->async_close(
            websocket::close_reason(static_cast<std::uint16_t>(self->close_code_)),
            asio::redirect_error(asio::use_awaitable, ec));
      }
    } catch (const std::exception& e) {
      spdlog::error("http: WebSocket write to {} failed: {}", self->remote_, e.what());
      ec = asio::error::fault;
    }
    self->writing_ = false;
    if (ec) self->HardClose();
    if (self->closed_) {
      self->Release();
    } else {
      self->MaybeStartWriter();  // frames queued while the close was being written
    }
  }

  // Ends the TCP connection at once; the pending read fails and Finish follows.
  void HardClose() {
    if (!ws_) return;
    error_code ec;
    beast::get_lowest_layer(*ws_).socket().close(ec);
  }

  // The read loop has ended: the connection is over for the application.
  void Finish() {
    closed_ = true;
    queue_.clear();
    queued_bytes_ = 0;
    if (auto session = std::move(session_)) {
      try {
        session->OnClose();
      } catch (...) {
        spdlog::error("http: WebSocket session's OnClose threw");
      }
    }
    if (writing_) HardClose();  // the writer's completion calls Release()
    Release();
  }

  void Release() {
    if (reading_ || writing_ || !ws_) return;
    HardClose();
    ws_.reset();
    buffer_ = beast::flat_buffer();
    if (id_) server_.Deregister(*std::exchange(id_, std::nullopt));
  }

  HttpServer::Impl& server_;
  const std::string remote_;
  const asio::any_io_executor ex_;  // the connection's strand
  std::optional<std::uint64_t> id_;
  std::optional<WsStream> ws_;
  std::shared_ptr<WebSocketSession> session_;  // reset after OnClose (breaks the cycle)
  beast::flat_buffer buffer_;
  std::deque<std::string> queue_;
  std::size_t queued_bytes_ = 0;
  bool reading_ = false;          // the read coroutine runs
  bool writing_ = false;          // the write coroutine runs
  bool open_ = false;             // handshake done
  bool close_requested_ = false;  // Close(), Stop() or a protocol error
  bool close_sent_ = false;
  bool closed_ = false;  // OnClose delivered (or refused); no more traffic
  CloseCode close_code_ = CloseCode::kNormal;
};

// One client connection: reads requests one at a time, calls the handler, writes the
// response. Strand-confined: the coroutine and OnStop/ForceClose run on one strand.
template <class Stream>
class Connection final : public ConnectionBase {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  template <class... Args>
  Connection(HttpServer::Impl& server, std::uint64_t id, std::string remote, Args&&... args)
      : server_(server),
        id_(id),
        remote_(std::move(remote)),
        stream_(std::forward<Args>(args)...) {}

  ~Connection() override { server_.Deregister(id_); }

  asio::any_io_executor executor() override { return stream_.get_executor(); }

  void OnStop() override {
    if (idle_) Close();
  }
  void ForceClose() override { Close(); }

  // A static function so that the coroutine frame owns a reference to the connection.
  static asio::awaitable<void> Run(std::shared_ptr<Connection> self) {
    bool failed = false;
    try {
      co_await self->Serve();
    } catch (const std::exception& e) {
      spdlog::error("http: connection from {} failed: {}", self->remote_, e.what());
      failed = true;
    } catch (...) {
      spdlog::error("http: connection from {} failed", self->remote_);
      failed = true;
    }
    // A request was being handled but its response was never started: answer it
    // rather than leave the client guessing. co_await is not allowed inside a catch.
    if (failed && self->in_request_ && !self->response_started_) {
      try {
        co_await self->WriteAndClose(InternalFailureResponse());
      } catch (...) {
      }
    }
    self->Close();
  }

 private:
  beast::tcp_stream& Tcp() { return beast::get_lowest_layer(stream_); }

  void Close() {
    if (!handed_off_) Tcp().close();
  }

  asio::awaitable<void> Serve() {
    const HttpServerConfig& cfg = server_.config();
    error_code ec;
    if constexpr (kTls) {
      Tcp().expires_after(cfg.header_timeout);
      co_await stream_.async_handshake(ssl::stream_base::server,
                                       asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
    }
    bool first = true;
    for (;;) {
      // Between requests. Nothing is buffered, so wait for the first byte of the next
      // request; a new connection gets the header timeout, a kept-alive one the idle
      // timeout. Stop() closes connections waiting here.
      bool header_deadline_set = false;
      if (buffer_.size() == 0) {
        if (server_.stopping()) co_return;
        idle_ = true;
        Tcp().expires_after(first ? cfg.header_timeout : cfg.idle_timeout);
        const std::size_t n = co_await stream_.async_read_some(
            buffer_.prepare(kReadChunk), asio::redirect_error(asio::use_awaitable, ec));
        idle_ = false;
        if (ec) co_return;  // the client closed, timed out, or Stop() closed it
        buffer_.commit(n);
        header_deadline_set = first;  // a slow client gets one header timeout in all
      }
      first = false;
      in_request_ = true;
      response_started_ = false;

      http::request_parser<http::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(
          std::min<std::size_t>(cfg.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
      parser.body_limit(static_cast<std::uint64_t>(cfg.max_body_bytes));
      // Usually the whole request came with the first read: parse it where it is. Each
      // asynchronous read that finds its bytes already buffered still costs a round
      // trip through the scheduler and the strand, and the timer of a timed operation.
      ParseBuffered(parser, ec);
      if (!ec && !parser.is_header_done()) {
        if (!header_deadline_set) Tcp().expires_after(cfg.header_timeout);
        co_await http::async_read_header(stream_, buffer_, parser,
                                         asio::redirect_error(asio::use_awaitable, ec));
      }
      if (ec) {
        co_await FailRead(ec);
        co_return;
      }

      if (!parser.is_done()) {
        const auto& header = parser.get();
        const auto expect = header.find(http::field::expect);
        if (expect != header.end() && beast::iequals(expect->value(), "100-continue") &&
            header.version() >= 11) {
          http::response<http::empty_body> cont{http::status::continue_, header.version()};
          Tcp().expires_after(cfg.write_timeout);
          co_await http::async_write(stream_, cont, asio::redirect_error(asio::use_awaitable, ec));
          if (ec) co_return;
        }
        Tcp().expires_after(cfg.body_timeout);
        co_await http::async_read(stream_, buffer_, parser,
                                  asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
          co_await FailRead(ec);
          co_return;
        }
      }
      // The request is read. No deadline runs while the handler does: each later
      // asynchronous operation sets its own before it starts.

      http::request<http::string_body> message = parser.release();
      if (server_.websockets() != nullptr && websocket::is_upgrade(message)) {
        co_await Upgrade(std::move(message));
        co_return;
      }
      const unsigned version = message.version();
      const bool head = message.method() == http::verb::head;
      bool keep_alive = message.keep_alive();
      HttpResponse response = server_.CallHandler(ToRequest(std::move(message), remote_, kTls));
      // Read after the handler returns: a Stop() that began meanwhile still gets this
      // response delivered, and then the connection ends.
      if (server_.stopping()) keep_alive = false;

      auto res = ToBeast(std::move(response), version, keep_alive, head);
      response_started_ = true;
      http::response_serializer<http::string_body> serializer{res};
      if constexpr (!kTls) WriteWithoutBlocking(serializer, ec);
      if (!ec && !serializer.is_done()) {
        Tcp().expires_after(cfg.write_timeout);
        co_await http::async_write(stream_, serializer,
                                   asio::redirect_error(asio::use_awaitable, ec));
      }
      in_request_ = false;
      if (ec) co_return;
      if (!keep_alive) {
        co_await GracefulClose();
        co_return;
      }
    }
  }

  // Feeds the buffered bytes to `parser` until the message is complete or it needs
  // more; a need for more is not an error. The same parser code and limits as an
  // asynchronous read, which continues where this stopped.
  void ParseBuffered(http::request_parser<http::string_body>& parser, error_code& ec) {
    while (buffer_.size() > 0 && !parser.is_done()) {
      const std::size_t used = parser.put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == http::error::need_more) {
        ec = {};
        return;
      }
      if (ec || used == 0) return;
    }
  }

  // Sends as much of the response as the socket takes now (a small response goes out
  // whole, in one sendmsg) without a round trip through the scheduler. The socket is
  // non-blocking (StartConnection), and http::write consumes from `serializer` only what
  // each write_some took, so whatever the socket cannot take yet stays there for an
  // asynchronous write to finish; would_block is not an error.
  void WriteWithoutBlocking(http::response_serializer<http::string_body>& serializer,
                            error_code& ec) {
    http::write(Tcp().socket(), serializer, ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) ec = {};
  }

  // Offers an upgrade request to the WebSocketHandler. Accepted: the stream moves to a
  // WebSocket, and this connection ends without touching it again. Refused: the
  // handler's response is sent and the connection closes.
  asio::awaitable<void> Upgrade(http::request<http::string_body> message) {
    HttpResponse refusal;
    auto ws = std::make_shared<WebSocket<Stream>>(server_, remote_, stream_.get_executor());
    if (server_.stopping() || !ws->Register()) {
      refusal.status = 503;
      refusal.headers.push_back({"Content-Type", "text/plain"});
      refusal.body = "server is shutting down\n";
    } else {
      WebSocketHandler::Decision decision = server_.CallAccept(
          ToRequest(http::request<http::string_body>(message), remote_, kTls), ws);
      if (auto* session = std::get_if<std::shared_ptr<WebSocketSession>>(&decision)) {
        // The WebSocket sets its own timeouts; the TCP stream's must not interfere.
        Tcp().expires_never();
        handed_off_ = true;
        ws->Attach(std::move(stream_), std::move(message), std::move(*session));
        co_return;
      }
      refusal = std::move(std::get<HttpResponse>(decision));
    }
    ws->Abandon();
    co_await WriteAndClose(std::move(refusal));
  }

  // A request could not be read. Answers protocol errors; connection-level failures
  // (end of stream, timeout, reset, Stop()) just end the connection.
  asio::awaitable<void> FailRead(const error_code& ec) {
    HttpResponse r;
    r.headers.push_back({"Content-Type", "text/plain"});
    if (ec == http::error::header_limit) {
      r.status = 431;
      r.body = "request header fields too large\n";
    } else if (ec == http::error::body_limit) {
      r.status = 413;
      r.body = "request body too large\n";
    } else if (ec == http::error::end_of_stream || ec == http::error::partial_message) {
      co_return;
    } else if (&ec.category() == &http::make_error_code(http::error::bad_method).category()) {
      r.status = 400;
      r.body = "malformed HTTP request: " + ec.message() + "\n";
    } else {
      co_return;
    }
    co_await WriteAndClose(std::move(r));
  }

  asio::awaitable<void> WriteAndClose(HttpResponse response) {
    auto res = ToBeast(std::move(response), 11, /*keep_alive=*/false, /*head_request=*/false);
    response_started_ = true;
    error_code ec;
    Tcp().expires_after(server_.config().write_timeout);
    co_await http::async_write(stream_, res, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    co_await GracefulClose();
  }

  // Ends the connection after a final response without destroying that response: TLS
  // sends close_notify; plain TCP half-closes, then discards what the client still
  // sends until it closes too (or kLingerTimeout).
  asio::awaitable<void> GracefulClose() {
    error_code ec;
    Tcp().expires_after(kLingerTimeout);
    if constexpr (kTls) {
      co_await stream_.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
    } else {
      Tcp().socket().shutdown(tcp::socket::shutdown_send, ec);
      if (ec) co_return;
      char discard[kReadChunk];
      for (;;) {
        co_await Tcp().async_read_some(asio::buffer(discard),
                                       asio::redirect_error(asio::use_awaitable, ec));
        if (ec) break;
      }
    }
    Close();
  }

  HttpServer::Impl& server_;
  const std::uint64_t id_;
  const std::string remote_;
  Stream stream_;
  beast::flat_buffer buffer_;
  bool idle_ = false;              // waiting for the first byte of a request
  bool in_request_ = false;        // a request has begun and has no complete response
  bool response_started_ = false;  // bytes of the current response may have been sent
  bool handed_off_ = false;        // stream_ moved to a WebSocket; do not touch it
};

}  // namespace

Status HttpServer::Impl::Listen() {
  const HttpServerConfig& cfg = config_;
  if (cfg.threads < 1) return InvalidArgument("http server needs at least one thread");
  if (cfg.max_header_bytes == 0) return InvalidArgument("max_header_bytes must be positive");

  if (!cfg.tls_cert_chain_file.empty() || !cfg.tls_private_key_file.empty()) {
    if (cfg.tls_cert_chain_file.empty() || cfg.tls_private_key_file.empty()) {
      return InvalidArgument("TLS needs both a certificate chain file and a private key file");
    }
    tls_.emplace(ssl::context::tls_server);
    error_code ec;
    tls_->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                          ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                          ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                      ec);
    if (!ec) tls_->use_certificate_chain_file(cfg.tls_cert_chain_file, ec);
    if (ec) {
      return InvalidArgument("cannot load TLS certificate chain " + cfg.tls_cert_chain_file + ": " +
                             ec.message());
    }
    // The message names the file only; OpenSSL's text never contains key bytes.
    tls_->use_private_key_file(cfg.tls_private_key_file, ssl::context::pem, ec);
    if (ec) {
      return InvalidArgument("cannot load TLS private key " + cfg.tls_private_key_file + ": " +
                             ec.message());
    }
  }

  error_code ec;
  tcp::endpoint endpoint;
  const asio::ip::address address = asio::ip::make_address(cfg.host, ec);
  if (!ec) {
    endpoint = tcp::endpoint(address, cfg.port);
  } else {
    // Not an IP literal: resolve a name such as "localhost" and take the first result.
    tcp::resolver resolver(io_);
    auto results = resolver.resolve(cfg.host, std::to_string(cfg.port), ec);
    if (ec || results.empty()) {
      return InvalidArgument("cannot resolve listen host '" + cfg.host + "'");
    }
    endpoint = results.begin()->endpoint();
  }

  const std::string where = EndpointText(cfg.host, cfg.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (ec) return Unavailable("cannot open a socket for " + where + ": " + ec.message());
  acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  acceptor_.bind(endpoint, ec);
  if (ec == asio::error::address_in_use) return Unavailable("address already in use: " + where);
  if (ec == asio::error::access_denied) return Unavailable("permission denied binding " + where);
  if (ec) return Unavailable("cannot bind " + where + ": " + ec.message());
  acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Unavailable("cannot listen on " + where + ": " + ec.message());
  port_ = acceptor_.local_endpoint(ec).port();
  if (ec) return Unavailable("cannot read the bound port of " + where + ": " + ec.message());
  return OkStatus();
}

void HttpServer::Impl::Run() {
  asio::co_spawn(acceptor_.get_executor(), AcceptLoop(), asio::detached);
  {
    std::lock_guard<std::mutex> lock(mu_);
    started_ = true;
  }
  threads_.reserve(static_cast<std::size_t>(config_.threads));
  for (int i = 0; i < config_.threads; ++i) {
    threads_.emplace_back([this] {
      // Completion handlers and the handler calls inside them catch what they can;
      // this loop only keeps a stray exception from terminating the process.
      for (;;) {
        try {
          io_.run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("http: I/O thread caught: {}", e.what());
        } catch (...) {
          spdlog::error("http: I/O thread caught a non-standard exception");
        }
      }
    });
  }
}

asio::awaitable<void> HttpServer::Impl::AcceptLoop() {
  for (;;) {
    // Each connection gets its own strand so that Stop() can safely reach into it.
    tcp::socket socket(asio::make_strand(io_));
    error_code ec;
    co_await acceptor_.async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
    if (stopping() || ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // Typically out of file descriptors: pause instead of spinning on the error.
      spdlog::warn("http: accept failed: {}", ec.message());
      asio::steady_timer pause(acceptor_.get_executor(), std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    StartConnection(std::move(socket));
  }
}

void HttpServer::Impl::StartConnection(tcp::socket socket) {
  error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  std::string remote = PeerAddress(socket);

  std::unique_lock<std::mutex> lock(mu_);
  if (stop_started_) return;  // closes the socket
  const std::uint64_t id = next_id_++;
  if (tls_) {
    auto conn = std::make_shared<Connection<TlsStream>>(*this, id, std::move(remote),
                                                        std::move(socket), *tls_);
    connections_.emplace(id, conn);
    lock.unlock();
    asio::co_spawn(conn->executor(), Connection<TlsStream>::Run(conn), asio::detached);
  } else {
    // Responses are first written synchronously (WriteWithoutBlocking), which must
    // return would_block rather than wait for a slow client.
    socket.non_blocking(true, ec);
    if (ec) {
      spdlog::warn("http: cannot make a connection's socket non-blocking: {}", ec.message());
      return;  // closes the socket
    }
    auto conn =
        std::make_shared<Connection<PlainStream>>(*this, id, std::move(remote), std::move(socket));
    connections_.emplace(id, conn);
    lock.unlock();
    asio::co_spawn(conn->executor(), Connection<PlainStream>::Run(conn), asio::detached);
  }
}

std::vector<std::shared_ptr<ConnectionBase>> HttpServer::Impl::SnapshotConnections() {
  std::vector<std::shared_ptr<ConnectionBase>> out;
  out.reserve(connections_.size());
  for (auto& [id, weak] : connections_) {
    if (auto conn = weak.lock()) out.push_back(std::move(conn));
  }
  return out;
}

void HttpServer::Impl::Stop() {
  std::unique_lock<std::mutex> lock(mu_);
  if (!started_) return;
  if (stop_started_) {
    cv_.wait(lock, [&] { return stopped_; });
    return;
  }
  stop_started_ = true;
  stopping_.store(true, std::memory_order_release);
  cv_.notify_all();  // wakes RunUntilSignal()
  auto conns = SnapshotConnections();
  lock.unlock();

  asio::post(acceptor_.get_executor(), [this] {
    error_code ec;
    acceptor_.close(ec);
  });
  for (auto& conn : conns) {
    asio::post(conn->executor(), [conn] { conn->OnStop(); });
  }
  conns.clear();

  lock.lock();
  if (!cv_.wait_for(lock, config_.drain_timeout, [&] { return connections_.empty(); })) {
    spdlog::warn("http: {} connection(s) still busy after the drain timeout; closing them",
                 connections_.size());
    conns = SnapshotConnections();
    lock.unlock();
    for (auto& conn : conns) {
      asio::post(conn->executor(), [conn] { conn->ForceClose(); });
    }
    conns.clear();
    lock.lock();
    cv_.wait_for(lock, kForceCloseGrace, [&] { return connections_.empty(); });
  }
  lock.unlock();

  work_.reset();
  io_.stop();
  for (auto& t : threads_) t.join();  // waits for handler calls still running
  threads_.clear();

  lock.lock();
  signals_.reset();  // restores the default signal dispositions
  stopped_ = true;
  cv_.notify_all();
}

void HttpServer::Impl::Wait() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return stopped_ || !started_; });
}

Status HttpServer::Impl::RunUntilSignal() {
  {
    // Under mu_ so that a concurrent Stop() either comes first (and we return) or
    // finds the signal set installed and removes it.
    std::unique_lock<std::mutex> lock(mu_);
    if (!started_ || stop_started_) return OkStatus();
    if (!signals_) {
      error_code ec;
      signals_.emplace(io_);
      signals_->add(SIGINT, ec);
      if (!ec) signals_->add(SIGTERM, ec);
      if (ec) {
        signals_.reset();
        return Internal("cannot install signal handlers: " + ec.message());
      }
      signals_->async_wait([this](const error_code& wait_ec, int signal_number) {
        if (wait_ec) return;
        spdlog::info("http: signal {} received; shutting down", signal_number);
        std::lock_guard<std::mutex> inner(mu_);
        signal_received_ = true;
        cv_.notify_all();
      });
    }
    cv_.wait(lock, [&] { return signal_received_ || stop_started_; });
  }
  Stop();
  return OkStatus();
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerConfig& config,
                                                      HttpHandler& handler,
                                                      WebSocketHandler* websockets) {
  auto impl = std::make_unique<Impl>(config, handler, websockets);
  KW_RETURN_IF_ERROR(impl->Listen());
  impl->Run();
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() = default;  // Impl's destructor stops
std::uint16_t HttpServer::port() const { return impl_->port(); }
void HttpServer::Stop() { impl_->Stop(); }
void HttpServer::Wait() { impl_->Wait(); }
Status HttpServer::RunUntilSignal() { return impl_->RunUntilSignal(); }

}  // namespace kw::server
