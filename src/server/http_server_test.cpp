#include "server/http_server.hpp"

// clang-format off
// net.hpp must precede every Boost header (see its comment).
#include "common/net.hpp"
// clang-format on

#include <arpa/inet.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace kw::server {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct Response {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  std::string Header(std::string_view name) const {
    for (const auto& [n, v] : headers) {
      if (EqualsIgnoreCase(n, name)) return v;
    }
    return {};
  }
};

// A deliberately dumb HTTP/1.1 client over a blocking POSIX socket, so that tests
// control exactly which bytes go out and when.
class Client {
 public:
  explicit Client(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    SetReceiveTimeout(5s);
  }
  ~Client() { ::close(fd_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return connected_; }
  int fd() const { return fd_; }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Reads one response (just its head when answering HEAD). nullopt on EOF, reset or
  // timeout before it is complete.
  std::optional<Response> Read(bool head_request = false) {
    std::size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return std::nullopt;
    }
    Response r;
    const std::string head = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    std::size_t pos = head.find("\r\n");
    const std::string status_line = head.substr(0, pos);
    if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12) return std::nullopt;
    r.status = std::stoi(status_line.substr(9, 3));
    while (pos != std::string::npos && pos + 2 < head.size()) {
      const std::size_t next = head.find("\r\n", pos + 2);
      const std::string line =
          head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
      const std::size_t colon = line.find(':');
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      r.headers.emplace_back(line.substr(0, colon), value);
      pos = next;
    }
    const std::string length = r.Header("Content-Length");
    const std::size_t n = (length.empty() || head_request) ? 0 : std::stoul(length);
    while (buf_.size() < n) {
      if (!Fill()) return std::nullopt;
    }
    r.body = buf_.substr(0, n);
    buf_.erase(0, n);
    return r;
  }

  // True when the server ends the connection (EOF or reset) within `timeout`; any
  // bytes received meanwhile are kept for Read().
  bool ClosedWithin(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      SetReceiveTimeout(
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()) + 1ms);
      char tmp[4096];
      const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n == 0) return true;
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
        if (errno == EINTR) continue;
        return true;  // ECONNRESET and friends
      }
      buf_.append(tmp, static_cast<std::size_t>(n));
    }
    return false;
  }

 private:
  bool Fill() {
    char tmp[4096];
    const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<std::size_t>(n));
    return true;
  }
  void SetReceiveTimeout(std::chrono::milliseconds t) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(t.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }

  int fd_ = -1;
  bool connected_ = false;
  std::string buf_;
};

std::string Get(std::string_view target, std::string_view extra_headers = "") {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: test\r\n" + std::string(extra_headers) +
         "\r\n";
}

// Far more than the sockets on both ends buffer, so a client that does not read makes
// the server's writes wait. Every 8-byte word is its own offset, so a byte sent twice
// or lost shows.
const std::string& BigBody() {
  static const std::string body = [] {
    std::string b;
    for (std::size_t i = 0; i < (32u << 20); i += 8) b += fmt::format("{:08x}", i % 0xffffffffu);
    return b;
  }();
  return body;
}

// Routes on the path: /big answers BigBody(), /echo reflects the request, /slow blocks until
// released (or a delay passes), /throw throws, anything else answers its own path.
class TestHandler : public HttpHandler {
 public:
  HttpResponse Handle(const HttpRequest& request) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      seen_.push_back(request);
    }
    HttpResponse r;
    if (request.target.rfind("/echo", 0) == 0) {
      r.headers.push_back({"X-Method", request.method});
      r.headers.push_back({"X-Target", request.target});
      r.headers.push_back({"X-Remote", request.remote_address});
      if (const HeaderField* foo = FindHeader(request.headers, "X-Foo")) {
        r.headers.push_back({"X-Foo-Seen", foo->value});
      }
      r.headers.push_back({"Content-Length", "99999"});  // must be replaced by the real one
      r.body = request.body;
      return r;
    }
    if (request.target == "/slow") {
      slow_entered_.store(true);
      std::this_thread::sleep_for(slow_delay);
      r.body = "slow done";
      return r;
    }
    if (request.target == "/sleep50") {
      std::this_thread::sleep_for(50ms);
      r.body = request.target;
      return r;
    }
    if (request.target == "/big") {
      r.body = BigBody();
      return r;
    }
    if (request.target == "/throw") throw std::runtime_error("handler bug");
    if (request.target == "/bad-status") {
      r.status = 42;
      return r;
    }
    if (request.target == "/inject") {
      r.headers.push_back({"X-Safe", "yes"});
      r.headers.push_back({"X-Split", "a\r\nX-Evil: 1"});
      r.body = "ok";
      return r;
    }
    r.body = request.target;
    return r;
  }

  std::vector<HttpRequest> seen() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }

  std::chrono::milliseconds slow_delay = 600ms;
  std::atomic<bool> slow_entered_{false};

 private:
  std::mutex mu_;
  std::vector<HttpRequest> seen_;
};

