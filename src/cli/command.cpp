#include "cli/command.hpp"

#include <set>

namespace kw::cli {

CommandContext::CommandContext(GlobalOptions options, std::map<std::string, std::string> args,
                               EnvLookup env, HttpTransport& transport, const Clock& clock,
                               std::function<void(std::chrono::milliseconds)> sleep)
    : options_(std::move(options)),
      args_(std::move(args)),
      env_(std::move(env)),
      transport_(transport),
      clock_(clock),
      sleep_(std::move(sleep)) {
  if (options_.endpoint) {
    endpoint_ = *options_.endpoint;
  } else {
    endpoint_ = env_("KEYWARD_ENDPOINT").value_or(std::string(kDefaultEndpoint));
  }
}

std::optional<std::string> CommandContext::Arg(std::string_view name) const {
  auto it = args_.find(std::string(name));
  if (it == args_.end()) return std::nullopt;
  return it->second;
}

Result<const QueryClient*> CommandContext::Client() {
  if (!client_) {
    KW_ASSIGN_OR_RETURN(ResolvedCredentials creds,
                        ResolveCredentials(ChainOptions{options_.profile, options_.region}, env_));
    KW_ASSIGN_OR_RETURN(QueryClient client,
                        QueryClient::Create(transport_, clock_, endpoint_,
                                            std::move(creds.credentials), creds.region));
    client_.emplace(std::move(client));
  }
  return &*client_;
}

std::vector<CommandDef> AllClientCommands() {
  std::vector<CommandDef> all = StsCommands();
  for (auto& c : IamCommands()) all.push_back(std::move(c));
  for (auto& c : FleetCommands()) all.push_back(std::move(c));
  for (auto& c : RotationCommands()) all.push_back(std::move(c));
  for (auto& c : AuditCommands()) all.push_back(std::move(c));
  for (auto& c : AwsCommands()) all.push_back(std::move(c));
  return all;
}

Result<std::vector<xml::Node>> ListAll(const QueryClient& client, const QueryService& service,
                                       std::string_view action, QueryParamList params,
                                       std::string_view list_path) {
  std::vector<xml::Node> members;
  std::set<std::string> seen_markers;
  std::optional<std::string> marker;
  for (;;) {
    QueryParamList page = params;
    if (marker) page.emplace_back("Marker", *marker);
    KW_ASSIGN_OR_RETURN(xml::Node result, client.Call(service, action, page));
    if (const xml::Node* list = result.Find(list_path)) {
      for (const xml::Node* m : list->Children("member")) members.push_back(*m);
    }
    if (result.TextAt("IsTruncated") != "true") return members;
    std::string next = result.TextAt("Marker");
    // A server that hands back an empty or repeated marker would loop forever.
    if (next.empty() || !seen_markers.insert(next).second) {
      return Internal(std::string(action) + ": the server repeated a pagination marker");
    }
    marker = std::move(next);
  }
}

}  // namespace kw::cli
