#include "agentproto/agent_protocol.hpp"

#include <nlohmann/json.hpp>

#include "crypto/digest.hpp"

namespace kw::agentproto {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxIdBytes = 128;
constexpr std::size_t kMaxTextBytes = 1024;

Error Bad(std::string message) {
  return InvalidArgument(std::move(message), "SerializationException");
}

Result<json> ParseObject(std::string_view text) {
  if (text.size() > kMaxMessageBytes) return Bad("message too large");
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Bad("message is not a JSON object");
  return j;
}

// A string member of at most `max` bytes; absent reads as "" unless `required`.
Result<std::string> Str(const json& j, const char* name, std::size_t max, bool required = true) {
  auto it = j.find(name);
  if (it == j.end()) {
    if (required) return Bad(std::string("missing member ") + name);
    return std::string();
  }
  if (!it->is_string()) return Bad(std::string(name) + " must be a string");
  const auto& s = it->get_ref<const std::string&>();
  if (s.size() > max) return Bad(std::string(name) + " is too long");
  return s;
}

Result<std::int64_t> Int(const json& j, const char* name, bool required = true) {
  auto it = j.find(name);
  if (it == j.end()) {
    if (required) return Bad(std::string("missing member ") + name);
    return std::int64_t{0};
  }
  if (!it->is_number_integer()) return Bad(std::string(name) + " must be an integer");
  return it->get<std::int64_t>();
}

Result<std::string> Bytes(const json& j, const char* name, std::size_t exact) {
  KW_ASSIGN_OR_RETURN(std::string text, Str(j, name, 4 * exact));
  auto raw = crypto::Base64Decode(text);
  if (!raw || raw->size() != exact) return Bad(std::string(name) + " has the wrong length");
  return *raw;
}

json FingerprintJson(const Fingerprint& f) {
  json j = json::object();
  for (const auto& [k, v] : f) j[k] = v;
  return j;
}

Result<Fingerprint> DecodeFingerprint(const json& j) {
  auto it = j.find("Fingerprint");
  if (it == j.end() || !it->is_object()) return Bad("Fingerprint must be an object");
  if (it->size() == 0 || it->size() > kMaxFingerprintComponents) {
    return Bad("Fingerprint must have 1 to 32 components");
  }
  Fingerprint f;
  for (const auto& [k, v] : it->items()) {
    if (k.empty() || k.size() > 64 || !v.is_string() ||
        v.get_ref<const std::string&>().size() > kMaxComponentValueBytes) {
      return Bad("malformed fingerprint component");
    }
    f[k] = v.get<std::string>();
  }
  return f;
}

json PlatformJson(const PlatformInfo& p) {
  return {{"Name", p.name}, {"Version", p.version}, {"Type", p.type}};
}

Result<PlatformInfo> DecodePlatform(const json& j) {
  PlatformInfo p;
  auto it = j.find("Platform");
  if (it == j.end()) return p;
  if (!it->is_object()) return Bad("Platform must be an object");
  KW_ASSIGN_OR_RETURN(p.name, Str(*it, "Name", kMaxTextBytes, false));
  KW_ASSIGN_OR_RETURN(p.version, Str(*it, "Version", kMaxTextBytes, false));
  KW_ASSIGN_OR_RETURN(p.type, Str(*it, "Type", 64, false));
  if (p.type.empty()) p.type = "Linux";
  return p;
}

}  // namespace

std::string CredentialProofMessage(std::string_view instance_id, std::string_view challenge,
                                   const Fingerprint& fingerprint) {
  std::string m = "keyward-agent-credentials-v1\n";
  m.append(instance_id).append("\n").append(challenge).append("\n");
  m += FingerprintJson(fingerprint).dump();  // std::map: keys sorted
  return m;
}

