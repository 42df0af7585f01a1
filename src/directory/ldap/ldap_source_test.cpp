#include "directory/ldap/ldap_source.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

namespace kw::directory {
namespace {

// A loopback port nobody listens on: bound, then closed.
int ClosedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

TEST(LdapSource, BadUrlIsInvalidArgument) {
  LdapSource no_url({"http://example.org/", "", SecretBytes(), std::chrono::seconds(2)});
  EXPECT_EQ(no_url.Fetch().error().code, ErrorCode::kInvalidArgument);
  LdapSource no_base({"ldap://127.0.0.1:389", "", SecretBytes(), std::chrono::seconds(2)});
  auto r = no_base.Fetch();
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("base DN"), std::string::npos);
}

TEST(LdapSource, UnreachableServerIsUnavailableAndNamesIt) {
  const std::string url =
      "ldap://127.0.0.1:" + std::to_string(ClosedPort()) + "/ou=people,dc=example,dc=org";
  LdapSource source(
      {url, "cn=admin,dc=example,dc=org", SecretBytes(std::string("pw")), std::chrono::seconds(2)});
  auto r = source.Fetch();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(r.error().message.find("127.0.0.1"), std::string::npos);
  EXPECT_EQ(r.error().message.find("pw"), std::string::npos);  // never the password
  EXPECT_EQ(source.Describe(), url);
}

// A server that accepts the connection (the kernel completes it from the listen backlog)
// and never answers: the bind must give up after the configured timeout, not hang the
// sync that called it.
TEST(LdapSource, ServerThatNeverAnswersTimesOutAsUnavailable) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string url =
      "ldap://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/ou=people,dc=example,dc=org";
  LdapSource source(
      {url, "cn=admin,dc=example,dc=org", SecretBytes(std::string("pw")), std::chrono::seconds(1)});
  const auto start = std::chrono::steady_clock::now();
  auto r = source.Fetch();
  const auto took = std::chrono::steady_clock::now() - start;
  close(fd);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(r.error().message.find("127.0.0.1"), std::string::npos);
  EXPECT_EQ(r.error().message.find("pw"), std::string::npos);
  EXPECT_LT(took, std::chrono::seconds(10));
}

}  // namespace
}  // namespace kw::directory
