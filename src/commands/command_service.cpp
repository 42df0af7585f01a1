#include "commands/command_service.hpp"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_set>

#include "commands/limits.hpp"
#include "common/time_format.hpp"
#include "common/uuid.hpp"
#include "crypto/digest.hpp"

namespace kw::commands {

using nlohmann::json;

namespace {

constexpr std::string_view kCommandsTable = "cmd_commands";
constexpr std::string_view kInvocationsTable = "cmd_invocations";
constexpr std::string_view kOpenTable = "cmd_open";
constexpr std::string_view kTimeTable = "cmd_time";
constexpr std::string_view kByInstanceTable = "cmd_by_instance";
constexpr std::size_t kScanBatch = 200;
// Write-behind bounds (see the header): a flush once this many rows wait, or once the
// oldest has waited this long (checked on every change and by Tick).
constexpr std::size_t kFlushRows = 1000;
constexpr auto kFlushDelay = std::chrono::seconds(1);

// Invocation statuses as stored. kTerminated is an invocation the MaxErrors stop
// cancelled (wire: Cancelled / Terminated).
enum InvStatus : int {
  kPending,
  kInProgress,
  kCancelling,
  kSuccess,
  kFailed,
  kTimedOut,
  kCancelled,
  kDeliveryTimedOut,
  kTerminated,
};

constexpr const char* kStatusNames[] = {"Pending",   "InProgress",       "Cancelling",
                                        "Success",   "Failed",           "TimedOut",
                                        "Cancelled", "DeliveryTimedOut", "Terminated"};

bool IsOpen(int s) { return s == kPending || s == kInProgress || s == kCancelling; }

int ParseStatus(std::string_view s) {
  for (int i = 0; i <= kTerminated; ++i) {
    if (s == kStatusNames[i]) return i;
  }
  return kFailed;
}

// Status and StatusDetails on the wire (CommandInvocationStatus).
std::pair<std::string, std::string> WireStatus(int s) {
  switch (s) {
    case kTimedOut:
      return {"TimedOut", "ExecutionTimedOut"};
    case kDeliveryTimedOut:
      return {"TimedOut", "DeliveryTimedOut"};
    case kTerminated:
      return {"Cancelled", "Terminated"};
    default:
      return {kStatusNames[s], kStatusNames[s]};
  }
}

// CommandPluginStatus has no Cancelling.
std::string PluginWireStatus(int s) {
  if (s == kCancelling) return "InProgress";
  return WireStatus(s).first;
}

std::int64_t ToMillis(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
TimePoint FromMillis(std::int64_t ms) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::milliseconds(ms)));
}

// Newest first in ascending key order.
std::string InvertedTime(std::int64_t ms) {
  std::string s = std::to_string(9999999999999LL - std::max<std::int64_t>(ms, 0));
  return std::string(13 - std::min<std::size_t>(13, s.size()), '0') + s;
}

std::string InvKey(std::string_view command_id, std::string_view instance_id) {
  return std::string(command_id) + "/" + std::string(instance_id);
}

Error Validation(std::string message) {
  return InvalidArgument(std::move(message), "ValidationError");
}
// kNotFound, as CommandSender::CommandStatus promises; the wire answer (HTTP 400) comes
// from the reason.
Error InvalidCommandId() { return NotFound("The command ID is not valid.", "InvalidCommandId"); }
Error InvalidInstance(std::string_view id) {
  return InvalidArgument("Instances [[" + std::string(id) + "]] not in a valid state.",
                         "InvalidInstanceId");
}

// ISO 8601 with milliseconds, as GetCommandInvocation's StringDateTime members.
std::string IsoMillis(std::int64_t ms) {
  std::string s = FormatIso8601(FromMillis(ms - (ms % 1000 + 1000) % 1000));
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%03d", static_cast<int>((ms % 1000 + 1000) % 1000));
  s.insert(s.size() - 1, frac);
  return s;
}
std::string ElapsedIso(std::int64_t ms) {
  if (ms < 0) ms = 0;
  char buf[48];
  std::snprintf(buf, sizeof buf, "PT%lld.%03lldS", static_cast<long long>(ms / 1000),
                static_cast<long long>(ms % 1000));
  return buf;
}

bool WordChars(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}
// The model's InstanceId: (^i-(\w{8}|\w{17})$)|(^mi-\w{17}$).
bool ValidInstanceIdSyntax(std::string_view id) {
  if (id.rfind("mi-", 0) == 0) return id.size() == 20 && WordChars(id.substr(3));
  if (id.rfind("i-", 0) == 0) {
    return (id.size() == 10 || id.size() == 19) && WordChars(id.substr(2));
  }
  return false;
}

json StepsToJson(const std::vector<agentproto::Step>& steps) {
  json a = json::array();
  for (const auto& s : steps) {
    a.push_back({{"name", s.name},
                 {"action", s.action},
                 {"run", s.run_command},
                 {"wd", s.working_directory},
                 {"timeout", s.timeout_seconds}});
  }
  return a;
}
std::vector<agentproto::Step> StepsFromJson(const json& a) {
  std::vector<agentproto::Step> steps;
  if (!a.is_array()) return steps;
  for (const json& j : a) {
    agentproto::Step s;
    s.name = j.value("name", "");
    s.action = j.value("action", "");
    s.run_command = j.value("run", std::vector<std::string>{});
    s.working_directory = j.value("wd", "");
    s.timeout_seconds = j.value("timeout", std::int64_t{3600});
    steps.push_back(std::move(s));
  }
  return steps;
}

struct ParsedFilters {
  std::optional<TimePoint> after;
  std::optional<TimePoint> before;
  std::vector<std::string> statuses;
  std::optional<bool> complete;  // ExecutionStage
  std::vector<std::string> document_names;
};

Result<ParsedFilters> ParseFilters(const std::vector<CommandFilter>& filters, bool invocation) {
  if (filters.size() > 5) {
    return Validation(
        "1 validation error detected: Value at 'filters' failed to satisfy constraint: Member "
        "must have length less than or equal to 5");
  }
  ParsedFilters f;
  static const std::set<std::string> kCommandStatuses = {
      "Pending", "InProgress", "Success", "Cancelled", "Failed", "TimedOut", "Cancelling"};
  static const std::set<std::string> kInvocationStatuses = {"Pending", "InProgress", "Delayed",
                                                            "Success", "Cancelled",  "TimedOut",
                                                            "Failed",  "Cancelling"};
  for (const CommandFilter& c : filters) {
    if (c.value.empty() || c.value.size() > 128) {
      return InvalidArgument("The filter value is not valid.", "InvalidFilterValue");
    }
    if (c.key == "InvokedAfter" || c.key == "InvokedBefore") {
      auto t = ParseIso8601(c.value);
      if (!t) {
        return InvalidArgument("The filter value " + c.value + " is not a valid date.",
                               "InvalidFilterValue");
      }
      (c.key == "InvokedAfter" ? f.after : f.before) = *t;
    } else if (c.key == "Status") {
      const auto& valid = invocation ? kInvocationStatuses : kCommandStatuses;
      if (!valid.count(c.value)) {
        return InvalidArgument("The filter value " + c.value + " is not a valid status.",
                               "InvalidFilterValue");
      }
      f.statuses.push_back(c.value);
    } else if (c.key == "ExecutionStage") {
      if (c.value != "Executing" && c.value != "Complete") {
        return InvalidArgument("ExecutionStage must be Executing or Complete.",
                               "InvalidFilterValue");
      }
      f.complete = c.value == "Complete";
    } else if (c.key == "DocumentName") {
      f.document_names.push_back(c.value);
    } else {
      return InvalidArgument("The filter key " + c.key + " is not valid.", "InvalidFilterKey");
    }
  }
  return f;
}

bool StatusIsFinal(std::string_view wire_status) {
  return wire_status != "Pending" && wire_status != "InProgress" && wire_status != "Cancelling" &&
         wire_status != "Delayed";
}

