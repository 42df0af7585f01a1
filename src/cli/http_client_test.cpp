#include "cli/http_client.hpp"

#include <gtest/gtest.h>

namespace kw::cli {
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
  for (const char* bad : {"127.0.0.1:8787", "ftp://x", "http://", "http://:80",
                          "http://h:8x", "http://h/?q=1", "http://u@h", "http://[::1",
                          "http://h:123456"}) {
    EXPECT_FALSE(ParseUrl(bad).has_value()) << bad;
  }
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
}  // namespace kw::cli
