#include "server/server_config.hpp"

#include <yaml-cpp/yaml.h>

#include <charconv>

namespace kw::server {

Status ParseListen(std::string_view listen, ServerConfig& config) {
  const auto colon = listen.rfind(':');
  if (colon == std::string_view::npos) {
    return InvalidArgument("--listen must be HOST:PORT, got '" + std::string(listen) + "'");
  }
  std::string_view host = listen.substr(0, colon);
  const std::string_view port_text = listen.substr(colon + 1);
  unsigned port = 0;
  auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || p != port_text.data() + port_text.size() || port > 65535) {
    return InvalidArgument("--listen has a bad port: '" + std::string(listen) + "'");
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  config.listen_host = host.empty() ? "0.0.0.0" : std::string(host);
  config.listen_port = static_cast<std::uint16_t>(port);
  return OkStatus();
}

Status ApplyConfigFile(const std::filesystem::path& path, ServerConfig& config) {
  try {
    const YAML::Node root = YAML::LoadFile(path.string());
    if (!root.IsMap()) return InvalidArgument("config file " + path.string() + " is not a map");
    for (const auto& kv : root) {
      const std::string key = kv.first.as<std::string>();
      if (key == "data_dir") {
        config.data_dir = kv.second.as<std::string>();
      } else if (key == "listen") {
        KW_RETURN_IF_ERROR(ParseListen(kv.second.as<std::string>(), config));
      } else if (key == "threads") {
        config.threads = kv.second.as<int>();
        if (config.threads < 1 || config.threads > 256) {
          return InvalidArgument("threads must be between 1 and 256");
        }
      } else if (key == "max_body_bytes") {
        config.max_body_bytes = kv.second.as<std::size_t>();
      } else if (key == "tls_cert") {
        config.tls_cert_file = kv.second.as<std::string>();
      } else if (key == "tls_key") {
        config.tls_key_file = kv.second.as<std::string>();
      } else if (key == "integrations") {
        config.integrations_file = kv.second.as<std::string>();
      } else if (key == "rotation_tick_ms") {
        const long ms = kv.second.as<long>();
        if (ms < 10 || ms > 60000) return InvalidArgument("rotation_tick_ms must be 10 to 60000");
        config.rotation_tick = std::chrono::milliseconds(ms);
      } else if (key == "rotation_max_active_per_issuer") {
        const long n = kv.second.as<long>();
        if (n < 1 || n > 100000) {
          return InvalidArgument("rotation_max_active_per_issuer must be 1 to 100000");
        }
        config.rotation_max_active_per_issuer = static_cast<std::size_t>(n);
      } else if (key == "rotation_threads") {
        const long n = kv.second.as<long>();
        if (n < 1 || n > 256) return InvalidArgument("rotation_threads must be 1 to 256");
        config.rotation_threads = static_cast<std::size_t>(n);
      } else if (key == "webhooks") {
        if (!kv.second.IsSequence()) return InvalidArgument("webhooks must be a list");
        config.webhooks.clear();
        for (const auto& w : kv.second) {
          if (w.IsScalar()) {
            config.webhooks.push_back(w.as<std::string>());
            continue;
          }
          if (!w.IsMap() || !w["url"]) return InvalidArgument("each webhook needs a url");
          std::string spec = w["url"].as<std::string>();
          if (w["format"]) spec += ",format=" + w["format"].as<std::string>();
          if (w["secret_file"]) spec += ",secret-file=" + w["secret_file"].as<std::string>();
          if (w["timeout"]) spec += ",timeout=" + w["timeout"].as<std::string>();
          config.webhooks.push_back(std::move(spec));
        }
      } else {
        return InvalidArgument("config file " + path.string() + ": unknown setting '" + key + "'");
      }
    }
  } catch (const YAML::Exception& e) {
    return InvalidArgument("config file " + path.string() + ": " + e.what());
  }
  if (config.tls_cert_file.empty() != config.tls_key_file.empty()) {
    return InvalidArgument("config file " + path.string() + ": tls_cert and tls_key go together");
  }
  return OkStatus();
}

}  // namespace kw::server
