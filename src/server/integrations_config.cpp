#include "server/integrations_config.hpp"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "awsclient/http_client.hpp"

namespace kw::server {
namespace {

// Errors carry the path of the offending key so an operator finds it at once.
class EntryReader {
 public:
  EntryReader(const YAML::Node& node, std::string where) : node_(node), where_(std::move(where)) {}

  Error Bad(const std::string& key, const std::string& why) const {
    return InvalidArgument(where_ + "." + key + ": " + why);
  }

  Result<std::optional<std::string>> String(const std::string& key) {
    seen_.insert(key);
    const YAML::Node v = node_[key];
    if (!v) return std::optional<std::string>();
    if (!v.IsScalar()) return Bad(key, "must be a string");
    std::string s = v.as<std::string>();
    if (s.empty()) return Bad(key, "must not be empty");
    return std::optional<std::string>(std::move(s));
  }

  Result<std::optional<double>> Number(const std::string& key, double min, double max) {
    seen_.insert(key);
    const YAML::Node v = node_[key];
    if (!v) return std::optional<double>();
    double d = 0;
    if (!v.IsScalar() || !YAML::convert<double>::decode(v, d) || !(d >= min && d <= max)) {
      std::ostringstream os;
      os << "must be a number from " << min << " to " << max;
      return Bad(key, os.str());
    }
    return std::optional<double>(d);
  }

  // Keys nobody asked for.
  Status CheckNoOthers() const {
    for (const auto& kv : node_) {
      const std::string key = kv.first.as<std::string>();
      if (!seen_.count(key)) return Bad(key, "unknown setting");
    }
    return OkStatus();
  }

