#include "windows/maintenance_window_service.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>

#include "common/time_format.hpp"
#include "common/uuid.hpp"
#include "crypto/digest.hpp"
#include "schedule/schedule.hpp"

namespace kw::windows {
namespace {

using nlohmann::json;
using std::chrono::hours;

constexpr const char* kWindows = "mw_windows";
constexpr const char* kDue = "mw_due";
constexpr const char* kTokens = "mw_tokens";
constexpr const char* kTargets = "mw_targets";
constexpr const char* kTasks = "mw_tasks";
constexpr const char* kExecs = "mw_execs";
constexpr const char* kWindowExecs = "mw_window_execs";
constexpr const char* kExecTasks = "mw_exec_tasks";
constexpr const char* kActive = "mw_active";

// A task marked as being sent longer ago than this was interrupted by a crash.
constexpr Seconds kSendingStale{60};
// Bounds the catch-up walk over missed slots (rate(1 minute) over ~2 months).
constexpr int kMaxMissedWalk = 100000;

Error Validation(std::string m) { return InvalidArgument(std::move(m), "ValidationException"); }
Error NoWindow(std::string_view id) {
  return NotFound("Maintenance window " + std::string(id) + " does not exist",
                  "DoesNotExistException");
}

std::int64_t Ms(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
TimePoint FromMs(std::int64_t ms) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::milliseconds(ms)));
}
std::int64_t Secs(TimePoint t) { return std::chrono::floor<Seconds>(t.time_since_epoch()).count(); }

std::string DueKey(std::int64_t due) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%013lld", static_cast<long long>(std::max<std::int64_t>(due, 0)));
  return buf;
}

// ---- JSON <-> structs ---------------------------------------------------------------

template <typename T>
void PutOpt(json& j, const char* k, const std::optional<T>& v) {
  if (v) j[k] = *v;
}
template <typename T>
void GetOpt(const json& j, const char* k, std::optional<T>& v) {
  auto it = j.find(k);
  if (it != j.end() && !it->is_null()) v = it->get<T>();
}

json EncTargets(const std::vector<Target>& ts) {
  json a = json::array();
  for (const auto& t : ts) a.push_back({{"Key", t.key}, {"Values", t.values}});
  return a;
}
std::vector<Target> DecTargets(const json& a) {
  std::vector<Target> ts;
  if (!a.is_array()) return ts;
  for (const auto& t : a)
    ts.push_back({t.at("Key").get<std::string>(), t.at("Values").get<std::vector<std::string>>()});
  return ts;
}

json EncRun(const RunCommandParameters& r) {
  json j;
  j["parameters"] = r.parameters;
  PutOpt(j, "comment", r.comment);
  PutOpt(j, "timeout_seconds", r.timeout_seconds);
  PutOpt(j, "document_version", r.document_version);
  return j;
}
RunCommandParameters DecRun(const json& j) {
  RunCommandParameters r;
  if (!j.is_object()) return r;
  r.parameters = j.value("parameters", std::map<std::string, std::vector<std::string>>());
  GetOpt(j, "comment", r.comment);
  GetOpt(j, "timeout_seconds", r.timeout_seconds);
  GetOpt(j, "document_version", r.document_version);
  return r;
}

json EncWindow(const Window& w) {
  json j;
  j["id"] = w.window_id;
  j["name"] = w.name;
  PutOpt(j, "description", w.description);
  PutOpt(j, "start_date", w.start_date);
  PutOpt(j, "end_date", w.end_date);
  j["schedule"] = w.schedule;
  PutOpt(j, "tz", w.schedule_timezone);
  PutOpt(j, "offset", w.schedule_offset);
  j["duration"] = w.duration;
  j["cutoff"] = w.cutoff;
  j["allow_unassociated"] = w.allow_unassociated_targets;
  j["enabled"] = w.enabled;
  j["created"] = Ms(w.created);
  j["modified"] = Ms(w.modified);
  json tags = json::array();
  for (const auto& t : w.tags) tags.push_back({t.key, t.value});
  j["tags"] = tags;
  return j;
}
Window DecWindow(const json& j) {
  Window w;
  w.window_id = j.at("id");
  w.name = j.at("name");
  GetOpt(j, "description", w.description);
  GetOpt(j, "start_date", w.start_date);
  GetOpt(j, "end_date", w.end_date);
  w.schedule = j.at("schedule");
  GetOpt(j, "tz", w.schedule_timezone);
  GetOpt(j, "offset", w.schedule_offset);
  w.duration = j.at("duration");
  w.cutoff = j.at("cutoff");
  w.allow_unassociated_targets = j.at("allow_unassociated");
  w.enabled = j.at("enabled");
  w.created = FromMs(j.at("created"));
  w.modified = FromMs(j.at("modified"));
  for (const auto& t : j.value("tags", json::array())) w.tags.push_back({t[0], t[1]});
  return w;
}

json EncTarget(const WindowTarget& t) {
  json j;
  j["window_id"] = t.window_id;
  j["id"] = t.window_target_id;
  j["resource_type"] = t.resource_type;
  j["targets"] = EncTargets(t.targets);
  PutOpt(j, "owner", t.owner_information);
  PutOpt(j, "name", t.name);
  PutOpt(j, "description", t.description);
  return j;
}
WindowTarget DecTarget(const json& j) {
  WindowTarget t;
  t.window_id = j.at("window_id");
  t.window_target_id = j.at("id");
  t.resource_type = j.at("resource_type");
  t.targets = DecTargets(j.at("targets"));
  GetOpt(j, "owner", t.owner_information);
  GetOpt(j, "name", t.name);
  GetOpt(j, "description", t.description);
  return t;
}

json EncTask(const WindowTask& t) {
  json j;
  j["window_id"] = t.window_id;
  j["id"] = t.window_task_id;
  j["arn"] = t.task_arn;
  j["type"] = t.task_type;
  j["targets"] = EncTargets(t.targets);
  j["priority"] = t.priority;
  PutOpt(j, "max_concurrency", t.max_concurrency);
  PutOpt(j, "max_errors", t.max_errors);
  PutOpt(j, "name", t.name);
  PutOpt(j, "description", t.description);
  PutOpt(j, "service_role_arn", t.service_role_arn);
  PutOpt(j, "cutoff_behavior", t.cutoff_behavior);
  if (t.run_command) j["run_command"] = EncRun(*t.run_command);
  return j;
}
WindowTask DecTask(const json& j) {
  WindowTask t;
  t.window_id = j.at("window_id");
  t.window_task_id = j.at("id");
  t.task_arn = j.at("arn");
  t.task_type = j.at("type");
  t.targets = DecTargets(j.at("targets"));
  t.priority = j.at("priority");
  GetOpt(j, "max_concurrency", t.max_concurrency);
  GetOpt(j, "max_errors", t.max_errors);
  GetOpt(j, "name", t.name);
  GetOpt(j, "description", t.description);
  GetOpt(j, "service_role_arn", t.service_role_arn);
  GetOpt(j, "cutoff_behavior", t.cutoff_behavior);
  if (j.contains("run_command")) t.run_command = DecRun(j.at("run_command"));
  return t;
}

Execution DecExec(const json& j) {
  Execution e;
  e.window_id = j.at("window_id");
  e.window_execution_id = j.at("id");
  e.status = j.at("status");
  e.status_details = j.value("details", "");
  e.start = FromMs(j.at("start"));
  if (j.contains("end")) e.end = FromMs(j.at("end"));
  e.scheduled = FromMs(j.at("scheduled"));
  e.task_execution_ids = j.value("tasks", std::vector<std::string>());
  return e;
}

TaskExecution DecExecTask(const json& j) {
  TaskExecution t;
  t.window_execution_id = j.at("exec_id");
  t.task_execution_id = j.at("id");
  t.window_task_id = j.at("task_id");
  t.task_arn = j.at("arn");
  t.task_type = j.value("type", "RUN_COMMAND");
  t.priority = j.at("priority");
  t.max_concurrency = j.value("max_concurrency", "");
  t.max_errors = j.value("max_errors", "");
  t.status = j.at("status");
  t.status_details = j.value("details", "");
  if (j.contains("start")) t.start = FromMs(j.at("start"));
  if (j.contains("end")) t.end = FromMs(j.at("end"));
  t.targets = DecTargets(j.value("targets", json::array()));
  t.run_command = DecRun(j.value("run_command", json::object()));
  t.command_id = j.value("command_id", "");
  t.invocation_id = j.value("invocation_id", "");
  t.window_target_id = j.value("window_target_id", "");
  return t;
}

