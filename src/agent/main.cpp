// keyward-agent: the host agent. Registration, the control channel and secret sync
// arrive with the fleet issue; until then it reports its version and refuses the rest
// with a clear message instead of pretending.
#include <CLI/CLI.hpp>
#include <iostream>

int main(int argc, char** argv) {
  CLI::App app{"keyward-agent: keeps a host's keyward credentials and runs its commands"};
  app.set_version_flag("--version", std::string("keyward-agent ") + KW_VERSION);
  app.require_subcommand(0, 1);
  auto* version = app.add_subcommand("version", "Print the version and exit");
  CLI11_PARSE(app, argc, argv);
  if (version->parsed() || app.get_subcommands().empty()) {
    std::cout << "keyward-agent " << KW_VERSION << "\n";
    return 0;
  }
  return 0;
}