class HttpServerTest : public ::testing::Test {
 protected:
  HttpServerTest() {
    config_.host = "127.0.0.1";
    config_.port = 0;
    config_.threads = 2;
    config_.max_header_bytes = 2048;
    config_.max_body_bytes = 4096;
    config_.header_timeout = 400ms;
    config_.idle_timeout = 400ms;
    config_.body_timeout = 400ms;
    config_.drain_timeout = 3s;
  }

  void StartServer() {
    auto started = HttpServer::Start(config_, handler_);
    ASSERT_TRUE(started.has_value()) << started.error().message;
    server_ = std::move(*started);
    ASSERT_NE(server_->port(), 0);
  }

  HttpServerConfig config_;
  TestHandler handler_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, RoundTripsMethodTargetHeadersBodyAndPeerAddress) {
  StartServer();
  Client c(server_->port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(
      c.Send("POST /echo?a=1&b=%2F HTTP/1.1\r\nHost: test\r\nX-Foo: bar baz\r\n"
             "Content-Length: 11\r\n\r\nhello world"));
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello world");
  EXPECT_EQ(r->Header("Content-Length"), "11");
  EXPECT_EQ(r->Header("X-Method"), "POST");
  EXPECT_EQ(r->Header("X-Target"), "/echo?a=1&b=%2F");
  EXPECT_EQ(r->Header("X-Remote"), "127.0.0.1");
  EXPECT_EQ(r->Header("X-Foo-Seen"), "bar baz");

  auto seen = handler_.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_FALSE(seen[0].secure);
  ASSERT_GE(seen[0].headers.size(), 3u);
  EXPECT_EQ(seen[0].headers[0].name, "Host");  // wire order and spelling kept
  EXPECT_EQ(seen[0].headers[1].name, "X-Foo");
  EXPECT_EQ(seen[0].remote_address, "127.0.0.1");
}

TEST_F(HttpServerTest, KeepsConnectionsAliveAcrossRequests) {
  StartServer();
  Client c(server_->port());
  ASSERT_TRUE(c.Send(Get("/one")));
  auto first = c.Read();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->body, "/one");
  EXPECT_NE(first->Header("Connection"), "close");
  ASSERT_TRUE(c.Send(Get("/two")));
  auto second = c.Read();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->body, "/two");
}

TEST_F(HttpServerTest, AnswersPipelinedRequestsInOrder) {
  StartServer();
  Client c(server_->port());
  // The first request is the slowest, so any reordering would show.
  ASSERT_TRUE(c.Send(Get("/sleep50") + Get("/b") +
                     "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nxyz" + Get("/d")));
  std::vector<std::string> bodies;
  for (int i = 0; i < 4; ++i) {
    auto r = c.Read();
    ASSERT_TRUE(r.has_value()) << "response " << i;
    bodies.push_back(r->body);
  }
  EXPECT_EQ(bodies, (std::vector<std::string>{"/sleep50", "/b", "xyz", "/d"}));
}

TEST_F(HttpServerTest, HonoursConnectionClose) {
  StartServer();
  Client c(server_->port());
  ASSERT_TRUE(c.Send(Get("/bye", "Connection: close\r\n")));
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->Header("Connection"), "close");
  EXPECT_TRUE(c.ClosedWithin(2s));
}

TEST_F(HttpServerTest, Http10ClosesUnlessKeepAliveIsAsked) {
  StartServer();
  {
    Client c(server_->port());
    ASSERT_TRUE(c.Send("GET /old HTTP/1.0\r\n\r\n"));
    auto r = c.Read();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->body, "/old");
    EXPECT_TRUE(c.ClosedWithin(2s));
  }
  {
    Client c(server_->port());
    ASSERT_TRUE(c.Send("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    ASSERT_TRUE(c.Read().has_value());
    ASSERT_TRUE(c.Send("GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    auto r = c.Read();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->body, "/b");
  }
}

TEST_F(HttpServerTest, HeadResponseAnnouncesLengthWithoutBody) {
  StartServer();
  Client c(server_->port());
  ASSERT_TRUE(c.Send("HEAD /12345 HTTP/1.1\r\nHost: t\r\n\r\n" + Get("/next")));
  auto head = c.Read(/*head_request=*/true);
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->Header("Content-Length"), "6");
  // Body bytes after the HEAD response would be read as the next status line.
  auto next = c.Read();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->body, "/next");
}

TEST_F(HttpServerTest, OversizedHeaderGets431AndClose) {
  StartServer();
  Client c(server_->port());
  ASSERT_TRUE(c.Send(Get("/big", "X-Big: " + std::string(4000, 'a') + "\r\n")));
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 431);
  EXPECT_EQ(r->Header("Connection"), "close");
  EXPECT_TRUE(c.ClosedWithin(3s));
  EXPECT_TRUE(handler_.seen().empty());
}

