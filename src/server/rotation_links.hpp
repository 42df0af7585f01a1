#pragma once

// The composition root's glue between the request pipeline / Secrets Manager adapter
// and the rotation engine, so that neither api/ module depends on rotation/:
//
// - EngineSecretRotationLink: DescribeSecret/ListSecrets show a covered secret's policy
//   dates, and RotateSecret starts the policy's rotation (api::SecretRotationLink).
// - KeyAttemptObserver: a request refused because it was signed with a known but
//   Inactive access key is recorded in the built-in issuer's KeyAttemptLog, the signal
//   the engine's grace step watches for (docs/adr/0009, DESIGN.md step 8).

#include <string>
#include <string_view>

#include "api/http/request_observer.hpp"
#include "api/secretsmanager/secretsmanager_api.hpp"
#include "rotation/builtin/iam_issuer.hpp"
#include "rotation/rotation_engine.hpp"

namespace kw::server {

// Thread-safe as the engine is. The engine must outlive the link.
class EngineSecretRotationLink final : public api::SecretRotationLink {
 public:
  explicit EngineSecretRotationLink(rotation::RotationEngine& engine) : engine_(engine) {}

  // A policy names its secret as given at creation: by name (the usual) or by ARN.
  Result<std::optional<State>> Find(std::string_view name, std::string_view arn) override;
  Result<std::optional<std::string>> RotateNow(std::string_view name,
                                               std::string_view arn) override;

 private:
  Result<std::optional<rotation::RotationPolicy>> PolicyFor(std::string_view name,
                                                            std::string_view arn);
  rotation::RotationEngine& engine_;
};

// The source recorded for a refused request: the client's address, and " instance
// mi-..." when the request authenticated with a managed instance's credentials. A
// request signed with an Inactive long-term key never authenticates, so for the grace
// signal the source is the address alone (the instance, if any, is the one whose
// address that is: `keyward rotation status` shows it next to the hosts). Pure.
std::string AttemptSource(const api::ObservedRequest& request);

// Thread-safe: KeyAttemptLog is, and OnRequest does nothing else (one map update under
// a mutex, only for requests signed with an Inactive key). The log must outlive it.
class KeyAttemptObserver final : public api::RequestObserver {
 public:
  explicit KeyAttemptObserver(rotation::builtin::KeyAttemptLog& log) : log_(log) {}
  void OnRequest(const api::ObservedRequest& request) override;

 private:
  rotation::builtin::KeyAttemptLog& log_;
};

}  // namespace kw::server
