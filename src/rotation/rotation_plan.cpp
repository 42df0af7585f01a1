// RotationEngine::Plan: what RotateNow would do, computed from the same inputs the steps
// read (policy, secret, issuer, instance directory) without calling anything that
// changes state. Kept apart from rotation_engine.cpp: it shares no state with Tick.

#include <algorithm>

#include "common/time_format.hpp"
#include "rotation/rotation_engine.hpp"
#include "rotation/secret_json.hpp"

namespace kw::rotation {
namespace {

std::string Iso(TimePoint t) { return FormatIso8601(t); }

std::string Duration(Seconds s) {
  const long long n = s.count();
  if (n != 0 && n % 86400 == 0) return std::to_string(n / 86400) + "d";
  if (n != 0 && n % 3600 == 0) return std::to_string(n / 3600) + "h";
  if (n != 0 && n % 60 == 0) return std::to_string(n / 60) + "m";
  return std::to_string(n) + "s";
}

// The newest rotation that made `version_id` current: its per-host acknowledgements are
// the evidence of which hosts hold the current key.
const Rotation* RotationThatDelivered(const std::vector<Rotation>& newest_first,
                                      const std::string& version_id) {
  if (version_id.empty()) return nullptr;
  for (const Rotation& r : newest_first) {
    if (r.new_version_id == version_id && r.promoted_at) return &r;
  }
  return nullptr;
}

}  // namespace

Result<RotationPlan> RotationEngine::Plan(std::string_view policy_id, TimePoint now) {
  KW_ASSIGN_OR_RETURN(RotationPolicy policy, GetPolicy(policy_id));
  RotationPlan plan;
  plan.start = now;
  if (!policy.active_rotation_id.empty()) {
    plan.blockers.push_back("rotation " + policy.active_rotation_id +
                            " is in progress: a new one cannot start before it ends");
  }

  // The key to be replaced: the one in the secret's current version.
  auto target = TargetFor(policy.secret_target);
  if (!target) {
    plan.blockers.push_back(target.error().message);
  } else {
    auto cur = (*target)->GetCurrent(policy.secret_id);
    if (!cur) {
      plan.blockers.push_back("the secret " + policy.secret_id +
                              " cannot be read: " + cur.error().message);
    } else {
      plan.current_version_id = cur->version_id;
      auto pair = ReadKeyPair(cur->secret_string);
      if (!pair) {
        plan.blockers.push_back(pair.error().message);
      } else {
        plan.old_key_id = pair->access_key_id;
      }
    }
  }

  bool exact_usage = false;
  auto issuer = IssuerFor(policy.issuer);
  if (!issuer) {
    plan.blockers.push_back(issuer.error().message);
  } else {
    exact_usage = (*issuer)->exact_usage();
    auto keys = (*issuer)->ListKeys(policy.user_name);
    if (!keys) {
      plan.blockers.push_back("the keys of user " + policy.user_name +
                              " cannot be listed: " + keys.error().message);
    } else {
      plan.user_keys = *keys;
      for (const IssuedKey& k : plan.user_keys) {
        if (k.access_key_id == plan.old_key_id) plan.old_key = k;
      }
      if (!plan.old_key_id.empty() && !plan.old_key) {
        plan.blockers.push_back("the secret's aws_access_key_id " + plan.old_key_id +
                                " is not an access key of user " + policy.user_name);
      } else if (plan.old_key && plan.old_key->status != KeyStatus::kActive) {
        plan.blockers.push_back("the secret's access key " + plan.old_key_id + " is Inactive");
      }
      // Preflight's slot rule (DESIGN.md step 1), as far as it can be judged without
      // the usage history preflight consults.
      if (plan.user_keys.size() < (*issuer)->max_keys_per_user()) {
        plan.preflight =
            "a key slot is free: the new key is created beside " +
            (plan.old_key_id.empty() ? std::string("the current one") : plan.old_key_id);
      } else {
        for (const IssuedKey& k : plan.user_keys) {
          if (k.access_key_id == plan.old_key_id) continue;
          if (k.status == KeyStatus::kActive) {
            plan.blockers.push_back("user " + policy.user_name +
                                    " has no free access-key slot: key " + k.access_key_id +
                                    " is Active besides the key in the secret");
          } else {
            plan.preflight = "no free key slot: the Inactive key " + k.access_key_id +
                             " would be deleted to make room if it is proven unused since "
                             "its deactivation (else the rotation stops at preflight)";
          }
        }
      }
    }
    if (!plan.old_key_id.empty()) {
      auto usage = (*issuer)->Usage(plan.old_key_id);
      if (usage && usage->last_accepted) plan.old_key_last_used = usage->last_accepted;
    }
  }
  plan.quiet_period = EffectiveQuietPeriod(policy, exact_usage);

  // The hosts, and which of them acknowledged the version holding the current key.
  const bool delivers = policy.delivery.kind != "none";
  if (!delivers) {
    plan.hosts_note = "delivery 'none': no host receives the key";
  } else {
    auto hosts = ResolveHosts(policy);
    fleet::InstanceDirectory* directory = DirectoryFor(policy.delivery.kind);
    if (!hosts) {
      plan.blockers.push_back("the targets cannot be resolved: " + hosts.error().message);
    } else {
      auto rotations = ListRotations(policy.policy_id);
      const Rotation* delivered =
          rotations ? RotationThatDelivered(*rotations, plan.current_version_id) : nullptr;
      for (const std::string& id : *hosts) {
        PlannedHost h;
        h.instance_id = id;
        if (directory != nullptr) {
          auto inst = directory->FindInstance(id);
          if (inst && *inst) {
            h.registered = true;
            h.ping_status = (*inst)->ping_status;
            h.computer_name = (*inst)->computer_name;
            h.ip_address = (*inst)->ip_address;
          }
        }
        if (delivered != nullptr) {
          for (const HostProgress& p : delivered->hosts) {
            if (p.host == id && p.state == HostDeliveryState::kAcked) {
              h.seen_with_current_key = true;
              h.acked_at = p.acked_at;
              h.seen_in_rotation = delivered->rotation_id;
            }
          }
        }
        plan.hosts.push_back(std::move(h));
      }
      plan.hosts_note = delivered != nullptr
                            ? "seen = acknowledged the current version " + plan.current_version_id +
                                  " in rotation " + delivered->rotation_id
                            : "seen = acknowledged the secret's current version in a rotation "
                              "of this policy; no rotation of this policy delivered it";
      if (plan.hosts.empty()) {
        plan.blockers.push_back(
            "the policy's targets match no registered instance (the rotation would wait)");
      }
    }
  }

  // Step dates: the fast steps run within seconds of the start; acknowledgements take
  // from no time to the whole ack timeout; then the quiet period, then grace.
  const Seconds ack = delivers ? policy.ack_timeout : Seconds(0);
  const TimePoint acked_late = now + ack;
  auto add = [&plan](Step step, TimePoint earliest, TimePoint latest, std::string note) {
    plan.steps.push_back({step, earliest, latest, std::move(note)});
  };
  add(Step::kPreflight, now, now,
      plan.preflight.empty() ? "checks the secret, the user's keys and slots" : plan.preflight);
  add(Step::kCreate, now, now, "CreateAccessKey for user " + policy.user_name);
  add(Step::kStore, now, now, "the new key stored as AWSPENDING of " + policy.secret_id);
  add(Step::kTest, now, now, "signs with the new key until the issuer accepts it");
  add(Step::kPromote, now, now, "the new version becomes AWSCURRENT; both keys work");
  add(Step::kDistribute, now, acked_late,
      delivers ? std::to_string(plan.hosts.size()) + " host(s) must acknowledge by " +
                     Iso(acked_late) + " (" + Duration(ack) +
                     "); a host that does not holds the rotation with the old key active"
               : "nothing to deliver");
  add(Step::kVerify, now, acked_late,
      "the old key must go unused for " + Duration(plan.quiet_period) +
          " after the last acknowledgement");
  add(Step::kDeactivate, now + plan.quiet_period, acked_late + plan.quiet_period,
      "the old key " + (plan.old_key_id.empty() ? std::string("?") : plan.old_key_id) +
          " becomes Inactive");
  add(Step::kGrace, now + plan.quiet_period, acked_late + plan.quiet_period,
      "for " + Duration(policy.grace_period) + "; a request signed with the old key is " +
          (policy.reactivate_on_use ? "recorded and reactivates it"
                                    : "recorded (the key stays Inactive)"));
  const TimePoint del_early = now + plan.quiet_period + policy.grace_period;
  const TimePoint del_late = acked_late + plan.quiet_period + policy.grace_period;
  add(Step::kDelete, del_early, del_late, "the old key is deleted");
  add(Step::kDone, del_early, del_late, "one Active key, the one in AWSCURRENT");

  if (policy.automatically_after_days) {
    plan.next_rotation = NextDueForMaxAge(now, *policy.automatically_after_days, policy.ack_timeout,
                                          plan.quiet_period, options_.schedule_margin);
  } else {
    plan.next_rotation = policy.next_rotation;
  }
  plan.policy = std::move(policy);
  return plan;
}

}  // namespace kw::rotation