Result<json> ParseJson(const std::string& s) {
  json j = json::parse(s, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Internal("corrupt maintenance window record");
  return j;
}

bool Terminal(std::string_view s) {
  return s == "SUCCESS" || s == "FAILED" || s == "TIMED_OUT" || s == "CANCELLED" ||
         s == "SKIPPED_OVERLAPPING";
}

std::string Clip(std::string s) {
  if (s.size() > 250) s.resize(250);
  return s;
}

// ---- validation ---------------------------------------------------------------------

Status CheckName(const std::optional<std::string>& name, const char* member) {
  if (!name) return OkStatus();
  bool ok = name->size() >= 3 && name->size() <= 128;
  for (char c : *name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') {
      ok = false;
    }
  }
  if (!ok) {
    return Validation(std::string("1 validation error detected: Value at '") + member +
                      "' failed to satisfy constraint: Member must satisfy regular expression "
                      "pattern: ^[a-zA-Z0-9_\\-.]{3,128}$");
  }
  return OkStatus();
}

Status CheckDescription(const std::optional<std::string>& d) {
  if (d && (d->empty() || d->size() > 128)) {
    return Validation(
        "1 validation error detected: Value at 'description' failed to satisfy constraint: "
        "Member must have length between 1 and 128");
  }
  return OkStatus();
}

// "10", "10%" (MaxConcurrency: no 0; MaxErrors: 0 allowed).
Status CheckCount(const std::optional<std::string>& v, const char* member, bool zero_ok) {
  if (!v) return OkStatus();
  std::string_view s = *v;
  bool pct = !s.empty() && s.back() == '%';
  if (pct) s.remove_suffix(1);
  bool ok = !s.empty() && s.size() <= 6;
  long long n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') ok = false;
    if (ok) n = n * 10 + (c - '0');
  }
  if (ok && s.size() > 1 && s[0] == '0') ok = false;
  if (ok && pct && n > 100) ok = false;
  if (ok && n == 0 && !zero_ok) ok = false;
  if (!ok) return Validation(std::string("Invalid ") + member + " value " + *v + ".");
  return OkStatus();
}

// ISO-8601 with any offset: 2021-04-07T14:29:00-08:00, ...Z, seconds optional.
std::optional<TimePoint> ParseDate(std::string_view s) {
  auto num = [&](std::size_t pos, std::size_t n) -> std::optional<int> {
    if (pos + n > s.size()) return std::nullopt;
    int v = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return std::nullopt;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  auto y = num(0, 4), mo = num(5, 2), d = num(8, 2);
  if (!y || !mo || !d || s.size() < 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  using namespace std::chrono;
  year_month_day ymd{year(*y), month(*mo), day(*d)};
  if (!ymd.ok()) return std::nullopt;
  std::int64_t secs = sys_days(ymd).time_since_epoch().count() * 86400;
  std::size_t pos = 10;
  if (pos < s.size()) {
    if (s[pos] != 'T') return std::nullopt;
    auto h = num(pos + 1, 2), mi = num(pos + 4, 2);
    if (!h || !mi || s.size() < pos + 6 || s[pos + 3] != ':' || *h > 23 || *mi > 59) {
      return std::nullopt;
    }
    secs += *h * 3600 + *mi * 60;
    pos += 6;
    if (pos < s.size() && s[pos] == ':') {
      auto sec = num(pos + 1, 2);
      if (!sec || *sec > 59) return std::nullopt;
      secs += *sec;
      pos += 3;
      if (pos < s.size() && s[pos] == '.') {
        ++pos;
        while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) ++pos;
      }
    }
    if (pos < s.size()) {
      if (s[pos] == 'Z' && pos + 1 == s.size()) {
        pos = s.size();
      } else if (s[pos] == '+' || s[pos] == '-') {
        int sign = s[pos] == '-' ? -1 : 1;
        auto oh = num(pos + 1, 2);
        std::size_t mpos = pos + 3;
        if (mpos < s.size() && s[mpos] == ':') ++mpos;
        auto om = num(mpos, 2);
        if (!oh || !om || mpos + 2 != s.size() || *oh > 23 || *om > 59) return std::nullopt;
        secs -= sign * (*oh * 3600 + *om * 60);
        pos = s.size();
      } else {
        return std::nullopt;
      }
    }
  }
  return TimePoint(Seconds(secs));
}

std::string FormatInZone(TimePoint t, const schedule::TimeZone& zone) {
  const std::int64_t utc = Secs(t);
  const std::int64_t off = zone.OffsetAt(utc);
  const std::int64_t local = utc + off;
  using namespace std::chrono;
  std::int64_t days = local >= 0 ? local / 86400 : -((-local + 86399) / 86400);
  year_month_day ymd{sys_days(std::chrono::days(days))};
  std::int64_t tod = local - days * 86400;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02lld:%02lld", static_cast<int>(ymd.year()),
                unsigned(ymd.month()), unsigned(ymd.day()), static_cast<long long>(tod / 3600),
                static_cast<long long>(tod / 60 % 60));
  std::string out = buf;
  if (off == 0) return out + "Z";
  std::int64_t a = off < 0 ? -off : off;
  std::snprintf(buf, sizeof buf, "%c%02lld:%02lld", off < 0 ? '-' : '+',
                static_cast<long long>(a / 3600), static_cast<long long>(a / 60 % 60));
  return out + buf;
}

Status CheckTargets(const std::vector<Target>& targets, bool task) {
  if (targets.size() > 5) return Validation("At most 5 targets may be given.");
  for (const auto& t : targets) {
    if (t.values.empty() || t.values.size() > 50) {
      return Validation("Target " + t.key + " needs between 1 and 50 values.");
    }
    if (t.key == "InstanceIds" || t.key == "tag-key" ||
        (t.key.rfind("tag:", 0) == 0 && t.key.size() > 4) || (task && t.key == "WindowTargetIds")) {
      continue;
    }
    if (t.key.rfind("resource-groups:", 0) == 0) {
      return InvalidArgument("keyward does not support resource group targets.",
                             "FeatureNotAvailableException");
    }
    return Validation("Unsupported target key " + t.key + ".");
  }
  return OkStatus();
}

// The validated, parsed schedule of a window.
struct Plan {
  schedule::Schedule schedule;
  std::shared_ptr<const schedule::TimeZone> zone;
  std::optional<TimePoint> start, end;
  Seconds offset{0};
  TimePoint anchor;
};

// The first slot strictly after `after`, within StartDate/EndDate.
std::optional<TimePoint> NextSlot(const Plan& p, TimePoint after) {
  TimePoint from = after;
  if (p.start && *p.start - std::chrono::nanoseconds(1) > from) {
    from = *p.start - std::chrono::nanoseconds(1);
  }
  auto t = p.schedule.NextAfter(from - p.offset, *p.zone, p.anchor);
  if (!t) return std::nullopt;
  TimePoint slot = *t + p.offset;
  if (p.end && slot > *p.end) return std::nullopt;
  return slot;
}

}  // namespace

// Window-level helpers that need the zone cache.
struct MaintenanceWindowService::Impl {
  static Result<Plan> MakePlan(schedule::TimeZoneCache& zones, const Window& w, TimePoint anchor) {
    KW_ASSIGN_OR_RETURN(auto sched, schedule::Schedule::Parse(w.schedule));
    KW_ASSIGN_OR_RETURN(auto zone, zones.Get(w.schedule_timezone.value_or("")));
    Plan p{std::move(sched), std::move(zone), std::nullopt, std::nullopt, Seconds(0), anchor};
    if (w.schedule_offset) {
      if (*w.schedule_offset < 1 || *w.schedule_offset > 6) {
        return Validation("ScheduleOffset must be between 1 and 6.");
      }
      if (p.schedule.kind() != schedule::Kind::kCron) {
        return Validation("ScheduleOffset can only be used with cron expressions.");
      }
      p.offset = hours(24 * *w.schedule_offset);
    }
    if (w.start_date) {
      p.start = ParseDate(*w.start_date);
      if (!p.start) return Validation("Invalid StartDate " + *w.start_date + ".");
    }
    if (w.end_date) {
      p.end = ParseDate(*w.end_date);
      if (!p.end) return Validation("Invalid EndDate " + *w.end_date + ".");
    }
    if (p.start && p.end && *p.end <= *p.start) {
      return Validation("EndDate must be later than StartDate.");
    }
    return p;
  }

  static Status CheckWindow(const Window& w) {
    KW_RETURN_IF_ERROR(CheckName(w.name, "name"));
    KW_RETURN_IF_ERROR(CheckDescription(w.description));
    if (w.duration < 1 || w.duration > 24) {
      return Validation(
          "1 validation error detected: Value at 'duration' failed to satisfy constraint: "
          "Member must have value between 1 and 24");
    }
    if (w.cutoff < 0 || w.cutoff > 23) {
      return Validation(
          "1 validation error detected: Value at 'cutoff' failed to satisfy constraint: Member "
          "must have value between 0 and 23");
    }
    if (w.cutoff >= w.duration) {
      return Validation("The cutoff time must be less than the maintenance window duration.");
    }
    return OkStatus();
  }

  // Loads a window record inside a transaction.
  static Result<std::pair<json, std::int64_t>> LoadWindow(store::Txn& txn, std::string_view id) {
    KW_ASSIGN_OR_RETURN(auto item, txn.Get(kWindows, id));
    if (!item) return NoWindow(id);
    KW_ASSIGN_OR_RETURN(json j, ParseJson(item->value));
    return std::make_pair(std::move(j), item->revision);
  }

