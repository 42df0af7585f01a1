// Decodes arbitrary bytes as every agent-protocol message; a decoded control message must
// re-encode and decode to the same type (the server relays what it decodes).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "agentproto/agent_protocol.hpp"

namespace ap = kw::agentproto;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)ap::DecodeRegisterRequest(text);
  (void)ap::DecodeCredentialsRequest(text);
  (void)ap::DecodeChallengeRequest(text);
  auto m = ap::DecodeControlMessage(text);
  if (m && m->type == ap::ControlMessage::Type::kCommand) {
    auto again = ap::DecodeControlMessage(ap::Encode(m->command));
    if (!again || again->type != m->type) std::abort();
  }
  if (m && m->type == ap::ControlMessage::Type::kResult) {
    auto again = ap::DecodeControlMessage(ap::Encode(m->result));
    if (!again || again->type != m->type) std::abort();
  }
  return 0;
}
