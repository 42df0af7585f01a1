#pragma once

// keyward's hybrid fleet: SSM activations, managed instances ("mi-..."), the host
// identity of keyward-agent (Ed25519 key and fingerprint) and its instance credentials.
// The domain behind api/ssm/fleet (the SSM operations) and api/agent (the agent's
// registration and credential endpoints); docs/agent-protocol.md gives the flows.
//
// Errors carry the SSM model's exception name in Error::reason: "ValidationError"
// (kInvalidArgument: a model length/range constraint, answered as ValidationException),
// "InvalidParameters" (kInvalidArgument: a semantic problem, also an IAM role that does
// not exist), "InvalidActivationId" (kNotFound: a malformed activation ID, or an unknown
// one for DeleteActivation), "InvalidActivation" (kFailedPrecondition: wrong code,
// expired, limit reached, source address outside the activation's CIDRs; at
// registration an unknown activation ID reads exactly like a wrong code),
// "InvalidInstanceId" (kNotFound), "InvalidFilterKey",
// "InvalidInstanceInformationFilterValue", "InvalidFilter", "InvalidNextToken",
// "InvalidResourceId", "TooManyTagsError", "ThrottlingException" (kUnavailable),
// "AccessDeniedException" (kPermissionDenied: a bad signature or an unknown, used or
// expired challenge), "FingerprintMismatch" (kPermissionDenied).
// Messages never hold activation codes, keys or credentials.
//
// Storage (KvStore tables; JSON values):
//   fleet_activations  activation ID -> settings, SHA-256 of the code, registration count
//   fleet_instances    instance ID -> identity (public key, fingerprint and its history),
//                      role, activation, tags, last persisted presence
// A registration checks and increments the activation's count and inserts the instance
// in one transaction, so concurrent registrations cannot exceed the limit.
//
// In memory only: challenges (single use, 60 s), wrong-code throttling per source
// address and per activation, and presence (connected, last heartbeat). Presence is
// written to the store on connect and disconnect, and by FlushPresence (call it every
// few minutes), so heartbeats from many agents do not each write the store.
//
// Thread-safe: one mutex guards the in-memory state; the store does the isolation of
// persistent state. The service must be the only writer of its tables.

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "agentproto/agent_protocol.hpp"
#include "common/clock.hpp"
#include "common/random.hpp"
#include "common/result.hpp"
#include "fleet/instance_directory.hpp"
#include "fleet/presence.hpp"
#include "iam/policy_service.hpp"
#include "iam/principal.hpp"
#include "store/kv_store.hpp"
#include "sts/sts_service.hpp"