  // Recomputes next_due after `after` and rewrites the due index.
  static Status Reschedule(schedule::TimeZoneCache& zones, store::Txn& txn, json& rec,
                           TimePoint after) {
    if (rec.contains("next_due") && !rec["next_due"].is_null()) {
      const std::string old = DueKey(rec["next_due"]) + "/" + rec["id"].get<std::string>();
      auto st = txn.Delete(kDue, old);
      if (!st && st.error().code != ErrorCode::kNotFound) return st;
    }
    rec["next_due"] = nullptr;
    if (!rec["enabled"].get<bool>()) return OkStatus();
    const Window w = DecWindow(rec);
    KW_ASSIGN_OR_RETURN(Plan p, MakePlan(zones, w, FromMs(rec.at("anchor"))));
    auto next = NextSlot(p, after);
    if (!next) return OkStatus();
    // Whole seconds, rounded up so that a due time is never before its slot.
    rec["next_due"] = Secs(*next) + (*next > TimePoint(Seconds(Secs(*next))) ? 1 : 0);
    KW_RETURN_IF_ERROR(
        txn.Put(kDue, DueKey(rec["next_due"]) + "/" + rec["id"].get<std::string>(), ""));
    return OkStatus();
  }

  static Window Describe(schedule::TimeZoneCache& zones, const json& rec) {
    Window w = DecWindow(rec);
    if (rec.contains("next_due") && !rec["next_due"].is_null()) {
      auto zone = zones.Get(w.schedule_timezone.value_or(""));
      w.next_execution_time = FormatInZone(TimePoint(Seconds(rec["next_due"].get<std::int64_t>())),
                                           zone ? **zone : *schedule::TimeZone::Utc());
    }
    return w;
  }

  // Lists `table` under `prefix` after the page token, keeping records `keep` accepts.
  static Result<std::pair<std::vector<json>, std::string>> Scan(
      store::KvStore& store, const char* table, const std::string& prefix, const PageRequest& req,
      const std::function<bool(const json&)>& keep) {
    std::string after = prefix;
    if (req.next_token && !req.next_token->empty()) {
      if (req.next_token->rfind(prefix, 0) != 0) return Validation("Invalid NextToken.");
      after = *req.next_token;
    }
    const std::size_t max = static_cast<std::size_t>(req.max_results.value_or(50));
    std::vector<json> out;
    std::string last;
    while (true) {
      KW_ASSIGN_OR_RETURN(auto items, store.List(table, {prefix, after, 200}));
      for (const auto& item : items) {
        after = item.key;
        auto j = json::parse(item.value, nullptr, false);
        if (j.is_discarded() || !keep(j)) continue;
        if (out.size() == max) return std::make_pair(std::move(out), last);
        out.push_back(std::move(j));
        last = item.key;
      }
      if (items.size() < 200) break;
    }
    return std::make_pair(std::move(out), std::string());
  }

  // A predicate over records for `filters`; `fields` maps a filter key to the record's
  // values for it. An unknown key is a ValidationException.
  static Result<std::function<bool(const json&)>> Filters(
      const std::vector<Filter>& filters,
      const std::map<std::string, std::function<std::vector<std::string>(const json&)>>& fields) {
    if (filters.size() > 5) return Validation("At most 5 filters may be given.");
    for (const auto& f : filters) {
      if (!fields.count(f.key)) return Validation("Invalid filter key " + f.key + ".");
    }
    return std::function<bool(const json&)>([filters, fields](const json& j) {
      for (const auto& f : filters) {
        if (f.values.empty()) continue;
        bool any = false;
        for (const auto& have : fields.at(f.key)(j)) {
          if (std::find(f.values.begin(), f.values.end(), have) != f.values.end()) any = true;
        }
        if (!any) return false;
      }
      return true;
    });
  }

  // Returns the stored id for a reused token, or nullopt; IdempotentParameterMismatch if
  // the token came with other parameters.
  static Result<std::optional<std::string>> CheckToken(store::Txn& txn, const std::string& key,
                                                       const std::string& fingerprint) {
    KW_ASSIGN_OR_RETURN(auto item, txn.Get(kTokens, key));
    if (!item) return std::optional<std::string>();
    KW_ASSIGN_OR_RETURN(json j, ParseJson(item->value));
    if (j.value("fp", "") != fingerprint) {
      return AlreadyExists("The ClientToken was used before with other parameters.",
                           "IdempotentParameterMismatch");
    }
    return std::optional<std::string>(j.value("id", ""));
  }
};

MaintenanceWindowService::MaintenanceWindowService(store::KvStore& store, const Clock& clock,
                                                   Random& random, const iam::Account& account,
                                                   commands::CommandSender& commands,
                                                   fleet::InstanceDirectory& instances,
                                                   schedule::TimeZoneCache* zones)
    : store_(store),
      clock_(clock),
      random_(random),
      account_(account),
      commands_(commands),
      instances_(instances),
      zones_(zones ? *zones : schedule::TimeZoneCache::Default()) {}

std::string MaintenanceWindowService::WindowArn(std::string_view window_id) const {
  return "arn:" + account_.partition + ":ssm:" + account_.region + ":" + account_.id +
         ":maintenancewindow/" + std::string(window_id);
}

// ---- windows -------------------------------------------------------------------------

Result<std::string> MaintenanceWindowService::CreateMaintenanceWindow(
    const CreateWindowRequest& request) {
  Window w = request.window;
  KW_RETURN_IF_ERROR(Impl::CheckWindow(w));
  if (w.tags.size() > 1000) return Validation("Too many tags.");
  const TimePoint now = clock_.Now();
  KW_ASSIGN_OR_RETURN(Plan plan, Impl::MakePlan(zones_, w, now));
  if (plan.end && *plan.end <= now) return Validation("EndDate must be in the future.");
  w.enabled = true;
  w.created = w.modified = now;
  w.window_id = "mw-" + crypto::HexEncode(random_.Bytes(9)).substr(0, 17);
  json rec = EncWindow(w);
  rec["anchor"] = Secs(now) * 1000;  // whole seconds: rate() slots fall on seconds
  json fp = rec;
  for (const char* k : {"id", "created", "modified", "anchor"}) fp.erase(k);
  std::string id = w.window_id;
  KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
    if (request.client_token) {
      KW_ASSIGN_OR_RETURN(auto existing,
                          Impl::CheckToken(txn, "window/" + *request.client_token, fp.dump()));
      if (existing) {
        id = *existing;
        return OkStatus();
      }
      KW_RETURN_IF_ERROR(txn.Put(kTokens, "window/" + *request.client_token,
                                 json{{"id", w.window_id}, {"fp", fp.dump()}}.dump()));
    }
    json r = rec;
    KW_RETURN_IF_ERROR(Impl::Reschedule(zones_, txn, r, now));
    return txn.Insert(kWindows, w.window_id, r.dump()).has_value()
               ? OkStatus()
               : Status(Internal("window id collision"));
  }));
  return id;
}

Result<Window> MaintenanceWindowService::GetMaintenanceWindow(std::string_view window_id) {
  KW_ASSIGN_OR_RETURN(auto item, store_.Get(kWindows, window_id));
  if (!item) return NoWindow(window_id);
  KW_ASSIGN_OR_RETURN(json rec, ParseJson(item->value));
  return Impl::Describe(zones_, rec);
}

Result<Window> MaintenanceWindowService::UpdateMaintenanceWindow(const UpdateWindowRequest& r) {
  const TimePoint now = clock_.Now();
  json out;
  KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(auto loaded, Impl::LoadWindow(txn, r.window_id));
    json rec = std::move(loaded.first);
    Window w = DecWindow(rec);
    const Window before = w;
    if (r.replace) {
      if (!r.name || !r.schedule || !r.duration || !r.cutoff || !r.allow_unassociated_targets) {
        return Validation(
            "Replace requires Name, Schedule, Duration, Cutoff and AllowUnassociatedTargets.");
      }
      w.description = r.description;
      w.start_date = r.start_date;
      w.end_date = r.end_date;
      w.schedule_timezone = r.schedule_timezone;
      w.schedule_offset = r.schedule_offset;
      w.enabled = r.enabled.value_or(true);
    } else {
      if (r.description) w.description = r.description;
      if (r.start_date) w.start_date = r.start_date;
      if (r.end_date) w.end_date = r.end_date;
      if (r.schedule_timezone) w.schedule_timezone = r.schedule_timezone;
      if (r.schedule_offset) w.schedule_offset = r.schedule_offset;
      if (r.enabled) w.enabled = *r.enabled;
    }
    if (r.name) w.name = *r.name;
    if (r.schedule) w.schedule = *r.schedule;
    if (r.duration) w.duration = *r.duration;
    if (r.cutoff) w.cutoff = *r.cutoff;
    if (r.allow_unassociated_targets) w.allow_unassociated_targets = *r.allow_unassociated_targets;
    KW_RETURN_IF_ERROR(Impl::CheckWindow(w));
    KW_RETURN_IF_ERROR(Impl::MakePlan(zones_, w, now));
    w.modified = now;
    json next = EncWindow(w);
    next["anchor"] = rec.value("anchor", Ms(w.created));
    // A rate() counts again from a change of what decides its slots.
    if (w.schedule != before.schedule || w.start_date != before.start_date ||
        (w.enabled && !before.enabled)) {
      next["anchor"] = Secs(now) * 1000;
    }
    next["next_due"] = rec.value("next_due", json());
    if (rec.contains("active")) next["active"] = rec["active"];
    KW_RETURN_IF_ERROR(Impl::Reschedule(zones_, txn, next, now));
    KW_RETURN_IF_ERROR(txn.CompareAndPut(kWindows, r.window_id, next.dump(), loaded.second));
    out = next;
    return OkStatus();
  }));
  return Impl::Describe(zones_, out);
}