TEST_F(HttpServerTest, AnnouncedOversizedBodyGets413WithoutReadingIt) {
  config_.body_timeout = 30s;  // an answer after reading (or awaiting) the body would be late
  StartServer();
  Client c(server_->port());
  // Only the headers are sent: the answer must not wait for 100 MB.
  ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000000\r\n\r\n"));
  const auto start = Clock::now();
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 413);
  EXPECT_LT(Clock::now() - start, 3s);
  EXPECT_TRUE(c.ClosedWithin(3s));
  EXPECT_TRUE(handler_.seen().empty());
}

TEST_F(HttpServerTest, ChunkedBodyOverLimitGets413) {
  StartServer();
  Client c(server_->port());
  std::string req = "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 5; ++i) req += "400\r\n" + std::string(1024, 'x') + "\r\n";
  req += "0\r\n\r\n";
  ASSERT_TRUE(c.Send(req));
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 413);
  EXPECT_TRUE(handler_.seen().empty());
}

TEST_F(HttpServerTest, BodyAtTheLimitIsAccepted) {
  StartServer();
  Client c(server_->port());
  const std::string body(config_.max_body_bytes, 'y');
  ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n" + body));
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, body);
}

TEST_F(HttpServerTest, SlowHeaderClientIsCutOff) {
  StartServer();
  Client c(server_->port());
  const auto start = Clock::now();
  ASSERT_TRUE(c.Send("GET /slowloris HTTP/1.1\r\nHost: t\r\n"));
  EXPECT_TRUE(c.ClosedWithin(3s));
  EXPECT_GE(Clock::now() - start, 300ms);
  EXPECT_TRUE(handler_.seen().empty());
}

TEST_F(HttpServerTest, TricklingHeaderBytesDoNotExtendTheDeadline) {
  StartServer();
  Client c(server_->port());
  ASSERT_TRUE(c.Send("GET /trickle HTTP/1.1\r\n"));
  const auto start = Clock::now();
  bool cut_off = false;
  // One header byte every 50 ms would keep a per-read timeout alive forever.
  while (Clock::now() - start < 3s) {
    if (!c.Send("X") || c.ClosedWithin(50ms)) {
      cut_off = true;
      break;
    }
  }
  EXPECT_TRUE(cut_off);
  EXPECT_LT(Clock::now() - start, 2s);
}

TEST_F(HttpServerTest, IdleKeepAliveConnectionIsClosed) {
  StartServer();
  Client c(server_->port());
  ASSERT_TRUE(c.Send(Get("/x")));
  ASSERT_TRUE(c.Read().has_value());
  const auto start = Clock::now();
  EXPECT_TRUE(c.ClosedWithin(3s));
  EXPECT_GE(Clock::now() - start, 300ms);
}

TEST_F(HttpServerTest, SlowBodyIsCutOff) {
  StartServer();
  Client c(server_->port());
  ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc"));
  EXPECT_TRUE(c.ClosedWithin(3s));
  EXPECT_TRUE(handler_.seen().empty());
}

TEST_F(HttpServerTest, ResponseLargerThanTheSocketBuffersReachesASlowReaderWhole) {
  StartServer();
  Client c(server_->port());
  ASSERT_TRUE(c.Send(Get("/big")));
  // The server's first write fills the socket and must hand the rest to an
  // asynchronous write that continues exactly where the first one stopped.
  std::this_thread::sleep_for(300ms);
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  ASSERT_EQ(r->body.size(), BigBody().size());
  EXPECT_TRUE(r->body == BigBody());
  ASSERT_TRUE(c.Send(Get("/after")));  // the connection is still in step
  auto next = c.Read();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->body, "/after");
}

