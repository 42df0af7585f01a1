#include "server/server_config.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace kw::server {
namespace {

std::filesystem::path WriteYaml(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() / name;
  std::ofstream(path) << text;
  return path;
}

TEST(ServerConfig, ReadsListenThreadsAndTls) {
  ServerConfig config;
  const auto path = WriteYaml("kw-config-ok.yaml",
                              "listen: 0.0.0.0:9443\nthreads: 4\ntls_cert: /etc/kw/cert.pem\n"
                              "tls_key: /etc/kw/key.pem\n");
  ASSERT_TRUE(ApplyConfigFile(path, config).has_value());
  EXPECT_EQ(config.listen_host, "0.0.0.0");
  EXPECT_EQ(config.listen_port, 9443);
  EXPECT_EQ(config.threads, 4);
  EXPECT_EQ(config.tls_cert_file, "/etc/kw/cert.pem");
  EXPECT_EQ(config.tls_key_file, "/etc/kw/key.pem");
}

TEST(ServerConfig, RefusesHalfATlsSettingAndUnknownKeys) {
  ServerConfig config;
  auto half = ApplyConfigFile(WriteYaml("kw-config-half.yaml", "tls_cert: /c.pem\n"), config);
  ASSERT_FALSE(half.has_value());
  EXPECT_NE(half.error().message.find("tls_key"), std::string::npos);
  ServerConfig other;
  EXPECT_FALSE(ApplyConfigFile(WriteYaml("kw-config-typo.yaml", "tls_certs: x\n"), other));
}

TEST(ServerConfig, ParsesListenForms) {
  ServerConfig config;
  ASSERT_TRUE(ParseListen("[::1]:8787", config).has_value());
  EXPECT_EQ(config.listen_host, "::1");
  EXPECT_FALSE(ParseListen("8787", config).has_value());
  EXPECT_FALSE(ParseListen("host:99999", config).has_value());
}

}  // namespace
}  // namespace kw::server