Status MaintenanceWindowService::DeleteMaintenanceWindow(std::string_view window_id) {
  return store_.Transact([&](store::Txn& txn) -> Status {
    auto loaded = Impl::LoadWindow(txn, window_id);
    if (!loaded) {
      if (loaded.error().code == ErrorCode::kNotFound) return OkStatus();
      return loaded.error();
    }
    json rec = loaded->first;
    rec["enabled"] = false;
    KW_RETURN_IF_ERROR(Impl::Reschedule(zones_, txn, rec, TimePoint()));
    const std::string prefix = std::string(window_id) + "/";
    for (const char* table : {kTargets, kTasks}) {
      KW_ASSIGN_OR_RETURN(auto items, txn.List(table, {prefix, "", 0}));
      for (const auto& item : items) KW_RETURN_IF_ERROR(txn.Delete(table, item.key));
    }
    return txn.Delete(kWindows, window_id);
  });
}

namespace {

Error NoTaggableWindow(std::string_view id) {
  return NotFound("The resource ID " + std::string(id) + " is not valid.", "InvalidResourceId");
}

std::vector<Tag> TagsOf(const json& rec) {
  std::vector<Tag> out;
  for (const auto& t : rec.value("tags", json::array())) {
    if (t.is_array() && t.size() == 2 && t[0].is_string() && t[1].is_string()) {
      out.push_back({t[0].get<std::string>(), t[1].get<std::string>()});
    }
  }
  return out;
}

json TagsJson(const std::vector<Tag>& tags) {
  json a = json::array();
  for (const auto& t : tags) a.push_back({t.key, t.value});
  return a;
}

}  // namespace

Result<std::vector<Tag>> MaintenanceWindowService::ListTags(std::string_view window_id) {
  KW_ASSIGN_OR_RETURN(auto item, store_.Get(kWindows, window_id));
  if (!item) return NoTaggableWindow(window_id);
  KW_ASSIGN_OR_RETURN(json rec, ParseJson(item->value));
  return TagsOf(rec);
}

Status MaintenanceWindowService::AddTags(std::string_view window_id, const std::vector<Tag>& tags) {
  return store_.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(auto item, txn.Get(kWindows, window_id));
    if (!item) return NoTaggableWindow(window_id);
    KW_ASSIGN_OR_RETURN(json rec, ParseJson(item->value));
    std::vector<Tag> now = TagsOf(rec);
    for (const auto& t : tags) {
      auto it = std::find_if(now.begin(), now.end(), [&](const Tag& e) { return e.key == t.key; });
      if (it != now.end()) {
        it->value = t.value;
      } else {
        now.push_back(t);
      }
    }
    if (now.size() > kMaxResourceTags) {
      return FailedPrecondition(
          "A resource can have at most " + std::to_string(kMaxResourceTags) + " tags.",
          "TooManyTagsError");
    }
    // Only the tags change; the rest of the record (next_due, active) stays as read, and
    // CompareAndPut keeps a concurrent Tick's claim from being overwritten.
    rec["tags"] = TagsJson(now);
    KW_RETURN_IF_ERROR(txn.CompareAndPut(kWindows, window_id, rec.dump(), item->revision));
    return OkStatus();
  });
}

Status MaintenanceWindowService::RemoveTags(std::string_view window_id,
                                            const std::vector<std::string>& keys) {
  return store_.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(auto item, txn.Get(kWindows, window_id));
    if (!item) return NoTaggableWindow(window_id);
    KW_ASSIGN_OR_RETURN(json rec, ParseJson(item->value));
    std::vector<Tag> now = TagsOf(rec);
    const std::set<std::string> gone(keys.begin(), keys.end());
    now.erase(
        std::remove_if(now.begin(), now.end(), [&](const Tag& t) { return gone.count(t.key) > 0; }),
        now.end());
    rec["tags"] = TagsJson(now);
    KW_RETURN_IF_ERROR(txn.CompareAndPut(kWindows, window_id, rec.dump(), item->revision));
    return OkStatus();
  });
}

Result<Page<Window>> MaintenanceWindowService::DescribeMaintenanceWindows(
    const PageRequest& request) {
  KW_ASSIGN_OR_RETURN(
      auto keep,
      Impl::Filters(request.filters,
                    {{"Name", [](const json& j) { return std::vector<std::string>{j["name"]}; }},
                     {"Enabled", [](const json& j) {
                        return std::vector<std::string>{j["enabled"].get<bool>() ? "true"
                                                                                 : "false"};
                      }}}));
  KW_ASSIGN_OR_RETURN(auto scanned, Impl::Scan(store_, kWindows, "", request, keep));
  Page<Window> page;
  for (const auto& j : scanned.first) page.items.push_back(Impl::Describe(zones_, j));
  page.next_token = scanned.second;
  return page;
}

// ---- targets ---------------------------------------------------------------------------

Result<std::string> MaintenanceWindowService::RegisterTarget(const RegisterTargetRequest& request) {
  WindowTarget t = request.target;
  if (t.resource_type == "RESOURCE_GROUP") {
    return InvalidArgument("keyward does not support RESOURCE_GROUP targets.",
                           "FeatureNotAvailableException");
  }
  if (t.resource_type != "INSTANCE")
    return Validation("Invalid ResourceType " + t.resource_type + ".");
  if (t.targets.empty()) return Validation("Targets must not be empty.");
  KW_RETURN_IF_ERROR(CheckTargets(t.targets, false));
  KW_RETURN_IF_ERROR(CheckName(t.name, "name"));
  KW_RETURN_IF_ERROR(CheckDescription(t.description));
  t.window_target_id = NewUuid(random_);
  json rec = EncTarget(t);
  json fp = rec;
  fp.erase("id");
  std::string id = t.window_target_id;
  KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
    KW_RETURN_IF_ERROR(Impl::LoadWindow(txn, t.window_id));
    if (request.client_token) {
      KW_ASSIGN_OR_RETURN(auto existing,
                          Impl::CheckToken(txn, "target/" + *request.client_token, fp.dump()));
      if (existing) {
        id = *existing;
        return OkStatus();
      }
      KW_RETURN_IF_ERROR(txn.Put(kTokens, "target/" + *request.client_token,
                                 json{{"id", t.window_target_id}, {"fp", fp.dump()}}.dump()));
    }
    KW_ASSIGN_OR_RETURN(auto existing, txn.List(kTargets, {t.window_id + "/", "", 0}));
    if (existing.size() >= 100) {
      return FailedPrecondition("A maintenance window can have at most 100 targets.",
                                "ResourceLimitExceededException");
    }
    return txn.Insert(kTargets, t.window_id + "/" + t.window_target_id, rec.dump()).has_value()
               ? OkStatus()
               : Status(Internal("target id collision"));
  }));
  return id;
}

Result<WindowTarget> MaintenanceWindowService::UpdateTarget(const UpdateTargetRequest& r) {
  if (r.targets) {
    if (r.targets->empty()) return Validation("Targets must not be empty.");
    KW_RETURN_IF_ERROR(CheckTargets(*r.targets, false));
  }
  KW_RETURN_IF_ERROR(CheckName(r.name, "name"));
  KW_RETURN_IF_ERROR(CheckDescription(r.description));
  WindowTarget out;
  KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
    KW_RETURN_IF_ERROR(Impl::LoadWindow(txn, r.window_id));
    const std::string key = r.window_id + "/" + r.window_target_id;
    KW_ASSIGN_OR_RETURN(auto item, txn.Get(kTargets, key));
    if (!item) {
      return NotFound("Target " + r.window_target_id + " does not exist", "DoesNotExistException");
    }
    KW_ASSIGN_OR_RETURN(json j, ParseJson(item->value));
    WindowTarget t = DecTarget(j);
    if (r.replace) {
      if (!r.targets) return Validation("Replace requires Targets.");
      t.owner_information = r.owner_information;
      t.name = r.name;
      t.description = r.description;
    } else {
      if (r.owner_information) t.owner_information = r.owner_information;
      if (r.name) t.name = r.name;
      if (r.description) t.description = r.description;
    }
    if (r.targets) t.targets = *r.targets;
    out = t;
    return txn.Put(kTargets, key, EncTarget(t).dump()).has_value() ? OkStatus()
                                                                   : Status(Internal("put"));
  }));
  return out;
}

