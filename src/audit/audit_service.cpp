#include "audit/audit_service.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <utility>

#include "audit/event_rules.hpp"

namespace kw::audit {
namespace {

using nlohmann::json;

// Findings live in buckets: "audit_finding_buckets", key "b-" + the first three hex
// digits of the finding ID's hash (4,096 buckets), value the bucket's findings in ID order.
// An audit of 100,000 users has about 190,000 findings; one row each made SQLite's per-row
// cost (about 17 microseconds an upsert here) most of the audit's time, whereas a few
// thousand rows of a few dozen findings cost about the same bytes and far fewer rows.
// The IDs are hashes, so buckets fill evenly.
constexpr std::string_view kBuckets = "audit_finding_buckets";
// Format 1 (one nlohmann JSON row per finding, keyed by ID): moved into buckets by the
// next audit.
constexpr std::string_view kLegacyFindings = "audit_findings";
constexpr std::size_t kBucketDigits = 3;

std::int64_t Secs(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
TimePoint FromSecs(std::int64_t s) { return TimePoint(std::chrono::seconds(s)); }

// A finding's record in a bucket (format 2; format 1 was nlohmann JSON). Unsigned LEB128 varints
// and length-prefixed strings: encoding and decoding a finding costs a few copies instead of a JSON
// tree, and the record is about half the size of the JSON (the bytes written per audit are most of
// its cost on SQLite). The header holds the fields an audit changes (state, severity, times,
// count); the body holds the content (type, resource, summary, evidence). An audit reads only
// headers, and resolving a finding rewrites its header in front of the stored body bytes, without
// decoding them.
//   header: 0x02 state:u8 severity:u8 first_seen:var last_seen:var count:var updated:var
//           state_reason:str
//   body:   type:str resource:str summary:str n:var (key:str value:str)*n
//   str:    length:var bytes; times are Unix seconds (as uint64).
//   bucket: (id:str record:str)* in ascending ID order
constexpr char kFormat2 = '\x02';

void PutVar(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
void PutI64(std::string& out, std::int64_t x) { PutVar(out, static_cast<std::uint64_t>(x)); }
void PutStr(std::string& out, std::string_view s) {
  PutVar(out, s.size());
  out.append(s);
}

// Reads format 2; any read past the end sets ok = false and returns zeros.
struct Reader {
  std::string_view in;
  std::size_t pos = 0;
  bool ok = true;

  std::uint8_t Byte() {
    if (!ok || pos >= in.size()) {
      ok = false;
      return 0;
    }
    return static_cast<std::uint8_t>(in[pos++]);
  }
  std::uint64_t Var() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      const std::uint8_t b = Byte();
      v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
    ok = false;  // longer than 10 bytes
    return 0;
  }
  std::int64_t I64() { return static_cast<std::int64_t>(Var()); }
  std::string_view Str() {
    const std::uint64_t n = Var();
    if (!ok || in.size() - pos < n) {
      ok = false;
      return {};
    }
    std::string_view s = in.substr(pos, n);
    pos += n;
    return s;
  }
};

// The per-audit fields of a stored finding.
struct Header {
  FindingState state = FindingState::kActive;
  Severity severity = Severity::kMedium;
  TimePoint first_seen;
  TimePoint last_seen;
  std::int64_t count = 0;
  TimePoint updated;
  std::string state_reason;
};

void EncodeHeader(std::string& out, const Header& h) {
  out.push_back(kFormat2);
  out.push_back(static_cast<char>(h.state));
  out.push_back(static_cast<char>(h.severity));
  PutI64(out, Secs(h.first_seen));
  PutI64(out, Secs(h.last_seen));
  PutI64(out, h.count);
  PutI64(out, Secs(h.updated));
  PutStr(out, h.state_reason);
}

void EncodeBody(std::string& out, std::string_view type, std::string_view resource,
                std::string_view summary, const Evidence& evidence) {
  PutStr(out, type);
  PutStr(out, resource);
  PutStr(out, summary);
  PutVar(out, evidence.size());
  for (const auto& [k, v] : evidence) {
    PutStr(out, k);
    PutStr(out, v);
  }
}

Header HeaderOf(const Finding& f) {
  return {f.state, f.severity, f.first_seen, f.last_seen, f.count, f.updated, f.state_reason};
}

std::string EncodeRecord(const Finding& f) {
  std::string out;
  EncodeHeader(out, HeaderOf(f));
  EncodeBody(out, f.type, f.resource, f.summary, f.evidence);
  return out;
}

Error Unreadable(std::string_view what) {
  return Internal("audit: stored finding " + std::string(what) + " is unreadable");
}

bool IsHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// IDs from FindingId: "f-" + 16 lowercase hex digits.
bool ValidId(std::string_view id) {
  return id.size() == 18 && id.substr(0, 2) == "f-" && std::all_of(id.begin() + 2, id.end(), IsHex);
}

std::string BucketKey(std::string_view id) {
  return "b-" + std::string(id.substr(2, kBucketDigits));
}

// Format 1.
Result<Finding> DecodeJson(const store::Item& item) {
  try {
    const json j = json::parse(item.value);
    Finding f;
    f.finding_id = j.at("id").get<std::string>();
    f.type = j.at("type").get<std::string>();
    f.severity = ParseSeverity(j.at("severity").get<std::string>()).value_or(Severity::kMedium);
    f.resource = j.at("resource").get<std::string>();
    f.summary = j.at("summary").get<std::string>();
    for (auto it = j.at("evidence").begin(); it != j.at("evidence").end(); ++it) {
      f.evidence[it.key()] = it.value().get<std::string>();
    }
    f.first_seen = FromSecs(j.at("first_seen").get<std::int64_t>());
    f.last_seen = FromSecs(j.at("last_seen").get<std::int64_t>());
    f.count = j.at("count").get<std::int64_t>();
    f.state = ParseFindingState(j.at("state").get<std::string>()).value_or(FindingState::kActive);
    f.state_reason = j.at("state_reason").get<std::string>();
    f.updated = FromSecs(j.at("updated").get<std::int64_t>());
    if (!ValidId(f.finding_id)) return Unreadable(item.key);
    return f;
  } catch (const json::exception&) {
    return Unreadable(item.key);
  }
}

// A record's header; `r` is left at the body.
Result<Header> ReadHeader(Reader& r, std::string_view id) {
  Header h;
  if (r.Byte() != static_cast<std::uint8_t>(kFormat2)) return Unreadable(id);
  const auto state = r.Byte();
  const auto severity = r.Byte();
  if (state > static_cast<int>(FindingState::kResolved) ||
      severity > static_cast<int>(Severity::kCritical)) {
    return Unreadable(id);
  }
  h.state = static_cast<FindingState>(state);
  h.severity = static_cast<Severity>(severity);
  h.first_seen = FromSecs(r.I64());
  h.last_seen = FromSecs(r.I64());
  h.count = r.I64();
  h.updated = FromSecs(r.I64());
  h.state_reason = std::string(r.Str());
  if (!r.ok) return Unreadable(id);
  return h;
}

Result<Finding> DecodeRecord(std::string_view id, std::string_view record) {
  Reader r{record};
  KW_ASSIGN_OR_RETURN(Header h, ReadHeader(r, id));
  Finding f;
  f.finding_id = std::string(id);
  f.state = h.state;
  f.severity = h.severity;
  f.first_seen = h.first_seen;
  f.last_seen = h.last_seen;
  f.count = h.count;
  f.updated = h.updated;
  f.state_reason = std::move(h.state_reason);
  f.type = std::string(r.Str());
  f.resource = std::string(r.Str());
  f.summary = std::string(r.Str());
  const std::uint64_t n = r.Var();
  for (std::uint64_t i = 0; r.ok && i < n; ++i) {
    std::string k(r.Str());
    f.evidence.emplace(std::move(k), std::string(r.Str()));
  }
  if (!r.ok || r.pos != record.size()) return Unreadable(id);
  return f;
}

struct Entry {
  std::string_view id;
  std::string_view record;
};

// A bucket's entries, in ID order; views into `value`.
Result<std::vector<Entry>> ParseBucket(std::string_view key, std::string_view value) {
  std::vector<Entry> out;
  Reader r{value};
  while (r.ok && r.pos < value.size()) {
    Entry e;
    e.id = r.Str();
    e.record = r.Str();
    if (!r.ok || !ValidId(e.id) || BucketKey(e.id) != key ||
        (!out.empty() && out.back().id >= e.id)) {
      return Unreadable("bucket " + std::string(key));
    }
    out.push_back(e);
  }
  if (!r.ok) return Unreadable("bucket " + std::string(key));
  return out;
}

void AppendEntry(std::string& bucket, std::string_view id, std::string_view record) {
  PutStr(bucket, id);
  PutStr(bucket, record);
}

Error NoSuchFinding(std::string_view id) {
  return NotFound("Finding " + std::string(id) + " not found", "ResourceNotFoundException");
}

}  // namespace

Result<AuditData> LiveAuditData::Collect(TimePoint now) {
  AuditData data;
  data.now = now;
  iam::ListUsersRequest req;
  req.max_items = 1000;
  while (true) {
    KW_ASSIGN_OR_RETURN(iam::UserPage page, users_.ListUsers(req));
    for (const iam::User& u : page.users) {
      UserView view{u.name, u.arn, u.create_date, {}, {}};
      for (const auto& t : u.tags) view.tags[t.key] = t.value;
      std::optional<std::string> marker;
      do {
        KW_ASSIGN_OR_RETURN(iam::AccessKeyPage keys,
                            users_.ListAccessKeys(u.name, marker, 1000, nullptr));
        for (const auto& k : keys.keys) {
          KeyView kv{k.access_key_id, k.status == iam::KeyStatus::kActive, k.create_date, {}};
          KW_ASSIGN_OR_RETURN(iam::AccessKeyLastUsed used,
                              users_.GetAccessKeyLastUsed(k.access_key_id));
          kv.last_used = used.last_used_date;
          view.keys.push_back(std::move(kv));
        }
        marker = keys.is_truncated ? std::optional<std::string>(keys.marker) : std::nullopt;
      } while (marker);
      data.users.push_back(std::move(view));
    }
    if (!page.is_truncated) break;
    req.marker = page.marker;
  }
  if (fleet_ != nullptr) {
    fleet::DescribeActivationsRequest areq;
    while (true) {
      KW_ASSIGN_OR_RETURN(fleet::ActivationPage page, fleet_->DescribeActivations(areq));
      for (const auto& a : page.activations) {
        data.activations.push_back({a.activation_id, a.iam_role, a.created_date, a.expiration_date,
                                    a.registrations_count, a.registration_limit, a.tags});
      }
      if (page.next_token.empty()) break;
      areq.next_token = page.next_token;
    }
    // The registered addresses, for InstanceCredentialsOffInstance.
    KW_ASSIGN_OR_RETURN(auto instances, fleet_->ListInstances());
    for (const auto& i : instances) data.instance_ips[i.instance_id] = i.ip_address;
  }
  KW_ASSIGN_OR_RETURN(auto people, directory_.Load());
  data.directory = std::make_shared<directory::OwnerIndex>(std::move(people));
  return data;
}

AuditService::AuditService(store::KvStore& store, const Clock& clock, AuditDataSource& source,
                           AuditPolicy policy, std::vector<std::unique_ptr<Rule>> rules)
    : store_(store),
      clock_(clock),
      source_(source),
      policy_(std::move(policy)),
      rules_(std::move(rules)) {}

Result<AuditRun> AuditService::Run() {
  KW_ASSIGN_OR_RETURN(AuditData data, source_.Collect(clock_.Now()));
  std::optional<TimePoint> window_start;
  if (event_source_ != nullptr) {
    // Only the events since the last audit, so that an audit stays fast.
    std::lock_guard<std::mutex> lock(event_mu_);
    window_start = last_event_audit_ ? *last_event_audit_ - policy_.event_overlap
                                     : data.now - policy_.first_event_window;
    KW_RETURN_IF_ERROR(CollectEventData(*event_source_, policy_, *window_start, data));
  }
  KW_ASSIGN_OR_RETURN(AuditRun run, RunOn(data));
  if (event_source_ != nullptr) {
    std::lock_guard<std::mutex> lock(event_mu_);
    if (!last_event_audit_ || *last_event_audit_ < data.now) last_event_audit_ = data.now;
  }
  return run;
}

Status AuditService::MoveLegacyFindings() {
  KW_ASSIGN_OR_RETURN(auto probe, store_.List(kLegacyFindings, {"", "", 1}));
  if (probe.empty()) return OkStatus();
  return store_.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(auto items, txn.List(kLegacyFindings, {}));
    std::map<std::string, std::map<std::string, std::string>> buckets;  // key -> id -> record
    for (const auto& item : items) {
      KW_ASSIGN_OR_RETURN(Finding f, DecodeJson(item));
      buckets[BucketKey(f.finding_id)][f.finding_id] = EncodeRecord(f);
    }
    for (auto& [key, entries] : buckets) {
      KW_ASSIGN_OR_RETURN(auto stored, txn.Get(kBuckets, key));
      if (stored) {
        KW_ASSIGN_OR_RETURN(auto old, ParseBucket(key, stored->value));
        for (const Entry& e : old) entries.emplace(std::string(e.id), std::string(e.record));
      }
      std::string value;
      for (const auto& [id, record] : entries) AppendEntry(value, id, record);
      KW_RETURN_IF_ERROR(txn.Put(kBuckets, key, value));
    }
    for (const auto& item : items) KW_RETURN_IF_ERROR(txn.Delete(kLegacyFindings, item.key));
    return OkStatus();
  });
}

