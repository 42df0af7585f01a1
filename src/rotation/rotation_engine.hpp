#pragma once

// Access-key rotation: policies and the resumable state machine that retires an IAM
// user's old access key in favour of a new one, for one secret and the hosts that
// consume it (DESIGN.md "Rotation"; docs/adr/0009-rotation-state-machine.md).
//
//   queued -> preflight -> create -> store -> test -> promote -> distribute -> verify
//          -> deactivate -> grace -> delete -> done        (or failed, at preflight)
//
// Every step that calls out persists its intent first ("phase": calling) and its
// result after, and is idempotent, so a crash anywhere resumes with a new engine over
// the same store. A rotation that cannot proceed waits, retries with back-off and says
// why (Rotation::waiting_reason); it never deactivates the old key before every target
// host has acknowledged the new version and the old key has been quiet.
//
// Secret material: the new secret access key exists in clear only in memory between
// CreateKey and PutPending within one Advance; it is never written to the rotation
// record, an error, or a log. A crash in between loses it, so the key is deleted and
// created again (the orphan rule).
//
// Errors: kInvalidArgument (reason "ValidationException") for a bad policy, naming the
// field; kNotFound ("ResourceNotFoundException") for an unknown policy or rotation;
// kAlreadyExists ("ResourceExistsException") for a second policy on one secret;
// kFailedPrecondition ("InvalidRequestException") for RotateNow/DeletePolicy while a
// rotation is in progress. Store errors pass through.
//
// Storage (KvStore tables, JSON values):
//   rot_policies    policy id -> policy
//   rot_by_secret   secret id -> policy id (one policy per secret)
//   rot_due         20-digit due time (ms since epoch) + "/" + policy id -> ""
//   rot_rotations   rotation id (policy id + "." + 8-digit sequence) -> rotation
//   rot_active      rotation id -> "" (rotations not yet done or failed)
//   rot_deactivated access key id -> deactivation time (keys this engine deactivated)
//
// Thread-safety: the API methods are thread-safe (each change is one transaction).
// Tick is serialised by an internal mutex (it advances rotations on up to
// EngineOptions::advance_threads threads of its own); run it from one process at a time per store
// (several servers over one store need a lease in the composition root: the policy
// claim is safe, step execution is not designed for two concurrent runners).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"
#include "common/random.hpp"
#include "common/result.hpp"
#include "fleet/instance_directory.hpp"
#include "rotation/delivery.hpp"
#include "rotation/failpoints.hpp"
#include "rotation/issuer.hpp"
#include "rotation/secret_target.hpp"
#include "store/kv_store.hpp"

namespace kw::rotation {

// Which hosts receive the secret: key "InstanceIds" with instance IDs, or "tag:Name"
// with tag values (resolved through the InstanceDirectory when distribution starts).
struct TargetSelector {
  std::string key;
  std::vector<std::string> values;
};

struct RotationPolicy {
  // Set by CreatePolicy ("rp-" + 16 hex).
  std::string policy_id;
  std::string user_name;
  std::string secret_id;  // the secret's name, as the secret target resolves it
  std::string issuer = "builtin";
  std::string secret_target = "builtin";
  DeliverySpec delivery;                // kind "none": no hosts, nothing to distribute
  std::vector<TargetSelector> targets;  // required unless delivery.kind is "none"
  // Exactly one of the two.
  std::optional<std::string> schedule_expression;  // rate(...) / cron(...) (UTC)
  std::optional<int> automatically_after_days;     // 1..1000
  // Absent: 15 minutes with an issuer that tracks use exactly, 4 hours otherwise
  // (GetAccessKeyLastUsed lags).
  std::optional<Seconds> quiet_period;
  Seconds ack_timeout{3600};
  Seconds grace_period{86400};
  // A use of the old key during the grace period reactivates it (and the rotation goes
  // back to verify) rather than leaving a consumer broken.
  bool reactivate_on_use = true;

