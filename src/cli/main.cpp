// keyward: the server and the operator CLI in one binary. The client commands live in
// the kw_cli library (app.cpp, command table); only `server` and `master-key rotate` are
// wired here, because only this executable links the server.
#include <spdlog/sinks/stdout_color_sinks.h>  // also declares stderr_color_mt
#include <spdlog/spdlog.h>

#include <iostream>
#include <thread>

#include "cli/app.hpp"
#include "server/master_key_rotation.hpp"
#include "server/server_app.hpp"
#include "server/server_config.hpp"

namespace {

struct ServerFlags {
  std::string data_dir;
  std::string listen;
  std::string config_file;
  std::string tls_cert;
  std::string tls_key;
  CLI::Option* data_dir_opt = nullptr;
  CLI::Option* listen_opt = nullptr;
  CLI::Option* config_opt = nullptr;
};

// Defaults, then the config file, then the flags: a flag always wins.
int RunServerCommand(const ServerFlags& flags) {
  kw::server::ServerConfig config;
  config.data_dir = "keyward-data";
  if (flags.config_opt->count() > 0) {
    if (auto s = kw::server::ApplyConfigFile(flags.config_file, config); !s) {
      std::cerr << "keyward: error: " << s.error().message << '\n';
      return 2;
    }
  }
  if (flags.data_dir_opt->count() > 0) config.data_dir = flags.data_dir;
  if (flags.listen_opt->count() > 0) {
    if (auto s = kw::server::ParseListen(flags.listen, config); !s) {
      std::cerr << "keyward: error: " << s.error().message << '\n';
      return 2;
    }
  }
  if (!flags.tls_cert.empty()) config.tls_cert_file = flags.tls_cert;
  if (!flags.tls_key.empty()) config.tls_key_file = flags.tls_key;
  if (config.tls_cert_file.empty() != config.tls_key_file.empty()) {
    std::cerr << "keyward: error: --tls-cert and --tls-key go together\n";
    return 2;
  }
  // The server logs to stderr; the client commands do not log at all.
  spdlog::set_default_logger(spdlog::stderr_color_mt("keyward"));
  return kw::server::RunServer(config, std::cout);
}

}  // namespace

int main(int argc, char** argv) {
  ServerFlags flags;
  std::vector<kw::cli::ExtraCommand> extra;
  extra.push_back({"server", "Run the keyward server in the foreground",
                   [&flags](CLI::App& sub) {
                     flags.data_dir_opt = sub.add_option("--data-dir", flags.data_dir,
                                                         "Data directory (default ./keyward-data)");
                     flags.listen_opt =
                         sub.add_option("--listen", flags.listen,
                                        "HOST:PORT to listen on (default 127.0.0.1:8787)");
                     flags.config_opt =
                         sub.add_option("--config", flags.config_file,
                                        "YAML config file (data_dir, listen, threads, "
                                        "max_body_bytes); flags override it")
                             ->check(CLI::ExistingFile);
                     sub.add_option("--tls-cert", flags.tls_cert,
                                    "PEM certificate chain: serve HTTPS (with --tls-key)")
                         ->check(CLI::ExistingFile);
                     sub.add_option("--tls-key", flags.tls_key, "PEM private key for --tls-cert")
                         ->check(CLI::ExistingFile);
                   },
                   [&flags] { return RunServerCommand(flags); }});

  std::string rotate_data_dir;
  extra.push_back({"master-key", "Manage the server's master keys (run on the server host)",
                   [&rotate_data_dir](CLI::App& sub) {
                     sub.require_subcommand(1);
                     CLI::App* rotate = sub.add_subcommand(
                         "rotate",
                         "Add a new primary master key and re-wrap every data key under it; "
                         "a running server keeps serving");
                     rotate
                         ->add_option("--data-dir", rotate_data_dir, "The server's data directory")
                         ->required();
                   },
                   [&rotate_data_dir] {
                     return kw::server::RunMasterKeyRotate(rotate_data_dir, std::cout, std::cerr);
                   }});

  kw::cli::CurlHttpClient http;
  kw::SystemClock clock;
  kw::cli::AppEnvironment env;
  env.env = kw::cli::ProcessEnvironment();
  env.transport = &http;
  env.clock = &clock;
  env.out = &std::cout;
  env.err = &std::cerr;
  env.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  return kw::cli::RunApp(argc, argv, env, extra);
}
