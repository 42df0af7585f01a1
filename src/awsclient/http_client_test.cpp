#include "awsclient/http_client.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

namespace kw::awsclient {
namespace {

TEST(ParseUrlTest, Forms) {
  auto a = ParseUrl("http://127.0.0.1:8787");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->scheme, "http");
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, "8787");
  EXPECT_EQ(a->path, "/");
  EXPECT_EQ(a->host_header, "127.0.0.1:8787");

  auto b = ParseUrl("HTTPS://iam.example.com:443/prefix/");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->scheme, "https");
  EXPECT_EQ(b->host_header, "iam.example.com");  // default port left out, as curl sends it
  EXPECT_EQ(b->path, "/prefix/");

  auto c = ParseUrl("http://[::1]:9000");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->host, "[::1]");
  EXPECT_EQ(c->host_header, "[::1]:9000");

  auto d = ParseUrl("http://example.com:80");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->host_header, "example.com");
}

TEST(ParseUrlTest, Rejects) {
  for (const char* bad : {"127.0.0.1:8787", "ftp://x", "http://", "http://:80", "http://h:8x",
                          "http://h/?q=1", "http://u@h", "http://[::1", "http://h:123456"}) {
    EXPECT_FALSE(ParseUrl(bad).has_value()) << bad;
  }
}

// A one-shot HTTP server on loopback: accepts one connection, reads one request
// (headers and a Content-Length body), answers `response` verbatim and closes.
class OneShotServer {
 public:
  explicit OneShotServer(std::string response) : response_(std::move(response)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 1), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~OneShotServer() {
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  // Valid after the client's Send returned.
  const std::string& request() const { return request_; }

 private:
  void Serve() {
    const int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) return;
    char buf[4096];
    for (;;) {
      const auto end = request_.find("\r\n\r\n");
      if (end != std::string::npos) {
        std::size_t body = 0;
        const auto cl = request_.find("Content-Length: ");
        if (cl != std::string::npos && cl < end) body = std::stoul(request_.substr(cl + 16));
        if (request_.size() >= end + 4 + body) break;
      }
      const auto n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      request_.append(buf, static_cast<std::size_t>(n));
    }
    ::send(c, response_.data(), response_.size(), MSG_NOSIGNAL);
    ::close(c);
  }

  std::string response_;
  int fd_ = -1;
  int port_ = 0;
  std::string request_;
  std::thread thread_;
};

TEST(CurlHttpClientTest, PostRoundTrip) {
  OneShotServer server(
      "HTTP/1.1 403 Forbidden\r\nContent-Type: text/xml\r\nX-Test:  v1 \r\n"
      "Content-Length: 5\r\nConnection: close\r\n\r\nhello");
  CurlHttpClient client;
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/";
  auto r = client.Send(
      {"POST",
       url,
       {{"Host", "signed.example:1"}, {"Content-Type", "application/x-www-form-urlencoded"}},
       "Action=ListUsers&Version=2010-05-08"});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(r->body, "hello");
  const HeaderField* h = FindHeader(r->headers, "x-test");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->value, "v1");  // optional whitespace trimmed
  const std::string& req = server.request();
  EXPECT_EQ(req.rfind("POST / HTTP/1.1\r\n", 0), 0u) << req;
  EXPECT_NE(req.find("Host: signed.example:1\r\n"), std::string::npos) << req;
  EXPECT_EQ(req.find("Expect:"), std::string::npos) << req;
  EXPECT_EQ(req.find("Accept:"), std::string::npos) << req;
  EXPECT_NE(req.find("\r\n\r\nAction=ListUsers&Version=2010-05-08"), std::string::npos) << req;
}

TEST(CurlHttpClientTest, ResponseSizeLimit) {
  OneShotServer server("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789");
  HttpClientOptions options;
  options.max_response_bytes = 4;
  CurlHttpClient client(options);
  auto r =
      client.Send({"GET", "http://127.0.0.1:" + std::to_string(server.port()) + "/health", {}, ""});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(r.error().message.find("exceeds 4 bytes"), std::string::npos);
}

TEST(CurlHttpClientTest, UnreachableIsUnavailableWithCurlMessage) {
  HttpClientOptions options;
  options.connect_timeout = std::chrono::seconds(2);
  options.total_timeout = std::chrono::seconds(3);
  CurlHttpClient client(options);
  // Port 1 on loopback: nothing listens there in any sane test environment.
  auto r = client.Send({"GET", "http://127.0.0.1:1/health", {}, ""});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(r.error().message.find("http://127.0.0.1:1/health: "), std::string::npos)
      << r.error().message;
}

TEST(CurlHttpClientTest, NonHttpUrlRefusedBeforeCurl) {
  CurlHttpClient client;
  auto r = client.Send({"GET", "file:///etc/passwd", {}, ""});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace kw::awsclient
