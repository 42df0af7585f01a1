#pragma once

// The `keyward` command line: builds the CLI11 application from the command table
// (command.hpp), parses, runs the chosen command and prints its output. The
// `server` command is passed in by main.cpp as an ExtraCommand, so that this
// library does not link the server and tests can drive every client command
// against a fake transport.

#include <CLI/CLI.hpp>
#include <chrono>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "cli/aws.hpp"
#include "common/clock.hpp"

namespace kw::cli {

inline constexpr std::string_view kVersion = "keyward 0.1.0";

struct AppEnvironment {
  EnvLookup env;
  HttpTransport* transport = nullptr;
  const Clock* clock = nullptr;
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  std::function<void(std::chrono::milliseconds)> sleep;
};

// A top-level command outside the client table. `setup` adds its options to the
// subcommand; `run` executes it after a successful parse and returns the exit code.
struct ExtraCommand {
  std::string name;
  std::string help;
  std::function<void(CLI::App&)> setup;
  std::function<int()> run;
};

// Runs `keyward argv...`. Returns the process exit code: 0 on success, 1 when the
// command failed (one line "keyward: error: ..." on err), CLI11's code for usage
// errors; --help and --version print to out and return 0. Runs on the calling
// thread; concurrent calls are safe only with distinct streams and transports.
int RunApp(int argc, const char* const* argv, const AppEnvironment& environment,
           const std::vector<ExtraCommand>& extra = {});

}  // namespace kw::cli
