#include "agent/api_client.hpp"

#include <nlohmann/json.hpp>

#include "crypto/digest.hpp"
#include "crypto/signature.hpp"

namespace kw::agent {
namespace {

using nlohmann::json;

constexpr const char* kContentType = "application/x-amz-json-1.1";

Error ReplyError(const HttpReply& reply) {
  std::string type;
  std::string message;
  json j = json::parse(reply.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object()) {
    if (auto it = j.find("__type"); it != j.end() && it->is_string()) type = it->get<std::string>();
    for (const char* key : {"message", "Message"}) {
      if (auto it = j.find(key); it != j.end() && it->is_string()) {
        message = it->get<std::string>();
        break;
      }
    }
  }
  // "com.amazonaws.ssm#InvalidInstanceId" -> "InvalidInstanceId"
  if (const auto hash = type.rfind('#'); hash != std::string::npos) type = type.substr(hash + 1);
  if (const auto colon = type.find(':'); colon != std::string::npos) type.resize(colon);
  std::string text = "server answered HTTP " + std::to_string(reply.status);
  if (!type.empty()) text += " " + type;
  if (!message.empty()) text += ": " + message.substr(0, 300);
  ErrorCode code = ErrorCode::kInvalidArgument;
  if (reply.status >= 500) {
    code = ErrorCode::kUnavailable;
  } else if (reply.status == 401) {
    code = ErrorCode::kUnauthenticated;
  } else if (reply.status == 403 || type == "AccessDeniedException" ||
             type == "FingerprintMismatch") {
    code = ErrorCode::kPermissionDenied;
  } else if (type == "ThrottlingException" || reply.status == 429) {
    code = ErrorCode::kUnavailable;
  } else if (type == "InvalidInstanceId" || reply.status == 404) {
    code = ErrorCode::kNotFound;
  }
  return MakeError(code, std::move(text), std::move(type));
}

template <class Decoded, class Decoder>
Result<Decoded> Call(const PostFn& post, const std::string& path, std::string body,
                     Decoder decode) {
  KW_ASSIGN_OR_RETURN(HttpReply reply, post(path, std::move(body)));
  if (reply.status != 200) return ReplyError(reply);
  auto decoded = decode(reply.body);
  if (!decoded) {
    return Internal("unreadable answer from " + path + ": " + decoded.error().message,
                    "SerializationException");
  }
  return std::move(decoded).value();
}

}  // namespace

PostFn HttpPoster(ServerUrl server, TlsOptions tls, std::chrono::seconds timeout) {
  return [server = std::move(server), tls = std::move(tls), timeout](
             const std::string& path, std::string body) -> Result<HttpReply> {
    const HeaderList headers = {{"Content-Type", kContentType}};
    return HttpRequest(server, "POST", server.base_path + path, headers, std::move(body), tls,
                       timeout);
  };
}

Result<agentproto::RegisterResponse> Register(const PostFn& post,
                                              const agentproto::RegisterRequest& request) {
  return Call<agentproto::RegisterResponse>(post, "/v1/agent/register", agentproto::Encode(request),
                                            agentproto::DecodeRegisterResponse);
}

Result<InstanceCredentials> ObtainCredentials(const PostFn& post, const std::string& instance_id,
                                              const SecretBytes& host_key,
                                              const agentproto::Fingerprint& fingerprint) {
  KW_ASSIGN_OR_RETURN(auto challenge,
                      Call<agentproto::ChallengeResponse>(
                          post, "/v1/agent/challenge",
                          agentproto::Encode(agentproto::ChallengeRequest{instance_id}),
                          agentproto::DecodeChallengeResponse));
  agentproto::CredentialsRequest request;
  request.instance_id = instance_id;
  request.challenge = challenge.challenge;
  request.fingerprint = fingerprint;
  KW_ASSIGN_OR_RETURN(
      request.signature,
      crypto::SignEd25519(host_key, agentproto::CredentialProofMessage(
                                        instance_id, challenge.challenge, fingerprint)));
  KW_ASSIGN_OR_RETURN(auto response, Call<agentproto::CredentialsResponse>(
                                         post, "/v1/agent/credentials", agentproto::Encode(request),
                                         agentproto::DecodeCredentialsResponse));
  InstanceCredentials out;
  out.credentials.access_key_id = std::move(response.access_key_id);
  out.credentials.secret_access_key = SecretBytes(std::move(response.secret_access_key));
  out.credentials.session_token = std::move(response.session_token);
  out.expiration = response.expiration;
  out.role_arn = std::move(response.role_arn);
  return out;
}

}  // namespace kw::agent
