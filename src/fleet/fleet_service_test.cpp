#include "fleet/fleet_service.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "crypto/digest.hpp"
#include "fleet/fleet_test_support.hpp"

namespace kw::fleet {
namespace {

using testing::FakeHost;

class FleetServiceTest : public ::testing::Test, protected testing::FleetFixture {
 protected:
  FleetServiceTest() { MakeRole("fleet-role"); }

  std::string Reason(const Status& s) { return s ? "OK" : s.error().reason; }
  template <typename T>
  std::string Reason(const Result<T>& r) {
    return r ? "OK" : r.error().reason;
  }
};

// ---- activations ----

TEST_F(FleetServiceTest, CreateActivationDefaultsAndStoresOnlyTheHash) {
  CreateActivationRequest r;
  r.iam_role = "fleet-role";
  r.tags = {{"env", "prod"}};
  auto a = fleet_.CreateActivation(r);
  ASSERT_TRUE(a.has_value()) << a.error().message;
  EXPECT_EQ(a->activation_id.size(), 36u);
  EXPECT_EQ(a->activation_id[14], '4');  // a v4 UUID
  EXPECT_EQ(a->activation_code.size(), kActivationCodeLength);

  auto item = store_.Get("fleet_activations", a->activation_id);
  ASSERT_TRUE(item.has_value() && item->has_value());
  EXPECT_EQ((*item)->value.find(a->activation_code), std::string::npos);
  EXPECT_NE((*item)->value.find(crypto::Sha256Hex(a->activation_code)), std::string::npos);

  auto page = fleet_.DescribeActivations({});
  ASSERT_TRUE(page.has_value());
  ASSERT_EQ(page->activations.size(), 1u);
  const Activation& d = page->activations[0];
  EXPECT_EQ(d.registration_limit, 1);
  EXPECT_EQ(d.registrations_count, 0);
  EXPECT_EQ(d.expiration_date, clock_.Now() + std::chrono::hours(24));
  EXPECT_EQ(d.created_date, clock_.Now());
  EXPECT_FALSE(d.expired);
  EXPECT_EQ(d.iam_role, "fleet-role");
  EXPECT_EQ(d.tags, (Tags{{"env", "prod"}}));
}

TEST_F(FleetServiceTest, CreateActivationValidates) {
  CreateActivationRequest r;
  EXPECT_EQ(Reason(fleet_.CreateActivation(r)), "ValidationError");  // no role
  r.iam_role = "no-such-role";
  EXPECT_EQ(Reason(fleet_.CreateActivation(r)), "InvalidParameters");
  r.iam_role = "fleet-role";
  r.registration_limit = 0;
  EXPECT_EQ(Reason(fleet_.CreateActivation(r)), "ValidationError");
  r.registration_limit = 1001;
  EXPECT_EQ(Reason(fleet_.CreateActivation(r)), "ValidationError");
  r.registration_limit = 1000;
  r.expiration_date = clock_.Now() + std::chrono::hours(24 * 30) + std::chrono::seconds(1);
  EXPECT_EQ(Reason(fleet_.CreateActivation(r)), "InvalidParameters");
  r.expiration_date = clock_.Now() - std::chrono::seconds(1);
  EXPECT_EQ(Reason(fleet_.CreateActivation(r)), "InvalidParameters");
  r.expiration_date = clock_.Now() + std::chrono::hours(24 * 30);
  r.source_cidrs = {"10.0.0.0/33"};
  EXPECT_EQ(Reason(fleet_.CreateActivation(r)), "InvalidParameters");
  r.source_cidrs = {"10.0.0.0/8"};
  EXPECT_EQ(Reason(fleet_.CreateActivation(r)), "OK");
}

TEST_F(FleetServiceTest, DescribeActivationsFiltersAndPages) {
  MakeRole("other-role");
  std::set<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.insert(Activate().activation_id);
    clock_.Advance(std::chrono::seconds(1));
  }
  CreateActivationRequest r;
  r.iam_role = "other-role";
  const std::string other = fleet_.CreateActivation(r)->activation_id;

  DescribeActivationsRequest by_role;
  by_role.filters = {{"IamRole", {"other-role"}}};
  auto page = fleet_.DescribeActivations(by_role);
  ASSERT_TRUE(page.has_value());
  ASSERT_EQ(page->activations.size(), 1u);
  EXPECT_EQ(page->activations[0].activation_id, other);