 private:
  const YAML::Node& node_;
  std::string where_;
  std::set<std::string> seen_;
};

// The connection keys shared by every section (so issue 7's stores and deliveries
// read them with this same function).
// Secrets Manager's secret names: 1-512 of letters, digits and /_+=.@-.
bool ValidSecretName(std::string_view name) {
  if (name.empty() || name.size() > 512) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string_view("/_+=.@-").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

Status ReadConnection(EntryReader& r, awsclient::AwsConnectionSettings& c) {
  KW_ASSIGN_OR_RETURN(c.profile, r.String("profile"));
  // keyward's own key in one of its secrets (so a policy can rotate it), or a profile
  // of the chain: naming both would leave one silently unused.
  KW_ASSIGN_OR_RETURN(c.credentials_secret, r.String("credentials_secret"));
  if (c.credentials_secret) {
    if (c.profile) {
      return r.Bad("credentials_secret", "give either profile or credentials_secret, not both");
    }
    if (!ValidSecretName(*c.credentials_secret)) {
      return r.Bad("credentials_secret", "must be a secret name (1-512 of A-Z a-z 0-9 /_+=.@-)");
    }
  }
  KW_ASSIGN_OR_RETURN(c.region, r.String("region"));
  KW_ASSIGN_OR_RETURN(auto rate, r.Number("calls_per_second", 0, 10000));
  if (rate) c.calls_per_second = *rate;
  KW_ASSIGN_OR_RETURN(auto burst, r.Number("burst", 1, 10000));
  if (burst) c.burst = *burst;
  KW_ASSIGN_OR_RETURN(auto timeout, r.Number("timeout_seconds", 1, 3600));
  if (timeout) c.timeout = std::chrono::seconds(static_cast<long>(*timeout));
  KW_ASSIGN_OR_RETURN(auto attempts, r.Number("max_attempts", 1, 100));
  if (attempts) c.max_attempts = static_cast<int>(*attempts);
  return OkStatus();
}

Status CheckEndpoint(EntryReader& r, const std::string& key, const std::string& url) {
  if (auto parsed = awsclient::ParseUrl(url); !parsed) return r.Bad(key, parsed.error().message);
  return OkStatus();
}

Result<AwsIamIssuerEntry> ReadAwsIamIssuer(EntryReader& r, std::string name) {
  AwsIamIssuerEntry e;
  e.name = std::move(name);
  KW_ASSIGN_OR_RETURN(auto endpoint, r.String("endpoint"));
  if (endpoint) e.endpoint = *endpoint;
  KW_RETURN_IF_ERROR(CheckEndpoint(r, "endpoint", e.endpoint));
  KW_ASSIGN_OR_RETURN(auto sts, r.String("sts_endpoint"));
  if (sts) {
    e.sts_endpoint = *sts;
    KW_RETURN_IF_ERROR(CheckEndpoint(r, "sts_endpoint", e.sts_endpoint));
  }
  KW_ASSIGN_OR_RETURN(auto cloudtrail, r.String("cloudtrail_endpoint"));
  if (cloudtrail) {
    e.cloudtrail_endpoint = *cloudtrail;
    KW_RETURN_IF_ERROR(CheckEndpoint(r, "cloudtrail_endpoint", e.cloudtrail_endpoint));
  }
  KW_ASSIGN_OR_RETURN(auto cloudtrail_region, r.String("cloudtrail_region"));
  if (cloudtrail_region) {
    if (!cloudtrail) return r.Bad("cloudtrail_region", "needs cloudtrail_endpoint");
    e.cloudtrail_region = *cloudtrail_region;
  }
  KW_ASSIGN_OR_RETURN(auto lookback, r.Number("cloudtrail_lookback_seconds", 60, 90 * 86400));
  if (lookback) {
    if (!cloudtrail) return r.Bad("cloudtrail_lookback_seconds", "needs cloudtrail_endpoint");
    e.cloudtrail_lookback = std::chrono::seconds(static_cast<long>(*lookback));
  }
  KW_RETURN_IF_ERROR(ReadConnection(r, e.connection));
  KW_RETURN_IF_ERROR(r.CheckNoOthers());
  return e;
}

Status ReadIssuers(const YAML::Node& section, const std::string& where, IntegrationsConfig& out) {
  if (section.IsNull()) return OkStatus();
  if (!section.IsMap()) return InvalidArgument(where + ": must be a map of names to issuers");
  for (const auto& kv : section) {
    const std::string name = kv.first.as<std::string>();
    const std::string entry_where = where + "." + name;
    if (!ValidIntegrationName(name)) {
      return InvalidArgument(entry_where +
                             ": names are 1-64 of A-Z a-z 0-9 . _ - and not 'builtin'");
    }
    if (!kv.second.IsMap()) return InvalidArgument(entry_where + ": must be a map");
    EntryReader r(kv.second, entry_where);
    KW_ASSIGN_OR_RETURN(auto type, r.String("type"));
    if (!type) return r.Bad("type", "is required (aws-iam)");
    if (*type != "aws-iam") return r.Bad("type", "unknown issuer type '" + *type + "' (aws-iam)");
    KW_ASSIGN_OR_RETURN(AwsIamIssuerEntry e, ReadAwsIamIssuer(r, name));
    out.issuers.push_back(std::move(e));
  }
  return OkStatus();
}

// stores: / deliveries: (issue 7): entries of one type, an optional endpoint and the
// connection keys.
Status ReadServiceSection(const YAML::Node& section, const std::string& where,
                          const std::string& type_name, std::vector<AwsServiceEntry>& out) {
  if (section.IsNull()) return OkStatus();
  if (!section.IsMap()) return InvalidArgument(where + ": must be a map of names to entries");
  for (const auto& kv : section) {
    const std::string name = kv.first.as<std::string>();
    const std::string entry_where = where + "." + name;
    if (!ValidIntegrationName(name)) {
      return InvalidArgument(entry_where +
                             ": names are 1-64 of A-Z a-z 0-9 . _ - and not 'builtin'");
    }
    if (!kv.second.IsMap()) return InvalidArgument(entry_where + ": must be a map");
    EntryReader r(kv.second, entry_where);
    KW_ASSIGN_OR_RETURN(auto type, r.String("type"));
    if (!type) return r.Bad("type", "is required (" + type_name + ")");
    if (*type != type_name) {
      return r.Bad("type", "unknown type '" + *type + "' (" + type_name + ")");
    }
    AwsServiceEntry e;
    e.name = name;
    KW_ASSIGN_OR_RETURN(auto endpoint, r.String("endpoint"));
    if (endpoint) {
      e.endpoint = *endpoint;
      KW_RETURN_IF_ERROR(CheckEndpoint(r, "endpoint", e.endpoint));
    }
    KW_RETURN_IF_ERROR(ReadConnection(r, e.connection));
    KW_RETURN_IF_ERROR(r.CheckNoOthers());
    out.push_back(std::move(e));
  }
  return OkStatus();
}

}  // namespace

bool ValidIntegrationName(std::string_view name) {
  if (name.empty() || name.size() > 64 || name == "builtin") return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Result<IntegrationsConfig> ParseIntegrations(std::string_view yaml_text, std::string_view where) {
  const std::string prefix = "integrations " + std::string(where) + ": ";
  IntegrationsConfig out;
  try {
    const YAML::Node root = YAML::Load(std::string(yaml_text));
    if (root.IsNull()) return out;
    if (!root.IsMap()) return InvalidArgument(prefix + "the file must be a map");
    for (const auto& kv : root) {
      const std::string key = kv.first.as<std::string>();
      Status s = OkStatus();
      if (key == "issuers") {
        s = ReadIssuers(kv.second, key, out);
      } else if (key == "stores") {
        s = ReadServiceSection(kv.second, key, "aws-secretsmanager", out.stores);
      } else if (key == "deliveries") {
        s = ReadServiceSection(kv.second, key, "aws-ssm", out.deliveries);
      } else {
        s = InvalidArgument(key + ": unknown section (issuers, stores, deliveries)");
      }
      if (!s) return InvalidArgument(prefix + s.error().message);
    }
  } catch (const YAML::Exception& e) {
    return InvalidArgument(prefix + e.what());
  }
  return out;
}

Result<IntegrationsConfig> LoadIntegrationsFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument("integrations file " + path.string() + " cannot be read");
  std::ostringstream buf;
  buf << in.rdbuf();
  return ParseIntegrations(buf.str(), path.string());
}

}  // namespace kw::server