Status MaintenanceWindowService::DeregisterTarget(std::string_view window_id,
                                                  std::string_view target_id, bool safe) {
  return store_.Transact([&](store::Txn& txn) -> Status {
    KW_RETURN_IF_ERROR(Impl::LoadWindow(txn, window_id));
    const std::string key = std::string(window_id) + "/" + std::string(target_id);
    KW_ASSIGN_OR_RETURN(auto item, txn.Get(kTargets, key));
    if (!item) {
      return NotFound("Target " + std::string(target_id) + " does not exist",
                      "DoesNotExistException");
    }
    if (safe) {
      KW_ASSIGN_OR_RETURN(auto tasks, txn.List(kTasks, {std::string(window_id) + "/", "", 0}));
      for (const auto& ti : tasks) {
        KW_ASSIGN_OR_RETURN(json tj, ParseJson(ti.value));
        for (const auto& tg : DecTargets(tj["targets"])) {
          if (tg.key == "WindowTargetIds" &&
              std::find(tg.values.begin(), tg.values.end(), target_id) != tg.values.end()) {
            return FailedPrecondition("Target " + std::string(target_id) +
                                          " is referenced by task " + tj["id"].get<std::string>(),
                                      "TargetInUseException");
          }
        }
      }
    }
    return txn.Delete(kTargets, key);
  });
}

Result<Page<WindowTarget>> MaintenanceWindowService::DescribeTargets(std::string_view window_id,
                                                                     const PageRequest& request) {
  KW_RETURN_IF_ERROR(GetMaintenanceWindow(window_id));
  auto str = [](const char* k) {
    return [k](const json& j) { return std::vector<std::string>{j.value(k, "")}; };
  };
  KW_ASSIGN_OR_RETURN(auto keep,
                      Impl::Filters(request.filters, {{"Type", str("resource_type")},
                                                      {"WindowTargetId", str("id")},
                                                      {"OwnerInformation", str("owner")}}));
  KW_ASSIGN_OR_RETURN(auto scanned,
                      Impl::Scan(store_, kTargets, std::string(window_id) + "/", request, keep));
  Page<WindowTarget> page;
  for (const auto& j : scanned.first) page.items.push_back(DecTarget(j));
  page.next_token = scanned.second;
  return page;
}

// ---- tasks -------------------------------------------------------------------------------

namespace {

Status CheckTask(const WindowTask& t, const json& window, store::Txn& txn) {
  if (t.task_type != "RUN_COMMAND") {
    if (t.task_type == "AUTOMATION" || t.task_type == "STEP_FUNCTIONS" || t.task_type == "LAMBDA") {
      return InvalidArgument(
          "keyward runs only RUN_COMMAND tasks; " + t.task_type + " is not available.",
          "FeatureNotAvailableException");
    }
    return Validation("Invalid TaskType " + t.task_type + ".");
  }
  if (t.task_arn.empty() || t.task_arn.size() > 1600) {
    return Validation("TaskArn must have length between 1 and 1600.");
  }
  if (t.priority < 0) return Validation("Priority must be at least 0.");
  KW_RETURN_IF_ERROR(CheckName(t.name, "name"));
  KW_RETURN_IF_ERROR(CheckDescription(t.description));
  KW_RETURN_IF_ERROR(CheckCount(t.max_concurrency, "MaxConcurrency", false));
  KW_RETURN_IF_ERROR(CheckCount(t.max_errors, "MaxErrors", true));
  if (t.cutoff_behavior && *t.cutoff_behavior != "CONTINUE_TASK" &&
      *t.cutoff_behavior != "CANCEL_TASK") {
    return Validation("Invalid CutoffBehavior " + *t.cutoff_behavior + ".");
  }
  if (t.run_command) {
    if (t.run_command->comment && t.run_command->comment->size() > 100) {
      return Validation("Comment must be at most 100 characters.");
    }
    if (t.run_command->timeout_seconds &&
        (*t.run_command->timeout_seconds < 30 || *t.run_command->timeout_seconds > 2592000)) {
      return Validation("TimeoutSeconds must be between 30 and 2592000.");
    }
  }
  if (t.targets.empty()) return Validation("RUN_COMMAND tasks need Targets.");
  KW_RETURN_IF_ERROR(CheckTargets(t.targets, true));
  for (const auto& tg : t.targets) {
    if (tg.key == "WindowTargetIds") {
      for (const auto& id : tg.values) {
        KW_ASSIGN_OR_RETURN(auto item, txn.Get(kTargets, t.window_id + "/" + id));
        if (!item) return NotFound("Target " + id + " does not exist", "DoesNotExistException");
      }
    } else if (!window.value("allow_unassociated", false)) {
      return Validation(
          "Tasks of a window that does not allow unassociated targets must use "
          "WindowTargetIds.");
    }
  }
  return OkStatus();
}

}  // namespace

Result<std::string> MaintenanceWindowService::RegisterTask(const RegisterTaskRequest& request) {
  WindowTask t = request.task;
  t.window_task_id = NewUuid(random_);
  json rec = EncTask(t);
  json fp = rec;
  fp.erase("id");
  std::string id = t.window_task_id;
  KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(auto window, Impl::LoadWindow(txn, t.window_id));
    KW_RETURN_IF_ERROR(CheckTask(t, window.first, txn));
    if (request.client_token) {
      KW_ASSIGN_OR_RETURN(auto existing,
                          Impl::CheckToken(txn, "task/" + *request.client_token, fp.dump()));
      if (existing) {
        id = *existing;
        return OkStatus();
      }
      KW_RETURN_IF_ERROR(txn.Put(kTokens, "task/" + *request.client_token,
                                 json{{"id", t.window_task_id}, {"fp", fp.dump()}}.dump()));
    }
    KW_ASSIGN_OR_RETURN(auto existing, txn.List(kTasks, {t.window_id + "/", "", 0}));
    if (existing.size() >= 20) {
      return FailedPrecondition("A maintenance window can have at most 20 tasks.",
                                "ResourceLimitExceededException");
    }
    return txn.Insert(kTasks, t.window_id + "/" + t.window_task_id, rec.dump()).has_value()
               ? OkStatus()
               : Status(Internal("task id collision"));
  }));
  return id;
}

Result<WindowTask> MaintenanceWindowService::UpdateTask(const UpdateTaskRequest& r) {
  WindowTask out;
  KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(auto window, Impl::LoadWindow(txn, r.window_id));
    const std::string key = r.window_id + "/" + r.window_task_id;
    KW_ASSIGN_OR_RETURN(auto item, txn.Get(kTasks, key));
    if (!item) {
      return NotFound("Task " + r.window_task_id + " does not exist", "DoesNotExistException");
    }
    KW_ASSIGN_OR_RETURN(json j, ParseJson(item->value));
    WindowTask t = DecTask(j);
    if (r.replace) {
      if (!r.targets || !r.task_arn) return Validation("Replace requires Targets and TaskArn.");
      t.max_concurrency = r.max_concurrency;
      t.max_errors = r.max_errors;
      t.name = r.name;
      t.description = r.description;
      t.service_role_arn = r.service_role_arn;
      t.cutoff_behavior = r.cutoff_behavior;
      t.run_command = r.run_command;
      t.priority = r.priority.value_or(1);
    } else {
      if (r.max_concurrency) t.max_concurrency = r.max_concurrency;
      if (r.max_errors) t.max_errors = r.max_errors;
      if (r.name) t.name = r.name;
      if (r.description) t.description = r.description;
      if (r.service_role_arn) t.service_role_arn = r.service_role_arn;
      if (r.cutoff_behavior) t.cutoff_behavior = r.cutoff_behavior;
      if (r.run_command) t.run_command = r.run_command;
      if (r.priority) t.priority = *r.priority;
    }
    if (r.targets) t.targets = *r.targets;
    if (r.task_arn) t.task_arn = *r.task_arn;
    KW_RETURN_IF_ERROR(CheckTask(t, window.first, txn));
    out = t;
    return txn.Put(kTasks, key, EncTask(t).dump()).has_value() ? OkStatus()
                                                               : Status(Internal("put"));
  }));
  return out;
}

Status MaintenanceWindowService::DeregisterTask(std::string_view window_id,
                                                std::string_view task_id) {
  return store_.Transact([&](store::Txn& txn) -> Status {
    KW_RETURN_IF_ERROR(Impl::LoadWindow(txn, window_id));
    const std::string key = std::string(window_id) + "/" + std::string(task_id);
    KW_ASSIGN_OR_RETURN(auto item, txn.Get(kTasks, key));
    if (!item) {
      return NotFound("Task " + std::string(task_id) + " does not exist", "DoesNotExistException");
    }
    return txn.Delete(kTasks, key);
  });
}