  DescribeActivationsRequest paged;
  paged.filters = {{"DefaultInstanceName", {"web"}}};
  paged.max_results = 2;
  std::set<std::string> seen;
  int pages = 0;
  for (;;) {
    auto p = fleet_.DescribeActivations(paged);
    ASSERT_TRUE(p.has_value());
    ++pages;
    for (const auto& a : p->activations) seen.insert(a.activation_id);
    if (p->next_token.empty()) break;
    paged.next_token = p->next_token;
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, ids);

  DescribeActivationsRequest bad;
  bad.filters = {{"Nope", {"x"}}};
  EXPECT_EQ(Reason(fleet_.DescribeActivations(bad)), "InvalidFilter");
  bad.filters.clear();
  bad.next_token = "garbage";
  EXPECT_EQ(Reason(fleet_.DescribeActivations(bad)), "InvalidNextToken");

  clock_.Advance(std::chrono::hours(25));
  auto expired = fleet_.DescribeActivations({});
  ASSERT_TRUE(expired.has_value());
  for (const auto& a : expired->activations) EXPECT_TRUE(a.expired);
}

TEST_F(FleetServiceTest, DeleteActivation) {
  const auto a = Activate(2);
  FakeHost host = FakeHost::Make("one");
  ASSERT_TRUE(Register(host, a));
  EXPECT_EQ(Reason(fleet_.DeleteActivation("not-a-uuid")), "InvalidActivationId");
  EXPECT_EQ(Reason(fleet_.DeleteActivation("00000000-0000-4000-8000-000000000000")),
            "InvalidActivationId");
  ASSERT_TRUE(fleet_.DeleteActivation(a.activation_id));
  EXPECT_EQ(Reason(fleet_.DeleteActivation(a.activation_id)), "InvalidActivationId");
  // Registered instances stay; the activation registers nothing more.
  EXPECT_TRUE(fleet_.IsRegistered(host.instance_id));
  FakeHost second = FakeHost::Make("two");
  EXPECT_EQ(Reason(Register(second, a)), "InvalidActivation");
}

// ---- registration ----

TEST_F(FleetServiceTest, RegisterCreatesTheInstance) {
  const auto a = Activate(2);
  FakeHost host = FakeHost::Make("one");
  ASSERT_TRUE(Register(host, a, "198.51.100.7"));
  EXPECT_TRUE(IsManagedInstanceId(host.instance_id)) << host.instance_id;
  auto info = fleet_.GetInstance(host.instance_id);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->activation_id, a.activation_id);
  EXPECT_EQ(info->iam_role, "fleet-role");
  EXPECT_EQ(info->name, "web");
  EXPECT_EQ(info->computer_name, "host.example");
  EXPECT_EQ(info->ip_address, "198.51.100.7");  // what the server saw wins
  EXPECT_EQ(info->platform_type, "Linux");
  EXPECT_EQ(info->platform_name, "Debian GNU/Linux");
  EXPECT_EQ(info->platform_version, "12");
  EXPECT_EQ(info->agent_version, "0.1.0");
  EXPECT_EQ(info->registration_date, clock_.Now());
  EXPECT_EQ(info->ping_status, "ConnectionLost");
  EXPECT_TRUE(info->tags.empty());
  EXPECT_EQ(fleet_.DescribeActivations({})->activations[0].registrations_count, 1);
}

TEST_F(FleetServiceTest, RegisterAppliesTheActivationsTagsToTheInstance) {
  // CreateActivation's Tags: "tags assigned to the activation are automatically applied
  // to the on-premises servers or VMs" (SSM API reference).
  CreateActivationRequest r;
  r.iam_role = "fleet-role";
  r.tags = {{"Role", "web"}, {"env", "prod"}};
  auto a = fleet_.CreateActivation(r);
  ASSERT_TRUE(a.has_value()) << a.error().message;
  FakeHost host = FakeHost::Make("tagged");
  ASSERT_TRUE(Register(host, *a));
  auto tags = fleet_.ListTags(TagResourceType::kManagedInstance, host.instance_id);
  ASSERT_TRUE(tags.has_value()) << tags.error().message;
  EXPECT_EQ(*tags, (Tags{{"Role", "web"}, {"env", "prod"}}));
  // The instance's tags are its own from then on.
  ASSERT_TRUE(fleet_.RemoveTags(TagResourceType::kManagedInstance, host.instance_id, {"env"}));
  EXPECT_EQ(fleet_.ListTags(TagResourceType::kActivation, a->activation_id)->size(), 2u);
}

