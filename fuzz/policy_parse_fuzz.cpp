// Parses the input as an identity and as a resource policy, then evaluates whatever
// parsed against a fixed request. Parse and Evaluate must never crash, hang or throw.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "policy/policy.hpp"

namespace {

const kw::policy::RequestContext& FixedRequest() {
  static const kw::policy::RequestContext r = [] {
    kw::policy::RequestContext c;
    c.action = "secretsmanager:GetSecretValue";
    c.resource = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf";
    c.principal_arn = "arn:aws:sts::123456789012:assumed-role/Deployer/ci-42";
    c.principal_account = "123456789012";
    c.keys = {
        {"aws:username", {"alice"}},
        {"aws:userid", {"AIDAEXAMPLE"}},
        {"aws:sourceip", {"127.0.0.1"}},
        {"aws:currenttime", {"2026-06-01T12:00:00Z"}},
        {"aws:epochtime", {"1780315200"}},
        {"aws:securetransport", {"true"}},
        {"aws:principaltag/team", {"ops"}},
        {"aws:tagkeys", {"a", "b", "c"}},
        {"aws:sourcearn", {"arn:aws:iam::123456789012:role/app"}},
        {"s3:max-keys", {"10"}},
        {"aws:empty", {}},
    };
    return c;
  }();
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto identity = kw::policy::Parse(text, kw::policy::PolicyKind::kIdentity);
  auto resource = kw::policy::Parse(text, kw::policy::PolicyKind::kResource);
  std::vector<const kw::policy::Policy*> policies;
  if (identity) policies.push_back(&*identity);
  if (resource) policies.push_back(&*resource);
  if (!policies.empty()) (void)kw::policy::Evaluate(policies, FixedRequest());
  // The glob matcher on its own: first half as pattern, second half as value.
  (void)kw::policy::WildcardMatch(text.substr(0, size / 2), text.substr(size / 2), size % 2);
  return 0;
}
