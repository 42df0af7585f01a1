#pragma once

// Settings of `keyward server`, from flags and an optional YAML file.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

#include "common/result.hpp"

namespace kw::server {

struct ServerConfig {
  std::filesystem::path data_dir = "keyward-data";
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 8787;
  int threads = 2;
  std::size_t max_body_bytes = 1 << 20;
  std::size_t max_header_bytes = 16 << 10;
  std::chrono::seconds usage_flush_interval{5};
  // TLS: with both set, the port speaks only HTTPS (and WSS for agents). PEM files; the
  // chain may hold intermediates after the leaf.
  std::string tls_cert_file;
  std::string tls_key_file;
};

// "HOST:PORT", "[::1]:PORT" or ":PORT". kInvalidArgument on anything else.
Status ParseListen(std::string_view listen, ServerConfig& config);

// Applies a YAML file's settings (data_dir, listen, threads, max_body_bytes, tls_cert,
// tls_key) over `config`. Unknown keys are an error, so a typo does not pass silently.
Status ApplyConfigFile(const std::filesystem::path& path, ServerConfig& config);

}  // namespace kw::server
