// Fuzzes the JSON 1.1 request decoder.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "api/http/json_protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto parsed =
      kw::api::DecodeJsonBody(std::string_view(reinterpret_cast<const char*>(data), size));
  if (parsed && parsed->contains("SecretId")) (void)parsed->at("SecretId").is_string();
  return 0;
}