bool Matches(const ParsedFilters& f, TimePoint requested, const std::string& status,
             const std::string& document_name) {
  if (f.after && requested < *f.after) return false;
  if (f.before && requested > *f.before) return false;
  if (!f.statuses.empty() &&
      std::find(f.statuses.begin(), f.statuses.end(), status) == f.statuses.end()) {
    return false;
  }
  if (f.complete && *f.complete != StatusIsFinal(status)) return false;
  if (!f.document_names.empty() && std::find(f.document_names.begin(), f.document_names.end(),
                                             document_name) == f.document_names.end()) {
    return false;
  }
  return true;
}

Result<int> PageSize(const std::optional<int>& max) {
  if (!max) return kMaxListResults;
  if (*max < 1 || *max > kMaxListResults) {
    return Validation("1 validation error detected: Value '" + std::to_string(*max) +
                      "' at 'maxResults' failed to satisfy constraint: Member must have value "
                      "between 1 and 50");
  }
  return *max;
}

Error BadToken() { return InvalidArgument("The NextToken is not valid.", "InvalidNextToken"); }

Result<std::string> DecodeToken(const std::optional<std::string>& token, char kind) {
  if (!token || token->empty()) return std::string();
  auto raw = crypto::Base64Decode(*token);
  if (!raw || raw->size() < 2 || (*raw)[0] != kind || (*raw)[1] != '|') return BadToken();
  return raw->substr(2);
}
std::string EncodeToken(char kind, std::string_view key) {
  if (key.empty()) return "";
  return crypto::Base64Encode(std::string(1, kind) + "|" + std::string(key));
}

// Scans `table` under `prefix` after `start_after`, calling `fn` for each item until it
// has accepted `want` items. Returns the key to resume after, or "" when the table
// has nothing more.
Result<std::string> Scan(store::KvStore& store, std::string_view table, const std::string& prefix,
                         std::string start_after, std::size_t want,
                         const std::function<Result<bool>(const store::Item&)>& fn) {
  std::size_t got = 0;
  if (want == 0) return std::string();
  while (true) {
    KW_ASSIGN_OR_RETURN(auto items, store.List(table, {prefix, start_after, kScanBatch}));
    for (const store::Item& item : items) {
      KW_ASSIGN_OR_RETURN(bool added, fn(item));
      start_after = item.key;
      if (added && ++got == want) {
        KW_ASSIGN_OR_RETURN(auto more, store.List(table, {prefix, start_after, 1}));
        return more.empty() ? std::string() : start_after;
      }
    }
    if (items.size() < kScanBatch) return std::string();
  }
}

}  // namespace

// ---- in-memory state -------------------------------------------------------------

struct CommandService::StoredCommand {
  CommandInfo info;  // status and counts as stored (authoritative once final)
  std::string document_hash;
  std::map<std::string, std::vector<agentproto::Step>> steps;  // by platform type
  std::int64_t requested_ms = 0;
  std::int64_t deadline_ms = 0;  // delivery deadline
  std::int64_t expires_ms = 0;   // ExpiresAfter
  std::string requested_by;
  std::string window_execution_id;
  bool cancel_requested = false;
  bool stopped = false;
  bool final = false;

  json ToJson() const {
    json targets = json::array();
    for (const auto& t : info.targets) targets.push_back({{"Key", t.key}, {"Values", t.values}});
    json steps_j = json::object();
    for (const auto& [platform, s] : steps) steps_j[platform] = StepsToJson(s);
    return {{"doc", info.document_name},
            {"ver", info.document_version},
            {"hash", document_hash},
            {"comment", info.comment},
            {"params", info.parameters},
            {"ids", info.instance_ids},
            {"targets", targets},
            {"req", requested_ms},
            {"deadline", deadline_ms},
            {"expires", expires_ms},
            {"timeout", info.timeout_seconds},
            {"maxc", info.max_concurrency},
            {"maxe", info.max_errors},
            {"steps", steps_j},
            {"by", requested_by},
            {"window", window_execution_id},
            {"cancel", cancel_requested},
            {"stopped", stopped},
            {"final", final},
            {"status", info.status},
            {"details", info.status_details},
            {"n", info.target_count},
            {"done", info.completed_count},
            {"err", info.error_count},
            {"dto", info.delivery_timed_out_count}};
  }

  static Result<StoredCommand> FromJson(std::string_view id, std::string_view text) {
    try {
      const json j = json::parse(text);
      StoredCommand c;
      c.info.command_id = std::string(id);
      c.info.document_name = j.at("doc").get<std::string>();
      c.info.document_version = j.value("ver", "");
      c.document_hash = j.value("hash", "");
      c.info.comment = j.value("comment", "");
      c.info.parameters = j.value("params", std::map<std::string, std::vector<std::string>>{});
      c.info.instance_ids = j.value("ids", std::vector<std::string>{});
      for (const json& t : j.value("targets", json::array())) {
        c.info.targets.push_back(
            {t.value("Key", ""), t.value("Values", std::vector<std::string>{})});
      }
      c.requested_ms = j.at("req").get<std::int64_t>();
      c.deadline_ms = j.at("deadline").get<std::int64_t>();
      c.expires_ms = j.at("expires").get<std::int64_t>();
      c.info.requested = FromMillis(c.requested_ms);
      c.info.expires_after = FromMillis(c.expires_ms);
      c.info.timeout_seconds = j.value("timeout", kDefaultTimeoutSeconds);
      c.info.max_concurrency = j.value("maxc", "50");
      c.info.max_errors = j.value("maxe", "0");
      const json steps_j = j.value("steps", json::object());
      for (const auto& [platform, s] : steps_j.items()) {
        c.steps[platform] = StepsFromJson(s);
      }
      c.requested_by = j.value("by", "");
      c.window_execution_id = j.value("window", "");
      c.cancel_requested = j.value("cancel", false);
      c.stopped = j.value("stopped", false);
      c.final = j.value("final", false);
      c.info.status = j.value("status", "Pending");
      c.info.status_details = j.value("details", "Pending");
      c.info.target_count = j.value("n", 0);
      c.info.completed_count = j.value("done", 0);
      c.info.error_count = j.value("err", 0);
      c.info.delivery_timed_out_count = j.value("dto", 0);
      return c;
    } catch (const json::exception&) {
      return Internal("A stored command record is corrupt.");
    }
  }
};

struct CommandService::OpenInvocation {
  std::string instance_id;
  std::string instance_name;
  std::string platform;
  int status = kPending;
  bool released = false;   // counted against MaxConcurrency while open
  bool delivered = false;  // returned by PendingWork at least once
  std::int64_t ack_ms = 0;
  std::int64_t end_ms = 0;
  // The agent's result as a JSON fragment, between Complete and its Persist (then
  // cleared: outputs of thousands of invocations are not kept in memory).
  std::string result_json;
};

struct CommandService::OpenCommand {
  StoredCommand c;
  std::vector<OpenInvocation> inv;  // by target order (seq)
  std::unordered_map<std::string, std::size_t> seq_of;
  std::size_t cursor = 0;  // invocations before it were released or are not Pending
  int limit = 1;
  int error_limit = 0;
  int active = 0;  // released and open
  int pending = 0;
  int in_progress = 0;
  int cancelling = 0;
  int completed = 0;
  int errors = 0;
  int delivery_timed_out = 0;
  int success = 0;
  int cancelled = 0;  // by CancelCommand or the agent (not the MaxErrors stop)
  bool started = false;
  std::string persisted_status;  // the status in the stored row

  int open() const { return pending + in_progress + cancelling; }

  std::pair<std::string, std::string> Status() const {
    if (open() > 0) {
      if (cancelling > 0) return {"Cancelling", "Cancelling"};
      if (started) return {"InProgress", "InProgress"};
      return {"Pending", "Pending"};
    }
    if (c.cancel_requested && cancelled > 0) return {"Cancelled", "Cancelled"};
    if (errors > error_limit) return {"Failed", "Failed"};
    if (errors + delivery_timed_out > error_limit) return {"TimedOut", "DeliveryTimedOut"};
    if (success == static_cast<int>(inv.size())) return {"Success", "Success"};
    return {"Success", "Incomplete"};
  }