namespace kw::fleet {

inline constexpr int kMaxRegistrationLimit = 1000;
inline constexpr auto kMaxActivationLifetime = std::chrono::hours(24 * 30);
inline constexpr auto kDefaultActivationLifetime = std::chrono::hours(24);
inline constexpr auto kChallengeLifetime = std::chrono::seconds(60);
inline constexpr auto kHeartbeatInterval = std::chrono::seconds(30);
// Online while connected and the last heartbeat is at most this old.
inline constexpr auto kOnlineWindow = 3 * kHeartbeatInterval;
inline constexpr std::size_t kActivationCodeLength = 20;
inline constexpr std::size_t kMaxTagsPerResource = 50;
inline constexpr std::size_t kMaxActivationCidrs = 20;
inline constexpr std::size_t kMaxFingerprintHistory = 50;

using Tags = std::map<std::string, std::string>;

struct CreateActivationRequest {
  std::string iam_role;  // role name, required
  std::optional<std::string> description;
  std::optional<std::string> default_instance_name;
  std::optional<std::int64_t> registration_limit;  // 1..1000, default 1
  std::optional<TimePoint> expiration_date;        // now < d <= now + 30 days; default 24 h
  Tags tags;
  std::vector<std::string> source_cidrs;  // keyward's own: empty = any source address
};

struct CreatedActivation {
  std::string activation_id;    // UUID
  std::string activation_code;  // shown once; only its SHA-256 is stored
};

struct Activation {
  std::string activation_id;
  std::string description;
  std::string default_instance_name;
  std::string iam_role;
  int registration_limit = 1;
  int registrations_count = 0;
  TimePoint expiration_date;
  bool expired = false;
  TimePoint created_date;
  Tags tags;
  std::vector<std::string> source_cidrs;
};

struct ActivationFilter {
  std::string key;  // ActivationIds, DefaultInstanceName, IamRole
  std::vector<std::string> values;
};

struct DescribeActivationsRequest {
  std::vector<ActivationFilter> filters;
  std::optional<int> max_results;  // 1..50, default 50
  std::optional<std::string> next_token;
};

struct ActivationPage {
  std::vector<Activation> activations;
  std::string next_token;  // empty: last page
};

struct FingerprintChange {
  TimePoint at;
  std::string reason;                // "rebind" (approved) or "drift" (within the threshold)
  std::vector<std::string> changed;  // component names that changed
};

// One managed instance as DescribeInstanceInformation reports it.
struct InstanceInfo {
  std::string instance_id;
  std::string ping_status;  // Online, ConnectionLost
  std::optional<TimePoint> last_ping;
  std::string agent_version;
  std::optional<bool> is_latest_version;  // set when a latest agent version is configured
  std::string platform_type;
  std::string platform_name;
  std::string platform_version;
  std::string activation_id;
  std::string iam_role;
  TimePoint registration_date;
  std::string name;
  std::string ip_address;
  std::string computer_name;
  Tags tags;
  bool rebind_approved = false;
  std::vector<FingerprintChange> fingerprint_history;  // oldest first
};

// Filter keys of both InstanceInformationFilterList and Filters: InstanceIds,
// AgentVersion, PingStatus, PlatformTypes, ActivationIds, IamRole, ResourceType,
// AssociationStatus, and (Filters only) "tag:KEY" and "tag-key".
struct InstanceFilter {
  std::string key;
  std::vector<std::string> values;
};

struct DescribeInstancesRequest {
  std::vector<InstanceFilter> filters;
  std::optional<int> max_results;  // 5..50, default 50
  std::optional<std::string> next_token;
};

struct InstancePage {
  std::vector<InstanceInfo> instances;
  std::string next_token;
};

// Tagging: "ManagedInstance" (ID mi-...) or "Activation" (its UUID).
enum class TagResourceType { kManagedInstance, kActivation };

struct FleetOptions {
  // The agent version DescribeInstanceInformation calls latest (IsLatestVersion);
  // empty: IsLatestVersion is not reported.
  std::string latest_agent_version;
  long long credential_duration_seconds = 3600;
  // Wrong codes tolerated per source address / activation before throttling starts;
  // then each further one doubles the wait, from 1 s up to kMaxThrottle.
  int free_failures = 3;
};

inline constexpr auto kMaxThrottle = std::chrono::seconds(60);

class FleetService final : public InstanceDirectory, public Presence, public sts::InstanceChecker {
 public:
  // All references must outlive the service. The constructor does not install itself
  // as `sts`'s InstanceChecker; the composition root calls sts.SetInstanceChecker.
  FleetService(store::KvStore& store, const Clock& clock, Random& random,
               const iam::Account& account, sts::StsService& sts, iam::PolicyService& policies,
               FleetOptions options = {});
  FleetService(const FleetService&) = delete;
  FleetService& operator=(const FleetService&) = delete;

  // ---- activations (SSM API) ----
  Result<CreatedActivation> CreateActivation(const CreateActivationRequest& request);
  Result<ActivationPage> DescribeActivations(const DescribeActivationsRequest& request);
  // Registered instances stay registered.
  Status DeleteActivation(std::string_view activation_id);

  // ---- managed instances (SSM API) ----
  Result<InstancePage> DescribeInstanceInformation(const DescribeInstancesRequest& request);
  // The instance's credentials stop working at once (IsRegistered turns false), and the
  // deregistration hook (SetDeregistrationHook) runs, so its control channel closes too.
  Status DeregisterManagedInstance(std::string_view instance_id);
  // Called after each successful deregistration, outside the service's locks. Set it
  // before serving; not thread-safe against concurrent deregistrations.
  void SetDeregistrationHook(std::function<void(std::string_view instance_id)> hook) {
    deregistered_hook_ = std::move(hook);
  }
  // Credentials issued from now on are the new role's; earlier ones keep theirs until
  // they expire.
  Status UpdateManagedInstanceRole(std::string_view instance_id, std::string_view iam_role);
  Result<InstanceInfo> GetInstance(std::string_view instance_id);

