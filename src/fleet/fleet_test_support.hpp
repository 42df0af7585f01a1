#pragma once

// Shared by the tests of fleet/ and of the adapters over it (api/ssm/fleet, api/agent):
// a FleetService over a memory store with real STS and IAM services, and a simulated
// host (key pair and fingerprint) that registers and fetches credentials as
// keyward-agent does. Test-only; link kw_store_memory.

#include <string>

#include "agentproto/agent_protocol.hpp"
#include "crypto/aead.hpp"
#include "crypto/signature.hpp"
#include "fleet/fleet_service.hpp"
#include "iam/policy_test_support.hpp"
#include "sts/sts_service.hpp"

namespace kw::fleet::testing {

// A host as keyward-agent sees it.
struct FakeHost {
  crypto::Ed25519KeyPair key;
  agentproto::Fingerprint fingerprint;
  std::string instance_id;

  static FakeHost Make(std::string_view machine) {
    FakeHost h;
    h.key = std::move(crypto::GenerateEd25519()).value();
    const std::string m(machine);
    h.fingerprint = {{"machine_id", "mid-" + m},
                     {"product_uuid", "uuid-" + m},
                     {"hostname", "host-" + m},
                     {"cpu_model", "cpu"},
                     {"mac:eth0", "mac-" + m}};
    return h;
  }

  // The same key and instance ID (a copied state directory).
  FakeHost Clone() const {
    FakeHost h;
    h.key.private_key_pem = key.private_key_pem.Clone();
    h.key.public_key = key.public_key;
    h.fingerprint = fingerprint;
    h.instance_id = instance_id;
    return h;
  }

  agentproto::RegisterRequest Registration(std::string activation_id, std::string code) const {
    agentproto::RegisterRequest r;
    r.activation_id = std::move(activation_id);
    r.activation_code = std::move(code);
    r.public_key = key.public_key;
    r.fingerprint = fingerprint;
    r.computer_name = "host.example";
    r.ip_address = "192.0.2.10";
    r.agent_version = "0.1.0";
    r.platform = {"Debian GNU/Linux", "12", "Linux"};
    return r;
  }

  agentproto::CredentialsRequest Prove(const std::string& challenge) const {
    agentproto::CredentialsRequest r;
    r.instance_id = instance_id;
    r.challenge = challenge;
    r.fingerprint = fingerprint;
    r.signature = std::move(crypto::SignEd25519(key.private_key_pem,
                                                agentproto::CredentialProofMessage(
                                                    instance_id, challenge, fingerprint)))
                      .value();
    return r;
  }
};

class FleetFixture : protected iam::testing::PolicyServiceFixture {
 protected:
  FleetFixture()
      : envelope_("test-key", SecretBytes(std::string(32, 'k')), random_),
        sts_(store_, envelope_, clock_, random_, account_, policies_),
        fleet_(store_, clock_, random_, account_, sts_, policies_) {
    sts_.SetInstanceChecker(&fleet_);
  }
  ~FleetFixture() { sts_.SetInstanceChecker(nullptr); }

  void MakeRole(const std::string& name) {
    iam::CreateRoleRequest r;
    r.role_name = name;
    r.assume_role_policy_document =
        R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ssm.amazonaws.com"},"Action":"sts:AssumeRole"}]})";
    auto role = policies_.CreateRole(r);
    if (!role) std::abort();
  }

  CreatedActivation Activate(int limit = 1, std::vector<std::string> cidrs = {}) {
    CreateActivationRequest r;
    r.iam_role = "fleet-role";
    r.registration_limit = limit;
    r.default_instance_name = "web";
    r.source_cidrs = std::move(cidrs);
    return std::move(fleet_.CreateActivation(r)).value();
  }

  // Registers `host` from 192.0.2.10 and records its instance ID.
  Status Register(FakeHost& host, const CreatedActivation& a, std::string ip = "192.0.2.10") {
    auto r =
        fleet_.Register(host.Registration(a.activation_id, a.activation_code), ip, clock_.Now());
    if (!r) return std::move(r).error();
    host.instance_id = r->instance_id;
    return OkStatus();
  }

  Result<agentproto::CredentialsResponse> Credentials(const FakeHost& host) {
    KW_ASSIGN_OR_RETURN(auto c, fleet_.IssueChallenge(host.instance_id, clock_.Now()));
    return fleet_.IssueCredentials(host.Prove(c.challenge), "192.0.2.10", clock_.Now());
  }

  crypto::Envelope envelope_;
  sts::StsService sts_;
  FleetService fleet_;
};

}  // namespace kw::fleet::testing
