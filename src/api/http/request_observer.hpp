#pragma once

// What the request pipeline knew about one AWS API request when it answered, handed to
// observers after the response is built: the event log (src/events) and the
// "old key used during grace" signal of rotation are two. The pipeline fills only what
// it reached: a request refused at the signature has no principal and no operation.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "api/http/query_protocol.hpp"
#include "common/clock.hpp"
#include "iam/principal.hpp"

namespace kw::api {

struct ObservedRequest {
  TimePoint time;  // when the request arrived
  std::string request_id;
  std::string service = "unknown";    // SigV4 signing name ("iam", "secretsmanager")
  std::string operation = "unknown";  // operation name, once looked up
  std::string region;                 // from the credential scope
  std::string source_ip;
  std::string user_agent;
  // The access key ID as presented in the signature; empty when none was parsed.
  std::string access_key_id;
  // Set when authentication succeeded.
  std::optional<iam::Principal> principal;
  // Authentication failed because the presented long-term key exists but is Inactive
  // (the resolver's KnownInactive): a consumer still using a deactivated key.
  bool key_inactive = false;
  // The decoded request: JSON services fill json_input, query services query_params
  // (Action and Version included). Both may hold secrets: observers redact.
  std::optional<nlohmann::json> json_input;
  std::optional<QueryParams> query_params;
  // JSON services on success: the response document (may hold secrets).
  std::optional<nlohmann::json> json_output;
  // Query services on success, for operations that are not read-only: the inside of
  // <{Op}Result> as XmlWriter::TakeStructure builds it while the handler writes the XML
  // (element names as in the XML; may hold secrets: observers redact).
  std::optional<nlohmann::json> query_output;
  int http_status = 0;
  std::string error_code;  // the AWS error code; empty on success
  std::string error_message;
};

// Thread-safe: called concurrently from the transport's threads, after the response is
// built and before it is sent, so it must be quick (queue, do not write to disk
// synchronously) and must not throw.
class RequestObserver {
 public:
  virtual ~RequestObserver() = default;
  virtual void OnRequest(const ObservedRequest& request) = 0;
};

}  // namespace kw::api
