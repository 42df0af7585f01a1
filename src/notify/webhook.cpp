#include "notify/webhook.hpp"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "common/error.hpp"
#include "crypto/digest.hpp"

namespace kw::notify {

Result<WebhookConfig> ParseWebhookFlag(std::string_view text) {
  WebhookConfig c;
  std::size_t comma = text.find(',');
  c.url = std::string(text.substr(0, comma));
  if (auto u = awsclient::ParseUrl(c.url); !u) {
    return InvalidArgument("webhook: " + u.error().message);
  }
  while (comma != std::string_view::npos) {
    std::size_t next = text.find(',', comma + 1);
    std::string_view opt = text.substr(
        comma + 1, next == std::string_view::npos ? std::string_view::npos : next - comma - 1);
    comma = next;
    std::size_t eq = opt.find('=');
    std::string_view name = opt.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? "" : opt.substr(eq + 1);
    if (name == "format" && (value == "json" || value == "slack")) {
      c.format = value == "slack" ? WebhookFormat::kSlack : WebhookFormat::kJson;
    } else if (name == "secret-file" && !value.empty()) {
      c.secret_file = std::string(value);
    } else if (name == "timeout" && !value.empty()) {
      int seconds = 0;
      for (char ch : value) {
        if (ch < '0' || ch > '9' || seconds > 3600) {
          return InvalidArgument("webhook: timeout must be 1 to 3600 seconds");
        }
        seconds = seconds * 10 + (ch - '0');
      }
      if (seconds < 1 || seconds > 3600) {
        return InvalidArgument("webhook: timeout must be 1 to 3600 seconds");
      }
      c.timeout = std::chrono::seconds(seconds);
    } else {
      return InvalidArgument("webhook: unknown option '" + std::string(opt) +
                             "' (format=json|slack, secret-file=PATH, timeout=SECONDS)");
    }
  }
  return c;
}

Result<SecretBytes> ReadSecretFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return NotFound("webhook secret file not found: " + path);
  if ((st.st_mode & 077) != 0) {
    return PermissionDenied("webhook secret file " + path +
                            " may be read by group or others; chmod 600 it");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return PermissionDenied("cannot read webhook secret file " + path);
  std::ostringstream buf;
  buf << in.rdbuf();
  std::string s = buf.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  SecretBytes secret(std::move(s));
  if (secret.empty()) return InvalidArgument("webhook secret file " + path + " is empty");
  return secret;
}

std::string WebhookId(std::string_view url, WebhookFormat format) {
  std::string material(url);
  material += format == WebhookFormat::kSlack ? "\nslack" : "\njson";
  return crypto::Sha256Hex(material).substr(0, 16);
}

Result<Webhook> MakeWebhook(const WebhookConfig& config) {
  Webhook w;
  w.url = config.url;
  w.format = config.format;
  w.id = WebhookId(config.url, config.format);
  if (!config.secret_file.empty()) {
    KW_ASSIGN_OR_RETURN(w.secret, ReadSecretFile(config.secret_file));
  }
  awsclient::HttpClientOptions options;
  options.connect_timeout = std::min(options.connect_timeout, config.timeout);
  options.total_timeout = config.timeout;
  options.max_response_bytes = 1 << 20;
  w.transport = std::make_shared<awsclient::CurlHttpClient>(options);
  return w;
}

std::string Signature(const SecretBytes& secret, std::string_view timestamp,
                      std::string_view body) {
  std::string signed_bytes;
  signed_bytes.reserve(timestamp.size() + 1 + body.size());
  signed_bytes.append(timestamp).append(".").append(body);
  return "sha256=" + crypto::HexEncode(crypto::HmacSha256(secret.Reveal(), signed_bytes));
}

}  // namespace kw::notify
