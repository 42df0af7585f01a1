// keyward: the server and the operator CLI in one binary. The client commands live in
// the kw_cli library (app.cpp, command table); only `server` and `master-key rotate` are
// wired here, because only this executable links the server.
#include <spdlog/sinks/stdout_color_sinks.h>  // also declares stderr_color_mt
#include <spdlog/spdlog.h>

#include <iostream>
#include <thread>
#include <tuple>

#include "cli/app.hpp"
#include "cli/events_commands.hpp"
#include "cli/json_commands.hpp"
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
  std::string integrations;
  // Audit and directory (docs/audit.md); empty: the ServerConfig default.
  std::string owner_tag, directory_source, directory_bind_dn, directory_password_file, audit_exempt;
  bool directory_auto_offboard = false;
  int audit_key_max_age_days = 0;
  std::string audit_first_use_gap, audit_consumer_learning;  // durations, e.g. "30d"
  // The event log (docs/events.md).
  bool no_event_log = false;
  std::string events_signing_key;
  int events_retention_days = -1;  // -1: the ServerConfig default
  std::vector<std::string> webhooks;
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
  if (!flags.integrations.empty()) config.integrations_file = flags.integrations;
  if (!flags.owner_tag.empty()) config.owner_tag = flags.owner_tag;
  if (!flags.directory_source.empty()) config.directory_source = flags.directory_source;
  if (!flags.directory_bind_dn.empty()) config.directory_bind_dn = flags.directory_bind_dn;
  if (!flags.directory_password_file.empty()) {
    config.directory_password_file = flags.directory_password_file;
  }
  if (flags.directory_auto_offboard) config.directory_auto_offboard = true;
  if (flags.audit_key_max_age_days > 0)
    config.audit_key_max_age_days = flags.audit_key_max_age_days;
  if (!flags.audit_exempt.empty()) config.audit_exempt = flags.audit_exempt;
  for (const auto& [text, target, name] :
       {std::tuple{&flags.audit_first_use_gap, &config.audit_first_use_gap, "first-use-gap"},
        std::tuple{&flags.audit_consumer_learning, &config.audit_consumer_learning,
                   "consumer-learning"}}) {
    if (text->empty()) continue;
    const auto d = kw::cli::ParseDuration(*text);
    if (!d || d->count() <= 0) {
      std::cerr << "keyward: error: --audit-" << name << " must be a duration such as 7d\n";
      return 2;
    }
    *target = *d;
  }
  if (flags.no_event_log) config.events_enabled = false;
  if (!flags.events_signing_key.empty()) config.events_signing_key = flags.events_signing_key;
  if (flags.events_retention_days >= 0) config.events_retention_days = flags.events_retention_days;
  if (!flags.webhooks.empty()) config.webhooks = flags.webhooks;
  if (config.tls_cert_file.empty() != config.tls_key_file.empty()) {
    std::cerr << "keyward: error: --tls-cert and --tls-key go together\n";
    return 2;
  }
  // The server logs to stderr; the client commands do not log at all.
  spdlog::set_default_logger(spdlog::stderr_color_mt("keyward"));
  return kw::server::RunServer(config, std::cout);
}

// `keyward rotate --once ...`: the server's rotation engine until idle, for a timer or
// cron. Parsed apart from the client command `keyward rotate [--plan] POLICY`, which
// shares the word: --once selects this one.
bool IsRotateOnce(int argc, char** argv) {
  if (argc < 2 || std::string_view(argv[1]) != "rotate") return false;
  for (int i = 2; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--once") return true;
  }
  return false;
}

