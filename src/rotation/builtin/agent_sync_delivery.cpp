#include "rotation/builtin/agent_sync_delivery.hpp"

#include <algorithm>
#include <cstdlib>

namespace kw::rotation::builtin {
namespace {

// Spec parameter -> the document's parameter.
constexpr std::pair<std::string_view, std::string_view> kParams[] = {
    {"format", "Format"},
    {"path", "Path"},
    {"profile", "Profile"},
    {"owner", "Owner"},
    {"group", "Group"},
    {"mode", "Mode"},
    {"reload", "Reload"},
    {"reload_timeout_seconds", "ReloadTimeoutSeconds"},
    {"health_check", "HealthCheck"},
    {"health_timeout_seconds", "HealthTimeoutSeconds"},
    {"user", "User"}};

bool Digits(std::string_view s, std::size_t min, std::size_t max) {
  return s.size() >= min && s.size() <= max &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool IsUnitName(std::string_view s) {
  return !s.empty() && s.size() <= 256 && s.front() != '-' &&
         std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '@' || c == '.' || c == '_' || c == ':' || c == '-' || c == '\\';
         });
}

// The agent checks all of this again (agent/secret_sync.cpp); checking here reports a
// bad policy when it is created instead of at its first rotation.
Status CheckValue(std::string_view key, std::string_view v) {
  for (char c : v) {
    if (static_cast<unsigned char>(c) < 0x20) {
      return InvalidArgument("agent-sync parameter " + std::string(key) +
                             " holds a control character");
    }
  }
  if (key == "format") {
    if (v != "credentials" && v != "env" && v != "json" && v != "credential-process") {
      return InvalidArgument(
          "agent-sync format must be credentials, env, json or "
          "credential-process");
    }
  } else if (key == "path") {
    if (v.empty() || v.front() != '/' || v.back() == '/') {
      return InvalidArgument("agent-sync path must be an absolute file path");
    }
  } else if (key == "profile") {
    if (v.empty() || v.size() > 128 || v.find_first_of("[]") != std::string_view::npos) {
      return InvalidArgument("agent-sync profile must be a name without brackets");
    }
  } else if (key == "mode") {
    if (v.size() < 3 || v.size() > 4 || v.find_first_not_of("01234567") != std::string_view::npos ||
        (v.size() == 4 && v[0] != '0')) {
      return InvalidArgument("agent-sync mode must be octal permissions such as 0600");
    }
  } else if (key == "reload") {
    const bool command = v.rfind("command:", 0) == 0 && v.size() > 8;
    const bool systemd = v.rfind("systemd:", 0) == 0 && IsUnitName(v.substr(8));
    bool signal = false;
    for (std::string_view sig : {"signal:SIGHUP:/", "signal:SIGUSR1:/", "signal:SIGUSR2:/"}) {
      signal = signal || v.rfind(sig, 0) == 0;
    }
    if (!command && !systemd && !signal) {
      return InvalidArgument(
          "agent-sync reload must be command:CMD, signal:SIGHUP|SIGUSR1|SIGUSR2:/pid/file or "
          "systemd:UNIT");
    }
  } else if (key == "reload_timeout_seconds" || key == "health_timeout_seconds") {
    if (!Digits(v, 1, 4) || std::atoi(std::string(v).c_str()) < 1 ||
        std::atoi(std::string(v).c_str()) > 3600) {
      return InvalidArgument("agent-sync " + std::string(key) + " must be 1 to 3600");
    }
  } else if (key == "owner" || key == "group" || key == "user") {
    if (v.empty() || v.size() > 64) {
      return InvalidArgument("agent-sync " + std::string(key) + " must be 1 to 64 characters");
    }
  } else if (key == "health_check") {
    if (v.empty() || v.size() > 4096) {
      return InvalidArgument("agent-sync health_check must be 1 to 4096 characters");
    }
  }
  return OkStatus();
}

}  // namespace

Result<DeliverySpec> AgentSyncDelivery::DocumentSpec(const DeliverySpec& spec) {
  DeliverySpec doc;
  doc.kind = "document";
  doc.parameters["document"] = kAgentSyncDocument;
  // Substituted by DocumentDelivery for each rotation: only the ID and version travel.
  doc.parameters["param:SecretId"] = "{{SecretId}}";
  doc.parameters["param:VersionId"] = "{{VersionId}}";
  for (const auto& [key, value] : spec.parameters) {
    if (key == "timeout_seconds") {
      doc.parameters[key] = value;
      continue;
    }
    auto it = std::find_if(std::begin(kParams), std::end(kParams),
                           [&](const auto& p) { return p.first == key; });
    if (it == std::end(kParams)) {
      return InvalidArgument(
          "unknown agent-sync delivery parameter '" + key +
          "' (format, path, profile, owner, group, mode, reload, reload_timeout_seconds, "
          "health_check, health_timeout_seconds, user, timeout_seconds)");
    }
    KW_RETURN_IF_ERROR(CheckValue(key, value));
    doc.parameters["param:" + std::string(it->second)] = value;
  }
  auto get = [&](const char* key) -> std::string {
    auto it = spec.parameters.find(key);
    return it == spec.parameters.end() ? std::string() : it->second;
  };
  const std::string format = get("format").empty() ? "credentials" : get("format");
  if (format == "credential-process") {
    if (!get("path").empty()) {
      return InvalidArgument("agent-sync format credential-process takes no path");
    }
    if (get("user").empty()) {
      return InvalidArgument("agent-sync format credential-process needs user");
    }
  } else {
    if (get("path").empty()) return InvalidArgument("agent-sync needs the parameter 'path'");
    if (!get("user").empty()) {
      return InvalidArgument("agent-sync user is only for format credential-process");
    }
  }
  if (!get("profile").empty() && format != "credentials") {
    return InvalidArgument("agent-sync profile is only for format credentials");
  }
  if (format == "credential-process" && get("mode").empty()) {
    doc.parameters["param:Mode"] = "0400";
  }
  return doc;
}

Status AgentSyncDelivery::Validate(const DeliverySpec& spec) {
  KW_ASSIGN_OR_RETURN(DeliverySpec doc, DocumentSpec(spec));
  return documents_.Validate(doc);
}

Result<std::string> AgentSyncDelivery::Start(const DeliveryRequest& request, TimePoint now) {
  DeliveryRequest doc_request = request;
  KW_ASSIGN_OR_RETURN(doc_request.spec, DocumentSpec(request.spec));
  return documents_.Start(doc_request, now);
}

Result<std::map<std::string, HostDelivery>> AgentSyncDelivery::Poll(std::string_view delivery_id,
                                                                    TimePoint now) {
  KW_ASSIGN_OR_RETURN(auto hosts, documents_.Poll(delivery_id, now));
  for (auto& [host, d] : hosts) {
    if (d.state == HostDeliveryState::kFailed) {
      // The agent's reason (health check failed, reload timed out, fetch refused...) is
      // in the invocation's StandardErrorContent; the previous key is back in place.
      d.reason = "secret sync failed on " + host + " (" + d.reason +
                 "; the host kept the previous key; GetCommandInvocation shows why)";
    }
  }
  return hosts;
}

}  // namespace kw::rotation::builtin
