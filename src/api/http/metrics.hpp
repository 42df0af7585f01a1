#pragma once

// Request and authentication counters for the /metrics endpoint, rendered in the
// Prometheus text exposition format 0.0.4.
//
// Thread-safe. Recording takes one short mutex-guarded map lookup and no allocation
// once a series exists; Render() copies nothing it does not print.
//
// Label values can come from clients (the service from a SigV4 credential scope, an
// operation name from `Action` or `X-Amz-Target`), so the number of series is
// bounded: once the limits are reached, new services and operations are counted
// under "other". Values are also cut to kMaxLabelValueBytes and bytes outside
// printable ASCII are replaced with '_', so every rendered line is valid UTF-8.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>

namespace kw::api {

struct MetricsLimits {
  // Distinct (service, operation, status) series in keyward_requests_total.
  std::size_t max_request_series = 500;
  // Distinct services (each has one latency histogram).
  std::size_t max_services = 32;
  // Distinct reasons in keyward_auth_failures_total.
  std::size_t max_auth_reasons = 64;
};

class Metrics {
 public:
  // Upper bounds (seconds) of the latency histogram buckets; +Inf is implied.
  static constexpr std::array<double, 13> kLatencyBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
  static constexpr std::size_t kMaxLabelValueBytes = 128;
  // Label value used once a limit is reached (and for empty values: "unknown").
  static constexpr std::string_view kOverflowLabel = "other";

  Metrics() = default;
  explicit Metrics(MetricsLimits limits) : limits_(limits) {}
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Counts one finished request: keyward_requests_total{service,operation,status} and
  // keyward_request_duration_seconds{service}. Negative or NaN latencies count as 0.
  void RecordRequest(std::string_view service, std::string_view operation, int http_status,
                     double latency_seconds);

  // Counts one rejected authentication, by AWS error code (e.g. "SignatureDoesNotMatch").
  void RecordAuthFailure(std::string_view reason);

  // Declares keyward_events_dropped_total{reason="queue_full"}: the event log is on,
  // and Render shows the family (0 until something is dropped). Call before serving.
  void DeclareEventLog() { event_log_declared_.store(true, std::memory_order_relaxed); }
  // Counts events the event log dropped because its queue was full. Lock-free.
  void RecordEventsDropped(std::uint64_t n = 1) {
    events_dropped_.fetch_add(n, std::memory_order_relaxed);
  }

  // The whole exposition, HELP and TYPE lines included, series in sorted order.
  std::string Render() const;

 private:
  struct Histogram {
    std::array<std::uint64_t, kLatencyBuckets.size() + 1> counts{};  // last is +Inf
    double sum = 0;
    std::uint64_t count = 0;
  };
  using RequestKey = std::tuple<std::string, std::string, int>;  // service, operation, status

  const MetricsLimits limits_;
  mutable std::mutex mu_;
  std::map<RequestKey, std::uint64_t, std::less<>> requests_;        // guarded by mu_
  std::map<std::string, Histogram, std::less<>> latency_;            // guarded by mu_
  std::map<std::string, std::uint64_t, std::less<>> auth_failures_;  // guarded by mu_
  std::atomic<std::uint64_t> events_dropped_{0};
  std::atomic<bool> event_log_declared_{false};
};

// Escapes a label value for the text format: backslash, double quote and newline.
std::string EscapeLabelValue(std::string_view value);

}  // namespace kw::api
