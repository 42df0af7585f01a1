#pragma once

// The frame every client command plugs into. A command is one CommandDef: its path
// of words ("access-key create"), help, arguments and one function that returns a
// CommandOutput. Adding a command is adding an entry to a table (see
// iam_commands.cpp); app.cpp turns the table into CLI11 subcommands, `--help` and all.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/aws.hpp"
#include "cli/output.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"

namespace kw::cli {

inline constexpr std::string_view kDefaultEndpoint = "http://127.0.0.1:8787";

// An argument: a positional when `name` has no leading '-' ("NAME"), else an option
// taking one value ("--user"). `help` is shown by --help.
struct ArgSpec {
  std::string name;
  std::string help;
  bool required = false;
  // An option that may be given several times; Arg() then returns the values joined
  // with '\n'.
  bool repeatable = false;
  // An option without a value ("--dry-run"); Arg() returns "" when it is given.
  bool flag = false;
};

// Options every client command takes.
struct GlobalOptions {
  std::optional<std::string> endpoint;  // --endpoint
  std::optional<std::string> profile;   // --profile
  std::optional<std::string> region;    // --region
  OutputFormat output = OutputFormat::kTable;
};

// What a running command sees. Credentials are resolved and the client built only
// when a command asks for them, so that `status` can report an unreachable server
// without credentials. Single-threaded.
class CommandContext {
 public:
  CommandContext(GlobalOptions options, std::map<std::string, std::string> args, EnvLookup env,
                 HttpTransport& transport, const Clock& clock,
                 std::function<void(std::chrono::milliseconds)> sleep);

  // The value of argument `name` as in its ArgSpec ("NAME", "--user"); nullopt if
  // not given.
  std::optional<std::string> Arg(std::string_view name) const;
  const GlobalOptions& options() const { return options_; }
  // The process environment (for commands that resolve credentials themselves).
  const EnvLookup& env() const { return env_; }
  // --endpoint, else $KEYWARD_ENDPOINT, else http://127.0.0.1:8787.
  const std::string& endpoint() const { return endpoint_; }
  HttpTransport& transport() { return transport_; }
  const Clock& clock() const { return clock_; }
  // Waits between polls (credential-report); tests pass a no-op.
  void Sleep(std::chrono::milliseconds d) { sleep_(d); }

  // The signed client, built on first use. Errors: those of ResolveCredentials and of
  // an endpoint that is not an http(s) URL.
  Result<const QueryClient*> Client();

  // Where a command that prints as it goes (`rotation status --watch`) writes what it
  // shows before its result; null when the caller gave nothing (such a command then
  // prints only its result). `terminal`: that stream is an interactive terminal.
  void SetLiveOutput(std::ostream* out, bool terminal) {
    live_out_ = out;
    live_terminal_ = terminal;
  }
  std::ostream* live_output() const { return live_out_; }
  bool live_output_is_terminal() const { return live_terminal_; }

 private:
  GlobalOptions options_;
  std::map<std::string, std::string> args_;
  EnvLookup env_;
  HttpTransport& transport_;
  const Clock& clock_;
  std::function<void(std::chrono::milliseconds)> sleep_;
  std::string endpoint_;
  std::optional<QueryClient> client_;
  std::ostream* live_out_ = nullptr;
  bool live_terminal_ = false;
};

struct CommandDef {
  std::vector<std::string> path;  // {"access-key", "create"}
  std::string help;
  std::vector<ArgSpec> args;
  std::function<Result<CommandOutput>(CommandContext&)> run;
};

// Help for the intermediate words of paths ("user" -> "Manage IAM users").
struct CommandGroup {
  std::string name;
  std::string help;
};

// The tables. Each command module contributes one function.
std::vector<CommandDef> StsCommands();       // status, whoami
std::vector<CommandDef> IamCommands();       // user ..., access-key ..., credential-report
std::vector<CommandDef> FleetCommands();     // activation ..., instance ...
std::vector<CommandDef> RotationCommands();  // rotation ...
std::vector<CommandDef> AuditCommands();     // audit, finding ..., directory ..., offboard
std::vector<CommandDef> AwsCommands();       // aws bootstrap
std::vector<CommandGroup> CommandGroups();

// All client commands, in the order --help lists them.
std::vector<CommandDef> AllClientCommands();

// ---- helpers shared by command modules ----

// Every member of a paginated list: calls `action` until IsTruncated is false,
// passing back Marker. `list_path` is the list element inside the result
// ("Users"); returns its <member> elements. kInternal if the server repeats a marker.
Result<std::vector<xml::Node>> ListAll(const QueryClient& client, const QueryService& service,
                                       std::string_view action, QueryParamList params,
                                       std::string_view list_path);

}  // namespace kw::cli
