#include "agent/transport.hpp"

#include <openssl/ssl.h>

#include <atomic>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "common/net.hpp"
#include "common/strings.hpp"

namespace kw::agent {
namespace {

namespace asio = net::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = boost::asio::ssl;
using net::error_code;
using net::tcp;

constexpr std::size_t kMaxHttpBody = 8 << 20;
constexpr const char* kUserAgent = "keyward-agent";

Result<std::shared_ptr<ssl::context>> MakeTlsContext(const TlsOptions& options) {
  try {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                     ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    if (options.ca_file.empty()) {
      ctx->set_default_verify_paths();
    } else {
      ctx->load_verify_file(options.ca_file);
    }
    ctx->set_verify_mode(ssl::verify_peer);
    return ctx;
  } catch (const boost::system::system_error& e) {
    return InvalidArgument(std::string("cannot set up TLS (CA file ") +
                           (options.ca_file.empty() ? "<system>" : options.ca_file) +
                           "): " + e.code().message());
  }
}

// Prepares TLS on `stream` for `host`: SNI and host-name verification.
template <class SslStream>
Status PrepareTls(SslStream& stream, const std::string& host) {
  if (!SSL_set_tlsext_host_name(stream.native_handle(), host.c_str())) {
    return Unavailable("cannot set TLS server name for " + host);
  }
  stream.set_verify_callback(ssl::host_name_verification(host));
  return OkStatus();
}

Result<tcp::resolver::results_type> Resolve(asio::io_context& io, const ServerUrl& server) {
  // Synchronous: Asio's asynchronous resolver keeps a thread of its own alive.
  tcp::resolver resolver(io);
  error_code ec;
  auto results = resolver.resolve(server.host, server.port, ec);
  if (ec) return Unavailable("cannot resolve " + server.host + ": " + ec.message());
  return results;
}

Error NetError(std::string_view what, const ServerUrl& server, const error_code& ec) {
  return Unavailable(std::string(what) + " " + server.host_header + ": " + ec.message());
}

template <class Stream>
asio::awaitable<void> Exchange(Stream& stream, http::request<http::string_body>& req,
                               Result<HttpReply>& out, const ServerUrl& server) {
  error_code ec;
  co_await http::async_write(stream, req, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    out = NetError("sending to", server, ec);
    co_return;
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxHttpBody);
  co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    out = NetError("reading from", server, ec);
    co_return;
  }
  HttpReply reply;
  reply.status = static_cast<int>(parser.get().result_int());
  reply.body = std::move(parser.get().body());
  out = std::move(reply);
}

// ---- WebSocket ----------------------------------------------------------------------

class ChannelBase : public WebSocketChannel {
 public:
  Result<std::optional<std::string>> Receive(std::chrono::milliseconds timeout) override {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return !inbox_.empty() || ended_ || close_requested_; });
    if (!inbox_.empty()) {
      std::string text = std::move(inbox_.front());
      inbox_.pop_front();
      return std::optional<std::string>(std::move(text));
    }
    if (ended_) return Unavailable(end_reason_);
    if (close_requested_) return Unavailable("closed by the agent");
    return std::optional<std::string>();
  }

 protected:
  void Deliver(std::string text) {
    std::lock_guard lock(mu_);
    inbox_.push_back(std::move(text));
    cv_.notify_all();
  }
  void End(std::string reason) {
    open_.store(false);
    std::lock_guard lock(mu_);
    if (!ended_) {
      ended_ = true;
      end_reason_ = std::move(reason);
    }
    cv_.notify_all();
  }
  // Receive reports the end at once, without waiting for the close handshake.
  void RequestClose() {
    std::lock_guard lock(mu_);
    close_requested_ = true;
    cv_.notify_all();
  }
  bool WaitEnded(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return ended_; });
  }

  std::atomic<bool> open_{true};

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> inbox_;  // guarded by mu_
  bool ended_ = false;             // guarded by mu_
  bool close_requested_ = false;   // guarded by mu_
  std::string end_reason_;         // guarded by mu_
};

// Strand-confined: every member below the I/O context is touched only on the I/O thread
// (after Connect returned), apart from the atomics and the ChannelBase mailbox.
template <bool kTls>
class Channel final : public ChannelBase {
 public:
  using Lower = std::conditional_t<kTls, beast::ssl_stream<beast::tcp_stream>, beast::tcp_stream>;

  Channel(std::shared_ptr<ssl::context> ctx) : ctx_(std::move(ctx)), ws_(MakeLower()) {}

  ~Channel() override {
    Close();
    if (thread_.joinable()) {
      WaitEnded(std::chrono::seconds(5));
      io_.stop();
      thread_.join();
    }
  }

