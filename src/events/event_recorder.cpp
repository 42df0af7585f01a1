#include "events/event_recorder.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <iterator>
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
  auto owned = std::make_unique<Event>(std::move(event));
  return Enqueue(owned, false);
}

bool EventRecorder::RecordReusing(std::unique_ptr<Event>& event) { return Enqueue(event, true); }

bool EventRecorder::Enqueue(std::unique_ptr<Event>& event, bool take_spare) {
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
    if (take_spare && !spare_.empty()) {
      event = std::move(spare_.back());
      spare_.pop_back();
    }
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

void EventRecorder::NewEventId(std::string& out) {
  // A UUID (version 4 layout) from a keyed hash of a counter: unique without a CSPRNG
  // draw per event. The hash input lives in a reused buffer.
  id_input_.assign(event_id_key_);
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, ++id_counter_).ptr;
  id_input_.append(digits, end);
  const auto d = crypto::Sha256(id_input_);
  std::array<unsigned char, 16> b{};
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = d[i];
  out = FormatUuidV4(b);
}

void EventRecorder::WriteBatch(std::unique_ptr<Event>* events, std::size_t count) {
  // The records of the previous batch keep their buffers: appending into them spares a
  // ~1 KB allocation per event.
  std::vector<RawRecord>& records = records_;
  records.resize(count);
  for (std::size_t i = 0; i < count; ++i) {
    Event& e = *events[i];
    if (e.event_id.empty()) NewEventId(e.event_id);
    if (e.recipient_account_id.empty()) e.recipient_account_id = options_.account_id;
    RawRecord& rec = records[i];
    rec.json.clear();
    AppendRecordJson(rec.json, e);
    rec.time = e.time;
    // The block's index entry (ADR 0013), without parsing the record: views into `e`,
    // which lives until the events go back to spare_ after this batch, or, when a
    // string is stored escaped, a summary with the stored forms.
    rec.indexed = IndexedOf(e);
    if (rec.indexed) {
      rec.summary.reset();
    } else {
      rec.summary = SummaryOf(e);
    }
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
  std::vector<std::unique_ptr<Event>> taken;
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
    lock.lock();
    // Written events go back to the request threads for reuse (pointer moves only); the
    // rest, beyond what steady traffic needs, are freed below, outside the lock.
    const std::size_t keep = std::min(n, kMaxSpare - std::min(kMaxSpare, spare_.size()));
    spare_.insert(spare_.end(), std::make_move_iterator(taken.begin()),
                  std::make_move_iterator(taken.begin() + static_cast<std::ptrdiff_t>(keep)));
    processed_ += n;
    done_.notify_all();
    const bool last = stopping && queue_.empty();
    lock.unlock();
    taken.clear();  // frees only what spare_ had no room for
    if (last) break;
    lock.lock();
  }
}

}  // namespace kw::events