  void FillCounts(CommandInfo& info) const {
    const auto [status, details] = Status();
    info.status = status;
    info.status_details = details;
    info.target_count = static_cast<int>(inv.size());
    info.completed_count = completed;
    info.error_count = errors;
    info.delivery_timed_out_count = delivery_timed_out;
  }
};

// ---- construction ----------------------------------------------------------------

CommandService::CommandService(store::KvStore& store, const Clock& clock, Random& random,
                               const iam::Account& account, DocumentResolver& documents,
                               fleet::InstanceDirectory& instances)
    : store_(store),
      clock_(clock),
      random_(random),
      account_(account),
      documents_(documents),
      instances_(instances) {}

CommandService::~CommandService() {
  std::lock_guard<std::mutex> lock(mu_);
  (void)FlushLocked();  // best effort: a failure loses at most kFlushDelay of updates
}

void CommandService::SetNotifier(DeliveryNotifier* notifier) { notifier_.store(notifier); }

void CommandService::Notify(const std::vector<std::string>& instances) {
  DeliveryNotifier* n = notifier_.load();
  if (n == nullptr) return;
  std::unordered_set<std::string> seen;
  for (const auto& id : instances) {
    if (seen.insert(id).second) n->WorkPending(id);
  }
}

Result<std::shared_ptr<const CommandService::StoredCommand>> CommandService::LoadCommand(
    std::string_view command_id) {
  if (command_id.size() != 36) return InvalidCommandId();
  std::string text;
  if (auto d = dirty_commands_.find(command_id); d != dirty_commands_.end()) {
    text = d->second;
  } else {
    KW_ASSIGN_OR_RETURN(auto item, store_.Get(kCommandsTable, command_id));
    if (!item) return InvalidCommandId();
    text = std::move(item->value);
  }
  KW_ASSIGN_OR_RETURN(StoredCommand c, StoredCommand::FromJson(command_id, text));
  return std::make_shared<const StoredCommand>(std::move(c));
}

// Rebuilds the open commands from cmd_open, once, on first use after a start.
Status CommandService::EnsureLoaded() {
  if (loaded_) return OkStatus();
  open_.clear();
  by_instance_.clear();
  std::set<std::string> ids;
  std::string after;
  while (true) {
    KW_ASSIGN_OR_RETURN(auto items, store_.List(kOpenTable, {"", after, 1000}));
    for (const auto& item : items) ids.insert(item.key.substr(0, item.key.find('/')));
    if (items.size() < 1000) break;
    after = items.back().key;
  }
  for (const std::string& id : ids) {
    KW_ASSIGN_OR_RETURN(auto stored, LoadCommand(id));
    auto cmd = std::make_shared<OpenCommand>();
    cmd->c = *stored;
    cmd->persisted_status = stored->info.status + "/" + stored->info.status_details;
    std::vector<std::pair<int, OpenInvocation>> rows;
    std::string inv_after;
    while (true) {
      KW_ASSIGN_OR_RETURN(auto items,
                          store_.List(kInvocationsTable, {id + "/", inv_after, kScanBatch}));
      for (const auto& item : items) {
        const json j = json::parse(item.value, nullptr, false);
        if (j.is_discarded()) return Internal("A stored invocation record is corrupt.");
        OpenInvocation inv;
        inv.instance_id = item.key.substr(id.size() + 1);
        inv.instance_name = j.value("n", "");
        inv.platform = j.value("p", "Linux");
        inv.status = ParseStatus(j.value("s", "Pending"));
        inv.ack_ms = j.value("a", std::int64_t{0});
        rows.emplace_back(j.value("q", 0), std::move(inv));
      }
      if (items.size() < kScanBatch) break;
      inv_after = items.back().key;
    }
    std::sort(rows.begin(), rows.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& [seq, inv] : rows) {
      switch (inv.status) {
        case kPending:
          ++cmd->pending;
          break;
        case kInProgress:
          ++cmd->in_progress;
          break;
        case kCancelling:
          ++cmd->cancelling;
          break;
        default:
          ++cmd->completed;
          break;
      }
      if (inv.status == kInProgress || inv.status == kCancelling) {
        inv.released = true;
        ++cmd->active;
      }
      if (inv.status != kPending) cmd->started = true;
      if (inv.status == kFailed || inv.status == kTimedOut) ++cmd->errors;
      if (inv.status == kDeliveryTimedOut) ++cmd->delivery_timed_out;
      if (inv.status == kSuccess) ++cmd->success;
      if (inv.status == kCancelled) ++cmd->cancelled;
      if (IsOpen(inv.status)) {
        by_instance_[inv.instance_id].insert({cmd->c.requested_ms, id});
      }
      cmd->seq_of[inv.instance_id] = cmd->inv.size();
      cmd->inv.push_back(std::move(inv));
    }
    const int n = static_cast<int>(cmd->inv.size());
    cmd->limit = ConcurrencyLimit(cmd->c.info.max_concurrency, n);
    cmd->error_limit = ErrorLimit(cmd->c.info.max_errors, n);
    if (!cmd->c.stopped) Release(*cmd);  // nobody to notify yet: agents ask on connect
    open_[id] = std::move(cmd);
  }
  loaded_ = true;
  return OkStatus();
}

// ---- transitions -----------------------------------------------------------------

void CommandService::Transition(OpenCommand& cmd, std::size_t seq, int status) {
  OpenInvocation& inv = cmd.inv[seq];
  const int old = inv.status;
  if (old == status) return;
  auto count = [&](int s, int delta) {
    switch (s) {
      case kPending:
        cmd.pending += delta;
        break;
      case kInProgress:
        cmd.in_progress += delta;
        break;
      case kCancelling:
        cmd.cancelling += delta;
        break;
      case kSuccess:
        cmd.success += delta;
        break;
      case kFailed:
      case kTimedOut:
        cmd.errors += delta;
        break;
      case kDeliveryTimedOut:
        cmd.delivery_timed_out += delta;
        break;
      case kCancelled:
        cmd.cancelled += delta;
        break;
      default:
        break;
    }
    if (!IsOpen(s)) cmd.completed += delta;
  };
  const bool was_active = inv.released && IsOpen(old);
  count(old, -1);
  count(status, +1);
  inv.status = status;
  if (status == kInProgress || status == kCancelling) inv.released = true;
  const bool now_active = inv.released && IsOpen(status);
  cmd.active += static_cast<int>(now_active) - static_cast<int>(was_active);
  if (status != kPending && status != kTerminated && status != kDeliveryTimedOut &&
      status != kCancelled) {
    cmd.started = true;
  }
  if (IsOpen(old) && !IsOpen(status)) {
    auto it = by_instance_.find(inv.instance_id);
    if (it != by_instance_.end()) {
      it->second.erase({cmd.c.requested_ms, cmd.c.info.command_id});
      if (it->second.empty()) by_instance_.erase(it);
    }
  }
}

std::vector<std::string> CommandService::Release(OpenCommand& cmd) {
  std::vector<std::string> released;
  if (cmd.c.stopped) return released;
  while (cmd.active < cmd.limit && cmd.cursor < cmd.inv.size()) {
    OpenInvocation& inv = cmd.inv[cmd.cursor++];
    if (inv.status == kPending && !inv.released) {
      inv.released = true;
      ++cmd.active;
      released.push_back(inv.instance_id);
    }
  }
  return released;
}

std::vector<std::size_t> CommandService::StopSending(OpenCommand& cmd) {
  cmd.c.stopped = true;
  std::vector<std::size_t> changed;
  for (std::size_t i = 0; i < cmd.inv.size(); ++i) {
    if (cmd.inv[i].status == kPending && !cmd.inv[i].delivered) {
      Transition(cmd, i, kTerminated);
      changed.push_back(i);
    }
  }
  return changed;
}