  Status Connect(const ServerUrl& server, std::string_view target, const HeaderList& headers,
                 const WebSocketOptions& options) {
    KW_ASSIGN_OR_RETURN(auto endpoints, Resolve(io_, server));
    Status status = Unavailable("connection not attempted");
    const std::string target_text(target);
    asio::co_spawn(
        io_,
        [&]() -> asio::awaitable<void> {
          status = co_await Handshake(endpoints, server, target_text, headers, options);
        },
        [&](std::exception_ptr e) {
          if (e) status = Unavailable("connecting to " + server.host_header + " failed");
          // Beast's handshake timer may still be pending (after a refused upgrade it runs
          // to the end): the outcome is known, so do not wait for it.
          io_.stop();
        });
    io_.run();
    if (!status) return status;
    io_.restart();
    ReadLoop();
    thread_ = std::thread([this] {
      try {
        io_.run();
      } catch (...) {
      }
      End("connection ended");
    });
    return OkStatus();
  }

  bool Send(std::string text) override {
    if (!open_.load()) return false;
    asio::post(io_, [this, text = std::move(text)]() mutable {
      if (closing_) return;
      outbox_.push_back(std::move(text));
      if (!writing_) WriteNext();
    });
    return true;
  }

  void Close() override {
    if (!thread_.joinable()) return;
    open_.store(false);
    RequestClose();
    asio::post(io_, [this] {
      if (closing_) return;
      closing_ = true;
      if (!writing_) DoClose();
    });
  }

 private:
  Lower MakeLower() {
    if constexpr (kTls) {
      return Lower(io_, *ctx_);
    } else {
      return Lower(io_);
    }
  }

  asio::awaitable<Status> Handshake(tcp::resolver::results_type endpoints, const ServerUrl& server,
                                    std::string target, const HeaderList& headers,
                                    const WebSocketOptions& options) {
    error_code ec;
    auto& tcp_layer = beast::get_lowest_layer(ws_);
    tcp_layer.expires_after(options.connect_timeout);
    co_await tcp_layer.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return NetError("cannot connect to", server, ec);
    if constexpr (kTls) {
      if (auto st = PrepareTls(ws_.next_layer(), server.host); !st) co_return st;
      co_await ws_.next_layer().async_handshake(ssl::stream_base::client,
                                                asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return NetError("TLS handshake with", server, ec);
    }
    tcp_layer.expires_never();
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = options.connect_timeout;
    if (options.idle_timeout.count() > 0) {
      timeouts.idle_timeout = options.idle_timeout;
      timeouts.keep_alive_pings = true;
    } else {
      timeouts.idle_timeout = websocket::stream_base::none();
      timeouts.keep_alive_pings = false;
    }
    ws_.set_option(timeouts);
    ws_.read_message_max(options.max_message_bytes);
    ws_.set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
      req.set(http::field::user_agent, kUserAgent);
      for (const HeaderField& h : headers) {
        if (!EqualsIgnoreCase(h.name, "host")) req.set(h.name, h.value);
      }
    }));
    websocket::response_type response;
    co_await ws_.async_handshake(response, server.host_header, target,
                                 asio::redirect_error(asio::use_awaitable, ec));
    if (ec == websocket::error::upgrade_declined) {
      const int code = static_cast<int>(response.result_int());
      std::string message = "the server refused the control channel: HTTP " + std::to_string(code);
      if (!response.body().empty()) message += " " + response.body().substr(0, 200);
      if (code == 401 || code == 403) {
        co_return PermissionDenied(std::move(message), std::to_string(code));
      }
      co_return Unavailable(std::move(message), std::to_string(code));
    }
    if (ec) co_return NetError("WebSocket handshake with", server, ec);
    ws_.text(true);
    co_return OkStatus();
  }

  void ReadLoop() {
    ws_.async_read(buffer_, [this](error_code ec, std::size_t) {
      if (ec) {
        End(ec == websocket::error::closed ? "the server closed the control channel"
                                           : "control channel lost: " + ec.message());
        return;
      }
      if (ws_.got_text()) Deliver(beast::buffers_to_string(buffer_.data()));
      buffer_.consume(buffer_.size());
      ReadLoop();
    });
  }

  void WriteNext() {
    writing_ = true;
    ws_.async_write(asio::buffer(outbox_.front()), [this](error_code ec, std::size_t) {
      writing_ = false;
      outbox_.pop_front();
      if (ec) {
        outbox_.clear();
        End("control channel write failed: " + ec.message());
        beast::get_lowest_layer(ws_).close();
        return;
      }
      if (closing_) {
        DoClose();
      } else if (!outbox_.empty()) {
        WriteNext();
      }
    });
  }

  void DoClose() {
    outbox_.clear();
    // A server that never answers the close frame gets two seconds, then the socket
    // is closed under it.
    close_timer_.expires_after(std::chrono::seconds(2));
    close_timer_.async_wait([this](error_code ec) {
      if (!ec) beast::get_lowest_layer(ws_).close();
    });
    ws_.async_close(websocket::close_code::normal, [this](error_code) {
      close_timer_.cancel();
      End("closed by the agent");
      beast::get_lowest_layer(ws_).close();
    });
  }

  asio::io_context io_{1};
  std::shared_ptr<ssl::context> ctx_;
  websocket::stream<Lower> ws_;
  beast::flat_buffer buffer_;            // I/O thread only
  std::deque<std::string> outbox_;       // I/O thread only
  bool writing_ = false;                 // I/O thread only
  bool closing_ = false;                 // I/O thread only
  asio::steady_timer close_timer_{io_};  // I/O thread only
  std::thread thread_;
};

}  // namespace

