#pragma once

// Records events without slowing the requests that cause them: Record() only moves the
// event into a bounded in-memory queue (one short mutex, no I/O, never waits for the
// writer); one writer thread takes the queue in batches, turns each event into its
// CloudTrail record, and appends the batch to the EventLog in one transaction. It signs
// the chain's head after its first batch, every `sign_interval`, and on destruction;
// with a retention it prunes once per `prune_interval`. docs/adr/0012-event-log.md.
//
// Thread-safe. Events are written in the order Record() accepted them.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.hpp"
#include "common/random.hpp"
#include "events/event.hpp"
#include "events/event_log.hpp"

namespace kw::events {

struct RecorderOptions {
  // Events held in memory at most; beyond it Record() drops and counts. At ~1 KB an
  // event, the default bounds the queue near 100 MB and covers seconds of a writer
  // stall at the server's full request rate.
  std::size_t max_queue = 100000;
  std::size_t batch = 2000;  // events per transaction at most
  // The writer wakes at least this often (and at once when a batch is full).
  std::chrono::milliseconds flush_interval{50};
  std::chrono::seconds sign_interval{10};
  std::optional<std::chrono::hours> retention;  // nullopt: keep everything
  std::chrono::minutes prune_interval{60};
  std::string account_id;  // recipientAccountId
  std::string region = "us-east-1";
  // Receives one line per failure of the writer (never event contents). May be empty.
  std::function<void(const std::string&)> log_warning;
};

// What the server learns of an agent outside the AWS API (registration, credential
// refresh, hibernation, commands, secret syncs).
struct ServiceEvent {
  std::string event_name;  // "RegisterManagedInstance"
  std::string instance_id;
  std::string source_ip;
  std::string error_code;  // empty on success
  std::string error_message;
  // Extra details; passed through RedactJsonInput, so only safe members survive.
  nlohmann::json request_parameters = nlohmann::json::object();
  nlohmann::json additional_event_data;  // only non-secret facts (statuses, counts)
};

class EventRecorder {
 public:
  // Starts the writer thread. `log` must outlive the recorder and have no other writer.
  EventRecorder(EventLog& log, const Clock& clock, Random& random, RecorderOptions options);
  // Writes everything queued, signs the head, stops the writer.
  ~EventRecorder();
  EventRecorder(const EventRecorder&) = delete;
  EventRecorder& operator=(const EventRecorder&) = delete;

  // Queues the event (event_id is filled in if empty). False if the queue was full and
  // the event was dropped (counted in dropped()). Never blocks on I/O.
  bool Record(Event event);

  // The same for a caller that records many events (the request pipeline): takes the
  // event out of `event` and leaves there, when it has one, an Event already written
  // (stale contents: the caller must overwrite every member) or else null. Filling a
  // reused Event assigns into strings that already have their capacity, so a request
  // allocates nothing for its event, and nothing is freed on another thread. On a drop
  // (false), `event` is left as it was.
  bool RecordReusing(std::unique_ptr<Event>& event);

  // An agent-side event: eventType "AwsServiceEvent", eventSource ssm.amazonaws.com,
  // userIdentity of type AWSService invoked by keyward-agent for the instance.
  bool RecordServiceEvent(ServiceEvent event);

  // Waits until every event queued before the call has been written (or failed).
  void Flush();

  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  std::uint64_t written() const { return written_.load(std::memory_order_relaxed); }
  std::uint64_t write_failures() const { return failed_.load(std::memory_order_relaxed); }

 private:
  void WriterLoop();
  // Written events kept for reuse: enough for the events of a few writer rounds at full
  // request rate (~1 KB each), so that steady traffic allocates none.
  static constexpr std::size_t kMaxSpare = 4096;

  bool Enqueue(std::unique_ptr<Event>& event, bool take_spare);
  void WriteBatch(std::unique_ptr<Event>* events, std::size_t count);
  void Upkeep(bool final);
  // Writes a fresh event ID into `out`.
  void NewEventId(std::string& out);
  void Warn(const std::string& line) const;

  EventLog& log_;
  const Clock& clock_;
  const RecorderOptions options_;
  std::string event_id_key_;  // random, drawn once: event IDs need only be unique

  std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable done_;
  std::vector<std::unique_ptr<Event>> queue_;  // guarded by mu_
  // Events written, kept for RecordReusing (at most kMaxSpare); guarded by mu_.
  std::vector<std::unique_ptr<Event>> spare_;
  std::uint64_t accepted_ = 0;    // guarded by mu_; events ever queued
  std::uint64_t processed_ = 0;   // guarded by mu_; events written or failed
  bool flush_requested_ = false;  // guarded by mu_
  bool stop_ = false;             // guarded by mu_

  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> failed_{0};
  // Writer thread only.
  std::vector<RawRecord> records_;  // reused: its strings keep their capacity
  std::uint64_t id_counter_ = 0;
  std::string id_input_;  // NewEventId's hash input, reused
  TimePoint last_signed_{};
  TimePoint last_pruned_{};
  std::thread writer_;  // last: starts after everything above
};

}  // namespace kw::events
