#pragma once

// The agent's calls to the server's unsigned agent API (docs/agent-protocol.md):
// register, challenge, credentials. Thread-safe if the poster is.

#include <cstdint>
#include <functional>
#include <string>

#include "agent/transport.hpp"
#include "agentproto/agent_protocol.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"
#include "common/secret_bytes.hpp"
#include "sigv4/sigv4.hpp"

namespace kw::agent {

// POSTs `body` to `path` ("/v1/agent/register", ...) and returns the answer. Injected so
// that tests need no network.
using PostFn = std::function<Result<HttpReply>(const std::string& path, std::string body)>;

// A PostFn over agent/transport.hpp.
PostFn HttpPoster(ServerUrl server, TlsOptions tls, std::chrono::seconds timeout);

// Errors: the server's JSON 1.1 error becomes an Error whose `reason` is its __type
// (InvalidActivation, InvalidInstanceId, FingerprintMismatch, AccessDeniedException,
// ThrottlingException...) and whose code follows the HTTP status; kUnavailable when no
// answer came or for a 5xx; kInternal ("SerializationException") for an unreadable answer.
Result<agentproto::RegisterResponse> Register(const PostFn& post,
                                              const agentproto::RegisterRequest& request);

struct InstanceCredentials {
  sigv4::Credentials credentials;
  std::int64_t expiration = 0;  // Unix seconds
  std::string role_arn;
};

// Challenge, then credentials: signs CredentialProofMessage(instance, challenge,
// fingerprint) with the host key. Errors as above, plus kInvalidArgument for a broken
// host key.
Result<InstanceCredentials> ObtainCredentials(const PostFn& post, const std::string& instance_id,
                                              const SecretBytes& host_key,
                                              const agentproto::Fingerprint& fingerprint);

}  // namespace kw::agent
