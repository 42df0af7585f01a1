#pragma once

// rotation::SecretTarget over keyward's Secrets Manager (secrets::SecretService).

#include "rotation/secret_target.hpp"
#include "secrets/secret_service.hpp"

namespace kw::rotation::builtin {

// Thread-safe (SecretService is).
class SecretsTarget final : public SecretTarget {
 public:
  explicit SecretsTarget(secrets::SecretService& secrets) : secrets_(secrets) {}

  Result<SecretVersion> GetCurrent(std::string_view secret_id) override;
  Result<std::optional<SecretVersion>> GetVersion(std::string_view secret_id,
                                                  std::string_view version_id) override;
  Status PutPending(std::string_view secret_id, std::string_view token,
                    const SecretBytes& value) override;
  Status Promote(std::string_view secret_id, std::string_view version_id) override;

 private:
  secrets::SecretService& secrets_;
};

}  // namespace kw::rotation::builtin
