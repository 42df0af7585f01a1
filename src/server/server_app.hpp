#pragma once

// The composition root of `keyward server`: builds the concrete store, services,
// dispatcher and transport, bootstraps a new data directory, and runs until SIGTERM.

#include <iosfwd>

#include "server/rotate_once.hpp"
#include "server/server_config.hpp"

namespace kw::server {

// Runs the server in the foreground until SIGINT/SIGTERM, then shuts down gracefully.
// Progress and where the admin credentials were written go to `out`; never a secret.
// Returns the process exit code.
int RunServer(const ServerConfig& config, std::ostream& out);

// `keyward rotate --once`: the same composition as RunServer (store, services, built-in
// and --integrations adapters), then the rotation engine until idle (rotate_once.hpp),
// without listening. Returns kRotateOnceIdle / kRotateOnceWaiting / kRotateOnceFailed,
// or 1 on an error (a data directory that does not exist is one).
int RunRotateOnce(const ServerConfig& config, const RotateOnceOptions& options, std::ostream& out);

}  // namespace kw::server