Status CommandService::Persist(OpenCommand& cmd, const std::vector<std::size_t>& seqs,
                               bool with_command) {
  const std::string& id = cmd.c.info.command_id;
  std::string command_json;
  if (with_command) {
    StoredCommand snapshot = cmd.c;
    cmd.FillCounts(snapshot.info);
    snapshot.final = cmd.open() == 0;
    command_json = snapshot.ToJson().dump();
  }
  std::vector<std::pair<std::string, std::string>> rows;
  rows.reserve(seqs.size());
  for (std::size_t seq : seqs) {
    const OpenInvocation& inv = cmd.inv[seq];
    json row = {
        {"n", inv.instance_name}, {"p", inv.platform}, {"q", seq}, {"s", kStatusNames[inv.status]}};
    if (inv.ack_ms != 0) row["a"] = inv.ack_ms;
    if (inv.end_ms != 0) row["e"] = inv.end_ms;
    if (!inv.result_json.empty()) {
      const json r = json::parse(inv.result_json, nullptr, false);
      if (r.is_object()) {
        for (const auto& [k, v] : r.items()) row[k] = v;
      }
    }
    rows.emplace_back(InvKey(id, inv.instance_id), row.dump());
  }
  for (std::size_t i = 0; i < rows.size(); ++i) {
    dirty_rows_[rows[i].first] = {std::move(rows[i].second), IsOpen(cmd.inv[seqs[i]].status)};
  }
  if (with_command) dirty_commands_[id] = std::move(command_json);
  for (std::size_t seq : seqs) cmd.inv[seq].result_json.clear();
  if (with_command) cmd.persisted_status = cmd.Status().first + "/" + cmd.Status().second;
  if (!dirty_since_) dirty_since_ = clock_.Now();
  // A failed flush keeps its rows for the next one (Tick reports the error); memory
  // stays authoritative meanwhile, so the caller's change is not refused.
  if (dirty_rows_.size() + dirty_commands_.size() >= kFlushRows ||
      clock_.Now() - *dirty_since_ >= kFlushDelay) {
    (void)FlushLocked();
  }
  return OkStatus();
}

Status CommandService::FlushLocked() {
  if (dirty_rows_.empty() && dirty_commands_.empty()) return OkStatus();
  KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
    for (const auto& [key, row] : dirty_rows_) {
      KW_RETURN_IF_ERROR(txn.Put(kInvocationsTable, key, row.value));
      if (row.open) {
        KW_RETURN_IF_ERROR(txn.Put(kOpenTable, key, ""));
      } else {
        const Status d = txn.Delete(kOpenTable, key);
        if (!d && d.error().code != ErrorCode::kNotFound) return d;
      }
    }
    for (const auto& [id, value] : dirty_commands_) {
      KW_RETURN_IF_ERROR(txn.Put(kCommandsTable, id, value));
    }
    return OkStatus();
  }));
  dirty_rows_.clear();
  dirty_commands_.clear();
  dirty_since_.reset();
  return OkStatus();
}

Status CommandService::Flush() {
  std::lock_guard<std::mutex> lock(mu_);
  return FlushLocked();
}

Result<std::optional<std::string>> CommandService::Row(std::string_view command_id,
                                                       std::string_view instance_id) {
  const std::string key = InvKey(command_id, instance_id);
  auto it = dirty_rows_.find(key);
  if (it != dirty_rows_.end()) return std::optional<std::string>(it->second.value);
  KW_ASSIGN_OR_RETURN(auto item, store_.Get(kInvocationsTable, key));
  if (!item) return std::optional<std::string>();
  return std::optional<std::string>(std::move(item->value));
}

Status CommandService::Settle(OpenCommand& cmd, std::vector<std::size_t>& changed,
                              bool command_changed, std::vector<std::string>& notify) {
  if (!cmd.c.stopped && cmd.errors > cmd.error_limit) {
    auto stopped = StopSending(cmd);
    changed.insert(changed.end(), stopped.begin(), stopped.end());
    command_changed = true;
  }
  auto released = Release(cmd);
  const auto [status, details] = cmd.Status();
  if (status + "/" + details != cmd.persisted_status) command_changed = true;
  if (!changed.empty() || command_changed) {
    KW_RETURN_IF_ERROR(Persist(cmd, changed, command_changed));
  }
  notify.insert(notify.end(), released.begin(), released.end());
  if (cmd.open() == 0) {
    // Keep the shared_ptr alive for the caller; the map entry goes.
    open_.erase(cmd.c.info.command_id);
  }
  return OkStatus();
}

Status CommandService::Expire(OpenCommand& cmd, TimePoint now, std::vector<std::string>& notify) {
  const std::int64_t now_ms = ToMillis(now);
  const bool deliveries = cmd.pending > 0 && now_ms >= cmd.c.deadline_ms;
  const bool runs = cmd.in_progress + cmd.cancelling > 0 && now_ms >= cmd.c.expires_ms;
  if (!deliveries && !runs) return OkStatus();
  std::vector<std::size_t> changed;
  for (std::size_t i = 0; i < cmd.inv.size(); ++i) {
    const int s = cmd.inv[i].status;
    int to = s;
    if (deliveries && s == kPending) to = kDeliveryTimedOut;
    if (runs && s == kInProgress) to = kDeliveryTimedOut;
    if (runs && s == kCancelling) to = kCancelled;
    if (to != s) {
      cmd.inv[i].end_ms = now_ms;
      Transition(cmd, i, to);
      changed.push_back(i);
    }
  }
  return Settle(cmd, changed, false, notify);
}

// ---- SendCommand -----------------------------------------------------------------

Result<std::string> CommandService::SendCommand(const SendCommandRequest& request, TimePoint now) {
  return SendCommand(request, now, nullptr);
}