std::string Encode(const RegisterRequest& m) {
  return json{{"ActivationId", m.activation_id},
              {"ActivationCode", m.activation_code},
              {"PublicKey", crypto::Base64Encode(m.public_key)},
              {"Fingerprint", FingerprintJson(m.fingerprint)},
              {"ComputerName", m.computer_name},
              {"IPAddress", m.ip_address},
              {"AgentVersion", m.agent_version},
              {"Platform", PlatformJson(m.platform)}}
      .dump();
}
std::string Encode(const RegisterResponse& m) { return json{{"InstanceId", m.instance_id}}.dump(); }
std::string Encode(const ChallengeRequest& m) { return json{{"InstanceId", m.instance_id}}.dump(); }
std::string Encode(const ChallengeResponse& m) {
  return json{{"Challenge", m.challenge}, {"ExpiresAt", m.expires_at}}.dump();
}
std::string Encode(const CredentialsRequest& m) {
  return json{{"InstanceId", m.instance_id},
              {"Challenge", m.challenge},
              {"Signature", crypto::Base64Encode(m.signature)},
              {"Fingerprint", FingerprintJson(m.fingerprint)}}
      .dump();
}
std::string Encode(const CredentialsResponse& m) {
  return json{{"AccessKeyId", m.access_key_id},
              {"SecretAccessKey", m.secret_access_key},
              {"SessionToken", m.session_token},
              {"Expiration", m.expiration},
              {"RoleArn", m.role_arn}}
      .dump();
}

Result<RegisterRequest> DecodeRegisterRequest(std::string_view body) {
  KW_ASSIGN_OR_RETURN(json j, ParseObject(body));
  RegisterRequest m;
  KW_ASSIGN_OR_RETURN(m.activation_id, Str(j, "ActivationId", kMaxIdBytes));
  KW_ASSIGN_OR_RETURN(m.activation_code, Str(j, "ActivationCode", 250));
  KW_ASSIGN_OR_RETURN(m.public_key, Bytes(j, "PublicKey", 32));
  KW_ASSIGN_OR_RETURN(m.fingerprint, DecodeFingerprint(j));
  KW_ASSIGN_OR_RETURN(m.computer_name, Str(j, "ComputerName", 255, false));
  KW_ASSIGN_OR_RETURN(m.ip_address, Str(j, "IPAddress", 64, false));
  KW_ASSIGN_OR_RETURN(m.agent_version, Str(j, "AgentVersion", 64, false));
  KW_ASSIGN_OR_RETURN(m.platform, DecodePlatform(j));
  return m;
}
Result<RegisterResponse> DecodeRegisterResponse(std::string_view body) {
  KW_ASSIGN_OR_RETURN(json j, ParseObject(body));
  RegisterResponse m;
  KW_ASSIGN_OR_RETURN(m.instance_id, Str(j, "InstanceId", kMaxIdBytes));
  return m;
}
Result<ChallengeRequest> DecodeChallengeRequest(std::string_view body) {
  KW_ASSIGN_OR_RETURN(json j, ParseObject(body));
  ChallengeRequest m;
  KW_ASSIGN_OR_RETURN(m.instance_id, Str(j, "InstanceId", kMaxIdBytes));
  return m;
}
Result<ChallengeResponse> DecodeChallengeResponse(std::string_view body) {
  KW_ASSIGN_OR_RETURN(json j, ParseObject(body));
  ChallengeResponse m;
  KW_ASSIGN_OR_RETURN(m.challenge, Str(j, "Challenge", 128));
  KW_ASSIGN_OR_RETURN(m.expires_at, Int(j, "ExpiresAt"));
  return m;
}
Result<CredentialsRequest> DecodeCredentialsRequest(std::string_view body) {
  KW_ASSIGN_OR_RETURN(json j, ParseObject(body));
  CredentialsRequest m;
  KW_ASSIGN_OR_RETURN(m.instance_id, Str(j, "InstanceId", kMaxIdBytes));
  KW_ASSIGN_OR_RETURN(m.challenge, Str(j, "Challenge", 128));
  KW_ASSIGN_OR_RETURN(m.signature, Bytes(j, "Signature", 64));
  KW_ASSIGN_OR_RETURN(m.fingerprint, DecodeFingerprint(j));
  return m;
}
Result<CredentialsResponse> DecodeCredentialsResponse(std::string_view body) {
  KW_ASSIGN_OR_RETURN(json j, ParseObject(body));
  CredentialsResponse m;
  KW_ASSIGN_OR_RETURN(m.access_key_id, Str(j, "AccessKeyId", kMaxIdBytes));
  KW_ASSIGN_OR_RETURN(m.secret_access_key, Str(j, "SecretAccessKey", 128));
  KW_ASSIGN_OR_RETURN(m.session_token, Str(j, "SessionToken", 4096));
  KW_ASSIGN_OR_RETURN(m.expiration, Int(j, "Expiration"));
  KW_ASSIGN_OR_RETURN(m.role_arn, Str(j, "RoleArn", 2048, false));
  return m;
}