TEST_F(FleetServiceTest, RegisterRefusals) {
  const auto a = Activate(1);
  FakeHost host = FakeHost::Make("one");
  auto wrong = fleet_.Register(host.Registration(a.activation_id, "WRONGWRONGWRONGWRONG"),
                               "192.0.2.1", clock_.Now());
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().reason, "InvalidActivation");
  // An unknown ID reads exactly like a wrong code.
  auto unknown =
      fleet_.Register(host.Registration("00000000-0000-4000-8000-000000000000", a.activation_code),
                      "192.0.2.2", clock_.Now());
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().reason, wrong.error().reason);
  EXPECT_EQ(unknown.error().message, wrong.error().message);
  EXPECT_EQ(wrong.error().message.find("WRONG"), std::string::npos);
  EXPECT_EQ(Reason(fleet_.Register(host.Registration("bad-id", a.activation_code), "192.0.2.3",
                                   clock_.Now())),
            "InvalidActivationId");

  ASSERT_TRUE(Register(host, a));
  FakeHost second = FakeHost::Make("two");
  auto full = fleet_.Register(second.Registration(a.activation_id, a.activation_code), "192.0.2.10",
                              clock_.Now());
  ASSERT_FALSE(full.has_value());
  EXPECT_EQ(full.error().reason, "InvalidActivation");
  EXPECT_NE(full.error().message.find("limit"), std::string::npos);

  const auto b = Activate(5);
  clock_.Advance(std::chrono::hours(24));
  auto expired = fleet_.Register(second.Registration(b.activation_id, b.activation_code),
                                 "192.0.2.10", clock_.Now());
  ASSERT_FALSE(expired.has_value());
  EXPECT_EQ(expired.error().reason, "InvalidActivation");
  EXPECT_NE(expired.error().message.find("expired"), std::string::npos);
}

TEST_F(FleetServiceTest, RegisterChecksSourceCidr) {
  const auto a = Activate(5, {"10.0.0.0/8", "2001:db8::/32"});
  FakeHost host = FakeHost::Make("one");
  auto outside = fleet_.Register(host.Registration(a.activation_id, a.activation_code),
                                 "192.0.2.10", clock_.Now());
  ASSERT_FALSE(outside.has_value());
  EXPECT_EQ(outside.error().reason, "InvalidActivation");
  EXPECT_NE(outside.error().message.find("192.0.2.10"), std::string::npos);
  EXPECT_TRUE(Register(host, a, "10.20.30.40"));
  FakeHost v6 = FakeHost::Make("two");
  EXPECT_TRUE(Register(v6, a, "2001:db8::1"));
}

TEST_F(FleetServiceTest, RepeatedWrongCodesAreThrottledPerAddress) {
  const auto a = Activate(5);
  const auto b = Activate(5);
  FakeHost host = FakeHost::Make("one");
  auto attempt = [&](const CreatedActivation& act, std::string code, std::string ip) {
    return Reason(
        fleet_.Register(host.Registration(act.activation_id, std::move(code)), ip, clock_.Now()));
  };
  // Alternate activations so only the address's counter reaches the limit.
  EXPECT_EQ(attempt(a, "x", "203.0.113.5"), "InvalidActivation");
  EXPECT_EQ(attempt(b, "x", "203.0.113.5"), "InvalidActivation");
  EXPECT_EQ(attempt(a, "x", "203.0.113.5"), "InvalidActivation");
  EXPECT_EQ(attempt(b, "x", "203.0.113.5"), "InvalidActivation");  // 4th: blocks 1 s
  // Even the right code is refused while blocked, so guessing gains nothing.
  EXPECT_EQ(attempt(a, a.activation_code, "203.0.113.5"), "ThrottlingException");
  // Another address is not affected.
  EXPECT_EQ(attempt(a, "x", "203.0.113.6"), "InvalidActivation");
  clock_.Advance(std::chrono::seconds(1));
  EXPECT_EQ(attempt(a, "x", "203.0.113.5"), "InvalidActivation");  // 5th: blocks 2 s
  clock_.Advance(std::chrono::seconds(1));
  EXPECT_EQ(attempt(a, a.activation_code, "203.0.113.5"), "ThrottlingException");
  clock_.Advance(std::chrono::seconds(1));
  EXPECT_EQ(attempt(a, a.activation_code, "203.0.113.5"), "OK");
}