Result<std::string> CommandService::SendCommand(const SendCommandRequest& r, TimePoint now,
                                                const InstanceAuthorizer& authorize) {
  // Model constraints first, as AWS validates before it looks anything up.
  const auto& name = r.document_name;
  if (name.size() < 3 || name.size() > 128 || !std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               std::string_view("_-.:/").find(c) != std::string_view::npos;
      })) {
    return Validation(
        "1 validation error detected: Value '" + name +
        "' at 'documentName' failed to satisfy constraint: Member must satisfy regular "
        "expression pattern: ^[a-zA-Z0-9_\\-.:/]{3,128}$");
  }
  if (r.document_version) {
    const std::string& v = *r.document_version;
    const bool number =
        !v.empty() && v[0] >= '1' && v[0] <= '9' &&
        std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!number && v != "$LATEST" && v != "$DEFAULT") {
      return Validation("1 validation error detected: Value '" + v +
                        "' at 'documentVersion' failed to satisfy constraint: Member must "
                        "satisfy regular expression pattern: ([$]LATEST|[$]DEFAULT|^[1-9][0-9]*$)");
    }
  }
  if (r.instance_ids.size() > kMaxInstanceIds) {
    return Validation(
        "1 validation error detected: Value at 'instanceIds' failed to satisfy constraint: "
        "Member must have length less than or equal to 50");
  }
  if (r.targets.size() > kMaxTargets) {
    return Validation(
        "1 validation error detected: Value at 'targets' failed to satisfy constraint: Member "
        "must have length less than or equal to 5");
  }
  for (const Target& t : r.targets) {
    if (t.key.empty() || t.key.size() > 163 || t.values.size() > kMaxTargetValues) {
      return Validation(
          "1 validation error detected: Value at 'targets' failed to satisfy constraint: "
          "Member must have a key of 1 to 163 characters and at most 50 values");
    }
  }
  const long long timeout = r.timeout_seconds.value_or(kDefaultTimeoutSeconds);
  if (timeout < kMinTimeoutSeconds || timeout > kMaxTimeoutSeconds) {
    return Validation("1 validation error detected: Value '" + std::to_string(timeout) +
                      "' at 'timeoutSeconds' failed to satisfy constraint: Member must have "
                      "value between 30 and 2592000");
  }
  if (r.comment.size() > kMaxCommentLength) {
    return Validation(
        "1 validation error detected: Value at 'comment' failed to satisfy constraint: Member "
        "must have length less than or equal to 100");
  }
  KW_RETURN_IF_ERROR(ValidateMaxConcurrency(r.max_concurrency));
  KW_RETURN_IF_ERROR(ValidateMaxErrors(r.max_errors));
  if (r.instance_ids.empty() == r.targets.empty()) {
    return InvalidArgument("Specify either InstanceIds or Targets, but not both.",
                           "InvalidParameters");
  }

  // Targets. External services are asked before taking the lock.
  std::vector<fleet::InstanceSummary> targets;
  if (!r.instance_ids.empty()) {
    std::set<std::string> seen;
    for (const std::string& id : r.instance_ids) {
      if (!seen.insert(id).second) {
        return InvalidArgument("Instance ID " + id + " is listed more than once.",
                               "DuplicateInstanceId");
      }
      if (!ValidInstanceIdSyntax(id)) return InvalidInstance(id);
      KW_ASSIGN_OR_RETURN(auto found, instances_.FindInstance(id));
      if (!found) return InvalidInstance(id);
      targets.push_back(std::move(*found));
    }
  } else {
    for (const Target& t : r.targets) {
      if (t.key != "InstanceIds" && t.key != "tag-key" && t.key.rfind("tag:", 0) != 0) {
        return InvalidArgument("Target key " + t.key + " is not supported.", "InvalidParameters");
      }
      if (t.values.empty()) {
        return InvalidArgument("Target " + t.key + " has no values.", "InvalidParameters");
      }
    }
    KW_ASSIGN_OR_RETURN(auto all, instances_.ListInstances());
    for (auto& inst : all) {
      // Several targets must all match (AND); the values of one target are alternatives.
      const bool match = std::all_of(r.targets.begin(), r.targets.end(), [&](const Target& t) {
        auto has = [&](const std::string& v) {
          // Key=InstanceIds,Values=* targets every managed instance, as in SSM.
          if (t.key == "InstanceIds") return v == "*" || v == inst.instance_id;
          if (t.key == "tag-key") return inst.tags.count(v) > 0;
          auto it = inst.tags.find(t.key.substr(4));
          return it != inst.tags.end() && it->second == v;
        };
        return std::any_of(t.values.begin(), t.values.end(), has);
      });
      if (match) targets.push_back(std::move(inst));
    }
  }
  if (authorize) {
    for (const auto& inst : targets) KW_RETURN_IF_ERROR(authorize(inst.instance_id));
  }

  // The document, once per platform among the targets (and at least once, so that a
  // bad document or parameters fail even without targets).
  std::map<std::string, ResolvedDocument> resolved;
  std::vector<std::string> platforms;
  for (const auto& inst : targets) {
    platforms.push_back(inst.platform_type.empty() ? "Linux" : inst.platform_type);
  }
  if (platforms.empty()) platforms.push_back("Linux");
  for (const std::string& p : platforms) {
    if (resolved.count(p)) continue;
    KW_ASSIGN_OR_RETURN(ResolvedDocument doc,
                        documents_.Resolve(r.document_name, r.document_version, r.parameters, p));
    resolved.emplace(p, std::move(doc));
  }

  StoredCommand c;
  const ResolvedDocument& first = resolved.begin()->second;
  c.info.command_id = NewUuid(random_);
  c.info.document_name = first.name.empty() ? r.document_name : first.name;
  c.info.document_version = first.document_version;
  c.document_hash = first.document_hash;
  c.info.comment = r.comment;
  c.info.parameters = r.parameters;
  c.info.instance_ids = r.instance_ids;
  c.info.targets = r.targets;
  c.info.timeout_seconds = timeout;
  c.info.max_concurrency = r.max_concurrency;
  c.info.max_errors = r.max_errors;
  c.requested_ms = ToMillis(now);
  c.deadline_ms = c.requested_ms + timeout * 1000;
  std::int64_t longest_run = 0;
  for (auto& [platform, doc] : resolved) {
    std::int64_t run = 0;
    for (const auto& s : doc.steps) run += std::max<std::int64_t>(s.timeout_seconds, 0);
    longest_run = std::max(longest_run, run);
    c.steps[platform] = doc.steps;
  }
  c.expires_ms = c.deadline_ms + longest_run * 1000;
  c.info.requested = FromMillis(c.requested_ms);
  c.info.expires_after = FromMillis(c.expires_ms);
  c.requested_by = r.requested_by;
  c.window_execution_id = r.window_execution_id;
  c.info.target_count = static_cast<int>(targets.size());
  c.info.status = "Pending";
  c.info.status_details = "Pending";

  auto cmd = std::make_shared<OpenCommand>();
  cmd->c = c;
  cmd->persisted_status = "Pending/Pending";
  for (std::size_t i = 0; i < targets.size(); ++i) {
    OpenInvocation inv;
    inv.instance_id = targets[i].instance_id;
    inv.instance_name = targets[i].computer_name;
    inv.platform = platforms[i];
    cmd->seq_of[inv.instance_id] = i;
    cmd->inv.push_back(std::move(inv));
  }
  cmd->pending = static_cast<int>(cmd->inv.size());
  const int n = static_cast<int>(cmd->inv.size());
  cmd->limit = ConcurrencyLimit(c.info.max_concurrency, n);
  cmd->error_limit = ErrorLimit(c.info.max_errors, n);

  const std::string& id = c.info.command_id;
  const std::string inverted = InvertedTime(c.requested_ms);
  const std::string command_json = c.ToJson().dump();
  std::vector<std::string> notify;
  {
    std::lock_guard<std::mutex> lock(mu_);
    KW_RETURN_IF_ERROR(EnsureLoaded());
    // Persist the command and every invocation before anyone can be told about them.
    KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
      KW_RETURN_IF_ERROR(txn.Insert(kCommandsTable, id, command_json));
      KW_RETURN_IF_ERROR(txn.Put(kTimeTable, inverted + "/" + id, ""));
      for (std::size_t i = 0; i < cmd->inv.size(); ++i) {
        const OpenInvocation& inv = cmd->inv[i];
        const std::string key = InvKey(id, inv.instance_id);
        const json row = {
            {"n", inv.instance_name}, {"p", inv.platform}, {"q", i}, {"s", "Pending"}};
        KW_RETURN_IF_ERROR(txn.Put(kInvocationsTable, key, row.dump()));
        KW_RETURN_IF_ERROR(txn.Put(kOpenTable, key, ""));
        KW_RETURN_IF_ERROR(
            txn.Put(kByInstanceTable, inv.instance_id + "/" + inverted + "/" + id, ""));
      }
      return OkStatus();
    }));
    for (const auto& inv : cmd->inv) {
      by_instance_[inv.instance_id].insert({c.requested_ms, id});
    }
    open_[id] = cmd;
    std::vector<std::size_t> none;
    KW_RETURN_IF_ERROR(Settle(*cmd, none, false, notify));
  }
  Notify(notify);
  return id;
}

// ---- reads -----------------------------------------------------------------------

CommandInfo CommandService::InfoOf(const StoredCommand& c) const { return c.info; }

Result<CommandInfo> CommandService::Info(std::string_view command_id) {
  auto it = open_.find(command_id);
  if (it != open_.end()) {
    CommandInfo info = it->second->c.info;
    it->second->FillCounts(info);
    return info;
  }
  KW_ASSIGN_OR_RETURN(auto stored, LoadCommand(command_id));
  return InfoOf(*stored);
}

Result<CommandInfo> CommandService::GetCommand(std::string_view command_id) {
  std::lock_guard<std::mutex> lock(mu_);
  KW_RETURN_IF_ERROR(EnsureLoaded());
  return Info(command_id);
}

Result<CommandStatusSummary> CommandService::CommandStatus(std::string_view command_id) {
  KW_ASSIGN_OR_RETURN(CommandInfo info, GetCommand(command_id));
  CommandStatusSummary s;
  s.command_id = info.command_id;
  s.status = info.status;
  s.target_count = info.target_count;
  s.completed_count = info.completed_count;
  s.error_count = info.error_count;
  s.delivery_timed_out_count = info.delivery_timed_out_count;
  return s;
}

