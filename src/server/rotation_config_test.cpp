#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "server/server_config.hpp"

namespace kw::server {
namespace {

std::filesystem::path WriteYaml(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() / name;
  std::ofstream(path) << text;
  return path;
}

TEST(RotationConfig, ReadsTheEngineSettings) {
  ServerConfig config;
  const auto path = WriteYaml(
      "kw-rotation-config-ok.yaml",
      "rotation_tick_ms: 100\nrotation_max_active_per_issuer: 500\nrotation_threads: 16\n");
  ASSERT_TRUE(ApplyConfigFile(path, config).has_value());
  EXPECT_EQ(config.rotation_tick, std::chrono::milliseconds(100));
  EXPECT_EQ(config.rotation_max_active_per_issuer, 500u);
  EXPECT_EQ(config.rotation_threads, 16u);
}

TEST(RotationConfig, RefusesOutOfRangeValues) {
  for (const char* text : {"rotation_tick_ms: 0\n", "rotation_tick_ms: 600000\n",
                           "rotation_max_active_per_issuer: 0\n", "rotation_threads: 0\n",
                           "rotation_threads: 1000\n"}) {
    ServerConfig config;
    auto r = ApplyConfigFile(WriteYaml("kw-rotation-config-bad.yaml", text), config);
    ASSERT_FALSE(r.has_value()) << text;
    EXPECT_NE(r.error().message.find("rotation_"), std::string::npos) << r.error().message;
    EXPECT_EQ(config.rotation_tick, std::chrono::milliseconds(1000));
  }
}

}  // namespace
}  // namespace kw::server
