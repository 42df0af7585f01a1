#pragma once

// The wire protocol between keyward-agent and the server, shared by both sides so they
// cannot drift apart. Pure encoding and decoding (nlohmann-json); no I/O. The whole
// protocol is described in docs/agent-protocol.md.
//
// Decoders never throw and validate every length and count: messages arrive from
// hosts, which are not trusted. Errors are kInvalidArgument with reason
// "SerializationException" (a JSON 1.1 error the agent understands).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace kw::agentproto {

// Limits that both sides enforce.
inline constexpr std::size_t kMaxMessageBytes = 256 * 1024;
inline constexpr std::size_t kMaxFingerprintComponents = 32;
inline constexpr std::size_t kMaxComponentValueBytes = 128;  // each is a SHA-256 hex
inline constexpr std::size_t kMaxSteps = 20;
inline constexpr std::size_t kMaxCommandsPerStep = 1000;
inline constexpr std::size_t kMaxStdoutChars = 24000;  // SSM's GetCommandInvocation limit
inline constexpr std::size_t kMaxStderrChars = 8000;

// ---- Host identity --------------------------------------------------------------

// A host fingerprint: component name ("machine_id", "product_uuid", "mac:eth0",
// "hostname", "cpu_model", ...) to the SHA-256 hex of its value, so the raw identifiers
// never leave the host. Compared component by component (fleet/fingerprint.hpp).
using Fingerprint = std::map<std::string, std::string>;

// The bytes an agent signs to obtain credentials: binds the challenge, the instance and
// the fingerprint it presents, so none can be replayed with another.
// "keyward-agent-credentials-v1\n" + instance_id + "\n" + challenge + "\n" +
// canonical JSON of the fingerprint (sorted keys, no spaces).
std::string CredentialProofMessage(std::string_view instance_id, std::string_view challenge,
                                   const Fingerprint& fingerprint);

struct PlatformInfo {
  std::string name;     // "Debian GNU/Linux"
  std::string version;  // "12"
  std::string type = "Linux";
};

// POST /v1/agent/register (unsigned: the activation code is the credential).
struct RegisterRequest {
  std::string activation_id;
  std::string activation_code;
  std::string public_key;  // raw Ed25519, 32 bytes (base64 on the wire)
  Fingerprint fingerprint;
  std::string computer_name;
  std::string ip_address;
  std::string agent_version;
  PlatformInfo platform;
};
struct RegisterResponse {
  std::string instance_id;  // mi- + 17 hex digits
};

// POST /v1/agent/challenge
struct ChallengeRequest {
  std::string instance_id;
};
struct ChallengeResponse {
  std::string challenge;        // base64 of 32 random bytes, single use
  std::int64_t expires_at = 0;  // Unix seconds
};

// POST /v1/agent/credentials
struct CredentialsRequest {
  std::string instance_id;
  std::string challenge;
  std::string signature;  // raw 64 bytes (base64 on the wire) over CredentialProofMessage
  Fingerprint fingerprint;
};
struct CredentialsResponse {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;
  std::int64_t expiration = 0;  // Unix seconds
  std::string role_arn;
};

std::string Encode(const RegisterRequest& m);
std::string Encode(const RegisterResponse& m);
std::string Encode(const ChallengeRequest& m);
std::string Encode(const ChallengeResponse& m);
std::string Encode(const CredentialsRequest& m);
std::string Encode(const CredentialsResponse& m);
Result<RegisterRequest> DecodeRegisterRequest(std::string_view body);
Result<RegisterResponse> DecodeRegisterResponse(std::string_view body);
Result<ChallengeRequest> DecodeChallengeRequest(std::string_view body);
Result<ChallengeResponse> DecodeChallengeResponse(std::string_view body);
Result<CredentialsRequest> DecodeCredentialsRequest(std::string_view body);
Result<CredentialsResponse> DecodeCredentialsResponse(std::string_view body);

// ---- Control channel (WebSocket text frames, one JSON object each) ---------------

// A step of action kSyncSecretAction (agent secret sync, agent/secret_sync.hpp) carries
// its inputs in run_command: kSyncStepGuard first, then one "Name=value" line per input.
// The guard makes an agent that does not know the action fail the step (it would run
// the lines as a script) instead of reporting Success for a secret it never installed.
inline constexpr const char* kSyncSecretAction = "keyward:syncSecret";
inline constexpr const char* kSyncStepGuard =
    "exit 1 # keyward:syncSecret: this keyward-agent is too old to run the step";

struct Step {
  std::string name;
  std::string action;                    // "aws:runShellScript" or kSyncSecretAction
  std::vector<std::string> run_command;  // parameters already substituted
  std::string working_directory;
  std::int64_t timeout_seconds = 3600;
};

struct StepResult {
  std::string name;
  std::string status;  // Success, Failed, TimedOut, Cancelled
  int response_code = -1;
  std::string standard_output;  // at most kMaxStdoutChars
  std::string standard_error;   // at most kMaxStderrChars
  std::int64_t started_at = 0;  // Unix milliseconds
  std::int64_t ended_at = 0;
};

// Server to agent.
struct CommandMessage {
  std::string command_id;
  std::string document_name;
  std::vector<Step> steps;
};
struct CancelMessage {
  std::string command_id;
};

// Agent to server.
struct HelloMessage {
  std::string agent_version;
  PlatformInfo platform;
  std::string computer_name;
  std::string ip_address;
};
struct HeartbeatMessage {};
// The agent has the command (persisted it); the invocation becomes InProgress.
struct AckMessage {
  std::string command_id;
};
struct ResultMessage {
  std::string command_id;
  std::string status;  // Success, Failed, TimedOut, Cancelled
  int response_code = -1;
  std::vector<StepResult> steps;
};

struct ControlMessage {
  enum class Type { kHello, kHeartbeat, kAck, kResult, kCommand, kCancel };
  Type type = Type::kHeartbeat;
  HelloMessage hello;
  AckMessage ack;
  ResultMessage result;
  CommandMessage command;
  CancelMessage cancel;
};

std::string Encode(const HelloMessage& m);
std::string Encode(const HeartbeatMessage& m);
std::string Encode(const AckMessage& m);
std::string Encode(const ResultMessage& m);
std::string Encode(const CommandMessage& m);
std::string Encode(const CancelMessage& m);
// Any control message, by its "type" member.
Result<ControlMessage> DecodeControlMessage(std::string_view text);

// Keeps at most `max_chars` characters of `text`, cutting at a UTF-8 boundary, as SSM
// truncates command output.
std::string TruncateOutput(std::string_view text, std::size_t max_chars);

}  // namespace kw::agentproto