Result<AuditRun> AuditService::RunOn(const AuditData& data) {
  std::vector<Observation> observed = Evaluate(rules_, data, policy_);
  const TimePoint now = data.now;
  // By finding ID, the order of entries in buckets and of buckets in the store, so that
  // the merge is a single pass over both and writes go in key order. Two rules never
  // share a type, but one rule may see a resource twice (a key listed under two pages
  // during a concurrent change): keep the first.
  std::vector<std::pair<std::string, Observation*>> by_id;
  by_id.reserve(observed.size());
  for (Observation& o : observed) by_id.emplace_back(FindingId(o.type, o.resource), &o);
  std::stable_sort(by_id.begin(), by_id.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  by_id.erase(std::unique(by_id.begin(), by_id.end(),
                          [](const auto& a, const auto& b) { return a.first == b.first; }),
              by_id.end());

  std::lock_guard lock(run_mu_);
  KW_RETURN_IF_ERROR(MoveLegacyFindings());
  AuditRun run;
  run.time = now;
  run.observed = by_id.size();
  run.findings.reserve(by_id.size());
  // One transaction per range of buckets (those whose key starts with "b-" + 0 to 3
  // hex digits, as chunk_size_ asks), so that an audit of a large account does not hold
  // the store's writer for seconds (other writes queue behind it) and does not hold the
  // whole table in memory. Each range is atomic; an UpdateState that runs between two is
  // seen by the later one.
  int prefix_digits = 0;
  while (prefix_digits < static_cast<int>(kBucketDigits) &&
         (by_id.size() >> (4 * prefix_digits)) > chunk_size_) {
    ++prefix_digits;
  }
  const int ranges = 1 << (4 * prefix_digits);
  std::size_t next_obs = 0;
  for (int range = 0; range < ranges; ++range) {
    std::string prefix = "b-";
    for (int d = prefix_digits - 1; d >= 0; --d)
      prefix += "0123456789abcdef"[(range >> (4 * d)) & 15];
    std::size_t obs_end = next_obs;
    while (obs_end < by_id.size() &&
           by_id[obs_end].first.compare(2, prefix_digits, prefix, 2, prefix_digits) == 0) {
      ++obs_end;
    }
    std::size_t created = 0, resolved = 0;
    std::vector<Header> merged;  // of observations next_obs..obs_end
    KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
      // The callback may run again after a conflict: start from scratch each time.
      created = resolved = 0;
      merged.clear();
      merged.reserve(obs_end - next_obs);
      KW_ASSIGN_OR_RETURN(std::vector<store::Item> items, txn.List(kBuckets, {prefix, "", 0}));
      std::size_t b = 0, o = next_obs;
      std::string value, record;
      Header h;
      while (b < items.size() || o < obs_end) {
        // The next bucket: the smaller of the next stored one and the next observation's.
        std::string key = o < obs_end ? BucketKey(by_id[o].first) : items[b].key;
        std::vector<Entry> entries;
        const std::string* old = nullptr;
        if (b < items.size() && items[b].key <= key) {
          key = items[b].key;
          old = &items[b].value;
          KW_ASSIGN_OR_RETURN(entries, ParseBucket(key, *old));
          ++b;
        }
        value.clear();
        std::size_t e = 0;
        while (e < entries.size() ||
               (o < obs_end && by_id[o].first.compare(2, kBucketDigits, key, 2) == 0)) {
          const bool has_obs = o < obs_end && by_id[o].first.compare(2, kBucketDigits, key, 2) == 0;
          if (has_obs && (e == entries.size() || by_id[o].first <= entries[e].id)) {
            const auto& [id, obs] = by_id[o];
            if (e < entries.size() && entries[e].id == id) {
              Reader r{entries[e].record};
              KW_ASSIGN_OR_RETURN(h, ReadHeader(r, id));
              if (h.state == FindingState::kResolved) {
                h.state = FindingState::kActive;
                h.state_reason = "observed again";
                h.updated = now;
              }
              ++e;
            } else {
              h = Header{};
              h.first_seen = now;
              h.state = FindingState::kActive;
              h.updated = now;
              ++created;
              if (new_finding_hook_) KW_RETURN_IF_ERROR(new_finding_hook_(txn, id, *obs, now));
            }
            h.severity = obs->severity;
            h.last_seen = now;
            ++h.count;
            record.clear();
            EncodeHeader(record, h);
            EncodeBody(record, obs->type, obs->resource, obs->summary, obs->evidence);
            AppendEntry(value, id, record);
            merged.push_back(std::move(h));
            ++o;
            continue;
          }
          // A stored finding this audit did not observe: an active one is resolved.
          const Entry& entry = entries[e++];
          Reader r{entry.record};
          KW_ASSIGN_OR_RETURN(h, ReadHeader(r, entry.id));
          if (h.state != FindingState::kActive) {
            AppendEntry(value, entry.id, entry.record);
            continue;
          }
          h.state = FindingState::kResolved;
          h.state_reason = "no longer observed";
          h.updated = now;
          record.clear();
          EncodeHeader(record, h);
          record.append(entry.record.substr(r.pos));
          AppendEntry(value, entry.id, record);
          ++resolved;
        }
        if (old == nullptr || *old != value) KW_RETURN_IF_ERROR(txn.Put(kBuckets, key, value));
      }
      return OkStatus();
    }));
    run.created += created;
    run.resolved += resolved;
    // Committed: the observations can give up their strings (a retried callback above
    // still needed them).
    for (std::size_t k = 0; k < merged.size(); ++k) {
      auto& [id, obs] = by_id[next_obs + k];
      Header& mh = merged[k];
      Finding f;
      f.finding_id = std::move(id);
      f.type = std::move(obs->type);
      f.severity = mh.severity;
      f.resource = std::move(obs->resource);
      f.summary = std::move(obs->summary);
      f.evidence = std::move(obs->evidence);
      f.first_seen = mh.first_seen;
      f.last_seen = mh.last_seen;
      f.count = mh.count;
      f.state = mh.state;
      f.state_reason = std::move(mh.state_reason);
      f.updated = mh.updated;
      run.findings.push_back(std::move(f));
    }
    next_obs = obs_end;
  }
  return run;
}

