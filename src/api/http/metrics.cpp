#include "api/http/metrics.hpp"

#include <charconv>
#include <cmath>
#include <system_error>

namespace kw::api {
namespace {

constexpr std::string_view kUnknownLabel = "unknown";

bool IsClean(std::string_view v) {
  if (v.empty() || v.size() > Metrics::kMaxLabelValueBytes) return false;
  for (unsigned char c : v) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

// Returns `v` itself when it is already a fine label value (the common case, with no
// allocation), else a bounded, printable-ASCII copy in `storage`. Newlines survive
// here and are escaped when rendered.
std::string_view Sanitize(std::string_view v, std::string& storage) {
  if (IsClean(v)) return v;
  if (v.empty()) return kUnknownLabel;
  storage.assign(v.substr(0, Metrics::kMaxLabelValueBytes));
  for (char& c : storage) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\n') || u > 0x7e) c = '_';
  }
  return storage;
}

void AppendDouble(std::string& out, double v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general);
  out.append(buf, r.ec == std::errc() ? r.ptr : buf);
}

void AppendLabel(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append("=\"");
  out.append(EscapeLabelValue(value));
  out.push_back('"');
}

}  // namespace

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out.append("\\\\");
        break;
      case '"':
        out.append("\\\"");
        break;
      case '\n':
        out.append("\\n");
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

void Metrics::RecordRequest(std::string_view service, std::string_view operation, int http_status,
                            double latency_seconds) {
  std::string service_storage, operation_storage;
  std::string_view svc = Sanitize(service, service_storage);
  std::string_view op = Sanitize(operation, operation_storage);
  if (!(latency_seconds >= 0)) latency_seconds = 0;  // also catches NaN
  std::size_t bucket = 0;
  while (bucket < kLatencyBuckets.size() && latency_seconds > kLatencyBuckets[bucket]) ++bucket;

  std::lock_guard<std::mutex> lock(mu_);
  auto hist = latency_.find(svc);
  if (hist == latency_.end()) {
    if (latency_.size() >= limits_.max_services) {
      svc = kOverflowLabel;
      hist = latency_.find(svc);
    }
    if (hist == latency_.end()) hist = latency_.emplace(std::string(svc), Histogram{}).first;
  }
  svc = hist->first;
  ++hist->second.counts[bucket];
  hist->second.sum += latency_seconds;
  ++hist->second.count;

  auto series = requests_.find(std::make_tuple(svc, op, http_status));
  if (series == requests_.end()) {
    // Beyond the limit a new operation shares "other"; services (bounded above) and
    // statuses (chosen by the server) cannot grow the map without bound through it.
    if (requests_.size() >= limits_.max_request_series) {
      op = kOverflowLabel;
      series = requests_.find(std::make_tuple(svc, op, http_status));
    }
    if (series == requests_.end()) {
      series =
          requests_.emplace(RequestKey(std::string(svc), std::string(op), http_status), 0).first;
    }
  }
  ++series->second;
}

void Metrics::RecordAuthFailure(std::string_view reason) {
  std::string storage;
  std::string_view r = Sanitize(reason, storage);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = auth_failures_.find(r);
  if (it == auth_failures_.end()) {
    if (auth_failures_.size() >= limits_.max_auth_reasons) {
      r = kOverflowLabel;
      it = auth_failures_.find(r);
    }
    if (it == auth_failures_.end()) it = auth_failures_.emplace(std::string(r), 0).first;
  }
  ++it->second;
}

std::string Metrics::Render() const {
  std::string out;
  std::lock_guard<std::mutex> lock(mu_);
  out.reserve(256 + requests_.size() * 96 + latency_.size() * 1200 + auth_failures_.size() * 64);

  out.append(
      "# HELP keyward_requests_total AWS API requests answered, by service, operation and HTTP "
      "status.\n"
      "# TYPE keyward_requests_total counter\n");
  for (const auto& [key, n] : requests_) {
    const auto& [service, operation, status] = key;
    out.append("keyward_requests_total{");
    AppendLabel(out, "service", service);
    out.push_back(',');
    AppendLabel(out, "operation", operation);
    out.push_back(',');
    AppendLabel(out, "status", std::to_string(status));
    out.append("} ");
    out.append(std::to_string(n));
    out.push_back('\n');
  }

  out.append(
      "# HELP keyward_request_duration_seconds Time to answer AWS API requests, by service.\n"
      "# TYPE keyward_request_duration_seconds histogram\n");
  for (const auto& [service, h] : latency_) {
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= kLatencyBuckets.size(); ++i) {
      cumulative += h.counts[i];
      out.append("keyward_request_duration_seconds_bucket{");
      AppendLabel(out, "service", service);
      out.append(",le=\"");
      if (i < kLatencyBuckets.size()) {
        AppendDouble(out, kLatencyBuckets[i]);
      } else {
        out.append("+Inf");
      }
      out.append("\"} ");
      out.append(std::to_string(cumulative));
      out.push_back('\n');
    }
    out.append("keyward_request_duration_seconds_sum{");
    AppendLabel(out, "service", service);
    out.append("} ");
    AppendDouble(out, h.sum);
    out.push_back('\n');
    out.append("keyward_request_duration_seconds_count{");
    AppendLabel(out, "service", service);
    out.append("} ");
    out.append(std::to_string(h.count));
    out.push_back('\n');
  }

  out.append(
      "# HELP keyward_auth_failures_total Requests rejected by authentication, by AWS error "
      "code.\n"
      "# TYPE keyward_auth_failures_total counter\n");
  for (const auto& [reason, n] : auth_failures_) {
    out.append("keyward_auth_failures_total{");
    AppendLabel(out, "reason", reason);
    out.append("} ");
    out.append(std::to_string(n));
    out.push_back('\n');
  }
  if (event_log_declared_.load(std::memory_order_relaxed)) {
    out.append(
        "# HELP keyward_events_dropped_total Events the event log's full queue could not take.\n"
        "# TYPE keyward_events_dropped_total counter\n"
        "keyward_events_dropped_total{reason=\"queue_full\"} ");
    out.append(std::to_string(events_dropped_.load(std::memory_order_relaxed)));
    out.push_back('\n');
  }
  return out;
}

}  // namespace kw::api
