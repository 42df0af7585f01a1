#include "api/http/json_input.hpp"

namespace kw::api {

using nlohmann::json;

Error JsonTypeError(std::string_view member) {
  return InvalidArgument("Unexpected value type for member " + std::string(member) + ".",
                         "SerializationException");
}

Error NullMemberError(std::string_view member, std::string reason) {
  return InvalidArgument("1 validation error detected: Value null at '" + std::string(member) +
                             "' failed to satisfy constraint: Member must not be null",
                         std::move(reason));
}

Result<std::string> ReqString(const json& in, const char* name, std::string_view model_name) {
  KW_ASSIGN_OR_RETURN(auto s, OptString(in, name));
  if (!s) return NullMemberError(model_name.empty() ? std::string_view(name) : model_name);
  return *s;
}

std::string StringMember(const json& in, const char* name) {
  auto it = in.find(name);
  return it != in.end() && it->is_string() ? it->get<std::string>() : std::string();
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
