#include "api/keyward/rotation_api.hpp"

#include <algorithm>
#include <charconv>
#include <limits>

#include "api/http/json_input.hpp"
#include "common/time_format.hpp"

namespace kw::api {
namespace {

using nlohmann::json;
using rotation::RotationEngine;

constexpr std::int64_t kMaxDurationSeconds = 10LL * 365 * 86400;

Error Validation(std::string message) {
  return InvalidArgument(std::move(message), "ValidationException");
}

Error Missing(std::string_view member) { return NullMemberError(member, "ValidationException"); }

// Required and not empty.
Result<std::string> ReqNonEmpty(const json& in, const char* name) {
  KW_ASSIGN_OR_RETURN(auto s, OptString(in, name));
  if (!s || s->empty()) return Missing(name);
  return *s;
}

// A whole number of seconds; out-of-range values are a ValidationException here so that
// they cannot overflow on the way to the engine (which checks the real bounds).
Result<std::optional<Seconds>> OptSeconds(const json& in, const char* name) {
  KW_ASSIGN_OR_RETURN(auto n, OptInt(in, name));
  if (!n) return std::optional<Seconds>();
  if (*n < 0 || *n > kMaxDurationSeconds) {
    return Validation(std::string(name) + " must be from 0 to " +
                      std::to_string(kMaxDurationSeconds));
  }
  return std::optional<Seconds>(Seconds(*n));
}

Result<int> MaxResults(const json& in, int fallback) {
  KW_ASSIGN_OR_RETURN(auto n, OptInt(in, "MaxResults"));
  if (!n) return fallback;
  if (*n < 1 || *n > 1000) return Validation("MaxResults must be from 1 to 1000");
  return static_cast<int>(*n);
}

double Epoch(TimePoint t) { return ToEpochSeconds(t); }

json EncodePolicy(const rotation::RotationPolicy& p, const iam::Account& account) {
  json targets = json::array();
  for (const auto& t : p.targets) targets.push_back({{"Key", t.key}, {"Values", t.values}});
  json params = json::object();
  for (const auto& [k, v] : p.delivery.parameters) params[k] = v;
  json j{{"PolicyId", p.policy_id},
         {"Arn", RotationPolicyArn(account, p.policy_id)},
         {"UserName", p.user_name},
         {"SecretId", p.secret_id},
         {"Issuer", p.issuer},
         {"SecretTarget", p.secret_target},
         {"Delivery", {{"Type", p.delivery.kind}, {"Parameters", std::move(params)}}},
         {"Targets", std::move(targets)},
         {"AckTimeoutSeconds", p.ack_timeout.count()},
         {"GracePeriodSeconds", p.grace_period.count()},
         {"ReactivateOnUse", p.reactivate_on_use},
         {"CreatedDate", Epoch(p.created)},
         {"RotationCount", p.rotation_count},
         {"SkippedSlots", p.skipped_slots}};
  if (p.schedule_expression) j["ScheduleExpression"] = *p.schedule_expression;
  if (p.automatically_after_days) j["AutomaticallyAfterDays"] = *p.automatically_after_days;
  if (p.quiet_period) j["QuietPeriodSeconds"] = p.quiet_period->count();
  if (p.next_rotation) j["NextRotationDate"] = Epoch(*p.next_rotation);
  if (p.last_rotated) j["LastRotatedDate"] = Epoch(*p.last_rotated);
  if (!p.active_rotation_id.empty()) j["ActiveRotationId"] = p.active_rotation_id;
  if (!p.last_rotation_id.empty()) j["LastRotationId"] = p.last_rotation_id;
  return j;
}

std::string_view HostStateName(rotation::HostDeliveryState s) {
  switch (s) {
    case rotation::HostDeliveryState::kPending:
      return "pending";
    case rotation::HostDeliveryState::kAcked:
      return "acked";
    case rotation::HostDeliveryState::kFailed:
      return "failed";
  }
  return "pending";
}

json EncodeRotation(const rotation::Rotation& r) {
  json hosts = json::array();
  for (const auto& h : r.hosts) {
    json jh{{"InstanceId", h.host}, {"Status", HostStateName(h.state)}};
    if (h.acked_at) jh["AckedDate"] = Epoch(*h.acked_at);
    if (!h.reason.empty()) jh["Reason"] = h.reason;
    hosts.push_back(std::move(jh));
  }
  json history = json::array();
  for (const auto& s : r.history) {
    history.push_back({{"Step", rotation::StepName(s.step)}, {"EnteredDate", Epoch(s.entered)}});
  }
  json findings = json::array();
  for (const auto& f : r.findings) {
    findings.push_back({{"Date", Epoch(f.when)},
                        {"AccessKeyId", f.access_key_id},
                        {"Source", f.source},
                        {"Reactivated", f.reactivated}});
  }
  json j{{"RotationId", r.rotation_id},
         {"PolicyId", r.policy_id},
         {"UserName", r.user_name},
         {"SecretId", r.secret_id},
         {"Issuer", r.issuer},
         {"Trigger", r.trigger},
         {"Step", rotation::StepName(r.step)},
         {"CreatedDate", Epoch(r.created)},
         {"UpdatedDate", Epoch(r.updated)},
         {"Hosts", std::move(hosts)},
         {"History", std::move(history)},
         {"Findings", std::move(findings)}};
  if (r.finished) j["FinishedDate"] = Epoch(*r.finished);
  if (!r.old_key_id.empty()) j["OldAccessKeyId"] = r.old_key_id;
  if (!r.new_key_id.empty()) j["NewAccessKeyId"] = r.new_key_id;
  if (!r.new_version_id.empty()) j["VersionId"] = r.new_version_id;
  if (r.promoted_at) j["PromotedDate"] = Epoch(*r.promoted_at);
  if (r.last_ack) j["LastAckDate"] = Epoch(*r.last_ack);
  if (r.deactivated_at) j["DeactivatedDate"] = Epoch(*r.deactivated_at);
  if (!r.waiting_reason.empty()) j["WaitingReason"] = r.waiting_reason;
  if (!r.failure_reason.empty()) j["FailureReason"] = r.failure_reason;
  if (r.next_attempt_at) j["NextAttemptDate"] = Epoch(*r.next_attempt_at);
  return j;
}

// The plan of a rotation (RotationEngine::Plan). Holds key IDs and host names, never a
// secret.
json EncodePlan(const rotation::RotationPlan& plan) {
  json keys = json::array();
  for (const auto& k : plan.user_keys) {
    keys.push_back({{"AccessKeyId", k.access_key_id},
                    {"Status", k.status == rotation::KeyStatus::kActive ? "Active" : "Inactive"},
                    {"CreateDate", Epoch(k.create_date)}});
  }
  json hosts = json::array();
  for (const auto& h : plan.hosts) {
    json jh{{"InstanceId", h.instance_id},
            {"Registered", h.registered},
            {"SeenWithCurrentKey", h.seen_with_current_key}};
    if (!h.ping_status.empty()) jh["PingStatus"] = h.ping_status;
    if (!h.computer_name.empty()) jh["ComputerName"] = h.computer_name;
    if (!h.ip_address.empty()) jh["IPAddress"] = h.ip_address;
    if (h.acked_at) jh["AckedDate"] = Epoch(*h.acked_at);
    if (!h.seen_in_rotation.empty()) jh["SeenInRotationId"] = h.seen_in_rotation;
    hosts.push_back(std::move(jh));
  }
  json steps = json::array();
  for (const auto& s : plan.steps) {
    steps.push_back({{"Step", rotation::StepName(s.step)},
                     {"EarliestDate", Epoch(s.earliest)},
                     {"LatestDate", Epoch(s.latest)},
                     {"Note", s.note}});
  }
  json j{{"PolicyId", plan.policy.policy_id},
         {"UserName", plan.policy.user_name},
         {"SecretId", plan.policy.secret_id},
         {"Issuer", plan.policy.issuer},
         {"DeliveryType", plan.policy.delivery.kind},
         {"StartDate", Epoch(plan.start)},
         {"UserKeys", std::move(keys)},
         {"Preflight", plan.preflight},
         {"Blockers", plan.blockers},
         {"Hosts", std::move(hosts)},
         {"HostsNote", plan.hosts_note},
         {"QuietPeriodSeconds", plan.quiet_period.count()},
         {"GracePeriodSeconds", plan.policy.grace_period.count()},
         {"AckTimeoutSeconds", plan.policy.ack_timeout.count()},
         {"ReactivateOnUse", plan.policy.reactivate_on_use},
         {"Steps", std::move(steps)}};
  if (!plan.current_version_id.empty()) j["CurrentVersionId"] = plan.current_version_id;
  if (!plan.old_key_id.empty()) j["OldAccessKeyId"] = plan.old_key_id;
  if (plan.old_key) {
    j["OldKeyStatus"] =
        plan.old_key->status == rotation::KeyStatus::kActive ? "Active" : "Inactive";
    j["OldKeyCreateDate"] = Epoch(plan.old_key->create_date);
  }
  if (plan.old_key_last_used) {
    j["OldKeyLastUsedDate"] = Epoch(plan.old_key_last_used->when);
    j["OldKeyLastUsedSource"] = plan.old_key_last_used->source;
  }
  if (plan.next_rotation) j["NextRotationDate"] = Epoch(*plan.next_rotation);
  return j;
}

Result<rotation::DeliverySpec> DecodeDelivery(const json& in) {
  auto it = in.find("Delivery");
  if (it == in.end() || it->is_null()) return Missing("Delivery");
  if (!it->is_object()) return JsonTypeError("Delivery");
  rotation::DeliverySpec spec;
  KW_ASSIGN_OR_RETURN(spec.kind, ReqNonEmpty(*it, "Type"));
  auto params = it->find("Parameters");
  if (params != it->end() && !params->is_null()) {
    if (!params->is_object()) return JsonTypeError("Parameters");
    for (const auto& [k, v] : params->items()) {
      if (!v.is_string()) return JsonTypeError("Parameters");
      spec.parameters[k] = v.get<std::string>();
    }
  }
  return spec;
}

Result<std::vector<rotation::TargetSelector>> DecodeTargets(const json& in) {
  std::vector<rotation::TargetSelector> out;
  auto it = in.find("Targets");
  if (it == in.end() || it->is_null()) return out;
  if (!it->is_array()) return JsonTypeError("Targets");
  for (const json& t : *it) {
    if (!t.is_object()) return JsonTypeError("Targets");
    rotation::TargetSelector sel;
    KW_ASSIGN_OR_RETURN(sel.key, ReqNonEmpty(t, "Key"));
    KW_ASSIGN_OR_RETURN(sel.values, StringList(t, "Values"));
    if (sel.values.empty()) return Missing("Values");
    out.push_back(std::move(sel));
  }
  return out;
}

Result<rotation::RotationPolicy> DecodePolicy(const json& in) {
  rotation::RotationPolicy p;
  KW_ASSIGN_OR_RETURN(p.user_name, ReqNonEmpty(in, "UserName"));
  KW_ASSIGN_OR_RETURN(p.secret_id, ReqNonEmpty(in, "SecretId"));
  KW_ASSIGN_OR_RETURN(auto issuer, OptString(in, "Issuer"));
  if (issuer) p.issuer = *issuer;
  KW_ASSIGN_OR_RETURN(auto target, OptString(in, "SecretTarget"));
  if (target) p.secret_target = *target;
  KW_ASSIGN_OR_RETURN(p.delivery, DecodeDelivery(in));
  KW_ASSIGN_OR_RETURN(p.targets, DecodeTargets(in));
  KW_ASSIGN_OR_RETURN(p.schedule_expression, OptString(in, "ScheduleExpression"));
  KW_ASSIGN_OR_RETURN(auto days, OptInt(in, "AutomaticallyAfterDays"));
  if (days) {
    if (*days < 1 || *days > 1000) return Validation("AutomaticallyAfterDays must be 1 to 1000");
    p.automatically_after_days = static_cast<int>(*days);
  }
  KW_ASSIGN_OR_RETURN(p.quiet_period, OptSeconds(in, "QuietPeriodSeconds"));
  KW_ASSIGN_OR_RETURN(auto ack, OptSeconds(in, "AckTimeoutSeconds"));
  if (ack) p.ack_timeout = *ack;
  KW_ASSIGN_OR_RETURN(auto grace, OptSeconds(in, "GracePeriodSeconds"));
  if (grace) p.grace_period = *grace;
  KW_ASSIGN_OR_RETURN(auto reactivate, OptBool(in, "ReactivateOnUse"));
  if (reactivate) p.reactivate_on_use = *reactivate;
  return p;
}

// ListRotations pages over the engine's full list (a policy's rotations are few: one
// per schedule slot); the token is the index of the next item.
Result<std::size_t> DecodeIndexToken(const std::optional<std::string>& token) {
  if (!token) return std::size_t{0};
  std::size_t n = 0;
  const auto [ptr, ec] = std::from_chars(token->data(), token->data() + token->size(), n);
  if (token->empty() || ec != std::errc() || ptr != token->data() + token->size()) {
    return InvalidArgument("The NextToken is not valid.", "InvalidNextTokenException");
  }
  return n;
}

// The policy a rotation ID belongs to ("rp-...".NNNNNNNN).
std::string PolicyOfRotation(std::string_view rotation_id) {
  const std::size_t dot = rotation_id.rfind('.');
  return std::string(dot == std::string_view::npos ? rotation_id : rotation_id.substr(0, dot));
}

}  // namespace

std::string RotationPolicyArn(const iam::Account& account, std::string_view policy_id) {
  return "arn:" + account.partition + ":keyward:" + account.region + ":" + account.id +
         ":rotation-policy/" + std::string(policy_id);
}

std::vector<JsonOperation> RotationOperations(RotationEngine& engine, const iam::Account& account) {
  RotationEngine* eng = &engine;
  const iam::Account acct = account;
  auto star = [](const json&, const iam::Principal&) { return std::string("*"); };
  auto policy_arn = [acct](const json& in, const iam::Principal&) {
    return RotationPolicyArn(acct, StringMember(in, "PolicyId"));
  };
  auto rotation_arn = [acct](const json& in, const iam::Principal&) {
    return RotationPolicyArn(acct, PolicyOfRotation(StringMember(in, "RotationId")));
  };

  std::vector<JsonOperation> ops;
  ops.push_back(MakeJsonOperation(
      "CreateRotationPolicy", false, star, [eng, acct](const JsonCall& call) -> Result<json> {
        KW_ASSIGN_OR_RETURN(rotation::RotationPolicy p, DecodePolicy(call.input));
        KW_ASSIGN_OR_RETURN(rotation::RotationPolicy created, eng->CreatePolicy(std::move(p)));
        return json{{"RotationPolicy", EncodePolicy(created, acct)}};
      }));
  ops.push_back(MakeJsonOperation(
      "GetRotationPolicy", true, policy_arn, [eng, acct](const JsonCall& call) -> Result<json> {
        KW_ASSIGN_OR_RETURN(std::string id, ReqNonEmpty(call.input, "PolicyId"));
        KW_ASSIGN_OR_RETURN(rotation::RotationPolicy p, eng->GetPolicy(id));
        return json{{"RotationPolicy", EncodePolicy(p, acct)}};
      }));
  ops.push_back(MakeJsonOperation(
      "ListRotationPolicies", true, star, [eng, acct](const JsonCall& call) -> Result<json> {
        KW_ASSIGN_OR_RETURN(int max, MaxResults(call.input, 100));
        KW_ASSIGN_OR_RETURN(auto token, OptString(call.input, "NextToken"));
        KW_ASSIGN_OR_RETURN(rotation::PolicyPage page, eng->ListPolicies(token, max));
        json list = json::array();
        for (const auto& p : page.policies) list.push_back(EncodePolicy(p, acct));
        json out{{"RotationPolicies", std::move(list)}};
        if (!page.next_token.empty()) out["NextToken"] = page.next_token;
        return out;
      }));
  ops.push_back(MakeJsonOperation(
      "DeleteRotationPolicy", false, policy_arn, [eng](const JsonCall& call) -> Result<json> {
        KW_ASSIGN_OR_RETURN(std::string id, ReqNonEmpty(call.input, "PolicyId"));
        KW_RETURN_IF_ERROR(eng->DeletePolicy(id));
        return json::object();
      }));
  ops.push_back(MakeJsonOperation(
      "RotateNow", false, policy_arn, [eng](const JsonCall& call) -> Result<json> {
        KW_ASSIGN_OR_RETURN(std::string id, ReqNonEmpty(call.input, "PolicyId"));
        KW_ASSIGN_OR_RETURN(rotation::Rotation r, eng->RotateNow(id));
        return json{{"Rotation", EncodeRotation(r)}};
      }));
  ops.push_back(MakeJsonOperation(
      "ListRotations", true, policy_arn, [eng](const JsonCall& call) -> Result<json> {
        KW_ASSIGN_OR_RETURN(std::string id, ReqNonEmpty(call.input, "PolicyId"));
        KW_ASSIGN_OR_RETURN(int max, MaxResults(call.input, 100));
        KW_ASSIGN_OR_RETURN(auto token, OptString(call.input, "NextToken"));
        KW_ASSIGN_OR_RETURN(std::size_t start, DecodeIndexToken(token));
        // An unknown policy is an error, not an empty list.
        KW_RETURN_IF_ERROR(eng->GetPolicy(id));
        KW_ASSIGN_OR_RETURN(std::vector<rotation::Rotation> all, eng->ListRotations(id));
        if (start > all.size()) {
          return InvalidArgument("The NextToken is not valid.", "InvalidNextTokenException");
        }
        const std::size_t end = std::min(all.size(), start + static_cast<std::size_t>(max));
        json list = json::array();
        for (std::size_t i = start; i < end; ++i) list.push_back(EncodeRotation(all[i]));
        json out{{"Rotations", std::move(list)}};
        if (end < all.size()) out["NextToken"] = std::to_string(end);
        return out;
      }));
  ops.push_back(MakeJsonOperation(
      "GetRotation", true, rotation_arn, [eng](const JsonCall& call) -> Result<json> {
        KW_ASSIGN_OR_RETURN(std::string id, ReqNonEmpty(call.input, "RotationId"));
        KW_ASSIGN_OR_RETURN(rotation::Rotation r, eng->GetRotation(id));
        return json{{"Rotation", EncodeRotation(r)}};
      }));
  ops.push_back(MakeJsonOperation(
      "PlanRotation", true, policy_arn, [eng](const JsonCall& call) -> Result<json> {
        KW_ASSIGN_OR_RETURN(std::string id, ReqNonEmpty(call.input, "PolicyId"));
        KW_ASSIGN_OR_RETURN(rotation::RotationPlan plan, eng->Plan(id, call.now));
        return json{{"Plan", EncodePlan(plan)}};
      }));
  return ops;
}

}  // namespace kw::api