namespace {

json StepJson(const Step& s) {
  return {{"Name", s.name},
          {"Action", s.action},
          {"RunCommand", s.run_command},
          {"WorkingDirectory", s.working_directory},
          {"TimeoutSeconds", s.timeout_seconds}};
}

json StepResultJson(const StepResult& s) {
  return {{"Name", s.name},
          {"Status", s.status},
          {"ResponseCode", s.response_code},
          {"StandardOutput", s.standard_output},
          {"StandardError", s.standard_error},
          {"StartedAt", s.started_at},
          {"EndedAt", s.ended_at}};
}

bool IsFinalStatus(std::string_view s) {
  return s == "Success" || s == "Failed" || s == "TimedOut" || s == "Cancelled";
}

Result<CommandMessage> DecodeCommand(const json& j) {
  CommandMessage m;
  KW_ASSIGN_OR_RETURN(m.command_id, Str(j, "CommandId", kMaxIdBytes));
  KW_ASSIGN_OR_RETURN(m.document_name, Str(j, "DocumentName", kMaxTextBytes, false));
  auto it = j.find("Steps");
  if (it == j.end() || !it->is_array() || it->size() > kMaxSteps) {
    return Bad("Steps must be an array of at most 20 steps");
  }
  for (const auto& sj : *it) {
    if (!sj.is_object()) return Bad("a step must be an object");
    Step s;
    KW_ASSIGN_OR_RETURN(s.name, Str(sj, "Name", kMaxTextBytes));
    KW_ASSIGN_OR_RETURN(s.action, Str(sj, "Action", kMaxTextBytes));
    KW_ASSIGN_OR_RETURN(s.working_directory, Str(sj, "WorkingDirectory", 4096, false));
    KW_ASSIGN_OR_RETURN(s.timeout_seconds, Int(sj, "TimeoutSeconds"));
    if (s.timeout_seconds < 1 || s.timeout_seconds > 172800) {
      return Bad("TimeoutSeconds must be 1 to 172800");
    }
    auto rc = sj.find("RunCommand");
    if (rc == sj.end() || !rc->is_array() || rc->size() > kMaxCommandsPerStep) {
      return Bad("RunCommand must be an array of at most 1000 lines");
    }
    for (const auto& line : *rc) {
      if (!line.is_string()) return Bad("RunCommand lines must be strings");
      s.run_command.push_back(line.get<std::string>());
    }
    m.steps.push_back(std::move(s));
  }
  return m;
}

Result<ResultMessage> DecodeResult(const json& j) {
  ResultMessage m;
  KW_ASSIGN_OR_RETURN(m.command_id, Str(j, "CommandId", kMaxIdBytes));
  KW_ASSIGN_OR_RETURN(m.status, Str(j, "Status", 32));
  if (!IsFinalStatus(m.status)) return Bad("Status must be final");
  KW_ASSIGN_OR_RETURN(std::int64_t code, Int(j, "ResponseCode"));
  if (code < -1 || code > 65535) return Bad("ResponseCode out of range");
  m.response_code = static_cast<int>(code);
  auto it = j.find("Steps");
  if (it == j.end() || !it->is_array() || it->size() > kMaxSteps) {
    return Bad("Steps must be an array of at most 20 steps");
  }
  for (const auto& sj : *it) {
    if (!sj.is_object()) return Bad("a step result must be an object");
    StepResult s;
    KW_ASSIGN_OR_RETURN(s.name, Str(sj, "Name", kMaxTextBytes));
    KW_ASSIGN_OR_RETURN(s.status, Str(sj, "Status", 32));
    if (!IsFinalStatus(s.status)) return Bad("step Status must be final");
    KW_ASSIGN_OR_RETURN(std::int64_t rc, Int(sj, "ResponseCode"));
    if (rc < -1 || rc > 65535) return Bad("ResponseCode out of range");
    s.response_code = static_cast<int>(rc);
    // Output is limited by bytes here (4 per character at most); the server truncates
    // to SSM's character limits when it records it.
    KW_ASSIGN_OR_RETURN(s.standard_output, Str(sj, "StandardOutput", 4 * kMaxStdoutChars, false));
    KW_ASSIGN_OR_RETURN(s.standard_error, Str(sj, "StandardError", 4 * kMaxStderrChars, false));
    KW_ASSIGN_OR_RETURN(s.started_at, Int(sj, "StartedAt", false));
    KW_ASSIGN_OR_RETURN(s.ended_at, Int(sj, "EndedAt", false));
    m.steps.push_back(std::move(s));
  }
  return m;
}

}  // namespace