  // Output only.
  TimePoint created;
  std::optional<TimePoint> next_rotation;
  std::optional<TimePoint> last_rotated;  // when the last new version became AWSCURRENT
  std::string active_rotation_id;         // empty: none in progress
  std::string last_rotation_id;
  std::uint64_t rotation_count = 0;
  std::uint64_t skipped_slots = 0;  // schedule slots that came while one was running
};

struct PolicyPage {
  std::vector<RotationPolicy> policies;  // by policy id
  std::string next_token;                // empty: last page
};

enum class Step {
  kQueued,
  kPreflight,
  kCreate,
  kStore,
  kTest,
  kPromote,
  kDistribute,
  kVerify,
  kDeactivate,
  kGrace,
  kDelete,
  kDone,
  kFailed,
};
std::string_view StepName(Step step);  // "queued", "preflight", ...

struct HostProgress {
  std::string host;
  HostDeliveryState state = HostDeliveryState::kPending;
  std::optional<TimePoint> acked_at;
  std::string reason;
};

// A use of the old key after it was deactivated (DESIGN.md step 8).
struct Finding {
  TimePoint when;
  std::string access_key_id;
  std::string source;
  bool reactivated = false;
};

struct StepTime {
  Step step = Step::kQueued;
  TimePoint entered;
};

struct Rotation {
  std::string rotation_id;
  std::string policy_id;
  std::string user_name;
  std::string secret_id;
  std::string issuer;
  std::string trigger;  // "schedule" or "manual"
  Step step = Step::kQueued;
  TimePoint created;
  TimePoint updated;
  std::optional<TimePoint> finished;
  std::string old_key_id;
  std::string new_key_id;
  std::string new_version_id;  // the ClientRequestToken of the pending version
  std::vector<HostProgress> hosts;
  std::optional<TimePoint> promoted_at;
  std::optional<TimePoint> last_ack;
  std::optional<TimePoint> deactivated_at;
  std::string waiting_reason;  // why it is not moving now; empty when it is
  std::string failure_reason;  // kFailed only
  std::optional<TimePoint> next_attempt_at;
  std::vector<Finding> findings;
  std::vector<StepTime> history;
};

struct EngineOptions {
  // Rotations past preflight at once, per issuer; more wait in kQueued.
  std::size_t max_active_per_issuer = 32;
  // AutomaticallyAfterDays: extra lead time beyond ack timeout + quiet period (ADR 0009).
  Seconds schedule_margin{3600};
  // Keys created up to this long before a create intent still count as possible
  // orphans of it (issuer clocks may run behind keyward's).
  Seconds clock_skew{300};
  Seconds min_backoff{1};
  Seconds max_backoff{300};
  // A failed rotation of an AutomaticallyAfterDays policy is retried after this.
  Seconds failed_retry{3600};
  // Step transitions one Tick runs per rotation at most (keeps a Tick bounded).
  int max_steps_per_advance = 32;
  // Rotations one Tick advances at once, each on a thread of its own (two rotations of
  // one user never at once). Their steps mostly wait for durable commits, which the
  // store groups, so threads buy throughput even on few cores.
  std::size_t advance_threads = 4;
  // A rotation that polls (host acknowledgements, uses of the old key during grace) is
  // looked at again after this long; 0: on every Tick.
  std::chrono::milliseconds poll_interval{0};
  // Called when a rotation reaches failed, inside the transaction that records it (so
  // that, e.g., a notification outbox entry commits with it or not at all). It may run
  // again if the transaction is retried; it must write only through `txn`.
  std::function<Status(store::Txn& txn, const Rotation& rotation)> on_failed;
};

struct TickReport {
  int started = 0;    // rotations created by due schedules
  int advanced = 0;   // rotations that changed step
  int completed = 0;  // reached done
  int failed = 0;     // reached failed
  // The earliest time a waiting rotation wants to be looked at again (the end of a quiet
  // or grace period, a back-off, the next poll); nullopt when none waits. A caller that
  // ticks on a fixed cadence may Tick then instead, so that no step waits a whole tick.
  std::optional<TimePoint> next_wake;
};

// ---- Plan: what a rotation started now would do, without doing it -------------------

// A target host as the plan sees it, from the fleet's instance records and the policy's
// past rotations.
struct PlannedHost {
  std::string instance_id;
  bool registered = false;  // false: no such instance (or no instance directory)
  std::string ping_status;  // "Online", "ConnectionLost", ...; empty if not registered
  std::string computer_name;
  std::string ip_address;
  // "Seen using the current key": the host acknowledged installing the secret version
  // that holds the current key (in a past rotation of this policy). Hosts do not sign
  // with the rotated key through keyward's own channel, and the issuer reports a key's
  // latest use without telling hosts apart, so an acknowledgement is the only per-host
  // evidence. A host not seen may hold an older copy, a hand-installed one, or none.
  bool seen_with_current_key = false;
  std::optional<TimePoint> acked_at;  // when it acknowledged that version
  std::string seen_in_rotation;       // the rotation whose delivery it acknowledged
};

struct PlannedStep {
  Step step = Step::kQueued;
  // When the step would be entered if every host acknowledged at once, and if the hosts
  // took the whole acknowledgement timeout (equal when nothing is delivered). A use of
  // the old key during verify pushes everything after it later.
  TimePoint earliest;
  TimePoint latest;
  std::string note;
};

struct RotationPlan {
  RotationPolicy policy;
  TimePoint start;                          // the `now` given to Plan
  std::string current_version_id;           // the secret's AWSCURRENT version; empty if unreadable
  std::string old_key_id;                   // the key in it: the one the rotation would replace
  std::optional<IssuedKey> old_key;         // as the issuer lists it; nullopt if not the user's
  std::optional<KeyUse> old_key_last_used;  // its latest accepted use, if the issuer knows
  std::vector<IssuedKey> user_keys;
  // What preflight would do about the user's key slots, for the operator.
  std::string preflight;
  // Why a rotation started now would not run or would stop; empty when none is known.
  std::vector<std::string> blockers;
  std::vector<PlannedHost> hosts;  // empty for delivery "none"
  std::string hosts_note;          // how the hosts were found, or why none
  Seconds quiet_period{0};         // the effective quiet period
  std::vector<PlannedStep> steps;  // preflight .. done
  // The policy's next rotation after this one: the next schedule slot, or for
  // AutomaticallyAfterDays the due time of the key this rotation would create.
  std::optional<TimePoint> next_rotation;
};

class RotationEngine {
 public:
  // All references must outlive the engine.
  RotationEngine(store::KvStore& store, const Clock& clock, Random& random,
                 EngineOptions options = {}, Failpoints& failpoints = Failpoints::Inert());