TEST_F(FleetServiceTest, RepeatedWrongCodesAreThrottledPerActivation) {
  const auto a = Activate(5);
  FakeHost host = FakeHost::Make("one");
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(Reason(fleet_.Register(host.Registration(a.activation_id, "guess"),
                                     "203.0.113." + std::to_string(i), clock_.Now())),
              "InvalidActivation");
  }
  EXPECT_EQ(Reason(fleet_.Register(host.Registration(a.activation_id, "guess"), "203.0.113.99",
                                   clock_.Now())),
            "ThrottlingException");
  // The back-off doubles up to a minute.
  for (int i = 0; i < 12; ++i) {
    clock_.Advance(std::chrono::seconds(61));
    (void)fleet_.Register(host.Registration(a.activation_id, "guess"), "203.0.113.99",
                          clock_.Now());
  }
  clock_.Advance(std::chrono::seconds(59));
  EXPECT_EQ(Reason(fleet_.Register(host.Registration(a.activation_id, a.activation_code),
                                   "203.0.113.100", clock_.Now())),
            "ThrottlingException");
  clock_.Advance(std::chrono::seconds(1));
  EXPECT_EQ(Reason(fleet_.Register(host.Registration(a.activation_id, a.activation_code),
                                   "203.0.113.100", clock_.Now())),
            "OK");
}

