// Fuzzes the query-protocol form parser and its typed accessors.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "api/http/query_protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view form(reinterpret_cast<const char*>(data), size);
  auto q = kw::api::QueryParams::Parse(form);
  if (!q) return 0;
  (void)q->Get("Action");
  (void)q->Int("MaxItems", 1, 1000);
  (void)q->Bool("SetAsDefault");
  (void)q->List("TagKeys");
  (void)q->Structs("Tags");
  kw::api::XmlWriter xml;
  for (const auto& [k, v] : q->all()) xml.Element("Member", v);
  return 0;
}