namespace {

// An invocation row with its command, as the API reports it.
InvocationInfo InvocationOf(const CommandInfo& cmd,
                            const std::map<std::string, std::vector<agentproto::Step>>& steps,
                            std::string_view instance_id, const json& row, bool details) {
  InvocationInfo inv;
  inv.command_id = cmd.command_id;
  inv.instance_id = std::string(instance_id);
  inv.instance_name = row.value("n", "");
  inv.comment = cmd.comment;
  inv.document_name = cmd.document_name;
  inv.document_version = cmd.document_version;
  inv.requested = cmd.requested;
  const int status = ParseStatus(row.value("s", "Pending"));
  std::tie(inv.status, inv.status_details) = WireStatus(status);
  inv.response_code = row.value("rc", -1);
  if (!details) return inv;
  // Steps that reported, in document order, then any the document does not name.
  std::map<std::string, json> reported;
  std::vector<std::string> order;
  for (const json& p : row.value("pl", json::array())) {
    const std::string name = p.value("name", "");
    if (!reported.count(name)) order.push_back(name);
    reported[name] = p;
  }
  std::vector<std::string> names;
  auto it = steps.find(row.value("p", "Linux"));
  if (it != steps.end()) {
    for (const auto& s : it->second) names.push_back(s.name);
  }
  for (const auto& n : order) {
    if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  }
  for (const std::string& n : names) {
    PluginInfo p;
    p.name = n;
    auto r = reported.find(n);
    if (r != reported.end()) {
      const int ps = ParseStatus(r->second.value("status", "Failed"));
      p.status = PluginWireStatus(ps);
      p.status_details = WireStatus(ps).second;
      p.response_code = r->second.value("rc", -1);
      if (auto s = r->second.value("start", std::int64_t{0}); s != 0) p.started = FromMillis(s);
      if (auto e = r->second.value("end", std::int64_t{0}); e != 0) p.finished = FromMillis(e);
      p.standard_output = r->second.value("out", "");
      p.standard_error = r->second.value("err", "");
    } else {
      p.status = PluginWireStatus(status);
      p.status_details = WireStatus(status).second;
    }
    inv.plugins.push_back(std::move(p));
  }
  return inv;
}

}  // namespace

Result<CommandPage> CommandService::ListCommands(const ListCommandsRequest& request) {
  KW_ASSIGN_OR_RETURN(int max, PageSize(request.max_results));
  KW_ASSIGN_OR_RETURN(ParsedFilters filters, ParseFilters(request.filters, false));
  if (request.command_id && request.command_id->size() != 36) return InvalidCommandId();
  if (request.instance_id && !ValidInstanceIdSyntax(*request.instance_id)) {
    return InvalidInstance(*request.instance_id);
  }
  KW_ASSIGN_OR_RETURN(std::string after, DecodeToken(request.next_token, 'c'));
  std::lock_guard<std::mutex> lock(mu_);
  KW_RETURN_IF_ERROR(EnsureLoaded());
  CommandPage page;
  auto accept = [&](std::string_view command_id) -> Result<bool> {
    auto info = Info(command_id);
    if (!info) {
      // A dangling index entry (never expected): skip rather than fail the listing.
      if (info.error().reason == "InvalidCommandId") return false;
      return info.error();
    }
    if (!Matches(filters, info->requested, info->status, info->document_name)) return false;
    page.commands.push_back(std::move(*info));
    return true;
  };
  if (request.command_id) {
    if (request.instance_id) {
      KW_RETURN_IF_ERROR(Info(*request.command_id));
      KW_ASSIGN_OR_RETURN(auto row, Row(*request.command_id, *request.instance_id));
      if (!row) return page;
    }
    KW_ASSIGN_OR_RETURN(bool added, accept(*request.command_id));
    if (!added && page.commands.empty()) {
      KW_RETURN_IF_ERROR(Info(*request.command_id));  // unknown: InvalidCommandId
    }
    return page;
  }
  std::string next;
  if (request.instance_id) {
    const std::string prefix = *request.instance_id + "/";
    KW_ASSIGN_OR_RETURN(next, Scan(store_, kByInstanceTable, prefix, after, max,
                                   [&](const store::Item& item) -> Result<bool> {
                                     return accept(item.key.substr(item.key.rfind('/') + 1));
                                   }));
  } else {
    KW_ASSIGN_OR_RETURN(next, Scan(store_, kTimeTable, "", after, max,
                                   [&](const store::Item& item) -> Result<bool> {
                                     return accept(item.key.substr(item.key.find('/') + 1));
                                   }));
  }
  page.next_token = EncodeToken('c', next);
  return page;
}

Result<InvocationPage> CommandService::ListCommandInvocations(
    const ListInvocationsRequest& request) {
  KW_ASSIGN_OR_RETURN(int max, PageSize(request.max_results));
  KW_ASSIGN_OR_RETURN(ParsedFilters filters, ParseFilters(request.filters, true));
  if (request.command_id && request.command_id->size() != 36) return InvalidCommandId();
  if (request.instance_id && !ValidInstanceIdSyntax(*request.instance_id)) {
    return InvalidInstance(*request.instance_id);
  }
  KW_ASSIGN_OR_RETURN(std::string token, DecodeToken(request.next_token, 'i'));
  std::lock_guard<std::mutex> lock(mu_);
  KW_RETURN_IF_ERROR(EnsureLoaded());
  InvocationPage page;

  // Commands are looked up once per page.
  std::map<std::string, std::shared_ptr<const StoredCommand>, std::less<>> cache;
  auto command = [&](std::string_view id) -> Result<std::shared_ptr<const StoredCommand>> {
    auto it = cache.find(id);
    if (it != cache.end()) return it->second;
    std::shared_ptr<const StoredCommand> c;
    auto open = open_.find(id);
    if (open != open_.end()) {
      c = std::make_shared<const StoredCommand>(open->second->c);
    } else {
      KW_ASSIGN_OR_RETURN(c, LoadCommand(id));
    }
    cache.emplace(std::string(id), c);
    return c;
  };
  auto accept = [&](std::string_view command_id, std::string_view instance_id,
                    const std::string& row_text) -> Result<bool> {
    KW_ASSIGN_OR_RETURN(auto c, command(command_id));
    const json row = json::parse(row_text, nullptr, false);
    if (row.is_discarded()) return Internal("A stored invocation record is corrupt.");
    InvocationInfo inv = InvocationOf(c->info, c->steps, instance_id, row, request.details);
    if (!Matches(filters, inv.requested, inv.status, inv.document_name)) return false;
    for (PluginInfo& p : inv.plugins) {
      // ListCommandInvocations' Output: stdout, then stderr after SSM's separator.
      std::string out = p.standard_output;
      if (!p.standard_error.empty()) out += "\n----------ERROR-------\n" + p.standard_error;
      p.standard_output = agentproto::TruncateOutput(out, kMaxListOutputChars);
      p.standard_error.clear();
    }
    page.invocations.push_back(std::move(inv));
    return true;
  };
  auto row_accept = [&](std::string_view command_id) {
    return [&, command_id](const store::Item& item) -> Result<bool> {
      // Rows not yet flushed are newer than the store's.
      auto dirty = dirty_rows_.find(item.key);
      return accept(command_id, std::string_view(item.key).substr(command_id.size() + 1),
                    dirty != dirty_rows_.end() ? dirty->second.value : item.value);
    };
  };

  if (request.command_id) {
    const std::string& cid = *request.command_id;
    KW_RETURN_IF_ERROR(command(cid));  // InvalidCommandId
    if (request.instance_id) {
      KW_ASSIGN_OR_RETURN(auto row, Row(cid, *request.instance_id));
      if (row) KW_RETURN_IF_ERROR(accept(cid, *request.instance_id, *row));
      return page;
    }
    KW_ASSIGN_OR_RETURN(std::string next, Scan(store_, kInvocationsTable, cid + "/",
                                               token.empty() ? std::string() : cid + "/" + token,
                                               max, row_accept(cid)));
    page.next_token = EncodeToken('i', next.empty() ? "" : next.substr(cid.size() + 1));
    return page;
  }
  if (request.instance_id) {
    const std::string& iid = *request.instance_id;
    KW_ASSIGN_OR_RETURN(std::string next, Scan(store_, kByInstanceTable, iid + "/", token, max,
                                               [&](const store::Item& item) -> Result<bool> {
                                                 const std::string cid =
                                                     item.key.substr(item.key.rfind('/') + 1);
                                                 KW_ASSIGN_OR_RETURN(auto row, Row(cid, iid));
                                                 if (!row) return false;
                                                 return accept(cid, iid, *row);
                                               }));
    page.next_token = EncodeToken('i', next);
    return page;
  }
  // Every invocation: commands newest first, each command's instances in order. The
  // token is the command's time key and the last instance returned from it.
  std::string time_key = token.substr(0, token.find('\n'));
  std::string inst_after =
      token.find('\n') == std::string::npos ? std::string() : token.substr(token.find('\n') + 1);
  bool resume_inside = !token.empty() && !inst_after.empty();
  std::string outer_after = time_key;
  if (resume_inside) {
    // Finish the command the previous page stopped in.
    const std::string cid = time_key.substr(time_key.find('/') + 1);
    KW_ASSIGN_OR_RETURN(std::string next, Scan(store_, kInvocationsTable, cid + "/",
                                               cid + "/" + inst_after, max, row_accept(cid)));
    if (!next.empty()) {
      page.next_token = EncodeToken('i', time_key + "\n" + next.substr(cid.size() + 1));
      return page;
    }
  }
  while (page.invocations.size() < static_cast<std::size_t>(max)) {
    KW_ASSIGN_OR_RETURN(auto cmds, store_.List(kTimeTable, {"", outer_after, 1}));
    if (cmds.empty()) return page;
    outer_after = cmds[0].key;
    const std::string cid = outer_after.substr(outer_after.find('/') + 1);
    const std::size_t want = static_cast<std::size_t>(max) - page.invocations.size();
    KW_ASSIGN_OR_RETURN(std::string next,
                        Scan(store_, kInvocationsTable, cid + "/", "", want, row_accept(cid)));
    if (!next.empty()) {
      page.next_token = EncodeToken('i', outer_after + "\n" + next.substr(cid.size() + 1));
      return page;
    }
  }
  KW_ASSIGN_OR_RETURN(auto more, store_.List(kTimeTable, {"", outer_after, 1}));
  if (!more.empty()) page.next_token = EncodeToken('i', outer_after + "\n");
  return page;
}

