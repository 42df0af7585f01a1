// Parses the input as XML with small limits, walks the tree, and feeds it to the
// query-protocol result and error decoders. Nothing may crash, hang or throw, and a
// parsed tree must respect the depth limit.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "awsclient/query_response.hpp"
#include "awsclient/xml_reader.hpp"

namespace {

int Depth(const kw::awsclient::xml::Node& n) {
  int deepest = 0;
  for (const auto& c : n.children) {
    const int d = Depth(c);
    if (d > deepest) deepest = d;
  }
  return deepest + 1;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  kw::awsclient::xml::Limits limits;
  limits.max_depth = 32;
  limits.max_bytes = 1 << 20;
  auto root = kw::awsclient::xml::Parse(text, limits);
  if (root) {
    if (Depth(*root) > limits.max_depth) std::abort();
    (void)root->Find("ListUsersResult/Users");
    (void)root->TextAt("Error/Code");
  }
  (void)kw::awsclient::ParseQueryResult("ListUsers", text);
  (void)kw::awsclient::ParseQueryError(400, text);
  return 0;
}
