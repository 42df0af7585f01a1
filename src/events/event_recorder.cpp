#include "events/event_recorder.hpp"

#include <array>
#include <utility>

#include "common/uuid.hpp"
#include "crypto/digest.hpp"
#include "events/redaction.hpp"

namespace kw::events {

EventRecorder::EventRecorder(EventLog& log, const Clock& clock, Random& random,
                             RecorderOptions options)
    : log_(log),
      clock_(clock),
      options_(std::move(options)),
      event_id_key_(random.Bytes(32)),
      writer_([this] { WriterLoop(); }) {
  // Both buffers of the swap in WriterLoop keep their capacity: after the first rounds
  // no request pays for growing the queue (an Event is several hundred bytes, so a
  // growing vector means fresh pages and page faults on the request's thread).
  std::lock_guard lock(mu_);
  queue_.reserve(options_.batch);
}

EventRecorder::~EventRecorder() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  writer_.join();
}

void EventRecorder::Warn(const std::string& line) const {
  if (options_.log_warning) options_.log_warning(line);
}

bool EventRecorder::Record(Event event) {
  std::size_t size = 0;
  {
    std::lock_guard lock(mu_);
    if (stop_ || queue_.size() >= options_.max_queue) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    queue_.push_back(std::move(event));
    ++accepted_;
    size = queue_.size();
  }
  // Wake the writer only for a full batch; otherwise it comes by itself within
  // flush_interval (a notify per request would cost a futex call per request).
  if (size == options_.batch) wake_.notify_one();
  return true;
}

bool EventRecorder::RecordServiceEvent(ServiceEvent in) {
  Event e;
  e.time = clock_.Now();
  e.event_source = "ssm.amazonaws.com";
  e.event_name = std::move(in.event_name);
  e.region = options_.region;
  e.source_ip = std::move(in.source_ip);
  e.user_agent = "keyward-agent";
  e.identity.type = "AWSService";
  e.identity.invoked_by = "keyward-agent";
  e.identity.instance_id = in.instance_id;
  e.identity.account_id = options_.account_id;
  if (!in.instance_id.empty()) in.request_parameters["InstanceId"] = in.instance_id;
  e.request_parameters = RedactJsonInput(in.request_parameters);
  e.additional_event_data = std::move(in.additional_event_data);
  e.error_code = std::move(in.error_code);
  e.error_message = std::move(in.error_message);
  e.event_type = "AwsServiceEvent";
  e.read_only = false;
  e.resources = ResourcesOf(e.event_source, e.request_parameters);
  return Record(std::move(e));
}

void EventRecorder::Flush() {
  std::unique_lock lock(mu_);
  const std::uint64_t target = accepted_;
  flush_requested_ = true;
  wake_.notify_one();
  done_.wait(lock, [&] { return processed_ >= target; });
}

std::string EventRecorder::NewEventId() {
  // A UUID (version 4 layout) from a keyed hash of a counter: unique without a CSPRNG
  // draw per event.
  const auto d = crypto::Sha256(event_id_key_ + std::to_string(++id_counter_));
  std::array<unsigned char, 16> b{};
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = d[i];
  return FormatUuidV4(b);
}

void EventRecorder::WriteBatch(Event* events, std::size_t count) {
  std::vector<RawRecord> records;
  records.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    Event& e = events[i];
    if (e.event_id.empty()) e.event_id = NewEventId();
    if (e.recipient_account_id.empty()) e.recipient_account_id = options_.account_id;
    records.push_back({RecordJson(e), e.time});
  }
  if (Status s = log_.AppendRaw(records); !s) {
    failed_.fetch_add(records.size(), std::memory_order_relaxed);
    Warn("could not write " + std::to_string(records.size()) + " events: " + s.error().message);
    return;
  }
  written_.fetch_add(records.size(), std::memory_order_relaxed);
}

void EventRecorder::Upkeep(bool final) {
  const TimePoint now = clock_.Now();
  const bool first_sign = last_signed_ == TimePoint{};
  if (final || first_sign || now - last_signed_ >= options_.sign_interval) {
    if (Status s = log_.SignHead(now); !s) {
      Warn("could not sign the event log's head: " + s.error().message);
    } else if (log_.last_sequence() > 0) {
      last_signed_ = now;
    }
  }
  if (options_.retention && !final &&
      (last_pruned_ == TimePoint{} || now - last_pruned_ >= options_.prune_interval)) {
    last_pruned_ = now;
    auto pruned = log_.Prune(now - *options_.retention, now);
    if (!pruned) Warn("could not prune the event log: " + pruned.error().message);
  }
}

void EventRecorder::WriterLoop() {
  std::vector<Event> taken;
  taken.reserve(options_.batch);
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait_for(lock, options_.flush_interval,
                   [&] { return stop_ || flush_requested_ || queue_.size() >= options_.batch; });
    const bool stopping = stop_;
    flush_requested_ = false;
    taken.swap(queue_);  // `taken` was emptied (outside the lock) at the end of the round
    lock.unlock();
    for (std::size_t i = 0; i < taken.size(); i += options_.batch) {
      WriteBatch(taken.data() + i, std::min(options_.batch, taken.size() - i));
    }
    Upkeep(stopping);
    const std::size_t n = taken.size();
    taken.clear();
    lock.lock();
    processed_ += n;
    done_.notify_all();
    if (stopping && queue_.empty()) break;
  }
}

}  // namespace kw::events
