#include "api/http/json_protocol.hpp"

namespace kw::api {
namespace {

constexpr int kMaxDepth = 64;

Error Serialization(std::string message) {
  return InvalidArgument(std::move(message), "SerializationException");
}

}  // namespace

JsonOperation MakeJsonOperation(
    std::string name, bool read_only,
    std::function<std::string(const nlohmann::json& input, const iam::Principal&)> resource,
    std::function<Result<nlohmann::json>(const JsonCall&)> handler) {
  JsonOperation op;
  op.name = std::move(name);
  op.read_only = read_only;
  op.resource = std::move(resource);
  op.handler = std::move(handler);
  return op;
}

Result<nlohmann::json> DecodeJsonBody(std::string_view body) {
  if (body.size() > kMaxJsonBodyBytes) return Serialization("The request body is too large.");
  std::size_t first = body.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return nlohmann::json::object();
  // Bound the nesting before parsing: nlohmann's recursive parser would otherwise
  // recurse as deep as the input asks.
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxDepth) return Serialization("The request body is nested too deeply.");
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  nlohmann::json parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return Serialization("The request body is not valid JSON.");
  if (!parsed.is_object()) return Serialization("The request body must be a JSON object.");
  return parsed;
}

}  // namespace kw::api
