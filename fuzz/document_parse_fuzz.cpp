// Parses arbitrary bytes as a Command document in JSON and in YAML. A document that
// parses must convert to the other format and back, parse again with the same steps,
// and render its steps with default or stand-in parameter values without crashing.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "documents/document_parser.hpp"
#include "documents/substitution.hpp"

namespace d = kw::documents;

namespace {

void Check(std::string_view text, d::DocumentFormat format) {
  auto doc = d::ParseCommandDocument(text, format);
  if (!doc) return;
  const auto other =
      format == d::DocumentFormat::kJson ? d::DocumentFormat::kYaml : d::DocumentFormat::kJson;
  auto converted = d::ConvertContent(text, format, other);
  if (!converted) std::abort();
  auto again = d::ParseCommandDocument(*converted, other);
  if (!again || again->steps.size() != doc->steps.size() ||
      again->parameters.size() != doc->parameters.size()) {
    std::abort();
  }
  d::ParameterValues values;
  for (const auto& p : doc->parameters) {
    if (!p.default_value) values[p.name] = {"x'\"$(y)`\n"};
  }
  (void)d::SubstituteParameters(*doc, values, "Linux");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Check(text, d::DocumentFormat::kJson);
  Check(text, d::DocumentFormat::kYaml);
  return 0;
}
