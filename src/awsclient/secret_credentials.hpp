#pragma once

// Credentials kept in a secret of the caller's own (keyward's Secrets Manager), so
// that an ordinary rotation policy can rotate the key a connection signs with
// (docs/rotation-external.md, "Rotating keyward's own credentials"). awsclient does not
// know the secrets module: the server supplies a SecretKeyReader over it.

#include <string>
#include <string_view>

#include "awsclient/credential_sources.hpp"
#include "common/result.hpp"
#include "common/secret_bytes.hpp"

namespace kw::awsclient {

struct SecretKeyPair {
  std::string access_key_id;
  SecretBytes secret_access_key;
};

// Reads the key pair in the AWSCURRENT version of a named secret. Implementations are
// thread-safe; their errors never quote the secret's value.
class SecretKeyReader {
 public:
  virtual ~SecretKeyReader() = default;
  virtual Result<SecretKeyPair> ReadCurrent(std::string_view secret_name) = 0;
};

// Reads the secret afresh on every Get, without a cache: the moment a rotation
// promotes a new version, the next call signs with the new key (the old one is about
// to be deactivated and deleted with calls signed by this provider). A local read is
// cheap next to the HTTPS call it signs. Errors are kUnauthenticated ("no
// credentials: keyward secret 'NAME': ...") so the rotation waits with that reason.
// Thread-safe if the reader is.
class SecretCredentialProvider final : public CredentialProvider {
 public:
  // `reader` is borrowed and must outlive the provider.
  SecretCredentialProvider(SecretKeyReader& reader, std::string secret_name)
      : reader_(reader), secret_name_(std::move(secret_name)) {}
  Result<ProvidedCredentials> Get() override;

 private:
  SecretKeyReader& reader_;
  const std::string secret_name_;
};

}  // namespace kw::awsclient