TEST_F(HttpServerTest, ClientThatStopsReadingIsCutOffAfterTheWriteTimeout) {
  config_.write_timeout = 400ms;
  StartServer();
  {
    Client c(server_->port());
    ASSERT_TRUE(c.Send(Get("/big")));
    std::this_thread::sleep_for(1500ms);
    // A write that blocked (or never timed out) would still deliver everything now.
    std::size_t received = 0;
    char tmp[65536];
    for (;;) {
      const ssize_t n = ::recv(c.fd(), tmp, sizeof tmp, 0);
      if (n <= 0) break;
      received += static_cast<std::size_t>(n);
    }
    EXPECT_LT(received, BigBody().size());
  }
  Client other(server_->port());  // and the I/O threads are free
  ASSERT_TRUE(other.Send(Get("/still-here")));
  auto r = other.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body, "/still-here");
}

TEST_F(HttpServerTest, RequestArrivingInPiecesIsAssembled) {
  StartServer();
  Client c(server_->port());
  ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nHo"));
  std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(c.Send("st: t\r\nContent-Length: 6\r\n\r\nab"));
  std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(c.Send("cdef" + Get("/then")));
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body, "abcdef");
  auto next = c.Read();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->body, "/then");
}

TEST_F(HttpServerTest, MalformedRequestGets400AndClose) {
  StartServer();
  Client c(server_->port());
  ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\nHost test\r\n\r\n"));
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 400);
  EXPECT_TRUE(c.ClosedWithin(3s));

  Client garbage(server_->port());
  ASSERT_TRUE(garbage.Send("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"));
  auto g = garbage.Read();
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->status, 400);
  EXPECT_TRUE(handler_.seen().empty());
}

TEST_F(HttpServerTest, HandlerExceptionGives500AndServerKeepsServing) {
  StartServer();
  Client c(server_->port());
  ASSERT_TRUE(c.Send(Get("/throw")));
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 500);
  EXPECT_NE(r->body.find("InternalFailure"), std::string::npos);
  ASSERT_TRUE(c.Send(Get("/after")));
  auto after = c.Read();
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->body, "/after");
  Client other(server_->port());
  ASSERT_TRUE(other.Send(Get("/other")));
  ASSERT_TRUE(other.Read().has_value());
}

TEST_F(HttpServerTest, InvalidHandlerStatusBecomes500) {
  StartServer();
  Client c(server_->port());
  ASSERT_TRUE(c.Send(Get("/bad-status")));
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 500);
}

TEST_F(HttpServerTest, DropsResponseHeadersThatWouldSplitTheResponse) {
  StartServer();
  Client c(server_->port());
  ASSERT_TRUE(c.Send(Get("/inject")));
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->Header("X-Safe"), "yes");
  EXPECT_EQ(r->Header("X-Split"), "");
  EXPECT_EQ(r->Header("X-Evil"), "");
  EXPECT_EQ(r->body, "ok");
}

TEST_F(HttpServerTest, ExpectContinueGetsInterimResponse) {
  StartServer();
  Client c(server_->port());
  ASSERT_TRUE(c.Send(
      "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"));
  auto interim = c.Read();
  ASSERT_TRUE(interim.has_value());
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(c.Send("data"));
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "data");
}

TEST_F(HttpServerTest, StopLetsInFlightRequestFinishAndClosesIdleConnections) {
  config_.idle_timeout = 30s;  // so that only Stop() can close the idle connection
  config_.drain_timeout = 8s;
  handler_.slow_delay = 1500ms;
  StartServer();
  Client idle(server_->port());
  ASSERT_TRUE(idle.Send(Get("/warmup")));
  ASSERT_TRUE(idle.Read().has_value());

  auto busy = std::make_unique<Client>(server_->port());
  ASSERT_TRUE(busy->Send(Get("/slow")));
  const auto wait_start = Clock::now();
  while (!handler_.slow_entered_.load() && Clock::now() - wait_start < 3s) {
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_TRUE(handler_.slow_entered_.load());

  const auto stop_start = Clock::now();
  std::thread stopper([&] { server_->Stop(); });
  EXPECT_TRUE(idle.ClosedWithin(1000ms));  // before the slow handler is done
  auto r = busy->Read();
  EXPECT_TRUE(busy->ClosedWithin(2s));
  busy.reset();  // a client closes after `Connection: close`; Stop() need not linger
  stopper.join();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "slow done");
  EXPECT_EQ(r->Header("Connection"), "close");
  EXPECT_LT(Clock::now() - stop_start, 5s);  // did not sit out the drain timeout
  server_->Wait();                           // returns at once: already stopped

  Client late(server_->port());
  EXPECT_FALSE(late.connected() && late.Send(Get("/late")) && late.Read().has_value());
}