Result<FindingPage> AuditService::List(const FindingFilter& filter,
                                       std::optional<std::string> next_token, int max_results) {
  FindingPage page;
  store::ListOptions opts;
  opts.prefix = "b-";
  std::string after;  // findings with IDs above this
  if (next_token) {
    if (!ValidId(*next_token)) {
      return InvalidArgument("The NextToken is not valid.", "InvalidNextTokenException");
    }
    after = *next_token;
    // The buckets from the token's own: start after the one before it.
    const std::string key = BucketKey(after);
    const std::uint64_t n = std::stoull(key.substr(2), nullptr, 16);
    if (n > 0) {
      char buf[24];
      std::snprintf(buf, sizeof buf, "%0*llx", static_cast<int>(kBucketDigits),
                    static_cast<unsigned long long>(n - 1));
      opts.start_after = "b-" + std::string(buf);
    }
  }
  // Buckets per read: few at first (a page of 100 findings needs two or three buckets of
  // a large account, and the CLI reads a large account page by page), then more.
  opts.limit = 2;
  const std::size_t max = static_cast<std::size_t>(std::max(1, max_results));
  while (true) {
    KW_ASSIGN_OR_RETURN(auto items, store_.List(kBuckets, opts));
    for (const auto& item : items) {
      KW_ASSIGN_OR_RETURN(auto entries, ParseBucket(item.key, item.value));
      for (const Entry& e : entries) {
        if (e.id <= after) continue;
        // The filter first, from the header and the type, without decoding the rest.
        Reader r{e.record};
        KW_ASSIGN_OR_RETURN(Header h, ReadHeader(r, e.id));
        if (filter.state && h.state != *filter.state) continue;
        if (filter.min_severity && h.severity < *filter.min_severity) continue;
        if (filter.type && r.Str() != *filter.type) continue;
        if (page.findings.size() == max) {
          // One more match exists: the page ends at the last one returned.
          page.next_token = page.findings.back().finding_id;
          return page;
        }
        KW_ASSIGN_OR_RETURN(Finding f, DecodeRecord(e.id, e.record));
        page.findings.push_back(std::move(f));
      }
    }
    if (items.size() < opts.limit) break;
    opts.start_after = items.back().key;
    opts.limit = std::min<std::size_t>(64, opts.limit * 2);
  }
  return page;
}

