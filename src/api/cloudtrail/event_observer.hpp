#pragma once

// Feeds the event log from the request pipeline: every AWS API request the dispatcher
// answers becomes an events::Event (caller, presented key, source, redacted request and
// response, error) queued on the EventRecorder. Thread-safe; OnRequest does no I/O.

#include <string>
#include <string_view>

#include "api/http/metrics.hpp"
#include "api/http/request_observer.hpp"
#include "events/event.hpp"
#include "events/event_recorder.hpp"

namespace kw::api {

// The event of one observed request (pure). `default_region` when the request named
// none (it was refused before its credential scope was read).
events::Event EventFromRequest(const ObservedRequest& request, std::string_view default_region);

// The same into `event`, every member overwritten (an Event reused by
// EventRecorder::RecordReusing holds a previous event): strings are assigned into the
// capacity they have. JSON requests get requestParameters and responseElements as text
// (events::AppendRedactedJsonInput), query requests requestParameters as JSON and
// responseElements of writes as text (events::AppendRedactedQueryOutput).
void FillEventFromRequest(const ObservedRequest& request, std::string_view default_region,
                          events::Event& event);

class EventObserver final : public RequestObserver {
 public:
  // `metrics` may be null. References must outlive the observer.
  EventObserver(events::EventRecorder& recorder, Metrics* metrics, std::string default_region)
      : recorder_(recorder), metrics_(metrics), default_region_(std::move(default_region)) {
    if (metrics_ != nullptr) metrics_->DeclareEventLog();
  }
  void OnRequest(const ObservedRequest& request) override;

 private:
  events::EventRecorder& recorder_;
  Metrics* metrics_;
  const std::string default_region_;
};

}  // namespace kw::api