Result<WindowTask> MaintenanceWindowService::GetTask(std::string_view window_id,
                                                     std::string_view task_id) {
  KW_RETURN_IF_ERROR(GetMaintenanceWindow(window_id));
  KW_ASSIGN_OR_RETURN(auto item,
                      store_.Get(kTasks, std::string(window_id) + "/" + std::string(task_id)));
  if (!item) {
    return NotFound("Task " + std::string(task_id) + " does not exist", "DoesNotExistException");
  }
  KW_ASSIGN_OR_RETURN(json j, ParseJson(item->value));
  return DecTask(j);
}

Result<Page<WindowTask>> MaintenanceWindowService::DescribeTasks(std::string_view window_id,
                                                                 const PageRequest& request) {
  KW_RETURN_IF_ERROR(GetMaintenanceWindow(window_id));
  auto str = [](const char* k) {
    return [k](const json& j) { return std::vector<std::string>{j.value(k, "")}; };
  };
  KW_ASSIGN_OR_RETURN(
      auto keep, Impl::Filters(request.filters, {{"WindowTaskId", str("id")},
                                                 {"TaskArn", str("arn")},
                                                 {"TaskType", str("type")},
                                                 {"Priority", [](const json& j) {
                                                    return std::vector<std::string>{
                                                        std::to_string(j.value("priority", 0))};
                                                  }}}));
  KW_ASSIGN_OR_RETURN(auto scanned,
                      Impl::Scan(store_, kTasks, std::string(window_id) + "/", request, keep));
  Page<WindowTask> page;
  for (const auto& j : scanned.first) page.items.push_back(DecTask(j));
  page.next_token = scanned.second;
  return page;
}

// ---- executions ----------------------------------------------------------------------------

Result<Page<Execution>> MaintenanceWindowService::DescribeExecutions(std::string_view window_id,
                                                                     const PageRequest& request) {
  std::optional<TimePoint> before, after;
  std::vector<std::string> statuses;
  for (const auto& f : request.filters) {
    if (f.key == "ExecutionStatus") {
      statuses = f.values;
    } else if (f.key == "StartedBefore" || f.key == "StartedAfter") {
      if (f.values.size() != 1) return Validation(f.key + " takes one value.");
      auto t = ParseDate(f.values[0]);
      if (!t) return Validation("Invalid " + f.key + " value " + f.values[0] + ".");
      (f.key == "StartedBefore" ? before : after) = t;
    } else {
      return Validation("Invalid filter key " + f.key + ".");
    }
  }
  // The index holds only execution ids; filter on the records.
  std::vector<Execution> all;
  PageRequest scan_req = request;
  scan_req.filters.clear();
  Page<Execution> page;
  const std::size_t max = static_cast<std::size_t>(request.max_results.value_or(50));
  const std::string prefix = std::string(window_id) + "/";
  std::string cursor = prefix;
  if (request.next_token && !request.next_token->empty()) {
    if (request.next_token->rfind(prefix, 0) != 0) return Validation("Invalid NextToken.");
    cursor = *request.next_token;
  }
  std::string last;
  while (true) {
    KW_ASSIGN_OR_RETURN(auto items, store_.List(kWindowExecs, {prefix, cursor, 200}));
    for (const auto& item : items) {
      cursor = item.key;
      KW_ASSIGN_OR_RETURN(auto rec, store_.Get(kExecs, item.value));
      if (!rec) continue;
      KW_ASSIGN_OR_RETURN(json j, ParseJson(rec->value));
      Execution e = DecExec(j);
      if (!statuses.empty() &&
          std::find(statuses.begin(), statuses.end(), e.status) == statuses.end()) {
        continue;
      }
      if (before && e.start > *before) continue;
      if (after && e.start < *after) continue;
      if (page.items.size() == max) {
        page.next_token = last;
        return page;
      }
      page.items.push_back(std::move(e));
      last = item.key;
    }
    if (items.size() < 200) break;
  }
  return page;
}

Result<Execution> MaintenanceWindowService::GetExecution(std::string_view execution_id) {
  KW_ASSIGN_OR_RETURN(auto item, store_.Get(kExecs, execution_id));
  if (!item) {
    return NotFound("Execution " + std::string(execution_id) + " does not exist",
                    "DoesNotExistException");
  }
  KW_ASSIGN_OR_RETURN(json j, ParseJson(item->value));
  return DecExec(j);
}

Result<Page<TaskExecution>> MaintenanceWindowService::DescribeExecutionTasks(
    std::string_view execution_id, const PageRequest& request) {
  KW_RETURN_IF_ERROR(GetExecution(execution_id));
  KW_ASSIGN_OR_RETURN(auto keep, Impl::Filters(request.filters, {{"Status", [](const json& j) {
                                                                    return std::vector<std::string>{
                                                                        j.value("status", "")};
                                                                  }}}));
  KW_ASSIGN_OR_RETURN(
      auto scanned, Impl::Scan(store_, kExecTasks, std::string(execution_id) + "/", request, keep));
  Page<TaskExecution> page;
  for (const auto& j : scanned.first) page.items.push_back(DecExecTask(j));
  page.next_token = scanned.second;
  return page;
}

Result<TaskExecution> MaintenanceWindowService::GetExecutionTask(std::string_view execution_id,
                                                                 std::string_view task_id) {
  KW_ASSIGN_OR_RETURN(
      auto item, store_.Get(kExecTasks, std::string(execution_id) + "/" + std::string(task_id)));
  if (!item) {
    return NotFound("Task execution " + std::string(task_id) + " does not exist",
                    "DoesNotExistException");
  }
  KW_ASSIGN_OR_RETURN(json j, ParseJson(item->value));
  return DecExecTask(j);
}

Result<Page<TaskExecution>> MaintenanceWindowService::DescribeExecutionTaskInvocations(
    std::string_view execution_id, std::string_view task_id, const PageRequest& request) {
  KW_ASSIGN_OR_RETURN(TaskExecution t, GetExecutionTask(execution_id, task_id));
  for (const auto& f : request.filters) {
    if (f.key != "Status") return Validation("Invalid filter key " + f.key + ".");
    if (!f.values.empty() &&
        std::find(f.values.begin(), f.values.end(), t.status) == f.values.end()) {
      return Page<TaskExecution>{};
    }
  }
  Page<TaskExecution> page;
  // A task that never sent a command has no invocation.
  if (!t.command_id.empty()) page.items.push_back(std::move(t));
  return page;
}