TEST_F(FleetServiceTest, ConcurrentRegistrationsNeverExceedTheLimit) {
  const auto a = Activate(5);
  std::atomic<int> ok{0}, full{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&, i] {
      FakeHost host = FakeHost::Make("h" + std::to_string(i));
      auto r = fleet_.Register(host.Registration(a.activation_id, a.activation_code), "192.0.2.10",
                               clock_.Now());
      if (r) {
        ++ok;
      } else if (r.error().reason == "InvalidActivation") {
        ++full;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 5);
  EXPECT_EQ(full.load(), 11);
  EXPECT_EQ(fleet_.DescribeActivations({})->activations[0].registrations_count, 5);
  EXPECT_EQ(fleet_.ListInstances()->size(), 5u);
}

// ---- credentials ----

TEST_F(FleetServiceTest, CredentialsAreTheInstanceRolesAndNamedAfterTheInstance) {
  FakeHost host = FakeHost::Make("one");
  ASSERT_TRUE(Register(host, Activate()));
  auto creds = Credentials(host);
  ASSERT_TRUE(creds.has_value()) << creds.error().message;
  EXPECT_EQ(creds->access_key_id.substr(0, 4), "ASIA");
  EXPECT_EQ(creds->role_arn, "arn:aws:iam::123456789012:role/fleet-role");
  EXPECT_EQ(creds->expiration, std::chrono::duration_cast<std::chrono::seconds>(
                                   (clock_.Now() + std::chrono::hours(1)).time_since_epoch())
                                   .count());
  auto resolved = sts_.Resolve(creds->access_key_id, creds->session_token, clock_.Now());
  ASSERT_TRUE(resolved.has_value()) << resolved.error().message;
  EXPECT_EQ(resolved->principal.instance_id, host.instance_id);
  EXPECT_EQ(resolved->principal.arn,
            "arn:aws:sts::123456789012:assumed-role/fleet-role/" + host.instance_id);
  EXPECT_EQ(resolved->secret_access_key.Reveal(), creds->secret_access_key);
}

TEST_F(FleetServiceTest, ChallengesAreSingleUseShortLivedAndBound) {
  FakeHost host = FakeHost::Make("one");
  FakeHost other = FakeHost::Make("two");
  const auto a = Activate(2);
  ASSERT_TRUE(Register(host, a));
  ASSERT_TRUE(Register(other, a));

  auto c = fleet_.IssueChallenge(host.instance_id, clock_.Now());
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(crypto::Base64Decode(c->challenge)->size(), 32u);
  ASSERT_TRUE(fleet_.IssueCredentials(host.Prove(c->challenge), "", clock_.Now()));
  EXPECT_EQ(Reason(fleet_.IssueCredentials(host.Prove(c->challenge), "", clock_.Now())),
            "AccessDeniedException");

  auto late = fleet_.IssueChallenge(host.instance_id, clock_.Now());
  clock_.Advance(std::chrono::seconds(60));
  EXPECT_EQ(Reason(fleet_.IssueCredentials(host.Prove(late->challenge), "", clock_.Now())),
            "AccessDeniedException");

  // Another instance's challenge, or a signature by another key, gets nothing.
  auto theirs = fleet_.IssueChallenge(other.instance_id, clock_.Now());
  EXPECT_EQ(Reason(fleet_.IssueCredentials(host.Prove(theirs->challenge), "", clock_.Now())),
            "AccessDeniedException");
  FakeHost impostor = FakeHost::Make("one");  // same fingerprint, another key
  impostor.instance_id = host.instance_id;
  auto mine = fleet_.IssueChallenge(host.instance_id, clock_.Now());
  EXPECT_EQ(Reason(fleet_.IssueCredentials(impostor.Prove(mine->challenge), "", clock_.Now())),
            "AccessDeniedException");
  // A signature over another fingerprint than the one presented.
  auto c2 = fleet_.IssueChallenge(host.instance_id, clock_.Now());
  auto req = host.Prove(c2->challenge);
  req.fingerprint["hostname"] = "changed";
  EXPECT_EQ(Reason(fleet_.IssueCredentials(req, "", clock_.Now())), "AccessDeniedException");

  EXPECT_EQ(Reason(fleet_.IssueChallenge("mi-00000000000000000", clock_.Now())),
            "InvalidInstanceId");
  EXPECT_EQ(Reason(fleet_.IssueChallenge("i-123", clock_.Now())), "InvalidInstanceId");
}

TEST_F(FleetServiceTest, FingerprintDriftWithinThresholdIsAcceptedAndRecorded) {
  FakeHost host = FakeHost::Make("one");
  ASSERT_TRUE(Register(host, Activate()));
  host.fingerprint["mac:eth0"] = "new-nic";
  ASSERT_TRUE(Credentials(host));
  auto info = fleet_.GetInstance(host.instance_id);
  ASSERT_EQ(info->fingerprint_history.size(), 1u);
  EXPECT_EQ(info->fingerprint_history[0].reason, "drift");
  EXPECT_EQ(info->fingerprint_history[0].changed, std::vector<std::string>{"mac:eth0"});
  // The new NIC is now the reference: a later rename plus CPU swap is still 3 of 5.
  host.fingerprint["hostname"] = "renamed";
  host.fingerprint["cpu_model"] = "faster";
  EXPECT_TRUE(Credentials(host));
}

TEST_F(FleetServiceTest, CopiedStateOnAnotherMachineIsRefusedUntilRebindApproved) {
  FakeHost host = FakeHost::Make("one");
  ASSERT_TRUE(Register(host, Activate()));
  auto before = Credentials(host);
  ASSERT_TRUE(before.has_value());

  FakeHost copy = host.Clone();  // same key and instance ID, other machine
  copy.fingerprint = FakeHost::Make("elsewhere").fingerprint;
  auto refused = Credentials(copy);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().reason, "FingerprintMismatch");
  EXPECT_EQ(refused.error().code, ErrorCode::kPermissionDenied);
  EXPECT_NE(refused.error().message.find("keyward instance rebind " + host.instance_id),
            std::string::npos);
  EXPECT_EQ(Reason(Credentials(copy)), "FingerprintMismatch");  // stays refused

  EXPECT_EQ(Reason(fleet_.ApproveRebind("mi-00000000000000000")), "InvalidInstanceId");
  ASSERT_TRUE(fleet_.ApproveRebind(host.instance_id));
  EXPECT_TRUE(fleet_.GetInstance(host.instance_id)->rebind_approved);
  auto after = Credentials(copy);
  ASSERT_TRUE(after.has_value()) << after.error().message;
  auto info = fleet_.GetInstance(host.instance_id);
  EXPECT_FALSE(info->rebind_approved);
  ASSERT_EQ(info->fingerprint_history.size(), 1u);
  EXPECT_EQ(info->fingerprint_history[0].reason, "rebind");
  EXPECT_EQ(info->fingerprint_history[0].changed.size(), 4u);  // the CPU model is the same
  // The new fingerprint is the reference now; the old machine is the stranger.
  EXPECT_EQ(Reason(Credentials(host)), "FingerprintMismatch");
  // A rebind does not revoke what was issued before.
  EXPECT_TRUE(sts_.Resolve(before->access_key_id, before->session_token, clock_.Now()));
}

