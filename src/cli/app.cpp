#include "cli/app.hpp"

#include <unistd.h>

#include <iostream>
#include <map>
#include <memory>
#include <ostream>

#include "cli/command.hpp"

namespace kw::cli {
namespace {

// The values CLI11 fills in for one client command.
struct BoundCommand {
  const CommandDef* def = nullptr;
  CLI::App* app = nullptr;
  std::map<std::string, std::string> values;    // by ArgSpec::name
  std::map<std::string, CLI::Option*> options;  // to tell "given" from "empty"
};

std::string ErrorLine(const Error& e) {
  std::string line = e.message;
  // One line, whatever the server put in its message.
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return "keyward: error: " + line;
}

}  // namespace

int RunApp(int argc, const char* const* argv, const AppEnvironment& environment,
           const std::vector<ExtraCommand>& extra) {
  std::ostream& out = *environment.out;
  std::ostream& err = *environment.err;

  CLI::App app{"keyward: access keys and secrets, rotated, over the AWS wire protocols", "keyward"};
  app.set_version_flag("--version", std::string(kVersion));
  app.require_subcommand(1);
  // Global options may come after the subcommand words: `keyward user list --output json`.
  app.fallthrough();

  std::string endpoint, profile, region, output = "table";
  CLI::Option* endpoint_opt = app.add_option(
      "--endpoint", endpoint,
      "Server URL (default: $KEYWARD_ENDPOINT, else " + std::string(kDefaultEndpoint) + ")");
  CLI::Option* profile_opt = app.add_option(
      "--profile", profile, "Credentials profile (default: $AWS_PROFILE, else default)");
  CLI::Option* region_opt = app.add_option("--region", region, "Signing region");
  app.add_option("--output", output, "Output format: table, json or csv")
      ->check(CLI::IsMember({"table", "json", "csv"}));

  std::vector<std::pair<const ExtraCommand*, CLI::App*>> extras;
  for (const auto& e : extra) {
    CLI::App* sub = app.add_subcommand(e.name, e.help);
    if (e.setup) e.setup(*sub);
    extras.emplace_back(&e, sub);
  }

  const std::vector<CommandDef> commands = AllClientCommands();
  std::map<std::string, std::string> group_help;
  for (const auto& g : CommandGroups()) group_help[g.name] = g.help;
  std::map<std::string, CLI::App*> nodes;  // "access-key" -> its CLI::App
  std::vector<std::unique_ptr<BoundCommand>> bound;
  for (const auto& def : commands) {
    CLI::App* parent = &app;
    std::string key;
    for (std::size_t i = 0; i + 1 < def.path.size(); ++i) {
      key += (key.empty() ? "" : " ") + def.path[i];
      auto it = nodes.find(key);
      if (it == nodes.end()) {
        CLI::App* group = parent->add_subcommand(def.path[i], group_help[def.path[i]]);
        group->require_subcommand(1);
        it = nodes.emplace(key, group).first;
      }
      parent = it->second;
    }
    auto b = std::make_unique<BoundCommand>();
    b->def = &def;
    b->app = parent->add_subcommand(def.path.back(), def.help);
    for (const auto& arg : def.args) {
      CLI::Option* opt = arg.flag ? b->app->add_flag(arg.name, arg.help)
                                  : b->app->add_option(arg.name, b->values[arg.name], arg.help);
      if (arg.required) opt->required();
      if (arg.repeatable) opt->multi_option_policy(CLI::MultiOptionPolicy::Join);
      b->options[arg.name] = opt;
    }
    bound.push_back(std::move(b));
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e, out, err);
  }

  for (const auto& [e, sub] : extras) {
    if (sub->parsed()) return e->run();
  }
  for (const auto& b : bound) {
    if (!b->app->parsed()) continue;
    GlobalOptions global;
    if (endpoint_opt->count() > 0) global.endpoint = endpoint;
    if (profile_opt->count() > 0) global.profile = profile;
    if (region_opt->count() > 0) global.region = region;
    global.output = ParseOutputFormat(output).value_or(OutputFormat::kTable);
    std::map<std::string, std::string> args;
    for (const auto& [name, opt] : b->options) {
      if (opt->count() > 0) args[name] = b->values[name];
    }
    CommandContext ctx(std::move(global), std::move(args), environment.env, *environment.transport,
                       *environment.clock, environment.sleep);
    // Only the process's own stdout can be a terminal; tests pass string streams.
    ctx.SetLiveOutput(&out, &out == &std::cout && isatty(STDOUT_FILENO) == 1);
    Result<CommandOutput> result = b->def->run(ctx);
    if (!result) {
      err << ErrorLine(result.error()) << '\n';
      return 1;
    }
    PrintOutput(*result, result->format.value_or(ctx.options().output), out);
    if (result->error) {
      err << ErrorLine(*result->error) << '\n';
      return 1;
    }
    return 0;
  }
  // require_subcommand makes this unreachable for a successful parse.
  err << "keyward: error: no command given; see keyward --help\n";
  return 2;
}

}  // namespace kw::cli