int RunRotateOnceCommand(int argc, char** argv) {
  CLI::App app{
      "Run the access-key rotation engine over a data directory until no rotation can advance "
      "now, then exit (0: none in progress, 3: some waiting, 4: one failed during the run)",
      "keyward rotate --once"};
  bool once = false;
  std::string data_dir = "keyward-data", config_file, integrations;
  int wait_seconds = 0;
  app.add_flag("--once", once, "Run once and exit");
  CLI::Option* data_dir_opt = app.add_option(
      "--data-dir", data_dir, "The server's data directory (default ./keyward-data)");
  CLI::Option* config_opt = app.add_option("--config", config_file, "The server's YAML config file")
                                ->check(CLI::ExistingFile);
  app.add_option("--integrations", integrations,
                 "YAML file of external issuers, stores and deliveries (docs/aws.md)")
      ->check(CLI::ExistingFile);
  app.add_option("--wait", wait_seconds,
                 "Keep polling while a rotation wakes within this many seconds (default 0)")
      ->check(CLI::Range(0, 3600));
  // The server's webhooks (flags or the --config file's `webhooks:`), so that a failed
  // rotation is announced by the run that failed it.
  std::vector<std::string> webhooks;
  std::string notify_timeout = "30s";
  app.add_option("--webhook", webhooks,
                 "URL[,format=slack][,secret-file=PATH][,timeout=SECONDS], as for the server; "
                 "repeatable, replaces the config file's list")
      ->allow_extra_args(false);
  app.add_option("--notify-timeout", notify_timeout,
                 "How long to deliver and retry webhook notifications before exiting; what "
                 "is left stays in the outbox (default 30s)");
  try {
    app.parse(argc - 1, argv + 1);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  kw::server::ServerConfig config;
  config.data_dir = "keyward-data";
  if (config_opt->count() > 0) {
    if (auto s = kw::server::ApplyConfigFile(config_file, config); !s) {
      std::cerr << "keyward: error: " << s.error().message << '\n';
      return 2;
    }
  }
  if (data_dir_opt->count() > 0) config.data_dir = data_dir;
  if (!integrations.empty()) config.integrations_file = integrations;
  spdlog::set_default_logger(spdlog::stderr_color_mt("keyward"));
  kw::server::RotateOnceOptions options;
  options.wait = std::chrono::seconds(wait_seconds);
  if (!webhooks.empty()) config.webhooks = webhooks;
  const auto notify_deadline = kw::cli::ParseDuration(notify_timeout);
  if (!notify_deadline || *notify_deadline > std::chrono::hours(1)) {
    std::cerr << "keyward: error: --notify-timeout must be a duration such as 30s, at most 1h\n";
    return 2;
  }
  options.notify_timeout = *notify_deadline;
  return kw::server::RunRotateOnce(config, options, std::cout);
}

}  // namespace

int main(int argc, char** argv) {
  if (IsRotateOnce(argc, argv)) return RunRotateOnceCommand(argc, argv);
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
                     sub.add_option("--integrations", flags.integrations,
                                    "YAML file of external issuers (docs/rotation-external.md)")
                         ->check(CLI::ExistingFile);
                     sub.add_option("--owner-tag", flags.owner_tag,
                                    "IAM user tag naming the user's owner (default owner)");
                     sub.add_option("--directory-source", flags.directory_source,
                                    "Directory for `keyward directory sync`: a .csv/.json "
                                    "export file or an ldap:// URL (docs/audit.md)");
                     sub.add_option("--directory-bind-dn", flags.directory_bind_dn,
                                    "LDAP bind DN (default: anonymous)");
                     sub.add_option("--directory-password-file", flags.directory_password_file,
                                    "File holding the LDAP bind password")
                         ->check(CLI::ExistingFile);
                     sub.add_flag("--directory-auto-offboard", flags.directory_auto_offboard,
                                  "A directory sync offboards departed people at once");
                     sub.add_option("--audit-key-max-age", flags.audit_key_max_age_days,
                                    "Days after which an active access key is a finding "
                                    "(default 90)")
                         ->check(CLI::Range(1, 3650));
                     sub.add_option("--audit-exempt", flags.audit_exempt,
                                    "Comma-separated user names, key IDs or activation IDs "
                                    "exempt from audit rules");
                     sub.add_option("--audit-first-use-gap", flags.audit_first_use_gap,
                                    "A key first used this long after its creation is a "
                                    "finding (default 30d)");
                     sub.add_option("--audit-consumer-learning", flags.audit_consumer_learning,
                                    "A key's known consumers are those of this long after its "
                                    "creation (default 7d)");
                   },
                   [&flags] { return RunServerCommand(flags); }});
  extra.back().setup = [setup = extra.back().setup, &flags](CLI::App& sub) {
    setup(sub);
    sub.add_flag("--no-event-log", flags.no_event_log,
                 "Record no events (no CloudTrail LookupEvents); for benchmarks");
    sub.add_option("--events-signing-key", flags.events_signing_key,
                   "Ed25519 key signing the event log's head (default DATA_DIR/"
                   "events-signing.key, created 0600)");
    sub.add_option("--events-retention-days", flags.events_retention_days,
                   "Prune events older than this many days (default 90; 0 keeps all)")
        ->check(CLI::Range(0, 36500));
    sub.add_option("--webhook", flags.webhooks,
                   "URL[,format=slack][,secret-file=PATH][,timeout=SECONDS]: POST findings and "
                   "failed rotations there, HMAC-signed (docs/notifications.md); repeatable")
        ->allow_extra_args(false);
  };
  kw::cli::AddEventsCommand(extra, std::cout, std::cerr);

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