std::string Encode(const HelloMessage& m) {
  return json{{"type", "hello"},
              {"AgentVersion", m.agent_version},
              {"Platform", PlatformJson(m.platform)},
              {"ComputerName", m.computer_name},
              {"IPAddress", m.ip_address}}
      .dump();
}
std::string Encode(const HeartbeatMessage&) { return json{{"type", "heartbeat"}}.dump(); }
std::string Encode(const AckMessage& m) {
  return json{{"type", "ack"}, {"CommandId", m.command_id}}.dump();
}
std::string Encode(const ResultMessage& m) {
  json steps = json::array();
  for (const auto& s : m.steps) steps.push_back(StepResultJson(s));
  return json{{"type", "result"},
              {"CommandId", m.command_id},
              {"Status", m.status},
              {"ResponseCode", m.response_code},
              {"Steps", std::move(steps)}}
      .dump(-1, ' ', false, json::error_handler_t::replace);
}
std::string Encode(const CommandMessage& m) {
  json steps = json::array();
  for (const auto& s : m.steps) steps.push_back(StepJson(s));
  return json{{"type", "command"},
              {"CommandId", m.command_id},
              {"DocumentName", m.document_name},
              {"Steps", std::move(steps)}}
      .dump(-1, ' ', false, json::error_handler_t::replace);
}
std::string Encode(const CancelMessage& m) {
  return json{{"type", "cancel"}, {"CommandId", m.command_id}}.dump();
}

Result<ControlMessage> DecodeControlMessage(std::string_view text) {
  KW_ASSIGN_OR_RETURN(json j, ParseObject(text));
  KW_ASSIGN_OR_RETURN(std::string type, Str(j, "type", 32));
  ControlMessage m;
  if (type == "hello") {
    m.type = ControlMessage::Type::kHello;
    KW_ASSIGN_OR_RETURN(m.hello.agent_version, Str(j, "AgentVersion", 64, false));
    KW_ASSIGN_OR_RETURN(m.hello.platform, DecodePlatform(j));
    KW_ASSIGN_OR_RETURN(m.hello.computer_name, Str(j, "ComputerName", 255, false));
    KW_ASSIGN_OR_RETURN(m.hello.ip_address, Str(j, "IPAddress", 64, false));
  } else if (type == "heartbeat") {
    m.type = ControlMessage::Type::kHeartbeat;
  } else if (type == "ack") {
    m.type = ControlMessage::Type::kAck;
    KW_ASSIGN_OR_RETURN(m.ack.command_id, Str(j, "CommandId", kMaxIdBytes));
  } else if (type == "result") {
    m.type = ControlMessage::Type::kResult;
    KW_ASSIGN_OR_RETURN(m.result, DecodeResult(j));
  } else if (type == "command") {
    m.type = ControlMessage::Type::kCommand;
    KW_ASSIGN_OR_RETURN(m.command, DecodeCommand(j));
  } else if (type == "cancel") {
    m.type = ControlMessage::Type::kCancel;
    KW_ASSIGN_OR_RETURN(m.cancel.command_id, Str(j, "CommandId", kMaxIdBytes));
  } else {
    return Bad("unknown message type");
  }
  return m;
}

std::string TruncateOutput(std::string_view text, std::size_t max_chars) {
  std::size_t chars = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    if (chars == max_chars) return std::string(text.substr(0, i));
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t len = c < 0x80           ? 1
                      : (c >> 5) == 0x6  ? 2
                      : (c >> 4) == 0xe  ? 3
                      : (c >> 3) == 0x1e ? 4
                                         : 1;
    i += len;
    ++chars;
  }
  return std::string(text);
}

}  // namespace kw::agentproto