Result<ServerUrl> ParseServerUrl(std::string_view url) {
  ServerUrl out;
  std::string_view rest = url;
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  out.text = std::string(rest);
  const auto scheme_end = rest.find("://");
  if (scheme_end == std::string_view::npos) {
    return InvalidArgument("the endpoint must be an http:// or https:// URL");
  }
  const std::string scheme = ToLowerAscii(rest.substr(0, scheme_end));
  if (scheme != "http" && scheme != "https") {
    return InvalidArgument("the endpoint must be an http:// or https:// URL");
  }
  out.tls = scheme == "https";
  rest.remove_prefix(scheme_end + 3);
  if (rest.find_first_of("?#@") != std::string_view::npos) {
    return InvalidArgument("the endpoint URL may not have a query, fragment or user info");
  }
  const auto slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  out.base_path = slash == std::string_view::npos ? "" : std::string(rest.substr(slash));
  if (authority.empty()) return InvalidArgument("the endpoint URL has no host");
  std::string_view host = authority;
  std::string_view port;
  if (authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return InvalidArgument("malformed IPv6 host");
    host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return InvalidArgument("malformed endpoint host");
      port = after.substr(1);
    }
  } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return InvalidArgument("the endpoint URL has no host");
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos ||
        std::stoi(std::string(port)) > 65535 || std::stoi(std::string(port)) == 0) {
      return InvalidArgument("malformed endpoint port");
    }
  }
  out.host = std::string(host);
  const std::string default_port = out.tls ? "443" : "80";
  out.port = port.empty() ? default_port : std::string(port);
  const std::string host_part = authority.front() == '[' ? "[" + out.host + "]" : out.host;
  out.host_header = out.port == default_port ? host_part : host_part + ":" + out.port;
  return out;
}

Result<HttpReply> HttpRequest(const ServerUrl& server, std::string_view method,
                              std::string_view target, const HeaderList& headers, std::string body,
                              const TlsOptions& tls, std::chrono::seconds timeout) {
  std::shared_ptr<ssl::context> ctx;
  if (server.tls) {
    KW_ASSIGN_OR_RETURN(ctx, MakeTlsContext(tls));
  }
  asio::io_context io{1};
  KW_ASSIGN_OR_RETURN(auto endpoints, Resolve(io, server));

  http::request<http::string_body> req{
      http::string_to_verb(beast::string_view(method.data(), method.size())), std::string(target),
      11};
  req.set(http::field::host, server.host_header);
  req.set(http::field::user_agent, kUserAgent);
  for (const HeaderField& h : headers) {
    if (!EqualsIgnoreCase(h.name, "host")) req.set(h.name, h.value);
  }
  req.body() = std::move(body);
  req.prepare_payload();

  Result<HttpReply> out = Unavailable("no answer from " + server.host_header);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        error_code ec;
        beast::tcp_stream stream(io);
        stream.expires_after(timeout);
        co_await stream.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
          out = NetError("cannot connect to", server, ec);
          co_return;
        }
        if (!server.tls) {
          co_await Exchange(stream, req, out, server);
          co_return;
        }
        beast::ssl_stream<beast::tcp_stream> tls_stream(std::move(stream), *ctx);
        if (auto st = PrepareTls(tls_stream, server.host); !st) {
          out = st.error();
          co_return;
        }
        co_await tls_stream.async_handshake(ssl::stream_base::client,
                                            asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
          out = NetError("TLS handshake with", server, ec);
          co_return;
        }
        co_await Exchange(tls_stream, req, out, server);
      },
      [&](std::exception_ptr e) {
        if (e) out = Unavailable("request to " + server.host_header + " failed");
        io.stop();  // the answer is in; no timer may hold the caller
      });
  try {
    io.run();
  } catch (const std::exception&) {
    return Unavailable("request to " + server.host_header + " failed");
  }
  return out;
}

Result<std::unique_ptr<WebSocketChannel>> ConnectWebSocket(const ServerUrl& server,
                                                           std::string_view target,
                                                           const HeaderList& headers,
                                                           const TlsOptions& tls,
                                                           const WebSocketOptions& options) {
  if (server.tls) {
    KW_ASSIGN_OR_RETURN(auto ctx, MakeTlsContext(tls));
    auto channel = std::make_unique<Channel<true>>(std::move(ctx));
    KW_RETURN_IF_ERROR(channel->Connect(server, target, headers, options));
    return std::unique_ptr<WebSocketChannel>(std::move(channel));
  }
  auto channel = std::make_unique<Channel<false>>(nullptr);
  KW_RETURN_IF_ERROR(channel->Connect(server, target, headers, options));
  return std::unique_ptr<WebSocketChannel>(std::move(channel));
}

}  // namespace kw::agent