Result<Finding> AuditService::Get(std::string_view finding_id) {
  if (!ValidId(finding_id)) return NoSuchFinding(finding_id);
  const std::string key = BucketKey(finding_id);
  KW_ASSIGN_OR_RETURN(auto item, store_.Get(kBuckets, key));
  if (!item) return NoSuchFinding(finding_id);
  KW_ASSIGN_OR_RETURN(auto entries, ParseBucket(key, item->value));
  for (const Entry& e : entries) {
    if (e.id == finding_id) return DecodeRecord(e.id, e.record);
  }
  return NoSuchFinding(finding_id);
}

Result<Finding> AuditService::UpdateState(std::string_view finding_id, FindingState state,
                                          std::string reason) {
  if (!ValidId(finding_id)) return NoSuchFinding(finding_id);
  const std::string key = BucketKey(finding_id);
  Finding out;
  KW_RETURN_IF_ERROR(store_.Transact([&](store::Txn& txn) -> Status {
    KW_ASSIGN_OR_RETURN(auto item, txn.Get(kBuckets, key));
    if (!item) return NoSuchFinding(finding_id);
    KW_ASSIGN_OR_RETURN(auto entries, ParseBucket(key, item->value));
    std::string value;
    bool found = false;
    for (const Entry& e : entries) {
      if (e.id != finding_id) {
        AppendEntry(value, e.id, e.record);
        continue;
      }
      KW_ASSIGN_OR_RETURN(out, DecodeRecord(e.id, e.record));
      out.state = state;
      out.state_reason = reason;
      out.updated = clock_.Now();
      AppendEntry(value, e.id, EncodeRecord(out));
      found = true;
    }
    if (!found) return NoSuchFinding(finding_id);
    KW_RETURN_IF_ERROR(txn.Put(kBuckets, key, value));
    return OkStatus();
  }));
  return out;
}

}  // namespace kw::audit