Result<InvocationDetail> CommandService::GetCommandInvocation(
    std::string_view command_id, std::string_view instance_id,
    const std::optional<std::string>& plugin_name) {
  if (command_id.size() != 36) return InvalidCommandId();
  if (!ValidInstanceIdSyntax(instance_id)) return InvalidInstance(instance_id);
  if (plugin_name && plugin_name->size() < 4) {
    return Validation(
        "1 validation error detected: Value at 'pluginName' failed to satisfy constraint: "
        "Member must have length greater than or equal to 4");
  }
  std::lock_guard<std::mutex> lock(mu_);
  KW_RETURN_IF_ERROR(EnsureLoaded());
  // The waiter (CommandExecuted) retries on InvocationDoesNotExist, so an unknown command
  // gets it too rather than InvalidCommandId.
  const Error missing = InvalidArgument("The invocation does not exist.", "InvocationDoesNotExist");
  std::shared_ptr<const StoredCommand> c;
  CommandInfo info;
  auto open = open_.find(command_id);
  if (open != open_.end()) {
    c = std::make_shared<const StoredCommand>(open->second->c);
    info = c->info;
    open->second->FillCounts(info);
  } else {
    auto loaded = LoadCommand(command_id);
    if (!loaded) return loaded.error().reason == "InvalidCommandId" ? missing : loaded.error();
    c = *loaded;
    info = c->info;
  }
  KW_ASSIGN_OR_RETURN(auto row_text, Row(command_id, instance_id));
  if (!row_text) return missing;
  const json row = json::parse(*row_text, nullptr, false);
  if (row.is_discarded()) return Internal("A stored invocation record is corrupt.");
  const InvocationInfo inv = InvocationOf(info, c->steps, instance_id, row, true);

  InvocationDetail d;
  d.command_id = inv.command_id;
  d.instance_id = inv.instance_id;
  d.comment = inv.comment;
  d.document_name = inv.document_name;
  d.document_version = inv.document_version;
  const std::int64_t ack = row.value("a", std::int64_t{0});
  const std::int64_t end = row.value("e", std::int64_t{0});
  std::int64_t start_ms = 0;
  std::int64_t end_ms = 0;
  auto chosen = inv.plugins.end();
  if (plugin_name) {
    chosen = std::find_if(inv.plugins.begin(), inv.plugins.end(),
                          [&](const PluginInfo& p) { return p.name == *plugin_name; });
    if (chosen == inv.plugins.end()) {
      return InvalidArgument("The plugin name " + *plugin_name + " is not valid.",
                             "InvalidPluginName");
    }
  } else if (inv.plugins.size() == 1) {
    chosen = inv.plugins.begin();
  }
  if (chosen != inv.plugins.end()) {
    d.plugin_name = chosen->name;
    d.response_code = chosen->response_code;
    d.status = chosen->status;
    d.status_details = chosen->status_details;
    // A step that never reported takes the invocation's own status (Cancelling, a
    // delivery timeout...).
    if (chosen->response_code == -1 && !chosen->started) {
      d.status = inv.status;
      d.status_details = inv.status_details;
    }
    d.standard_output = chosen->standard_output;
    d.standard_error = chosen->standard_error;
    if (chosen->started) start_ms = ToMillis(*chosen->started);
    if (chosen->finished) end_ms = ToMillis(*chosen->finished);
  } else {
    // Several steps and none named: the invocation as a whole, outputs in step order.
    d.response_code = inv.response_code;
    d.status = inv.status;
    d.status_details = inv.status_details;
    std::string out, err;
    for (const PluginInfo& p : inv.plugins) {
      out += p.standard_output;
      err += p.standard_error;
      if (p.started && start_ms == 0) start_ms = ToMillis(*p.started);
      if (p.finished) end_ms = ToMillis(*p.finished);
    }
    d.standard_output = agentproto::TruncateOutput(out, agentproto::kMaxStdoutChars);
    d.standard_error = agentproto::TruncateOutput(err, agentproto::kMaxStderrChars);
  }
  if (start_ms == 0) start_ms = ack;
  if (end_ms == 0 && start_ms != 0 && StatusIsFinal(d.status)) end_ms = end;
  if (start_ms != 0) {
    d.execution_start = IsoMillis(start_ms);
    d.execution_elapsed = ElapsedIso((end_ms != 0 ? end_ms : ToMillis(clock_.Now())) - start_ms);
  }
  if (end_ms != 0) d.execution_end = IsoMillis(end_ms);
  return d;
}

// ---- CancelCommand and Tick ------------------------------------------------------

Status CommandService::CancelCommand(std::string_view command_id,
                                     const std::vector<std::string>& instance_ids, TimePoint now) {
  if (command_id.size() != 36) return InvalidCommandId();
  if (instance_ids.size() > kMaxInstanceIds) {
    return Validation(
        "1 validation error detected: Value at 'instanceIds' failed to satisfy constraint: "
        "Member must have length less than or equal to 50");
  }
  std::set<std::string> seen;
  for (const auto& id : instance_ids) {
    if (!seen.insert(id).second) {
      return InvalidArgument("Instance ID " + id + " is listed more than once.",
                             "DuplicateInstanceId");
    }
  }
  std::vector<std::string> notify;
  {
    std::lock_guard<std::mutex> lock(mu_);
    KW_RETURN_IF_ERROR(EnsureLoaded());
    auto it = open_.find(command_id);
    if (it == open_.end()) {
      KW_RETURN_IF_ERROR(LoadCommand(command_id));
      for (const auto& id : instance_ids) {
        KW_ASSIGN_OR_RETURN(auto row, Row(command_id, id));
        if (!row) return InvalidInstance(id);
      }
      return OkStatus();  // already finished: nothing to cancel
    }
    auto cmd = it->second;  // keeps it alive if Settle finalises it
    std::vector<std::size_t> seqs;
    for (const auto& id : instance_ids) {
      auto s = cmd->seq_of.find(id);
      if (s == cmd->seq_of.end()) return InvalidInstance(id);
      seqs.push_back(s->second);
    }
    if (instance_ids.empty()) {
      for (std::size_t i = 0; i < cmd->inv.size(); ++i) seqs.push_back(i);
    }
    KW_RETURN_IF_ERROR(
        Expire(*cmd, now, notify));  // a cancel does not resurrect a timed-out delivery
    if (open_.find(command_id) == open_.end()) return OkStatus();
    cmd->c.cancel_requested = true;
    std::vector<std::size_t> changed;
    for (std::size_t seq : seqs) {
      OpenInvocation& inv = cmd->inv[seq];
      if (inv.status == kPending && !inv.delivered) {
        inv.end_ms = ToMillis(now);
        Transition(*cmd, seq, kCancelled);
        changed.push_back(seq);
      } else if (inv.status == kPending || inv.status == kInProgress) {
        // Handed out (PendingWork returned it) but perhaps not acknowledged yet: the
        // agent may hold it and run it, so only the agent can say it is cancelled. It
        // answers the cancel with a Cancelled result (also for a command it never got),
        // or with its stored result if the run already ended, which then wins.
        Transition(*cmd, seq, kCancelling);
        changed.push_back(seq);
        notify.push_back(inv.instance_id);  // its agent gets the cancel from PendingWork
      }
    }
    KW_RETURN_IF_ERROR(Settle(*cmd, changed, true, notify));
  }
  Notify(notify);
  return OkStatus();
}

