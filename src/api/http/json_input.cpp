#include "api/http/json_input.hpp"

namespace kw::api {

using nlohmann::json;

Error JsonTypeError(std::string_view member) {
  return InvalidArgument("Unexpected value type for member " + std::string(member) + ".",
                         "SerializationException");
}

Result<std::optional<std::string>> OptString(const json& in, const char* name) {
  auto it = in.find(name);
  if (it == in.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) return JsonTypeError(name);
  return std::optional<std::string>(it->get<std::string>());
}

Result<std::optional<bool>> OptBool(const json& in, const char* name) {
  auto it = in.find(name);
  if (it == in.end() || it->is_null()) return std::optional<bool>();
  if (!it->is_boolean()) return JsonTypeError(name);
  return std::optional<bool>(it->get<bool>());
}

Result<std::optional<std::int64_t>> OptInt(const json& in, const char* name) {
  auto it = in.find(name);
  if (it == in.end() || it->is_null()) return std::optional<std::int64_t>();
  if (!it->is_number_integer()) return JsonTypeError(name);
  return std::optional<std::int64_t>(it->get<std::int64_t>());
}

Result<std::vector<std::string>> StringList(const json& in, const char* name) {
  std::vector<std::string> out;
  auto it = in.find(name);
  if (it == in.end() || it->is_null()) return out;
  if (!it->is_array()) return JsonTypeError(name);
  for (const json& v : *it) {
    if (!v.is_string()) return JsonTypeError(name);
    out.push_back(v.get<std::string>());
  }
  return out;
}

}  // namespace kw::api