  // Registration happens in the composition root before the first call; not
  // thread-safe against concurrent use. Names are what policies refer to.
  void RegisterIssuer(std::string name, Issuer& issuer);
  void RegisterSecretTarget(std::string name, SecretTarget& target);
  // `directory`, when given, resolves the "tag:" targets of policies with this delivery
  // instead of the engine's instance directory (an external delivery reaches hosts that
  // keyward's own fleet does not list: rotation/external/aws_ssm_directory.hpp).
  void RegisterDelivery(std::string kind, Delivery& delivery,
                        fleet::InstanceDirectory* directory = nullptr);
  // Needed for "tag:" targets; may stay null when every policy names instance IDs.
  void SetInstanceDirectory(fleet::InstanceDirectory* directory);

  // Validates, assigns an ID and the first due time, stores. For AutomaticallyAfterDays
  // the first due time counts from the create date of the key in the secret (asked of
  // the issuer; now if that fails).
  Result<RotationPolicy> CreatePolicy(RotationPolicy policy);
  Result<RotationPolicy> GetPolicy(std::string_view policy_id);
  // nullopt if no policy names the secret.
  Result<std::optional<RotationPolicy>> FindPolicyForSecret(std::string_view secret_id);
  Result<PolicyPage> ListPolicies(const std::optional<std::string>& next_token,
                                  int max_results = 100);
  // "InvalidRequestException" while a rotation is in progress.
  Status DeletePolicy(std::string_view policy_id);

  // Queues a rotation now (what RotateSecret does); Tick runs it. "InvalidRequestException"
  // if one is already in progress.
  Result<Rotation> RotateNow(std::string_view policy_id);
  Result<Rotation> GetRotation(std::string_view rotation_id);
  // Newest first.
  Result<std::vector<Rotation>> ListRotations(std::string_view policy_id);

  // What RotateNow at `now` would do, changing nothing: which key would be replaced,
  // which hosts would receive the new one (and which of them were never seen with the
  // current key), and when each step would fall given the policy's periods. Reads the
  // policy, its rotations, the secret's current value (only the key ID is kept), the
  // user's keys and their use, and the instance directory. kNotFound
  // ("ResourceNotFoundException") for an unknown policy; a dependency that fails is
  // reported in `blockers` instead. Thread-safe. Implemented in rotation_plan.cpp.
  Result<RotationPlan> Plan(std::string_view policy_id, TimePoint now);

