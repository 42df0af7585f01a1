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
// Tick is serialised by an internal mutex; run it from one process at a time per store
// (several servers over one store need a lease in the composition root: the policy
// claim is safe, step execution is not designed for two concurrent runners).

#include <cstddef>
#include <cstdint>
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
  std::size_t max_active_per_issuer = 4;
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
};

struct TickReport {
  int started = 0;    // rotations created by due schedules
  int advanced = 0;   // rotations that changed step
  int completed = 0;  // reached done
  int failed = 0;     // reached failed
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
  void RegisterDelivery(std::string kind, Delivery& delivery);
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
  Status Advance(const std::string& rotation_id, TimePoint now,
                 std::map<std::string, std::size_t>& running, TickReport& report);
  Status Save(State& s, TimePoint now);
  Status Finish(State& s, TimePoint now, bool failed, std::string reason);

  Result<Outcome> RunStep(State& s, TimePoint now, std::map<std::string, std::size_t>& running);
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
  Result<std::vector<std::string>> ResolveHosts(const std::vector<TargetSelector>& targets);

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
  std::mutex tick_mu_;  // one Tick at a time
  // Secret of the key created in this process and not yet stored, by rotation id.
  // Guarded by tick_mu_ (only Tick's steps touch it). Lost on a crash, by design.
  std::map<std::string, SecretBytes> fresh_secrets_;
};

// The effective quiet period of a policy with an issuer of the given exactness.
Seconds EffectiveQuietPeriod(const RotationPolicy& policy, bool exact_usage);

// AutomaticallyAfterDays: when the next rotation must start so that the key created at
// `key_created` is deactivated before it is `days` old: key_created + days - lead, with
// lead = ack_timeout + quiet + margin. Pure.
TimePoint NextDueForMaxAge(TimePoint key_created, int days, Seconds ack_timeout, Seconds quiet,
                           Seconds margin);

}  // namespace kw::rotation