TEST_F(FleetServiceTest, DeregisterKillsCredentialsAtOnce) {
  FakeHost host = FakeHost::Make("one");
  ASSERT_TRUE(Register(host, Activate()));
  auto creds = Credentials(host);
  ASSERT_TRUE(creds.has_value());
  ASSERT_TRUE(sts_.Resolve(creds->access_key_id, creds->session_token, clock_.Now()));
  auto pending = fleet_.IssueChallenge(host.instance_id, clock_.Now());
  ASSERT_TRUE(pending.has_value());

  std::vector<std::string> hooked;
  fleet_.SetDeregistrationHook([&](std::string_view id) { hooked.emplace_back(id); });
  ASSERT_TRUE(fleet_.DeregisterManagedInstance(host.instance_id));
  EXPECT_EQ(hooked, std::vector<std::string>{host.instance_id});
  EXPECT_EQ(sts_.Resolve(creds->access_key_id, creds->session_token, clock_.Now()).error().reason,
            "InvalidClientTokenId");
  EXPECT_FALSE(fleet_.IsRegistered(host.instance_id));
  EXPECT_EQ(Reason(fleet_.IssueCredentials(host.Prove(pending->challenge), "", clock_.Now())),
            "AccessDeniedException");
  EXPECT_EQ(Reason(fleet_.IssueChallenge(host.instance_id, clock_.Now())), "InvalidInstanceId");
  EXPECT_EQ(Reason(fleet_.DeregisterManagedInstance(host.instance_id)), "InvalidInstanceId");
  EXPECT_EQ(hooked.size(), 1u);  // a refused deregistration does not run the hook
  EXPECT_FALSE(fleet_.FindInstance(host.instance_id)->has_value());
}

TEST_F(FleetServiceTest, UpdateManagedInstanceRoleAppliesToNewCredentials) {
  MakeRole("second-role");
  FakeHost host = FakeHost::Make("one");
  ASSERT_TRUE(Register(host, Activate()));
  auto old_creds = Credentials(host);
  ASSERT_TRUE(old_creds.has_value());
  EXPECT_EQ(Reason(fleet_.UpdateManagedInstanceRole(host.instance_id, "missing")),
            "InvalidParameters");
  EXPECT_EQ(Reason(fleet_.UpdateManagedInstanceRole("mi-00000000000000000", "second-role")),
            "InvalidInstanceId");
  ASSERT_TRUE(fleet_.UpdateManagedInstanceRole(host.instance_id, "second-role"));
  auto creds = Credentials(host);
  ASSERT_TRUE(creds.has_value());
  EXPECT_EQ(creds->role_arn, "arn:aws:iam::123456789012:role/second-role");
  auto resolved = sts_.Resolve(creds->access_key_id, creds->session_token, clock_.Now());
  EXPECT_EQ(resolved->principal.name, "second-role");
  EXPECT_EQ(fleet_.GetInstance(host.instance_id)->iam_role, "second-role");
}

// ---- presence and DescribeInstanceInformation ----

TEST_F(FleetServiceTest, PingStatusFollowsTheChannelAndHeartbeats) {
  FakeHost host = FakeHost::Make("one");
  ASSERT_TRUE(Register(host, Activate()));
  agentproto::HelloMessage hello;
  hello.agent_version = "0.2.0";
  hello.platform = {"Ubuntu", "24.04", "Linux"};
  hello.computer_name = "renamed.example";
  hello.ip_address = "10.9.9.9";
  fleet_.Connected(host.instance_id, hello, "198.51.100.1", clock_.Now());
  auto info = fleet_.GetInstance(host.instance_id);
  EXPECT_EQ(info->ping_status, "Online");
  EXPECT_EQ(info->last_ping, clock_.Now());
  EXPECT_EQ(info->agent_version, "0.2.0");
  EXPECT_EQ(info->platform_name, "Ubuntu");
  EXPECT_EQ(info->computer_name, "renamed.example");
  EXPECT_EQ(info->ip_address, "198.51.100.1");

  clock_.Advance(std::chrono::seconds(80));
  fleet_.Heartbeat(host.instance_id, clock_.Now());
  clock_.Advance(std::chrono::seconds(90));
  EXPECT_EQ(fleet_.GetInstance(host.instance_id)->ping_status, "Online");
  clock_.Advance(std::chrono::seconds(1));
  EXPECT_EQ(fleet_.GetInstance(host.instance_id)->ping_status, "ConnectionLost");
  fleet_.Heartbeat(host.instance_id, clock_.Now());
  EXPECT_EQ(fleet_.GetInstance(host.instance_id)->ping_status, "Online");
  fleet_.Disconnected(host.instance_id, clock_.Now());
  EXPECT_EQ(fleet_.GetInstance(host.instance_id)->ping_status, "ConnectionLost");
}

