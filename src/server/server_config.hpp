#pragma once

// Settings of `keyward server`, from flags and an optional YAML file.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace kw::server {

struct ServerConfig {
  std::filesystem::path data_dir = "keyward-data";
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 8787;
  // Request handlers run on these threads and block while a durable write is synced
  // (about a millisecond): more threads than cores let the writes of many clients share
  // one sync (group commit). 8 on a 2-core machine: PutSecretValue ~1.4x of 2 threads,
  // GetSecretValue no slower (docs/benchmarks.md).
  int threads = 8;
  std::size_t max_body_bytes = 1 << 20;
  std::size_t max_header_bytes = 16 << 10;
  std::chrono::seconds usage_flush_interval{5};
  // TLS: with both set, the port speaks only HTTPS (and WSS for agents). PEM files; the
  // chain may hold intermediates after the leaf.
  std::string tls_cert_file;
  std::string tls_key_file;
  // YAML file of external integrations (issuers, ...), server/integrations_config.hpp.
  // Empty: none.
  std::string integrations_file;
  // Audit, directory and offboarding (docs/audit.md). The IAM user tag naming a
  // user's owner; the directory source: a .csv or .json export file or an ldap:// URL
  // (empty: none, `directory sync` fails); LDAP bind DN and a file holding its
  // password; whether a sync offboards departures by itself.
  std::string owner_tag = "owner";
  std::string directory_source;
  std::string directory_bind_dn;
  std::string directory_password_file;
  bool directory_auto_offboard = false;
  int audit_key_max_age_days = 90;
  std::string audit_exempt;  // comma-separated user names, key IDs, activation IDs
  // Event findings (audit/event_rules.hpp): a key's first use this long after its
  // creation is late; its known consumers are those of this long after its creation.
  std::chrono::seconds audit_first_use_gap{std::chrono::hours(24 * 30)};
  std::chrono::seconds audit_consumer_learning{std::chrono::hours(24 * 7)};
  // The event log (docs/events.md): on unless turned off (the benchmark compares);
  // its Ed25519 signing key file (empty: DATA_DIR/events-signing.key); records older
  // than the retention are pruned (0: kept forever).
  bool events_enabled = true;
  std::string events_signing_key;
  int events_retention_days = 90;
  // The access-key rotation engine (rotation::EngineOptions): how often it looks at
  // rotations that poll (it also wakes when a quiet period, grace period or back-off
  // ends), how many run past the queue per issuer, and on how many threads they advance.
  // YAML: rotation_tick_ms, rotation_max_active_per_issuer, rotation_threads.
  std::chrono::milliseconds rotation_tick{1000};
  std::size_t rotation_max_active_per_issuer = 32;
  std::size_t rotation_threads = 4;
  // Webhooks for findings and failed rotations (docs/notifications.md), each as
  // "URL[,format=json|slack][,secret-file=PATH][,timeout=SECONDS]", parsed at start by
  // notify::ParseWebhookFlag. YAML: webhooks, a list of such strings or of maps with
  // url, format, secret_file, timeout. --webhook flags replace the file's list.
  std::vector<std::string> webhooks;
};

// "HOST:PORT", "[::1]:PORT" or ":PORT". kInvalidArgument on anything else.
Status ParseListen(std::string_view listen, ServerConfig& config);

// Applies a YAML file's settings (data_dir, listen, threads, max_body_bytes, tls_cert,
// tls_key, integrations) over `config`. Unknown keys are an error, so a typo does not
// pass silently.
Status ApplyConfigFile(const std::filesystem::path& path, ServerConfig& config);

}  // namespace kw::server