  // Starts the rotations whose schedule is due at `now` and advances every active
  // rotation as far as it can go. Errors of one rotation are recorded in it (waiting
  // reason, back-off) and do not fail the Tick; a store error or a failpoint crash
  // (reason kFailpointCrashReason) does.
  Result<TickReport> Tick(TimePoint now);

 private:
  struct State;
  enum class Outcome { kContinue, kWait };

  Result<State> StartRotation(store::Txn& txn, RotationPolicy& p, std::string trigger,
                              TimePoint now);
  Result<std::optional<TimePoint>> FirstDue(const RotationPolicy& p, TimePoint now);
  Status ClaimDue(const std::string& due_key, const std::string& policy_id, TimePoint now,
                  TickReport& report);
  // What Tick remembers of an active rotation between Ticks, so that one waiting until
  // a known time costs nothing until then. Only this engine writes rotation records, so
  // the memory is at worst late (a record changed elsewhere is seen at `wake`).
  struct Known {
    TimePoint wake;        // not looked at before this
    bool running = false;  // past kQueued (counts against its issuer's bound)
    std::string issuer;
    std::string user;
  };
  // Runs the rotation's steps until it waits. `admitted`: a queued rotation may start.
  Status Advance(const std::string& rotation_id, TimePoint now, bool admitted, TickReport& report);
  void Remember(const State& s, TimePoint now);
  Status Save(State& s, TimePoint now);
  Status Finish(State& s, TimePoint now, bool failed, std::string reason);

  Result<Outcome> RunStep(State& s, TimePoint now, bool admitted);
  Result<Outcome> Preflight(State& s, TimePoint now);
  Result<Outcome> Create(State& s, TimePoint now);
  Result<Outcome> Store(State& s, TimePoint now);
  Result<Outcome> Test(State& s, TimePoint now);
  Result<Outcome> Promote(State& s, TimePoint now);
  Result<Outcome> Distribute(State& s, TimePoint now);
  Result<Outcome> Verify(State& s, TimePoint now);
  Result<Outcome> Deactivate(State& s, TimePoint now);
  Result<Outcome> Grace(State& s, TimePoint now);
  Result<Outcome> Delete(State& s, TimePoint now);
  Status Enter(State& s, Step step, TimePoint now);
  Result<std::vector<std::string>> ResolveHosts(const RotationPolicy& policy);
  // The directory that knows the hosts of `delivery_kind` (null: none configured).
  fleet::InstanceDirectory* DirectoryFor(std::string_view delivery_kind) const;

  Result<Issuer*> IssuerFor(std::string_view name) const;
  Result<SecretTarget*> TargetFor(std::string_view name) const;
  Result<Delivery*> DeliveryFor(std::string_view kind) const;
  Status ValidatePolicy(const RotationPolicy& p) const;

  store::KvStore& store_;
  const Clock& clock_;
  Random& random_;
  const EngineOptions options_;
  Failpoints& failpoints_;
  std::map<std::string, Issuer*, std::less<>> issuers_;
  std::map<std::string, SecretTarget*, std::less<>> targets_;
  std::map<std::string, Delivery*, std::less<>> deliveries_;
  fleet::InstanceDirectory* directory_ = nullptr;
  std::map<std::string, fleet::InstanceDirectory*, std::less<>> delivery_directories_;
  std::mutex tick_mu_;  // one Tick at a time
  // Secret of the key created in this process and not yet stored, by rotation id.
  // Lost on a crash, by design.
  std::map<std::string, SecretBytes> fresh_secrets_;  // guarded by fresh_mu_
  std::mutex fresh_mu_;
  std::map<std::string, Known> known_;  // by rotation id; guarded by known_mu_
  std::mutex known_mu_;
};

// The effective quiet period of a policy with an issuer of the given exactness.
Seconds EffectiveQuietPeriod(const RotationPolicy& policy, bool exact_usage);

// AutomaticallyAfterDays: when the next rotation must start so that the key created at
// `key_created` is deactivated before it is `days` old: key_created + days - lead, with
// lead = ack_timeout + quiet + margin. Pure.
TimePoint NextDueForMaxAge(TimePoint key_created, int days, Seconds ack_timeout, Seconds quiet,
                           Seconds margin);

}  // namespace kw::rotation
