#include "directory/directory_service.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "common/strings.hpp"

namespace kw::directory {
namespace {

using nlohmann::json;

constexpr std::string_view kPeople = "directory_people";
constexpr std::string_view kChanges = "directory_changes";
constexpr std::string_view kMeta = "directory_meta";

std::int64_t Secs(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
TimePoint FromSecs(std::int64_t s) { return TimePoint(std::chrono::seconds(s)); }

json EncodeRecord(const PersonRecord& r) {
  json j{{"id", r.person.id},
         {"kind", r.person.kind},
         {"name", r.person.name},
         {"email", r.person.email},
         {"department", r.person.department},
         {"status", PersonStatusName(r.person.status)},
         {"first_seen", Secs(r.first_seen)},
         {"updated", Secs(r.updated)},
         {"previous_department", r.previous_department},
         {"absent", r.absent}};
  if (r.departed_at) j["departed_at"] = Secs(*r.departed_at);
  if (r.transferred_at) j["transferred_at"] = Secs(*r.transferred_at);
  return j;
}

Result<PersonRecord> DecodeRecord(const store::Item& item) {
  try {
    const json j = json::parse(item.value);
    PersonRecord r;
    r.person.id = j.at("id").get<std::string>();
    r.person.kind = j.at("kind").get<std::string>();
    r.person.name = j.at("name").get<std::string>();
    r.person.email = j.at("email").get<std::string>();
    r.person.department = j.at("department").get<std::string>();
    r.person.status =
        ParsePersonStatus(j.at("status").get<std::string>()).value_or(PersonStatus::kActive);
    r.first_seen = FromSecs(j.at("first_seen").get<std::int64_t>());
    r.updated = FromSecs(j.at("updated").get<std::int64_t>());
    r.previous_department = j.value("previous_department", std::string());
    r.absent = j.value("absent", false);
    if (j.contains("departed_at")) r.departed_at = FromSecs(j["departed_at"].get<std::int64_t>());
    if (j.contains("transferred_at")) {
      r.transferred_at = FromSecs(j["transferred_at"].get<std::int64_t>());
    }
    return r;
  } catch (const json::exception&) {
    return Internal("directory: stored person " + item.key + " is unreadable");
  }
}

std::optional<ChangeKind> ParseChangeKind(std::string_view s) {
  for (ChangeKind k : {ChangeKind::kJoined, ChangeKind::kDeparted, ChangeKind::kTransferred,
                       ChangeKind::kReturned}) {
    if (ChangeKindName(k) == s) return k;
  }
  return std::nullopt;
}

std::string SeqKey(std::int64_t n) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%020lld", static_cast<long long>(n));
  return buf;
}

}  // namespace

std::string_view ChangeKindName(ChangeKind k) {
  switch (k) {
    case ChangeKind::kJoined:
      return "joined";
    case ChangeKind::kDeparted:
      return "departed";
    case ChangeKind::kTransferred:
      return "transferred";
    case ChangeKind::kReturned:
      return "returned";
  }
  return "joined";
}

Result<SyncResult> DirectoryService::Sync(const Snapshot& snapshot, const SyncOptions& options) {
  KW_RETURN_IF_ERROR(ValidateSnapshot(snapshot));
  const TimePoint now = clock_.Now();
  SyncResult result;
  Status s = store_.Transact([&](store::Txn& txn) -> Status {
    result = SyncResult{};
    result.people = snapshot.people.size();
    KW_ASSIGN_OR_RETURN(auto items, txn.List(kPeople, {}));
    std::map<std::string, PersonRecord> old;
    for (const auto& item : items) {
      KW_ASSIGN_OR_RETURN(PersonRecord r, DecodeRecord(item));
      old.emplace(item.key, std::move(r));
    }
    std::size_t old_present = 0;
    for (const auto& [k, r] : old) old_present += r.absent ? 0 : 1;
    if (snapshot.people.empty() && old_present > 0 && !options.allow_empty) {
      return FailedPrecondition(
          "directory: the source returned nobody while " + std::to_string(old_present) +
          " people are known; refusing to count everyone as departed (check the source)");
    }

    std::map<std::string, PersonRecord> next;
    auto change = [&](const std::string& id, ChangeKind kind, std::string from, std::string to) {
      result.changes.push_back(Change{id, kind, std::move(from), std::move(to), now});
    };
    for (const Person& p : snapshot.people) {
      const std::string key = ToLowerAscii(p.id);
      auto it = old.find(key);
      PersonRecord rec;
      if (it == old.end()) {
        rec.person = p;
        rec.first_seen = now;
        rec.updated = now;
        if (p.status == PersonStatus::kDeparted) rec.departed_at = now;
        if (p.status == PersonStatus::kTransferred) rec.transferred_at = now;
        if (!old.empty())
          change(p.id, ChangeKind::kJoined, "", std::string(PersonStatusName(p.status)));
        next.emplace(key, std::move(rec));
        continue;
      }
      rec = it->second;
      const PersonStatus before = rec.absent ? PersonStatus::kDeparted : rec.person.status;
      const std::string old_department = rec.person.department;
      const bool changed_fields =
          rec.absent || rec.person.status != p.status || rec.person.department != p.department ||
          rec.person.name != p.name || rec.person.email != p.email || rec.person.kind != p.kind;
      rec.person = p;
      rec.absent = false;
      if (changed_fields) rec.updated = now;
      if (p.status == PersonStatus::kDeparted && before != PersonStatus::kDeparted) {
        rec.departed_at = now;
        change(p.id, ChangeKind::kDeparted, std::string(PersonStatusName(before)), "departed");
      } else if (p.status != PersonStatus::kDeparted && before == PersonStatus::kDeparted) {
        rec.departed_at.reset();
        change(p.id, ChangeKind::kReturned, "departed", std::string(PersonStatusName(p.status)));
      }
      // A transfer: the directory says so, or the department changed.
      // An export without a department column says nothing about moves.
      const bool dept_moved = !old_department.empty() && !p.department.empty() &&
                              old_department != p.department && p.status != PersonStatus::kDeparted;
      if ((p.status == PersonStatus::kTransferred && before != PersonStatus::kTransferred) ||
          dept_moved) {
        rec.transferred_at = now;
        rec.previous_department = old_department;
        if (dept_moved && rec.person.status == PersonStatus::kActive) {
          rec.person.status = PersonStatus::kTransferred;
        }
        change(p.id, ChangeKind::kTransferred, old_department, p.department);
      }
      next.emplace(key, std::move(rec));
    }
    for (auto& [key, rec] : old) {
      if (next.count(key)) continue;
      if (!rec.absent && rec.person.status != PersonStatus::kDeparted) {
        rec.departed_at = now;
        rec.updated = now;
        change(rec.person.id, ChangeKind::kDeparted,
               std::string(PersonStatusName(rec.person.status)), "absent");
      }
      rec.absent = true;
      next.emplace(key, std::move(rec));
    }

    for (const auto& [key, rec] : next) {
      KW_RETURN_IF_ERROR(txn.Put(kPeople, key, EncodeRecord(rec).dump()));
    }
    std::int64_t seq = 0;
    KW_ASSIGN_OR_RETURN(auto last, txn.List(kChanges, {}));
    if (!last.empty()) {
      const std::string& k = last.back().key;
      std::from_chars(k.data(), k.data() + k.size(), seq);
    }
    for (const Change& c : result.changes) {
      json j{{"person", c.person_id},
             {"kind", ChangeKindName(c.kind)},
             {"from", c.from},
             {"to", c.to},
             {"at", Secs(c.at)}};
      KW_RETURN_IF_ERROR(txn.Put(kChanges, SeqKey(++seq), j.dump()));
    }
    json meta{{"time", Secs(now)}, {"source", options.source}, {"people", result.people}};
    KW_RETURN_IF_ERROR(txn.Put(kMeta, "last_sync", meta.dump()));
    return OkStatus();
  });
  KW_RETURN_IF_ERROR(s);
  return result;
}

Result<std::vector<PersonRecord>> DirectoryService::Load() {
  KW_ASSIGN_OR_RETURN(auto items, store_.List(kPeople, {}));
  std::vector<PersonRecord> out;
  out.reserve(items.size());
  for (const auto& item : items) {
    KW_ASSIGN_OR_RETURN(PersonRecord r, DecodeRecord(item));
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::optional<PersonRecord>> DirectoryService::Find(std::string_view owner) {
  KW_ASSIGN_OR_RETURN(auto item, store_.Get(kPeople, ToLowerAscii(owner)));
  if (item) {
    KW_ASSIGN_OR_RETURN(PersonRecord r, DecodeRecord(*item));
    return std::optional<PersonRecord>(std::move(r));
  }
  KW_ASSIGN_OR_RETURN(auto all, Load());
  OwnerIndex index(std::move(all));
  const PersonRecord* r = index.Find(owner);
  return r ? std::optional<PersonRecord>(*r) : std::nullopt;
}

Result<ChangePage> DirectoryService::ListChanges(std::optional<std::string> next_token,
                                                 int max_results) {
  store::ListOptions opts;
  if (next_token) {
    if (next_token->size() != 20 || !std::all_of(next_token->begin(), next_token->end(),
                                                 [](char c) { return c >= '0' && c <= '9'; })) {
      return InvalidArgument("The NextToken is not valid.", "InvalidNextTokenException");
    }
    opts.start_after = *next_token;
  }
  opts.limit = static_cast<std::size_t>(max_results) + 1;
  KW_ASSIGN_OR_RETURN(auto items, store_.List(kChanges, opts));
  ChangePage page;
  for (std::size_t i = 0; i < items.size() && i < static_cast<std::size_t>(max_results); ++i) {
    try {
      const json j = json::parse(items[i].value);
      Change c;
      c.person_id = j.at("person").get<std::string>();
      c.kind = ParseChangeKind(j.at("kind").get<std::string>()).value_or(ChangeKind::kJoined);
      c.from = j.at("from").get<std::string>();
      c.to = j.at("to").get<std::string>();
      c.at = FromSecs(j.at("at").get<std::int64_t>());
      page.changes.push_back(std::move(c));
    } catch (const json::exception&) {
      return Internal("directory: stored change " + items[i].key + " is unreadable");
    }
  }
  if (items.size() > static_cast<std::size_t>(max_results)) {
    page.next_token = items[max_results - 1].key;
  }
  return page;
}

Result<std::optional<TimePoint>> DirectoryService::LastSync() {
  KW_ASSIGN_OR_RETURN(auto item, store_.Get(kMeta, "last_sync"));
  if (!item) return std::optional<TimePoint>();
  try {
    return std::optional<TimePoint>(
        FromSecs(json::parse(item->value).at("time").get<std::int64_t>()));
  } catch (const json::exception&) {
    return Internal("directory: stored sync record is unreadable");
  }
}

OwnerIndex::OwnerIndex(std::vector<PersonRecord> records) : records_(std::move(records)) {
  for (std::size_t i = 0; i < records_.size(); ++i) {
    by_key_.emplace_back(ToLowerAscii(records_[i].person.id), i);
    if (!records_[i].person.email.empty()) {
      by_key_.emplace_back(ToLowerAscii(records_[i].person.email), i);
    }
  }
  // An ID wins over another person's equal email: IDs are inserted before emails of
  // the same record, and the stable sort keeps that order among equal keys.
  std::stable_sort(by_key_.begin(), by_key_.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
}

const PersonRecord* OwnerIndex::Find(std::string_view owner) const {
  const std::string key = ToLowerAscii(owner);
  auto it = std::lower_bound(by_key_.begin(), by_key_.end(), key,
                             [](const auto& e, const std::string& k) { return e.first < k; });
  if (it == by_key_.end() || it->first != key) return nullptr;
  return &records_[it->second];
}

}  // namespace kw::directory