  Status AddTags(TagResourceType type, std::string_view id, const Tags& tags);
  Status RemoveTags(TagResourceType type, std::string_view id,
                    const std::vector<std::string>& keys);
  Result<Tags> ListTags(TagResourceType type, std::string_view id);

  // keyward's own: lets the instance's next valid credentials request (right key, fresh
  // challenge) record a fingerprint beyond the threshold. Issued credentials are not
  // revoked by a rebind.
  Status ApproveRebind(std::string_view instance_id);

  // ---- the agent's endpoints ----
  Result<agentproto::RegisterResponse> Register(const agentproto::RegisterRequest& request,
                                                std::string_view source_ip, TimePoint now);
  Result<agentproto::ChallengeResponse> IssueChallenge(std::string_view instance_id, TimePoint now);
  Result<agentproto::CredentialsResponse> IssueCredentials(
      const agentproto::CredentialsRequest& request, std::string_view source_ip, TimePoint now);

  // ---- InstanceDirectory ----
  Result<std::optional<InstanceSummary>> FindInstance(std::string_view instance_id) override;
  Result<std::vector<InstanceSummary>> ListInstances() override;

  // ---- Presence ----
  void Connected(std::string_view instance_id, const agentproto::HelloMessage& hello,
                 std::string_view remote_address, TimePoint now) override;
  void Heartbeat(std::string_view instance_id, TimePoint now) override;
  void Disconnected(std::string_view instance_id, TimePoint now) override;
  // Writes heartbeats not yet persisted, in one transaction. Returns how many.
  Result<std::size_t> FlushPresence();

  // ---- sts::InstanceChecker ----
  // False for an unknown or deregistered instance, and when the store fails.
  bool IsRegistered(std::string_view instance_id) override;

  const iam::Account& account() const { return account_; }

 private:
  struct Challenge {
    std::string instance_id;
    TimePoint expires;
  };
  struct Throttle {
    int failures = 0;
    TimePoint blocked_until;
    TimePoint last_failure;
  };
  struct Live {
    bool connected = false;
    TimePoint last_ping;
    bool dirty = false;  // last_ping not yet persisted
    agentproto::HelloMessage hello;
    std::string address;
    bool has_hello = false;
  };

  Status CheckThrottle(std::string_view source_ip, std::string_view activation_id, TimePoint now);
  void RecordFailure(std::string_view source_ip, std::string_view activation_id, TimePoint now);
  Status CheckRole(std::string_view role_name);
  InstanceInfo WithPresence(InstanceInfo info, TimePoint now);
  void PersistPresence(std::string_view instance_id, const Live& live);
  void CacheRegistered(std::string_view instance_id, bool registered);

  store::KvStore& store_;
  const Clock& clock_;
  Random& random_;
  const iam::Account account_;
  sts::StsService& sts_;
  iam::PolicyService& policies_;
  const FleetOptions options_;

  std::function<void(std::string_view)> deregistered_hook_;
  std::mutex mu_;
  std::unordered_map<std::string, Challenge> challenges_;  // by challenge; guarded by mu_
  std::unordered_map<std::string, Throttle> throttles_;    // "ip:" / "act:" keys; guarded by mu_
  std::unordered_map<std::string, Live> live_;             // by instance; guarded by mu_
  // Registration state as last seen (IsRegistered runs on every instance request).
  std::unordered_map<std::string, bool> registered_;  // guarded by mu_
  std::uint64_t registered_generation_ = 0;           // guarded by mu_
};

// "arn:aws:ssm:REGION:ACCT:managed-instance/" + instance_id.
std::string ManagedInstanceArn(const iam::Account& account, std::string_view instance_id);

// True for "mi-" followed by 17 lowercase hex digits.
bool IsManagedInstanceId(std::string_view id);

}  // namespace kw::fleet
