// IAM commands: users, access keys and the credential report.
#include <chrono>

#include "cli/command.hpp"
#include "common/csv.hpp"
#include "crypto/digest.hpp"

namespace kw::cli {
namespace {

using Json = nlohmann::ordered_json;
using Fields = std::vector<std::string>;

// The AWS CLI's JSON for a structure: the fields present, in model order.
Json ToJson(const xml::Node& node, const Fields& fields) {
  Json out = Json::object();
  for (const auto& f : fields) {
    if (const xml::Node* n = node.Child(f)) out[f] = n->text;
  }
  return out;
}

std::vector<Json> ToRow(const xml::Node& node, const Fields& columns) {
  std::vector<Json> row;
  for (const auto& c : columns) {
    const xml::Node* n = node.Child(c);
    row.push_back(n == nullptr ? Json(nullptr) : Json(n->text));
  }
  return row;
}

// One structure shown as a table row and as {"Key": {...}} in JSON.
CommandOutput SingleOutput(const xml::Node& node, std::string_view key, const Fields& json_fields,
                           const Fields& columns) {
  CommandOutput out;
  out.records.columns = columns;
  out.records.rows.push_back(ToRow(node, columns));
  out.json = Json{{std::string(key), ToJson(node, json_fields)}};
  return out;
}

CommandOutput ListOutput(const std::vector<xml::Node>& members, std::string_view key,
                         const Fields& json_fields, const Fields& columns) {
  CommandOutput out;
  out.records.columns = columns;
  Json list = Json::array();
  for (const auto& m : members) {
    out.records.rows.push_back(ToRow(m, columns));
    list.push_back(ToJson(m, json_fields));
  }
  out.json = Json{{std::string(key), std::move(list)}};
  return out;
}

// What a command that returns nothing prints in table mode; JSON prints nothing, as
// the AWS CLI does.
CommandOutput DoneOutput(std::string message) {
  CommandOutput out;
  out.notices.push_back(std::move(message));
  return out;
}

void AddUser(QueryParamList& params, const CommandContext& ctx) {
  if (auto user = ctx.Arg("--user")) params.emplace_back("UserName", *user);
}

std::string ForUser(const CommandContext& ctx) {
  auto user = ctx.Arg("--user");
  return user ? " of user '" + *user + "'" : "";
}

// ---- users ----

const Fields kUserJson = {"Path", "UserName", "UserId", "Arn", "CreateDate", "PasswordLastUsed"};
const Fields kUserColumns = {"UserName", "UserId", "Arn", "Path", "CreateDate"};

Result<CommandOutput> RunUserList(CommandContext& ctx) {
  KW_ASSIGN_OR_RETURN(const QueryClient* client, ctx.Client());
  QueryParamList params;
  if (auto prefix = ctx.Arg("--path-prefix")) params.emplace_back("PathPrefix", *prefix);
  KW_ASSIGN_OR_RETURN(auto users, ListAll(*client, kIam, "ListUsers", params, "Users"));
  return ListOutput(users, "Users", kUserJson, kUserColumns);
}

Result<CommandOutput> RunUserCreate(CommandContext& ctx) {
  KW_ASSIGN_OR_RETURN(const QueryClient* client, ctx.Client());
  QueryParamList params = {{"UserName", ctx.Arg("NAME").value_or("")}};
  if (auto path = ctx.Arg("--path")) params.emplace_back("Path", *path);
  KW_ASSIGN_OR_RETURN(xml::Node result, client->Call(kIam, "CreateUser", params));
  const xml::Node* user = result.Child("User");
  if (user == nullptr) return Internal("CreateUser: the response has no User");
  return SingleOutput(*user, "User", kUserJson, kUserColumns);
}

Result<CommandOutput> RunUserDelete(CommandContext& ctx) {
  KW_ASSIGN_OR_RETURN(const QueryClient* client, ctx.Client());
  const std::string name = ctx.Arg("NAME").value_or("");
  KW_RETURN_IF_ERROR(client->Call(kIam, "DeleteUser", {{"UserName", name}}));
  return DoneOutput("Deleted user '" + name + "'.");
}

// ---- access keys ----

const Fields kKeyJson = {"UserName", "AccessKeyId", "Status", "CreateDate"};
const Fields kNewKeyJson = {"UserName", "AccessKeyId", "Status", "SecretAccessKey", "CreateDate"};

Result<CommandOutput> RunKeyList(CommandContext& ctx) {
  KW_ASSIGN_OR_RETURN(const QueryClient* client, ctx.Client());
  QueryParamList params;
  AddUser(params, ctx);
  KW_ASSIGN_OR_RETURN(auto keys,
                      ListAll(*client, kIam, "ListAccessKeys", params, "AccessKeyMetadata"));
  return ListOutput(keys, "AccessKeyMetadata", kKeyJson, kKeyJson);
}

Result<CommandOutput> RunKeyCreate(CommandContext& ctx) {
  KW_ASSIGN_OR_RETURN(const QueryClient* client, ctx.Client());
  QueryParamList params;
  AddUser(params, ctx);
  KW_ASSIGN_OR_RETURN(xml::Node result, client->Call(kIam, "CreateAccessKey", params));
  const xml::Node* key = result.Child("AccessKey");
  if (key == nullptr) return Internal("CreateAccessKey: the response has no AccessKey");
  // Printing the secret is the point of this command: it exists nowhere else in
  // readable form, and the server will never return it again.
  CommandOutput out = SingleOutput(*key, "AccessKey", kNewKeyJson, kNewKeyJson);
  out.notices.push_back(
      "WARNING: this is the only time the secret access key is shown; store it now, it "
      "cannot be retrieved later.");
  return out;
}

Result<CommandOutput> SetKeyStatus(CommandContext& ctx, std::string_view status) {
  KW_ASSIGN_OR_RETURN(const QueryClient* client, ctx.Client());
  const std::string id = ctx.Arg("ID").value_or("");
  QueryParamList params;
  AddUser(params, ctx);
  params.emplace_back("AccessKeyId", id);
  params.emplace_back("Status", std::string(status));
  KW_RETURN_IF_ERROR(client->Call(kIam, "UpdateAccessKey", params));
  return DoneOutput("Access key " + id + ForUser(ctx) + " is now " + std::string(status) + ".");
}

Result<CommandOutput> RunKeyDelete(CommandContext& ctx) {
  KW_ASSIGN_OR_RETURN(const QueryClient* client, ctx.Client());
  const std::string id = ctx.Arg("ID").value_or("");
  QueryParamList params;
  AddUser(params, ctx);
  params.emplace_back("AccessKeyId", id);
  KW_RETURN_IF_ERROR(client->Call(kIam, "DeleteAccessKey", params));
  return DoneOutput("Deleted access key " + id + ForUser(ctx) + ".");
}

// ---- credential report ----

constexpr int kReportPolls = 30;
constexpr auto kReportPollInterval = std::chrono::seconds(1);

Result<CommandOutput> RunCredentialReport(CommandContext& ctx) {
  KW_ASSIGN_OR_RETURN(const QueryClient* client, ctx.Client());
  // Generation is asynchronous in IAM: poll until COMPLETE, then fetch. A fetch
  // that still finds the report in progress is polled as well.
  for (int attempt = 0;; ++attempt) {
    KW_ASSIGN_OR_RETURN(xml::Node gen, client->Call(kIam, "GenerateCredentialReport"));
    if (gen.TextAt("State") == "COMPLETE") break;
    if (attempt + 1 >= kReportPolls) {
      return Unavailable("the credential report is still being generated; try again later");
    }
    ctx.Sleep(kReportPollInterval);
  }
  Result<xml::Node> report = client->Call(kIam, "GetCredentialReport");
  for (int attempt = 1; !report && report.error().reason == "ReportInProgress"; ++attempt) {
    if (attempt >= kReportPolls) return std::move(report).error();
    ctx.Sleep(kReportPollInterval);
    report = client->Call(kIam, "GetCredentialReport");
  }
  if (!report) return std::move(report).error();

  std::string content = report->TextAt("Content");
  // Base64 in XML may be wrapped; the strict decoder wants it in one piece.
  std::erase_if(content, [](char c) { return c == '\n' || c == '\r' || c == ' ' || c == '\t'; });
  auto csv = crypto::Base64Decode(content);
  if (!csv) return Internal("GetCredentialReport: Content is not base64");
  KW_ASSIGN_OR_RETURN(auto rows, ParseCsv(*csv));
  if (rows.empty()) return Internal("GetCredentialReport: the report is empty");

  CommandOutput out;
  out.records.columns = rows.front();
  for (std::size_t i = 1; i < rows.size(); ++i) {
    std::vector<Json> row;
    for (auto& f : rows[i]) row.emplace_back(std::move(f));
    out.records.rows.push_back(std::move(row));
  }
  out.json = RecordsToJson(out.records);
  out.raw_csv = std::move(*csv);
  return out;
}

}  // namespace

std::vector<CommandGroup> CommandGroups() {
  return {
      {"user", "Manage IAM users"},
      {"access-key", "Manage the access keys of an IAM user (the caller's own without --user)"},
      {"activation", "Manage activations that register hosts running keyward-agent"},
      {"instance", "Manage the registered hosts (managed instances)"},
      {"rotation", "Rotate IAM users' access keys on a schedule and follow rotations"},
      {"finding", "Review and triage audit findings"},
      {"directory", "Sync the people directory (active, departed, transferred owners)"},
      {"aws", "Set up keyward over AWS IAM, Secrets Manager and SSM (docs/aws.md)"},
  };
}

std::vector<CommandDef> IamCommands() {
  const ArgSpec user = {"--user", "The IAM user (default: the caller)"};
  const ArgSpec key_id = {"ID", "The access key ID", true};
  return {
      {{"user", "list"},
       "List IAM users",
       {{"--path-prefix", "Only users whose path starts with this"}},
       RunUserList},
      {{"user", "create"},
       "Create an IAM user",
       {{"NAME", "The user name", true}, {"--path", "The user's path (default /)"}},
       RunUserCreate},
      {{"user", "delete"}, "Delete an IAM user", {{"NAME", "The user name", true}}, RunUserDelete},
      {{"access-key", "list"}, "List access keys", {user}, RunKeyList},
      {{"access-key", "create"},
       "Create an access key and print its secret (shown only this once)",
       {user},
       RunKeyCreate},
      {{"access-key", "activate"},
       "Make an access key Active",
       {key_id, user},
       [](CommandContext& ctx) { return SetKeyStatus(ctx, "Active"); }},
      {{"access-key", "deactivate"},
       "Make an access key Inactive",
       {key_id, user},
       [](CommandContext& ctx) { return SetKeyStatus(ctx, "Inactive"); }},
      {{"access-key", "delete"}, "Delete an access key", {key_id, user}, RunKeyDelete},
      {{"credential-report"},
       "Generate and show the credential report (--output csv prints the raw CSV)",
       {},
       RunCredentialReport},
  };
}

}  // namespace kw::cli