TEST_F(HttpServerTest, StopClosesConnectionsThatOutliveTheDrainTimeout) {
  config_.drain_timeout = 300ms;
  config_.header_timeout = 30s;
  StartServer();
  Client slow(server_->port());
  ASSERT_TRUE(slow.Send("GET /never-finished HTTP/1.1\r\n"));  // mid-header: in flight
  std::this_thread::sleep_for(50ms);
  const auto start = Clock::now();
  server_->Stop();
  EXPECT_LT(Clock::now() - start, 2s);
  EXPECT_TRUE(slow.ClosedWithin(1s));
}

TEST_F(HttpServerTest, StopIsIdempotentAndWaitReturnsAfterStop) {
  StartServer();
  std::atomic<bool> waited{false};
  std::thread waiter([&] {
    server_->Wait();
    waited.store(true);
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(waited.load());
  server_->Stop();
  server_->Stop();
  waiter.join();
  EXPECT_TRUE(waited.load());
}

TEST_F(HttpServerTest, RunUntilSignalStopsOnSigterm) {
  StartServer();
  std::optional<Status> result;
  std::thread runner([&] { result = server_->RunUntilSignal(); });
  // RunUntilSignal installs its handlers first thing; give it ample time before the
  // signal, whose default action would end the test binary.
  std::this_thread::sleep_for(300ms);
  ASSERT_EQ(::kill(::getpid(), SIGTERM), 0);
  runner.join();
  ASSERT_TRUE(result.has_value());
  EXPECT_TRUE(result->has_value());
  Client late(server_->port());
  EXPECT_FALSE(late.connected() && late.Send(Get("/late")) && late.Read().has_value());
}

TEST_F(HttpServerTest, RunUntilSignalReturnsWhenStoppedElsewhere) {
  StartServer();
  std::thread stopper([&] {
    std::this_thread::sleep_for(100ms);
    server_->Stop();
  });
  EXPECT_TRUE(server_->RunUntilSignal().has_value());
  stopper.join();
}

TEST_F(HttpServerTest, BindFailureIsAClearError) {
  StartServer();
  HttpServerConfig second = config_;
  second.port = server_->port();
  auto r = HttpServer::Start(second, handler_);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(r.error().message,
            "address already in use: 127.0.0.1:" + std::to_string(server_->port()));
}

TEST_F(HttpServerTest, RejectsBadListenHost) {
  config_.host = "not a host name!";
  auto r = HttpServer::Start(config_, handler_);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(HttpServerTest, UnmapsIpv4MappedPeerAddresses) {
  config_.host = "::";
  auto started = HttpServer::Start(config_, handler_);
  if (!started) GTEST_SKIP() << "no IPv6 here: " << started.error().message;
  server_ = std::move(*started);
  Client c(server_->port());  // connects over IPv4 to the dual-stack socket
  if (!c.connected()) GTEST_SKIP() << "IPv6 socket is not dual-stack here";
  ASSERT_TRUE(c.Send(Get("/echo")));
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->Header("X-Remote"), "127.0.0.1");
}

// --- TLS ---

struct TlsFiles {
  std::filesystem::path dir, cert, key;
};

// A throwaway self-signed P-256 certificate for "localhost".
TlsFiles MakeSelfSignedCert() {
  TlsFiles f;
  f.dir = std::filesystem::temp_directory_path() / ("kw_http_tls_" + std::to_string(::getpid()));
  std::filesystem::create_directories(f.dir);
  f.cert = f.dir / "cert.pem";
  f.key = f.dir / "key.pem";
  EVP_PKEY* pkey = EVP_EC_gen("P-256");
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, pkey);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509_sign(x, pkey, EVP_sha256());
  FILE* cf = std::fopen(f.cert.c_str(), "w");
  PEM_write_X509(cf, x);
  std::fclose(cf);
  FILE* kf = std::fopen(f.key.c_str(), "w");
  PEM_write_PrivateKey(kf, pkey, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(kf);
  X509_free(x);
  EVP_PKEY_free(pkey);
  return f;
}

TEST_F(HttpServerTest, ServesTlsWhenCertificateIsConfigured) {
  const TlsFiles files = MakeSelfSignedCert();
  config_.tls_cert_chain_file = files.cert.string();
  config_.tls_private_key_file = files.key.string();
  StartServer();

  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = SSL_new(ctx);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(server_->port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  SSL_set_fd(ssl, fd);
  ASSERT_EQ(SSL_connect(ssl), 1);
  const std::string req =
      "POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 6\r\n\r\nsecret";
  ASSERT_EQ(SSL_write(ssl, req.data(), static_cast<int>(req.size())), static_cast<int>(req.size()));
  std::string got;
  char buf[4096];
  for (;;) {
    const int n = SSL_read(ssl, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  ::close(fd);
  std::filesystem::remove_all(files.dir);

  EXPECT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << got;
  EXPECT_NE(got.find("\r\n\r\nsecret"), std::string::npos) << got;
  auto seen = handler_.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_TRUE(seen[0].secure);

  // Plain HTTP on the TLS port is refused rather than handled.
  Client c(server_->port());
  ASSERT_TRUE(c.Send(Get("/plain")));
  EXPECT_FALSE(c.Read().has_value());
  EXPECT_EQ(handler_.seen().size(), 1u);
}

TEST_F(HttpServerTest, MissingTlsFilesAreAStartError) {
  config_.tls_cert_chain_file = "/nonexistent/cert.pem";
  config_.tls_private_key_file = "/nonexistent/key.pem";
  auto r = HttpServer::Start(config_, handler_);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
}

// --- WebSocket ---

namespace ws = boost::beast::websocket;
namespace asio = boost::asio;
using boost::asio::ip::tcp;

// Records what the transport reports; optionally echoes every message back.
class RecordingSession : public WebSocketSession {
 public:
  void OnMessage(std::string_view text) override {
    std::lock_guard<std::mutex> lock(mu);
    messages.emplace_back(text);
    if (echo && connection) connection->Send("echo:" + std::string(text));
    if (text == "close-me" && connection)
      connection->CloseWith(WebSocketConnection::CloseCode::kPolicyViolation);
  }
  void OnClose() override { closes.fetch_add(1); }

  std::mutex mu;
  std::vector<std::string> messages;  // guarded by mu
  std::shared_ptr<WebSocketConnection> connection;
  bool echo = true;
  std::atomic<int> closes{0};
};

class TestWebSockets : public WebSocketHandler {
 public:
  Decision Accept(const HttpRequest& request,
                  std::shared_ptr<WebSocketConnection> connection) override {
    std::lock_guard<std::mutex> lock(mu);
    requests.push_back(request);
    if (request.target == "/refuse") {
      HttpResponse r;
      r.status = 403;
      r.body = "no";
      return r;
    }
    auto session = std::make_shared<RecordingSession>();
    session->connection = connection;
    sessions.push_back(session);
    if (request.target == "/greet") connection->Send("hello before handshake");
    return session;
  }

  std::shared_ptr<RecordingSession> Session(std::size_t i) {
    std::lock_guard<std::mutex> lock(mu);
    return i < sessions.size() ? sessions[i] : nullptr;
  }

  std::mutex mu;
  std::vector<HttpRequest> requests;                        // guarded by mu
  std::vector<std::shared_ptr<RecordingSession>> sessions;  // guarded by mu
};

template <class Pred>
bool Eventually(Pred pred, std::chrono::milliseconds timeout = 3s) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

class WebSocketTest : public HttpServerTest {
 protected:
  void StartWs() {
    auto started = HttpServer::Start(config_, handler_, &websockets_);
    ASSERT_TRUE(started.has_value()) << started.error().message;
    server_ = std::move(*started);
  }

  // A connected, handshaken Beast client with a 5 s read deadline.
  std::unique_ptr<ws::stream<tcp::socket>> Connect(const std::string& target = "/ws") {
    auto c = std::make_unique<ws::stream<tcp::socket>>(io_);
    c->next_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
    timeval tv{5, 0};
    ::setsockopt(c->next_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    c->handshake("localhost", target);
    return c;
  }

  static std::string ReadText(ws::stream<tcp::socket>& c) {
    boost::beast::flat_buffer b;
    c.read(b);
    return boost::beast::buffers_to_string(b.data());
  }

  // Reads until the connection ends; returns the error that ended it.
  static boost::system::error_code ReadUntilClosed(ws::stream<tcp::socket>& c) {
    boost::system::error_code ec;
    for (;;) {
      boost::beast::flat_buffer b;
      c.read(b, ec);
      if (ec) return ec;
    }
  }

  asio::io_context io_;
  TestWebSockets websockets_;
};

TEST_F(WebSocketTest, AcceptsUpgradeAndExchangesTextFrames) {
  StartWs();
  auto c = Connect("/ws/path?x=1");
  c->text(true);
  c->write(asio::buffer(std::string("ping one")));
  EXPECT_EQ(ReadText(*c), "echo:ping one");
  c->write(asio::buffer(std::string("ping two")));
  EXPECT_EQ(ReadText(*c), "echo:ping two");
  {
    std::lock_guard<std::mutex> lock(websockets_.mu);
    ASSERT_EQ(websockets_.requests.size(), 1u);
    EXPECT_EQ(websockets_.requests[0].method, "GET");
    EXPECT_EQ(websockets_.requests[0].target, "/ws/path?x=1");
    EXPECT_EQ(websockets_.requests[0].remote_address, "127.0.0.1");
    EXPECT_NE(FindHeader(websockets_.requests[0].headers, "Sec-WebSocket-Key"), nullptr);
  }
  EXPECT_TRUE(handler_.seen().empty());  // the HTTP handler never saw the upgrade
  c->close(ws::close_code::normal);
  auto session = websockets_.Session(0);
  ASSERT_TRUE(Eventually([&] { return session->closes.load() == 1; }));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(session->closes.load(), 1);
  EXPECT_EQ(session->messages, (std::vector<std::string>{"ping one", "ping two"}));
}

TEST_F(WebSocketTest, FramesQueuedDuringAcceptAreSentAfterTheHandshake) {
  StartWs();
  auto c = Connect("/greet");
  EXPECT_EQ(ReadText(*c), "hello before handshake");
}

TEST_F(WebSocketTest, RefusalIsAnOrdinaryHttpResponse) {
  StartWs();
  Client c(server_->port());
  ASSERT_TRUE(
      c.Send(Get("/refuse",
                 "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")));
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(r->body, "no");
  EXPECT_TRUE(c.ClosedWithin(2s));
  // Plain requests still reach the HTTP handler.
  Client plain(server_->port());
  ASSERT_TRUE(plain.Send(Get("/plain")));
  auto p = plain.Read();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->body, "/plain");
}

TEST_F(WebSocketTest, WithoutAWebSocketHandlerUpgradesGoToTheHttpHandler) {
  StartServer();
  Client c(server_->port());
  ASSERT_TRUE(c.Send(Get("/up", "Upgrade: websocket\r\nConnection: Upgrade\r\n")));
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "/up");
}

TEST_F(WebSocketTest, BinaryFrameClosesTheConnection) {
  StartWs();
  auto c = Connect();
  c->binary(true);
  c->write(asio::buffer(std::string("\x01\x02", 2)));
  EXPECT_EQ(ReadUntilClosed(*c), ws::error::closed);
  EXPECT_EQ(c->reason().code, ws::close_code::unknown_data);
  auto session = websockets_.Session(0);
  ASSERT_TRUE(Eventually([&] { return session->closes.load() == 1; }));
  EXPECT_TRUE(session->messages.empty());
}

TEST_F(WebSocketTest, OversizedMessageClosesTheConnection) {
  config_.websocket_max_message_bytes = 1024;
  StartWs();
  auto c = Connect();
  c->write(asio::buffer(std::string(1024, 'a')));  // at the limit: delivered
  EXPECT_EQ(ReadText(*c).size(), 5u + 1024u);
  c->write(asio::buffer(std::string(1025, 'b')));
  EXPECT_TRUE(ReadUntilClosed(*c));
  EXPECT_EQ(c->reason().code, ws::close_code::too_big);
  auto session = websockets_.Session(0);
  ASSERT_TRUE(Eventually([&] { return session->closes.load() == 1; }));
  std::lock_guard<std::mutex> lock(session->mu);
  EXPECT_EQ(session->messages.size(), 1u);
}

TEST_F(WebSocketTest, ApplicationCloseSendsItsCloseCode) {
  StartWs();
  auto c = Connect();
  c->write(asio::buffer(std::string("close-me")));
  EXPECT_EQ(ReadText(*c), "echo:close-me");  // queued before the close: sent first
  EXPECT_EQ(ReadUntilClosed(*c), ws::error::closed);
  EXPECT_EQ(c->reason().code, ws::close_code::policy_error);
  auto session = websockets_.Session(0);
  ASSERT_TRUE(Eventually([&] { return session->closes.load() == 1; }));
}

TEST_F(WebSocketTest, SendFromOtherThreadsKeepsPerThreadOrder) {
  StartWs();
  auto c = Connect();
  auto session = websockets_.Session(0);
  ASSERT_NE(session, nullptr);
  std::thread a([&] {
    for (int i = 0; i < 200; ++i) session->connection->Send("a" + std::to_string(i));
  });
  std::thread b([&] {
    for (int i = 0; i < 200; ++i) session->connection->Send("b" + std::to_string(i));
  });
  a.join();
  b.join();
  int next_a = 0, next_b = 0;
  for (int i = 0; i < 400; ++i) {
    const std::string m = ReadText(*c);
    if (m[0] == 'a') {
      EXPECT_EQ(m, "a" + std::to_string(next_a++));
    } else {
      EXPECT_EQ(m, "b" + std::to_string(next_b++));
    }
  }
  EXPECT_EQ(next_a, 200);
  EXPECT_EQ(next_b, 200);
}

TEST_F(WebSocketTest, PeerThatDoesNotReadIsClosedWhenItsQueueOverflows) {
  config_.websocket_max_queued_bytes = 1024 * 1024;
  StartWs();
  auto c = Connect();  // never reads
  auto session = websockets_.Session(0);
  ASSERT_NE(session, nullptr);
  const std::string frame(256 * 1024, 'x');
  // 64 MiB in all: far more than the kernel's socket buffers and the queue limit hold.
  for (int i = 0; i < 256 && session->closes.load() == 0; ++i) {
    session->connection->Send(frame);
    if (i % 16 == 15) std::this_thread::sleep_for(5ms);
  }
  EXPECT_TRUE(Eventually([&] { return session->closes.load() == 1; }));
}

TEST_F(WebSocketTest, SilentPeerIsClosedAfterTheIdleTimeoutButAnsweringPeerStays) {
  config_.websocket_idle_timeout = 400ms;
  StartWs();
  // A peer that completed the handshake and then never answers the server's ping.
  Client silent(server_->port());
  ASSERT_TRUE(silent.Send(Get("/ws",
                              "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: "
                              "13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")));
  auto r = silent.Read(/*head_request=*/true);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 101);
  const auto start = Clock::now();
  EXPECT_TRUE(silent.ClosedWithin(3s));
  EXPECT_GE(Clock::now() - start, 300ms);

  // A Beast client with a read pending answers pings, so it outlives several timeouts.
  auto c = Connect();
  std::atomic<bool> ended{false};
  std::thread reader([&] {
    ReadUntilClosed(*c);
    ended.store(true);
  });
  std::this_thread::sleep_for(1500ms);
  EXPECT_FALSE(ended.load());
  server_->Stop();
  reader.join();
  EXPECT_TRUE(ended.load());
}

TEST_F(WebSocketTest, StopSendsCloseFramesAndEndsSessions) {
  config_.drain_timeout = 5s;
  StartWs();
  auto c = Connect();
  auto session = websockets_.Session(0);
  ASSERT_NE(session, nullptr);
  std::optional<boost::system::error_code> ended;
  std::thread reader([&] { ended = ReadUntilClosed(*c); });
  const auto start = Clock::now();
  server_->Stop();
  reader.join();
  EXPECT_LT(Clock::now() - start, 3s);  // did not sit out the drain timeout
  ASSERT_TRUE(ended.has_value());
  EXPECT_EQ(*ended, ws::error::closed);
  EXPECT_EQ(c->reason().code, ws::close_code::going_away);
  EXPECT_EQ(session->closes.load(), 1);
  session->connection->Send("after stop");  // does nothing, and does not crash
}

TEST_F(WebSocketTest, WorksOverTls) {
  const TlsFiles files = MakeSelfSignedCert();
  config_.tls_cert_chain_file = files.cert.string();
  config_.tls_private_key_file = files.key.string();
  StartWs();
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.set_verify_mode(asio::ssl::verify_none);
  ws::stream<boost::beast::ssl_stream<tcp::socket>> c(io_, ctx);
  boost::beast::get_lowest_layer(c).connect(
      tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
  c.next_layer().handshake(asio::ssl::stream_base::client);
  c.handshake("localhost", "/tls");
  c.write(asio::buffer(std::string("over tls")));
  boost::beast::flat_buffer b;
  c.read(b);
  EXPECT_EQ(boost::beast::buffers_to_string(b.data()), "echo:over tls");
  {
    std::lock_guard<std::mutex> lock(websockets_.mu);
    ASSERT_EQ(websockets_.requests.size(), 1u);
    EXPECT_TRUE(websockets_.requests[0].secure);
  }
  c.close(ws::close_code::normal);
  std::filesystem::remove_all(files.dir);
  auto session = websockets_.Session(0);
  ASSERT_TRUE(Eventually([&] { return session->closes.load() == 1; }));
}

}  // namespace
}  // namespace kw::server
