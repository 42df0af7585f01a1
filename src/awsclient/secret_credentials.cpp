#include "awsclient/secret_credentials.hpp"

namespace kw::awsclient {

Result<ProvidedCredentials> SecretCredentialProvider::Get() {
  auto pair = reader_.ReadCurrent(secret_name_);
  if (!pair) {
    return Unauthenticated("no credentials: keyward secret '" + secret_name_ +
                           "': " + pair.error().message);
  }
  ProvidedCredentials out;
  out.credentials.access_key_id = std::move(pair->access_key_id);
  out.credentials.secret_access_key = std::move(pair->secret_access_key);
  out.source = "keyward secret '" + secret_name_ + "'";
  return out;
}

}  // namespace kw::awsclient
