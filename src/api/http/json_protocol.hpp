#pragma once

// The AWS JSON 1.1 protocol (Secrets Manager, SSM): `POST /` with
// `X-Amz-Target: {targetPrefix}.{Operation}` and a JSON object body; the answer is a
// JSON object, errors `{"__type": "...", "message": "..."}` (api/http/aws_error.hpp).
// As with the query protocol, a service is a table of operations; the dispatcher
// authenticates, authorizes (identity policies, plus the resource's own policy when
// the operation names one) and calls the handler.

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"
#include "common/result.hpp"
#include "iam/principal.hpp"
#include "policy/policy.hpp"

namespace kw::api {

// The largest JSON request body keyward decodes (Secrets Manager's largest request,
// a 64 KiB secret in base64 plus its fields, fits with room to spare).
inline constexpr std::size_t kMaxJsonBodyBytes = 512 * 1024;

// Parses a JSON 1.1 request body: an object (an empty body counts as `{}`). Errors:
// kInvalidArgument with reason "SerializationException" for malformed JSON, a
// non-object, nesting deeper than 64, or a body over kMaxJsonBodyBytes. Never throws.
Result<nlohmann::json> DecodeJsonBody(std::string_view body);

// Authorizes the caller of the current request for another action or resource, with
// the same condition keys (for operations that act on several resources, such as
// BatchGetSecretValue, which needs GetSecretValue on each secret).
using CallAuthorizer = std::function<Status(std::string_view action, std::string_view resource,
                                            const policy::Policy* resource_policy)>;

struct JsonCall {
  const nlohmann::json& input;  // an object
  const iam::Principal& principal;
  std::string_view request_id;
  std::string_view source_ip;
  TimePoint now;
  CallAuthorizer authorize;  // always set by the dispatcher
  // JsonTarget::context of the operation's `target` for this request (valid during the
  // call); null when the operation has no `target` or the call does not come from the
  // dispatcher (handlers must then look things up themselves).
  const void* context = nullptr;
};

// What an operation acts on, resolved once per request (see JsonOperation::target).
struct JsonTarget {
  std::string resource = "*";                             // the ARN to authorize
  std::shared_ptr<const policy::Policy> resource_policy;  // may be null
  // Whatever the lookup found, handed to the handler as JsonCall::context (the
  // operation's own type; the dispatcher only keeps it alive). May be null.
  std::shared_ptr<const void> context;
};

struct JsonOperation {
  std::string name;  // "GetSecretValue"
  bool read_only = false;
  bool authorize = true;
  // The ARN the operation acts on ("*" for none), computed from the raw input.
  std::function<std::string(const nlohmann::json& input, const iam::Principal&)> resource;
  // The resource's own policy (a Secrets Manager resource policy), if any; it is
  // evaluated together with the caller's identity policies. May be empty.
  std::function<std::shared_ptr<const policy::Policy>(const nlohmann::json& input)> resource_policy;
  // Optional; when set it replaces `resource` and `resource_policy`: one lookup gives
  // the resource, its policy and a context for the handler, so the handler need not
  // look the resource up again. Called for every request of the operation (also when
  // `authorize` is false), before authorization. Must not fail: a missing resource
  // gives the ARN to deny or to report as not found, and a context saying so.
  std::function<JsonTarget(const nlohmann::json& input, const iam::Principal&)> target;
  // Returns the output object. An error is mapped to an AWS JSON error.
  std::function<Result<nlohmann::json>(const JsonCall&)> handler;
};

// An operation authorized against `resource` with no resource policy (the common case).
JsonOperation MakeJsonOperation(
    std::string name, bool read_only,
    std::function<std::string(const nlohmann::json& input, const iam::Principal&)> resource,
    std::function<Result<nlohmann::json>(const JsonCall&)> handler);

struct JsonService {
  std::string signing_name;   // SigV4 service: "secretsmanager"
  std::string target_prefix;  // X-Amz-Target prefix: "secretsmanager", "AmazonSSM"
  std::string action_prefix;  // policy action prefix: "secretsmanager", "ssm"
  std::vector<JsonOperation> operations;
};

}  // namespace kw::api
