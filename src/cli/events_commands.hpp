#pragma once

// `keyward events verify` and `keyward events export`: operator commands that run on
// the server host against its data directory (like `keyward master-key rotate`),
// reading DIR/keyward.db directly; a running server may keep serving meanwhile.
// docs/events.md.

#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "cli/app.hpp"

namespace kw::cli {

// Checks the chain, the prune checkpoint and the signed head. `public_key_file`: a .pub
// file or the private key; empty: DIR/events-signing.key, else DIR/events-signing.key.pub.
// Prints the summary to `out`, each problem as "sequence N: what" to `err`. Returns 0
// if intact, 1 if tampering was found or the log could not be read.
int RunEventsVerify(const std::filesystem::path& data_dir, const std::string& public_key_file,
                    std::ostream& out, std::ostream& err);

// Writes CloudTrail log files (gzip) of the events with since <= eventTime <= until
// under `out_dir` (events/export.hpp). `since`/`until`: ISO 8601 or YYYY-MM-DD.
int RunEventsExport(const std::filesystem::path& data_dir, const std::string& since,
                    const std::string& until, const std::filesystem::path& out_dir,
                    std::ostream& out, std::ostream& err);

// Adds the `events` command (verify, export) to `extra`, for main.cpp.
void AddEventsCommand(std::vector<ExtraCommand>& extra, std::ostream& out, std::ostream& err);

}  // namespace kw::cli
