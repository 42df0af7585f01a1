#pragma once

// A configured webhook: where to POST, in which format, and the HMAC secret that signs
// each delivery (docs/notifications.md gives the scheme receivers check).

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "awsclient/http_client.hpp"
#include "common/result.hpp"
#include "common/secret_bytes.hpp"

namespace kw::notify {

enum class WebhookFormat { kJson, kSlack };

// As written in --webhook URL[,format=json|slack][,secret-file=PATH][,timeout=SECONDS]
// or in the YAML `webhooks:` list. Holds no secret, only the path of its file.
struct WebhookConfig {
  std::string url;
  WebhookFormat format = WebhookFormat::kJson;
  std::string secret_file;                                      // empty: deliveries are unsigned
  std::chrono::milliseconds timeout{std::chrono::seconds(10)};  // per attempt
};

// kInvalidArgument for a bad URL or an unknown option.
Result<WebhookConfig> ParseWebhookFlag(std::string_view text);

// Reads a secret file: trailing newlines dropped; kPermissionDenied when group or
// others may read it (it must be 0600 or stricter), kInvalidArgument when empty.
// Messages name the path, never the contents.
Result<SecretBytes> ReadSecretFile(const std::string& path);

struct Webhook {
  std::string id;  // stable: 16 hex digits of SHA-256(url, format); keys delivery state
  std::string url;
  WebhookFormat format = WebhookFormat::kJson;
  SecretBytes secret;  // empty: unsigned
  // Sends the requests; its own timeout bounds each attempt.
  std::shared_ptr<awsclient::HttpTransport> transport;
};

std::string WebhookId(std::string_view url, WebhookFormat format);

// Reads the secret and builds a libcurl transport with the per-attempt timeout.
Result<Webhook> MakeWebhook(const WebhookConfig& config);

// "sha256=" + lowercase hex of HMAC-SHA256(secret, timestamp + "." + body).
std::string Signature(const SecretBytes& secret, std::string_view timestamp, std::string_view body);

}  // namespace kw::notify