TEST_F(FleetServiceTest, HeartbeatsAreWrittenOnlyByFlush) {
  FakeHost host = FakeHost::Make("one");
  ASSERT_TRUE(Register(host, Activate()));
  fleet_.Connected(host.instance_id, {}, "198.51.100.1", clock_.Now());
  const TimePoint connected_at = clock_.Now();
  clock_.Advance(std::chrono::seconds(30));
  fleet_.Heartbeat(host.instance_id, clock_.Now());

  // A second service over the same store sees only what was persisted.
  FleetService restarted(store_, clock_, random_, account_, sts_, policies_);
  EXPECT_EQ(restarted.GetInstance(host.instance_id)->last_ping, connected_at);
  EXPECT_EQ(restarted.GetInstance(host.instance_id)->ping_status, "ConnectionLost");
  EXPECT_EQ(fleet_.FlushPresence().value_or(99), 1u);
  EXPECT_EQ(restarted.GetInstance(host.instance_id)->last_ping, clock_.Now());
  EXPECT_EQ(fleet_.FlushPresence().value_or(99), 0u);  // nothing new
}

TEST_F(FleetServiceTest, DescribeInstanceInformationFiltersAndPages) {
  MakeRole("db-role");
  const auto a = Activate(20);
  std::vector<FakeHost> hosts;
  for (int i = 0; i < 12; ++i) {
    hosts.push_back(FakeHost::Make("h" + std::to_string(i)));
    ASSERT_TRUE(Register(hosts.back(), a));
  }
  ASSERT_TRUE(fleet_.UpdateManagedInstanceRole(hosts[0].instance_id, "db-role"));
  ASSERT_TRUE(
      fleet_.AddTags(TagResourceType::kManagedInstance, hosts[1].instance_id, {{"team", "blue"}}));
  fleet_.Connected(hosts[2].instance_id, {}, "10.0.0.2", clock_.Now());

  auto ids = [&](std::vector<InstanceFilter> filters) {
    DescribeInstancesRequest r;
    r.filters = std::move(filters);
    std::vector<std::string> out;
    auto p = fleet_.DescribeInstanceInformation(r);
    EXPECT_TRUE(p.has_value()) << (p ? "" : p.error().message);
    if (p) {
      for (const auto& i : p->instances) out.push_back(i.instance_id);
    }
    return out;
  };
  EXPECT_EQ(ids({{"IamRole", {"db-role"}}}), std::vector<std::string>{hosts[0].instance_id});
  EXPECT_EQ(ids({{"tag:team", {"blue"}}}), std::vector<std::string>{hosts[1].instance_id});
  EXPECT_EQ(ids({{"tag-key", {"team"}}}), std::vector<std::string>{hosts[1].instance_id});
  EXPECT_EQ(ids({{"PingStatus", {"Online"}}}), std::vector<std::string>{hosts[2].instance_id});
  EXPECT_EQ(ids({{"InstanceIds", {hosts[3].instance_id, hosts[4].instance_id}},
                 {"PingStatus", {"ConnectionLost"}}})
                .size(),
            2u);
  EXPECT_EQ(ids({{"ActivationIds", {a.activation_id}}}).size(), 12u);
  EXPECT_EQ(ids({{"PlatformTypes", {"Windows"}}}).size(), 0u);
  EXPECT_EQ(ids({{"ResourceType", {"ManagedInstance"}}}).size(), 12u);

  DescribeInstancesRequest bad;
  bad.filters = {{"Color", {"red"}}};
  EXPECT_EQ(Reason(fleet_.DescribeInstanceInformation(bad)), "InvalidFilterKey");
  bad.filters = {{"PingStatus", {"Sleepy"}}};
  EXPECT_EQ(Reason(fleet_.DescribeInstanceInformation(bad)),
            "InvalidInstanceInformationFilterValue");
  bad.filters = {{"PingStatus", {}}};
  EXPECT_EQ(Reason(fleet_.DescribeInstanceInformation(bad)),
            "InvalidInstanceInformationFilterValue");
  bad.filters.clear();
  bad.max_results = 4;
  EXPECT_EQ(Reason(fleet_.DescribeInstanceInformation(bad)), "ValidationError");

  DescribeInstancesRequest paged;
  paged.max_results = 5;
  std::vector<std::string> all;
  int pages = 0;
  for (;;) {
    auto p = fleet_.DescribeInstanceInformation(paged);
    ASSERT_TRUE(p.has_value());
    ++pages;
    for (const auto& i : p->instances) all.push_back(i.instance_id);
    if (p->next_token.empty()) break;
    paged.next_token = p->next_token;
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(all.size(), 12u);
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(), 12u);
}

