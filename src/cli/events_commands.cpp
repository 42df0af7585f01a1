#include "cli/events_commands.hpp"

#include <zlib.h>

#include <fstream>
#include <memory>
#include <ostream>
#include <system_error>

#include "common/time_format.hpp"
#include "events/event_log.hpp"
#include "events/export.hpp"
#include "events/signing_key.hpp"
#include "store/sqlite/sqlite_kv_store.hpp"

namespace kw::cli {
namespace {

Result<std::unique_ptr<store::SqliteKvStore>> OpenStore(const std::filesystem::path& data_dir) {
  const auto db = data_dir / "keyward.db";
  std::error_code ec;
  if (!std::filesystem::exists(db, ec)) {
    return NotFound(db.string() + " does not exist (is --data-dir the server's data directory?)");
  }
  return store::SqliteKvStore::Open(db);
}

Result<std::string> PublicKeyFor(const std::filesystem::path& data_dir, const std::string& file) {
  if (!file.empty()) return events::LoadPublicKey(file);
  auto from_private = events::LoadPublicKey(data_dir / "events-signing.key");
  if (from_private || from_private.error().code != ErrorCode::kNotFound) return from_private;
  return events::LoadPublicKey(data_dir / "events-signing.key.pub");
}

std::optional<TimePoint> ParseWhen(std::string text) {
  if (text.size() == 10) text += "T00:00:00Z";
  return ParseIso8601(text);
}

Status WriteGzip(const std::filesystem::path& path, std::string_view content) {
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) return Internal("cannot create " + path.parent_path().string() + ": " + ec.message());
  gzFile f = gzopen(path.c_str(), "wb9");
  if (f == nullptr) return Internal("cannot write " + path.string());
  const int written = gzwrite(f, content.data(), static_cast<unsigned>(content.size()));
  const int closed = gzclose(f);
  if (written != static_cast<int>(content.size()) || closed != Z_OK) {
    return Internal("cannot write " + path.string());
  }
  return OkStatus();
}

}  // namespace

int RunEventsVerify(const std::filesystem::path& data_dir, const std::string& public_key_file,
                    std::ostream& out, std::ostream& err) {
  auto public_key = PublicKeyFor(data_dir, public_key_file);
  if (!public_key) {
    err << "keyward: error: no event-log signing key: " << public_key.error().message << '\n';
    return 1;
  }
  auto store = OpenStore(data_dir);
  if (!store) {
    err << "keyward: error: " << store.error().message << '\n';
    return 1;
  }
  auto report = events::EventLog::Verify(**store, *public_key);
  if (!report) {
    err << "keyward: error: " << report.error().message << '\n';
    return 1;
  }
  out << "events: " << report->events;
  if (report->events > 0) {
    out << " (sequence " << report->first_sequence << " to " << report->last_sequence << ")";
  }
  out << '\n';
  if (report->checkpoint) {
    out << "pruned up to sequence " << report->checkpoint->sequence << " (signed checkpoint)\n";
  }
  if (report->head) {
    out << "signed head: sequence " << report->head->sequence << " at "
        << FormatIso8601(report->head->time) << "; " << report->unsigned_after_head
        << " newer record(s) not yet signed (checked by the chain only)\n";
  }
  for (const auto& p : report->problems) {
    err << "sequence " << p.sequence << ": " << p.what << '\n';
  }
  if (!report->ok()) {
    err << "keyward: event log verification FAILED (" << report->problems.size()
        << " problem(s))\n";
    return 1;
  }
  out << "event log verified: intact\n";
  return 0;
}

int RunEventsExport(const std::filesystem::path& data_dir, const std::string& since,
                    const std::string& until, const std::filesystem::path& out_dir,
                    std::ostream& out, std::ostream& err) {
  const auto from = ParseWhen(since);
  const auto to = ParseWhen(until);
  if (!from || !to || *from > *to) {
    err << "keyward: error: --since and --until must be ISO 8601 times (or YYYY-MM-DD), "
           "since <= until\n";
    return 2;
  }
  auto store = OpenStore(data_dir);
  if (!store) {
    err << "keyward: error: " << store.error().message << '\n';
    return 1;
  }
  auto account = (*store)->Get("meta", "account_id");
  if (!account || !*account) {
    err << "keyward: error: the data directory has no account yet\n";
    return 1;
  }
  auto log = events::EventLog::Open(**store, std::nullopt);
  if (!log) {
    err << "keyward: error: " << log.error().message << '\n';
    return 1;
  }
  auto files = events::BuildExport(**log, (*account)->value, *from, *to);
  if (!files) {
    err << "keyward: error: " << files.error().message << '\n';
    return 1;
  }
  std::size_t records = 0;
  for (const auto& f : *files) {
    if (Status s = WriteGzip(out_dir / f.relative_path, f.json); !s) {
      err << "keyward: error: " << s.error().message << '\n';
      return 1;
    }
    records += f.records;
  }
  out << "exported " << records << " event(s) in " << files->size() << " file(s) under "
      << out_dir.string() << '\n';
  return 0;
}

void AddEventsCommand(std::vector<ExtraCommand>& extra, std::ostream& out, std::ostream& err) {
  struct Flags {
    std::string data_dir, public_key, since, until, out_dir;
    CLI::App* verify = nullptr;
    CLI::App* exporter = nullptr;
  };
  auto flags = std::make_shared<Flags>();
  extra.push_back(
      {"events",
       "The event log: verify its chain, export CloudTrail files (run on the server host)",
       [flags](CLI::App& sub) {
         sub.require_subcommand(1);
         flags->verify = sub.add_subcommand(
             "verify", "Check that no event record was changed, removed or reordered");
         flags->verify->add_option("--data-dir", flags->data_dir, "The server's data directory")
             ->required();
         flags->verify->add_option("--public-key", flags->public_key,
                                   "The signing key's .pub file (default: from the data "
                                   "directory's events-signing.key)");
         flags->exporter =
             sub.add_subcommand("export", "Write CloudTrail log files (gzip) of a time range");
         flags->exporter->add_option("--data-dir", flags->data_dir, "The server's data directory")
             ->required();
         flags->exporter->add_option("--since", flags->since, "Start (ISO 8601 or YYYY-MM-DD)")
             ->required();
         flags->exporter->add_option("--until", flags->until, "End (ISO 8601 or YYYY-MM-DD)")
             ->required();
         flags->exporter->add_option("--out", flags->out_dir, "Output directory")->required();
       },
       [flags, &out, &err] {
         if (flags->verify != nullptr && flags->verify->parsed()) {
           return RunEventsVerify(flags->data_dir, flags->public_key, out, err);
         }
         return RunEventsExport(flags->data_dir, flags->since, flags->until, flags->out_dir, out,
                                err);
       }});
}

}  // namespace kw::cli