Status CommandService::Tick(TimePoint now) {
  std::vector<std::string> notify;
  Status result = OkStatus();
  {
    std::lock_guard<std::mutex> lock(mu_);
    KW_RETURN_IF_ERROR(EnsureLoaded());
    std::vector<std::shared_ptr<OpenCommand>> cmds;
    for (const auto& [id, cmd] : open_) cmds.push_back(cmd);
    for (const auto& cmd : cmds) {
      const Status st = Expire(*cmd, now, notify);
      if (!st && result) result = st;
    }
    const Status flushed = FlushLocked();
    if (!flushed && result) result = flushed;
  }
  Notify(notify);
  return result;
}

// ---- CommandQueue ----------------------------------------------------------------

Result<CommandQueue::Work> CommandService::PendingWork(std::string_view instance_id,
                                                       TimePoint now) {
  Work work;
  std::vector<std::string> notify;
  {
    std::lock_guard<std::mutex> lock(mu_);
    KW_RETURN_IF_ERROR(EnsureLoaded());
    auto idx = by_instance_.find(std::string(instance_id));
    if (idx == by_instance_.end()) return work;
    // Copied: expiring a command edits the index.
    const std::vector<std::pair<std::int64_t, std::string>> entries(idx->second.begin(),
                                                                    idx->second.end());
    for (const auto& [ms, command_id] : entries) {
      auto it = open_.find(command_id);
      if (it == open_.end()) continue;
      auto cmd = it->second;
      KW_RETURN_IF_ERROR(Expire(*cmd, now, notify));
      auto s = cmd->seq_of.find(std::string(instance_id));
      if (s == cmd->seq_of.end()) continue;
      OpenInvocation& inv = cmd->inv[s->second];
      // InProgress ones too: an agent that already has the command answers a repeat with
      // its ack or its stored result, so a result lost with a server crash (results are
      // written in batches, docs/adr/0007) comes back on the agent's next connection.
      if ((inv.status == kPending && inv.released) || inv.status == kInProgress) {
        inv.delivered = true;
        agentproto::CommandMessage m;
        m.command_id = command_id;
        m.document_name = cmd->c.info.document_name;
        auto steps = cmd->c.steps.find(inv.platform);
        if (steps != cmd->c.steps.end()) m.steps = steps->second;
        work.commands.push_back(std::move(m));
      } else if (inv.status == kCancelling) {
        work.cancels.push_back({command_id});
      }
    }
  }
  Notify(notify);
  return work;
}

Status CommandService::Acknowledge(std::string_view instance_id, std::string_view command_id,
                                   TimePoint now) {
  std::vector<std::string> notify;
  {
    std::lock_guard<std::mutex> lock(mu_);
    KW_RETURN_IF_ERROR(EnsureLoaded());
    auto it = open_.find(command_id);
    std::shared_ptr<OpenCommand> cmd = it == open_.end() ? nullptr : it->second;
    if (cmd) KW_RETURN_IF_ERROR(Expire(*cmd, now, notify));
    auto s = cmd ? cmd->seq_of.find(std::string(instance_id)) : decltype(cmd->seq_of.end()){};
    if (!cmd || s == cmd->seq_of.end() || !IsOpen(cmd->inv[s->second].status)) {
      // Final already (a duplicate ack, or one after a timeout): fine, if it is the
      // instance's at all.
      KW_ASSIGN_OR_RETURN(auto row, Row(command_id, instance_id));
      if (!row) return NotFound("No such command for this instance.", "InvalidCommandId");
    } else if (cmd->inv[s->second].status == kCancelling) {
      // Acknowledged after a cancel of the handed-out command: record when the agent
      // got it; the cancel stays in PendingWork until the agent's result.
      if (cmd->inv[s->second].ack_ms == 0) cmd->inv[s->second].ack_ms = ToMillis(now);
    } else if (cmd->inv[s->second].status == kPending) {
      cmd->inv[s->second].ack_ms = ToMillis(now);
      cmd->inv[s->second].delivered = true;
      Transition(*cmd, s->second, kInProgress);
      std::vector<std::size_t> changed = {s->second};
      KW_RETURN_IF_ERROR(Settle(*cmd, changed, false, notify));
    }
  }
  Notify(notify);
  return OkStatus();
}

Status CommandService::Complete(std::string_view instance_id,
                                const agentproto::ResultMessage& result, TimePoint now) {
  int final_status;
  if (result.status == "Success") {
    final_status = kSuccess;
  } else if (result.status == "Failed") {
    final_status = kFailed;
  } else if (result.status == "TimedOut") {
    final_status = kTimedOut;
  } else if (result.status == "Cancelled") {
    final_status = kCancelled;
  } else {
    return InvalidArgument("Unknown result status.", "SerializationException");
  }
  std::vector<std::string> notify;
  {
    std::lock_guard<std::mutex> lock(mu_);
    KW_RETURN_IF_ERROR(EnsureLoaded());
    auto it = open_.find(result.command_id);
    std::shared_ptr<OpenCommand> cmd = it == open_.end() ? nullptr : it->second;
    auto s = cmd ? cmd->seq_of.find(std::string(instance_id)) : decltype(cmd->seq_of.end()){};
    if (!cmd || s == cmd->seq_of.end() || !IsOpen(cmd->inv[s->second].status)) {
      // A late duplicate, or a result after a timeout or cancellation: ignored.
      KW_ASSIGN_OR_RETURN(auto row, Row(result.command_id, instance_id));
      if (!row) return NotFound("No such command for this instance.", "InvalidCommandId");
    } else {
      const std::size_t seq = s->second;
      OpenInvocation& inv = cmd->inv[seq];
      json plugins = json::array();
      for (const auto& step : result.steps) {
        int ps = ParseStatus(step.status);
        if (ps != kSuccess && ps != kFailed && ps != kTimedOut && ps != kCancelled) ps = kFailed;
        plugins.push_back(
            {{"name", step.name},
             {"status", kStatusNames[ps]},
             {"rc", step.response_code},
             {"start", step.started_at},
             {"end", step.ended_at},
             {"out", agentproto::TruncateOutput(step.standard_output, agentproto::kMaxStdoutChars)},
             {"err",
              agentproto::TruncateOutput(step.standard_error, agentproto::kMaxStderrChars)}});
      }
      inv.result_json = json{{"rc", result.response_code}, {"pl", std::move(plugins)}}.dump();
      if (inv.ack_ms == 0) inv.ack_ms = ToMillis(now);
      inv.end_ms = ToMillis(now);
      Transition(*cmd, seq, final_status);
      std::vector<std::size_t> changed = {seq};
      KW_RETURN_IF_ERROR(Settle(*cmd, changed, false, notify));
    }
  }
  Notify(notify);
  return OkStatus();
}

}  // namespace kw::commands