TEST_F(FleetServiceTest, IsLatestVersionWhenConfigured) {
  FleetOptions options;
  options.latest_agent_version = "0.10.0";
  FleetService fleet(store_, clock_, random_, account_, sts_, policies_, options);
  FakeHost host = FakeHost::Make("one");
  ASSERT_TRUE(Register(host, Activate()));
  EXPECT_FALSE(fleet_.GetInstance(host.instance_id)->is_latest_version.has_value());
  EXPECT_EQ(fleet.GetInstance(host.instance_id)->is_latest_version, false);  // 0.1.0
  agentproto::HelloMessage hello;
  hello.agent_version = "0.10.0";
  fleet.Connected(host.instance_id, hello, "", clock_.Now());
  EXPECT_EQ(fleet.GetInstance(host.instance_id)->is_latest_version, true);
}

// ---- tags ----

TEST_F(FleetServiceTest, TagsOnInstancesAndActivations) {
  const auto a = Activate();
  FakeHost host = FakeHost::Make("one");
  ASSERT_TRUE(Register(host, a));
  ASSERT_TRUE(fleet_.AddTags(TagResourceType::kManagedInstance, host.instance_id,
                             {{"a", "1"}, {"b", "2"}}));
  ASSERT_TRUE(fleet_.AddTags(TagResourceType::kManagedInstance, host.instance_id, {{"a", "3"}}));
  ASSERT_TRUE(fleet_.RemoveTags(TagResourceType::kManagedInstance, host.instance_id, {"b", "z"}));
  EXPECT_EQ(*fleet_.ListTags(TagResourceType::kManagedInstance, host.instance_id),
            (Tags{{"a", "3"}}));
  EXPECT_EQ(fleet_.FindInstance(host.instance_id)->value().tags, (Tags{{"a", "3"}}));

  ASSERT_TRUE(fleet_.AddTags(TagResourceType::kActivation, a.activation_id, {{"k", "v"}}));
  EXPECT_EQ(*fleet_.ListTags(TagResourceType::kActivation, a.activation_id), (Tags{{"k", "v"}}));

  EXPECT_EQ(Reason(fleet_.ListTags(TagResourceType::kManagedInstance, "mi-00000000000000000")),
            "InvalidResourceId");
  EXPECT_EQ(Reason(fleet_.ListTags(TagResourceType::kActivation, host.instance_id)),
            "InvalidResourceId");
  Tags many;
  for (int i = 0; i < 50; ++i) many["k" + std::to_string(i)] = "v";
  EXPECT_EQ(Reason(fleet_.AddTags(TagResourceType::kManagedInstance, host.instance_id, many)),
            "TooManyTagsError");  // 51 with "a"
  EXPECT_EQ(
      Reason(fleet_.AddTags(TagResourceType::kManagedInstance, host.instance_id, {{"", "v"}})),
      "ValidationError");
}

TEST_F(FleetServiceTest, ManagedInstanceIdsAndArns) {
  EXPECT_TRUE(IsManagedInstanceId("mi-0123456789abcdef0"));
  EXPECT_FALSE(IsManagedInstanceId("mi-0123456789ABCDEF0"));
  EXPECT_FALSE(IsManagedInstanceId("mi-0123456789abcdef"));
  EXPECT_FALSE(IsManagedInstanceId("i-0123456789abcdef0"));
  EXPECT_EQ(ManagedInstanceArn(account_, "mi-0123456789abcdef0"),
            "arn:aws:ssm:us-east-1:123456789012:managed-instance/mi-0123456789abcdef0");
}

}  // namespace
}  // namespace kw::fleet
