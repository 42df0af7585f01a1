// `status` and `whoami`: who the configured credentials are, and whether the server
// is up.
#include "cli/command.hpp"

namespace kw::cli {
namespace {

using Json = nlohmann::ordered_json;

struct Identity {
  std::string user_id;
  std::string account;
  std::string arn;
};

Result<Identity> GetCallerIdentity(CommandContext& ctx) {
  KW_ASSIGN_OR_RETURN(const QueryClient* client, ctx.Client());
  KW_ASSIGN_OR_RETURN(xml::Node result, client->Call(kSts, "GetCallerIdentity"));
  return Identity{result.TextAt("UserId"), result.TextAt("Account"), result.TextAt("Arn")};
}

Result<CommandOutput> RunWhoami(CommandContext& ctx) {
  KW_ASSIGN_OR_RETURN(Identity id, GetCallerIdentity(ctx));
  CommandOutput out;
  out.records.columns = {"UserId", "Account", "Arn"};
  out.records.rows.push_back({id.user_id, id.account, id.arn});
  out.json = Json{{"UserId", id.user_id}, {"Account", id.account}, {"Arn", id.arn}};
  return out;
}

// The health URL next to the API endpoint: same scheme, host and path prefix.
Result<std::string> HealthUrl(const std::string& endpoint) {
  KW_ASSIGN_OR_RETURN(ParsedUrl url, ParseUrl(endpoint));
  std::string path = url.path;
  while (!path.empty() && path.back() == '/') path.pop_back();
  return url.scheme + "://" + url.host_header + path + "/health";
}

Result<CommandOutput> RunStatus(CommandContext& ctx) {
  KW_ASSIGN_OR_RETURN(std::string health_url, HealthUrl(ctx.endpoint()));
  ClientRequest request;
  request.method = "GET";
  request.url = health_url;
  KW_ASSIGN_OR_RETURN(ClientResponse health, ctx.transport().Send(request));
  const bool ready = health.status == 200;

  CommandOutput out;
  Json account = nullptr;
  Json arn = nullptr;
  if (!ready) {
    out.error = Unavailable("the server at " + ctx.endpoint() + " is not ready (HTTP " +
                            std::to_string(health.status) + ")");
  } else if (auto id = GetCallerIdentity(ctx); id) {
    account = id->account;
    arn = id->arn;
  } else {
    out.error = id.error();
  }
  out.records.columns = {"Endpoint", "Ready", "Account", "CallerArn"};
  out.records.rows.push_back({ctx.endpoint(), ready, account, arn});
  out.json = RecordsToJson(out.records).front();
  return out;
}

}  // namespace

std::vector<CommandDef> StsCommands() {
  return {
      {{"status"},
       "Show whether the server is ready and who the credentials belong to",
       {},
       RunStatus},
      {{"whoami"},
       "Show the caller identity of the credentials (sts GetCallerIdentity)",
       {},
       RunWhoami},
  };
}

}  // namespace kw::cli