Result<Page<ScheduledExecution>> MaintenanceWindowService::DescribeSchedule(
    const ScheduleRequest& request) {
  const TimePoint now = clock_.Now();
  std::vector<json> windows;
  if (request.window_id) {
    KW_ASSIGN_OR_RETURN(auto item, store_.Get(kWindows, *request.window_id));
    if (!item) return NoWindow(*request.window_id);
    KW_ASSIGN_OR_RETURN(json j, ParseJson(item->value));
    windows.push_back(std::move(j));
  } else {
    if (request.targets.empty()) return Validation("Give WindowId or Targets.");
    KW_ASSIGN_OR_RETURN(auto items, store_.List(kWindows, {}));
    for (const auto& item : items) {
      KW_ASSIGN_OR_RETURN(json j, ParseJson(item.value));
      KW_ASSIGN_OR_RETURN(auto targets,
                          store_.List(kTargets, {j["id"].get<std::string>() + "/", "", 0}));
      bool match = false;
      for (const auto& ti : targets) {
        KW_ASSIGN_OR_RETURN(json tj, ParseJson(ti.value));
        for (const auto& have : DecTargets(tj["targets"])) {
          for (const auto& want : request.targets) {
            if (have.key != want.key) continue;
            for (const auto& v : want.values) {
              if (std::find(have.values.begin(), have.values.end(), v) != have.values.end()) {
                match = true;
              }
            }
          }
        }
      }
      if (match) windows.push_back(std::move(j));
    }
  }
  const std::size_t max = static_cast<std::size_t>(request.max_results.value_or(50));
  std::vector<std::pair<TimePoint, ScheduledExecution>> all;
  for (const auto& j : windows) {
    if (!j.value("enabled", false)) continue;
    Window w = DecWindow(j);
    auto plan = Impl::MakePlan(zones_, w, FromMs(j.value("anchor", Ms(w.created))));
    if (!plan) continue;
    std::optional<TimePoint> t;
    if (j.contains("next_due") && !j["next_due"].is_null()) {
      t = TimePoint(Seconds(j["next_due"].get<std::int64_t>()));
    }
    for (std::size_t i = 0; t && i < std::max<std::size_t>(max, 50); ++i) {
      all.push_back({*t, {w.window_id, w.name, FormatInZone(*t, *plan->zone)}});
      t = NextSlot(*plan, std::max(*t, now));
    }
  }
  std::stable_sort(all.begin(), all.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::size_t start = 0;
  if (request.next_token && !request.next_token->empty()) {
    try {
      start = std::stoul(*request.next_token);
    } catch (...) {
      return Validation("Invalid NextToken.");
    }
  }
  Page<ScheduledExecution> page;
  for (std::size_t i = start; i < all.size() && page.items.size() < max; ++i) {
    page.items.push_back(all[i].second);
    if (page.items.size() == max && i + 1 < all.size()) page.next_token = std::to_string(i + 1);
  }
  return page;
}

// ---- the scheduler ---------------------------------------------------------------------

Status MaintenanceWindowService::Tick(TimePoint now) {
  // Finish what has finished first, so that a slot right after an execution that just
  // completed is not taken for an overlap; then start what is due and send its first
  // tasks in the same tick.
  Status first = AdvanceAll(now);
  Status started = StartDue(now);
  Status advanced = AdvanceAll(now);
  if (!first) return first;
  if (!started) return started;
  return advanced;
}

Status MaintenanceWindowService::AdvanceAll(TimePoint now) {
  Status first;
  std::string after;
  while (true) {
    KW_ASSIGN_OR_RETURN(auto items, store_.List(kActive, {"", after, 100}));
    for (const auto& item : items) {
      after = item.key;
      Status st = Advance(item.key, now);
      if (!st && first) first = st;
    }
    if (items.size() < 100) break;
  }
  return first;
}

Status MaintenanceWindowService::StartDue(TimePoint now) {
  const std::int64_t now_s = Secs(now);
  Status first;
  std::string after;
  while (true) {
    KW_ASSIGN_OR_RETURN(auto items, store_.List(kDue, {"", after, 100}));
    for (const auto& item : items) {
      after = item.key;
      const std::size_t slash = item.key.find('/');
      if (slash == std::string::npos) continue;
      const std::int64_t due = std::stoll(item.key.substr(0, slash));
      if (due > now_s) return first;
      Status st = ClaimSlot(item.key.substr(slash + 1), due, now);
      // kAborted: another claimer won the slot.
      if (!st && st.error().code != ErrorCode::kAborted && first) first = st;
    }
    if (items.size() < 100) break;
  }
  return first;
}

Status MaintenanceWindowService::ClaimSlot(const std::string& window_id, std::int64_t expected_due,
                                           TimePoint now) {
  // Ids are drawn outside the transaction, which a backend may run more than once.
  const std::string exec_id = NewUuid(random_);
  std::vector<std::string> task_exec_ids;
  std::vector<std::string> invocation_ids;
  for (int i = 0; i < 20; ++i) {
    task_exec_ids.push_back(NewUuid(random_));
    invocation_ids.push_back(NewUuid(random_));
  }
  return store_.Transact([&](store::Txn& txn) -> Status {
    auto loaded = Impl::LoadWindow(txn, window_id);
    const std::string due_key = DueKey(expected_due) + "/" + window_id;
    if (!loaded) {
      if (loaded.error().code != ErrorCode::kNotFound) return loaded.error();
      return txn.Delete(kDue, due_key);  // a stale index entry
    }
    json rec = loaded->first;
    const std::int64_t revision = loaded->second;
    if (!rec["enabled"].get<bool>() || rec.value("next_due", json()).is_null() ||
        rec["next_due"].get<std::int64_t>() != expected_due) {
      auto st = txn.Delete(kDue, due_key);
      return st || st.error().code == ErrorCode::kNotFound ? OkStatus() : st;
    }
    const Window w = DecWindow(rec);
    KW_ASSIGN_OR_RETURN(Plan plan, Impl::MakePlan(zones_, w, FromMs(rec.at("anchor"))));
    // The most recent slot at or before now; count the ones skipped on the way.
    TimePoint slot{Seconds(expected_due)};
    int missed = 0;
    for (int i = 0; i < kMaxMissedWalk; ++i) {
      auto n = NextSlot(plan, slot);
      if (!n || *n > now) break;
      slot = *n;
      ++missed;
    }
    const TimePoint window_end = slot + hours(w.duration);
    json exec = {{"window_id", window_id},   {"id", exec_id},
                 {"start", Ms(now)},         {"scheduled", Ms(slot)},
                 {"end_at", Ms(window_end)}, {"cutoff_at", Ms(window_end - hours(w.cutoff))},
                 {"tasks", json::array()}};
    if (now >= window_end) {
      exec["status"] = "CANCELLED";
      exec["details"] =
          Clip("Not run: the server was not running when " + std::to_string(missed + 1) +
               " scheduled execution(s) were due, the last at " + FormatIso8601(slot) +
               ", and that window's duration had passed.");
      exec["end"] = Ms(now);
    } else if (rec.contains("active") && !rec["active"].is_null()) {
      exec["status"] = "SKIPPED_OVERLAPPING";
      exec["details"] =
          "The previous execution " + rec["active"].get<std::string>() + " was still running.";
      exec["end"] = Ms(now);
    } else {
      exec["status"] = "IN_PROGRESS";
      exec["details"] = missed > 0 ? Clip("Catch-up run for the slot at " + FormatIso8601(slot) +
                                          "; " + std::to_string(missed) +
                                          " earlier slot(s) were missed while the server was down.")
                                   : "";
      // Snapshot the tasks, with WindowTargetIds expanded to the targets they name.
      KW_ASSIGN_OR_RETURN(auto tasks, txn.List(kTasks, {window_id + "/", "", 0}));
      std::size_t n = 0;
      for (const auto& ti : tasks) {
        if (n >= task_exec_ids.size()) break;
        KW_ASSIGN_OR_RETURN(json tj, ParseJson(ti.value));
        const WindowTask task = DecTask(tj);
        std::vector<Target> resolved;
        std::string window_target_id;
        for (const auto& tg : task.targets) {
          if (tg.key != "WindowTargetIds") {
            resolved.push_back(tg);
            continue;
          }
          for (const auto& tid : tg.values) {
            KW_ASSIGN_OR_RETURN(auto target_item, txn.Get(kTargets, window_id + "/" + tid));
            if (!target_item) continue;
            if (window_target_id.empty()) window_target_id = tid;
            KW_ASSIGN_OR_RETURN(json target_json, ParseJson(target_item->value));
            for (auto& t : DecTargets(target_json["targets"])) resolved.push_back(std::move(t));
          }
        }
        const std::string& te_id = task_exec_ids[n];
        const std::string& invocation_id = invocation_ids[n++];
        json te = {{"exec_id", exec_id},
                   {"id", te_id},
                   {"task_id", task.window_task_id},
                   {"arn", task.task_arn},
                   {"type", task.task_type},
                   {"priority", task.priority},
                   {"max_concurrency", task.max_concurrency.value_or("50")},
                   {"max_errors", task.max_errors.value_or("0")},
                   {"status", "PENDING"},
                   {"targets", EncTargets(resolved)},
                   {"run_command", EncRun(task.run_command.value_or(RunCommandParameters{}))},
                   {"invocation_id", invocation_id},
                   {"window_target_id", window_target_id}};
        KW_RETURN_IF_ERROR(txn.Insert(kExecTasks, exec_id + "/" + te_id, te.dump()));
        exec["tasks"].push_back(te_id);
      }
      rec["active"] = exec_id;
      KW_RETURN_IF_ERROR(txn.Put(kActive, exec_id, ""));
    }
    KW_RETURN_IF_ERROR(txn.Insert(kExecs, exec_id, exec.dump()));
    char inverted[32];
    std::snprintf(inverted, sizeof inverted, "%016lld",
                  static_cast<long long>(9999999999999999LL - Ms(now)));
    KW_RETURN_IF_ERROR(txn.Put(kWindowExecs, window_id + "/" + inverted + "/" + exec_id, exec_id));
    // Advance the window past now in the same transaction: the claim.
    KW_RETURN_IF_ERROR(Impl::Reschedule(zones_, txn, rec, std::max(now, slot)));
    KW_RETURN_IF_ERROR(txn.CompareAndPut(kWindows, window_id, rec.dump(), revision));
    return OkStatus();
  });
}

namespace {

std::string MapCommandStatus(std::string_view s) {
  if (s == "Success") return "SUCCESS";
  if (s == "Failed") return "FAILED";
  if (s == "TimedOut" || s == "DeliveryTimedOut") return "TIMED_OUT";
  if (s == "Cancelled") return "CANCELLED";
  return "IN_PROGRESS";
}

}  // namespace

Status MaintenanceWindowService::Advance(const std::string& execution_id, TimePoint now) {
  KW_ASSIGN_OR_RETURN(auto exec_item, store_.Get(kExecs, execution_id));
  if (!exec_item) {
    return store_.Transact([&](store::Txn& txn) { return txn.Delete(kActive, execution_id); });
  }
  KW_ASSIGN_OR_RETURN(json exec, ParseJson(exec_item->value));
  const TimePoint end_at = FromMs(exec.at("end_at"));
  const TimePoint cutoff_at = FromMs(exec.at("cutoff_at"));

  // Writes one task execution if it is still in `expected` status (a claim between
  // servers, and between a Tick and a restarted one).
  auto update_task = [&](const json& before, const std::string& expected,
                         const std::function<void(json&)>& change) -> Result<bool> {
    bool changed = false;
    const std::string key = execution_id + "/" + before["id"].get<std::string>();
    KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
      changed = false;
      KW_ASSIGN_OR_RETURN(auto item, txn.Get(kExecTasks, key));
      if (!item) return OkStatus();
      KW_ASSIGN_OR_RETURN(json cur, ParseJson(item->value));
      if (cur.value("status", "") != expected) return OkStatus();
      change(cur);
      KW_RETURN_IF_ERROR(txn.CompareAndPut(kExecTasks, key, cur.dump(), item->revision));
      changed = true;
      return OkStatus();
    }));
    return changed;
  };
  auto finish = [&](json& t, const std::string& status, const std::string& details) {
    t["status"] = status;
    t["details"] = Clip(details);
    t["end"] = Ms(now);
  };

  KW_ASSIGN_OR_RETURN(auto task_items, store_.List(kExecTasks, {execution_id + "/", "", 0}));
  std::vector<json> tasks;
  for (const auto& item : task_items) {
    KW_ASSIGN_OR_RETURN(json t, ParseJson(item.value));
    tasks.push_back(std::move(t));
  }

  // 1. Running tasks: status from Run Command; the window's end times them out.
  for (json& t : tasks) {
    const std::string status = t.value("status", "");
    if (status == "SENDING") {
      if (now - FromMs(t.value("sending_since", Ms(now))) < kSendingStale) continue;
      KW_ASSIGN_OR_RETURN(bool changed, update_task(t, "SENDING", [&](json& cur) {
                            finish(cur, "FAILED",
                                   "Interrupted while its command was being sent (server "
                                   "restart); not sent again so that it cannot run twice.");
                          }));
      if (changed) t["status"] = "FAILED";
      continue;
    }
    if (status != "IN_PROGRESS") continue;
    std::string next = "IN_PROGRESS";
    std::string details;
    auto summary = commands_.CommandStatus(t.value("command_id", ""));
    if (summary) {
      next = MapCommandStatus(summary->status);
      details = "Command " + summary->command_id + ": " + summary->status + " (" +
                std::to_string(summary->completed_count) + " of " +
                std::to_string(summary->target_count) + " completed, " +
                std::to_string(summary->error_count) + " errors)";
    } else if (summary.error().code == ErrorCode::kNotFound) {
      next = "FAILED";
      details = "Command " + t.value("command_id", "") + " no longer exists.";
    }
    if (next == "IN_PROGRESS" && now >= end_at) {
      next = "TIMED_OUT";
      details = "The maintenance window ended before the command finished.";
    }
    if (next == "IN_PROGRESS") continue;
    KW_ASSIGN_OR_RETURN(bool changed, update_task(t, "IN_PROGRESS",
                                                  [&](json& cur) { finish(cur, next, details); }));
    if (changed) t["status"] = next;
  }

  // 2. Pending tasks: the lowest priority group starts when every earlier one is done;
  // none starts after the cutoff.
  std::optional<int> group;
  for (const json& t : tasks) {
    if (t.value("status", "") == "PENDING" && (!group || t.value("priority", 0) < *group)) {
      group = t.value("priority", 0);
    }
  }
  bool busy = false;  // an earlier priority group still running
  for (const json& t : tasks) {
    const std::string s = t.value("status", "");
    if ((s == "IN_PROGRESS" || s == "SENDING") && group && t.value("priority", 0) < *group) {
      busy = true;
    }
  }
  if (group && now >= cutoff_at) {
    for (json& t : tasks) {
      if (t.value("status", "") != "PENDING") continue;
      KW_ASSIGN_OR_RETURN(bool changed, update_task(t, "PENDING", [&](json& cur) {
                            finish(cur, "CANCELLED",
                                   "Not started: the window's cutoff had passed.");
                          }));
      if (changed) t["status"] = "CANCELLED";
    }
  } else if (group && !busy) {
    for (json& t : tasks) {
      if (t.value("status", "") != "PENDING" || t.value("priority", 0) != *group) continue;
      KW_ASSIGN_OR_RETURN(bool claimed, update_task(t, "PENDING", [&](json& cur) {
                            cur["status"] = "SENDING";
                            cur["sending_since"] = Ms(now);
                            cur["start"] = Ms(now);
                          }));
      if (!claimed) continue;
      t["status"] = "SENDING";
      // Resolve the targets now: instances registered since the window started count.
      std::set<std::string> ids;
      Status resolve_error;
      std::optional<std::vector<fleet::InstanceSummary>> listed;
      for (const auto& tg : DecTargets(t["targets"])) {
        if (tg.key == "InstanceIds") {
          for (const auto& id : tg.values) {
            auto found = instances_.FindInstance(id);
            if (!found) {
              resolve_error = found.error();
            } else if (*found) {
              ids.insert(id);
            }
          }
          continue;
        }
        if (!listed) {
          auto all = instances_.ListInstances();
          if (!all) {
            resolve_error = all.error();
            continue;
          }
          listed = std::move(*all);
        }
        for (const auto& inst : *listed) {
          for (const auto& v : tg.values) {
            if (tg.key == "tag-key"
                    ? inst.tags.count(v) > 0
                    : (inst.tags.count(tg.key.substr(4)) && inst.tags.at(tg.key.substr(4)) == v)) {
              ids.insert(inst.instance_id);
            }
          }
        }
      }
      std::string status = "IN_PROGRESS", details, command_id;
      if (!resolve_error) {
        status = "FAILED";
        details = "Could not resolve the targets: " + resolve_error.error().message;
      } else if (ids.empty()) {
        status = "FAILED";
        details = "No registered instance matched the task's targets.";
      } else {
        const RunCommandParameters rc = DecRun(t["run_command"]);
        commands::SendCommandRequest req;
        req.instance_ids.assign(ids.begin(), ids.end());
        req.document_name = t.value("arn", "");
        req.document_version = rc.document_version;
        req.parameters = rc.parameters;
        req.timeout_seconds = rc.timeout_seconds;
        req.comment = rc.comment.value_or("");
        req.max_concurrency = t.value("max_concurrency", "50");
        req.max_errors = t.value("max_errors", "0");
        req.requested_by = WindowArn(exec.value("window_id", ""));
        req.window_execution_id = execution_id;
        auto sent = commands_.SendCommand(req, now);
        if (sent) {
          command_id = *sent;
        } else {
          status = "FAILED";
          details = "SendCommand failed: " +
                    (sent.error().reason.empty() ? std::string() : sent.error().reason + ": ") +
                    sent.error().message;
        }
      }
      KW_ASSIGN_OR_RETURN(bool recorded, update_task(t, "SENDING", [&](json& cur) {
                            cur["status"] = status;
                            cur.erase("sending_since");
                            if (!command_id.empty()) cur["command_id"] = command_id;
                            if (status != "IN_PROGRESS") {
                              finish(cur, status, details);
                            } else {
                              cur["details"] = "Command " + command_id + " sent to " +
                                               std::to_string(ids.size()) + " instance(s).";
                            }
                          }));
      if (recorded) t["status"] = status;
    }
  }

  // 3. Done when every task is.
  std::string final_status = "SUCCESS";
  for (const json& t : tasks) {
    const std::string s = t.value("status", "");
    if (!Terminal(s)) return OkStatus();
    if (s == "FAILED") {
      final_status = "FAILED";
    } else if (s == "TIMED_OUT" && final_status != "FAILED") {
      final_status = "TIMED_OUT";
    } else if (s == "CANCELLED" && final_status == "SUCCESS") {
      final_status = "CANCELLED";
    }
  }
  return store_.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(auto item, txn.Get(kExecs, execution_id));
    if (!item) return OkStatus();
    KW_ASSIGN_OR_RETURN(json cur, ParseJson(item->value));
    if (cur.value("status", "") != "IN_PROGRESS") return txn.Delete(kActive, execution_id);
    cur["status"] = final_status;
    if (tasks.empty()) cur["details"] = "The window has no tasks.";
    cur["end"] = Ms(now);
    KW_RETURN_IF_ERROR(txn.CompareAndPut(kExecs, execution_id, cur.dump(), item->revision));
    auto st = txn.Delete(kActive, execution_id);
    if (!st && st.error().code != ErrorCode::kNotFound) return st;
    const std::string window_id = cur.value("window_id", "");
    KW_ASSIGN_OR_RETURN(auto w, txn.Get(kWindows, window_id));
    if (w) {
      KW_ASSIGN_OR_RETURN(json wj, ParseJson(w->value));
      if (wj.value("active", json()) == json(execution_id)) {
        wj.erase("active");
        KW_RETURN_IF_ERROR(txn.CompareAndPut(kWindows, window_id, wj.dump(), w->revision));
      }
    }
    return OkStatus();
  });
}

}  // namespace kw::windows
