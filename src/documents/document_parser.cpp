#include "documents/document_parser.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <regex>
#include <set>

#include "documents/placeholders.hpp"
#include "documents/substitution.hpp"

namespace kw::documents {
namespace {

using nlohmann::ordered_json;

// A YAML alias repeats a whole subtree; counting converted nodes stops a small
// document from expanding into an enormous tree.
constexpr std::size_t kMaxNodes = 20000;
constexpr int kMaxRepeatCount = 1000;

Error Content(std::string message) {
  return InvalidArgument(std::move(message), "InvalidDocumentContent");
}

bool ValidUtf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    for (std::size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return false;
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

// JSON: exact nesting depth outside strings, before nlohmann's recursive parser runs.
bool JsonTooDeep(std::string_view text) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxNestingDepth) return true;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return false;
}

// YAML: a conservative bound before yaml-cpp's recursive parser runs. Flow brackets
// are counted everywhere (a string with 32 unmatched brackets is refused too), and a
// line's block depth is bounded by its indentation plus its leading "- " and "? ".
bool YamlTooDeep(std::string_view text) {
  constexpr int kMaxIndentDepth = 200;
  int flow = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t eol = text.find('\n', i);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(i, eol - i);
    int block = 0;
    std::size_t k = 0;
    while (k < line.size()) {
      if (line[k] == ' ' || line[k] == '\t') {
        ++block;
        ++k;
      } else if ((line[k] == '-' || line[k] == '?' || line[k] == ':') &&
                 (k + 1 == line.size() || line[k + 1] == ' ' || line[k + 1] == '\t')) {
        block += 2;
        ++k;
      } else {
        break;
      }
    }
    if (block > kMaxIndentDepth) return true;
    for (char c : line) {
      if (c == '{' || c == '[') {
        if (++flow > kMaxNestingDepth) return true;
      } else if ((c == '}' || c == ']') && flow > 0) {
        --flow;
      }
    }
    i = eol + 1;
  }
  return false;
}

// YAML 1.2 core schema resolution of a plain scalar.
ordered_json ResolvePlain(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  static const std::regex kInt("[-+]?[0-9]+");
  static const std::regex kFloat("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
  if (s.size() <= 32) {
    if (std::regex_match(s, kInt)) {
      errno = 0;
      char* end = nullptr;
      long long v = std::strtoll(s.c_str(), &end, 10);
      if (errno == 0 && end == s.c_str() + s.size()) return static_cast<std::int64_t>(v);
      return s;
    }
    if (std::regex_match(s, kFloat)) {
      double d = std::strtod(s.c_str(), nullptr);
      if (std::isfinite(d)) return d;
    }
  }
  return s;
}

struct YamlConverter {
  std::size_t nodes = 0;

  Result<ordered_json> Convert(const YAML::Node& node, int depth, const std::string& where) {
    if (++nodes > kMaxNodes) return Content("The document has too many elements.");
    if (depth > kMaxNestingDepth) return Content("The document is nested too deeply.");
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        return ordered_json(nullptr);
      case YAML::NodeType::Scalar:
        if (node.Tag() == "?") return ResolvePlain(node.Scalar());
        return ordered_json(node.Scalar());
      case YAML::NodeType::Sequence: {
        ordered_json arr = ordered_json::array();
        std::size_t i = 0;
        for (const auto& item : node) {
          KW_ASSIGN_OR_RETURN(ordered_json v,
                              Convert(item, depth + 1, where + "[" + std::to_string(i++) + "]"));
          arr.push_back(std::move(v));
        }
        return arr;
      }
      case YAML::NodeType::Map: {
        ordered_json obj = ordered_json::object();
        for (const auto& kv : node) {
          if (!kv.first.IsScalar()) return Content(where + ": a key is not a plain string.");
          std::string key = kv.first.Scalar();
          if (obj.contains(key)) return Content(where + ": duplicate key " + key + ".");
          KW_ASSIGN_OR_RETURN(ordered_json v, Convert(kv.second, depth + 1, where + "." + key));
          obj[key] = std::move(v);
        }
        return obj;
      }
    }
    return ordered_json(nullptr);
  }
};

std::string At(const std::string& path, const std::string& member) {
  return path.empty() ? member : path + "." + member;
}

Status OnlyKeys(const ordered_json& obj, const std::string& path,
                std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, value] : obj.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      return Content((path.empty() ? std::string("The document") : path) + ": unknown member " +
                     key + ".");
    }
  }
  return OkStatus();
}

std::optional<ParameterType> ParseType(std::string_view s) {
  if (s == "String") return ParameterType::kString;
  if (s == "StringList") return ParameterType::kStringList;
  if (s == "Boolean") return ParameterType::kBoolean;
  if (s == "Integer") return ParameterType::kInteger;
  if (s == "StringMap") return ParameterType::kStringMap;
  if (s == "MapList") return ParameterType::kMapList;
  return std::nullopt;
}

bool IsScalar(const ordered_json& j) { return j.is_string() || j.is_number() || j.is_boolean(); }

Status CheckDefault(const ParameterSpec& p, const ordered_json& d, const std::string& path) {
  bool ok = false;
  switch (p.type) {
    case ParameterType::kString:
      ok = IsScalar(d);
      break;
    case ParameterType::kStringList:
      ok = IsScalar(d) || (d.is_array() && std::all_of(d.begin(), d.end(), IsScalar));
      break;
    case ParameterType::kBoolean:
      ok = d.is_boolean() || (d.is_string() && (d == "true" || d == "false"));
      break;
    case ParameterType::kInteger:
      // What survives a round trip through YAML and the strict value check: at most
      // 18 digits.
      ok = (d.is_number_integer() || d.is_string()) &&
           std::regex_match(d.is_string() ? d.get<std::string>() : d.dump(),
                            std::regex("-?[0-9]{1,18}"));
      break;
    case ParameterType::kStringMap:
      ok = d.is_object();
      break;
    case ParameterType::kMapList:
      ok = d.is_array() &&
           std::all_of(d.begin(), d.end(), [](const ordered_json& e) { return e.is_object(); });
      break;
  }
  if (!ok) {
    return Content(path + ".default: not a valid " + std::string(ParameterTypeName(p.type)) +
                   " value.");
  }
  return OkStatus();
}

Result<std::optional<std::int64_t>> OptCount(const ordered_json& spec, const char* key,
                                             const std::string& path) {
  auto it = spec.find(key);
  if (it == spec.end()) return std::optional<std::int64_t>();
  if (!it->is_number_integer() || it->get<std::int64_t>() < 0) {
    return Content(At(path, key) + ": must be a non-negative integer.");
  }
  return std::optional<std::int64_t>(it->get<std::int64_t>());
}

Result<ParameterSpec> ParseParameter(const std::string& name, const ordered_json& spec,
                                     const std::string& path) {
  if (!IsParameterName(name)) {
    return Content(path + ": a parameter name must be 1 to 128 of [a-zA-Z0-9_].");
  }
  if (!spec.is_object()) return Content(path + ": must be an object.");
  KW_RETURN_IF_ERROR(OnlyKeys(spec, path,
                              {"type", "description", "default", "allowedValues", "allowedPattern",
                               "displayType", "minItems", "maxItems", "minChars", "maxChars"}));
  ParameterSpec p;
  p.name = name;
  auto type = spec.find("type");
  if (type == spec.end() || !type->is_string()) return Content(path + ".type: is required.");
  auto t = ParseType(type->get<std::string>());
  if (!t) {
    return Content(path +
                   ".type: must be String, StringList, Boolean, Integer, StringMap or "
                   "MapList.");
  }
  p.type = *t;
  if (auto d = spec.find("description"); d != spec.end()) {
    if (!d->is_string()) return Content(path + ".description: must be a string.");
    p.description = d->get<std::string>();
  }
  if (auto d = spec.find("default"); d != spec.end()) {
    KW_RETURN_IF_ERROR(CheckDefault(p, *d, path));
    p.default_value = *d;
  }
  if (auto a = spec.find("allowedValues"); a != spec.end()) {
    if (!a->is_array() || !std::all_of(a->begin(), a->end(), IsScalar)) {
      return Content(path + ".allowedValues: must be a list of strings.");
    }
    for (const auto& v : *a)
      p.allowed_values.push_back(v.is_string() ? v.get<std::string>() : v.dump());
  }
  if (auto a = spec.find("allowedPattern"); a != spec.end()) {
    if (!a->is_string()) return Content(path + ".allowedPattern: must be a string.");
    auto checked = ValidatePattern(a->get<std::string>());
    if (!checked) return Content(path + ".allowedPattern: " + checked.error().message);
    p.allowed_pattern = a->get<std::string>();
  }
  if (auto d = spec.find("displayType"); d != spec.end() && !d->is_string()) {
    return Content(path + ".displayType: must be a string.");
  }
  KW_ASSIGN_OR_RETURN(p.min_items, OptCount(spec, "minItems", path));
  KW_ASSIGN_OR_RETURN(p.max_items, OptCount(spec, "maxItems", path));
  KW_ASSIGN_OR_RETURN(p.min_chars, OptCount(spec, "minChars", path));
  KW_ASSIGN_OR_RETURN(p.max_chars, OptCount(spec, "maxChars", path));
  return p;
}

// 1.2 plugin ids, such as "0.aws:runShellScript", may also hold ':'.
bool IsStepName(std::string_view s, bool allow_colon = false) {
  if (s.empty() || s.size() > 128) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-' || (allow_colon && c == ':');
  });
}

// runCommand, timeoutSeconds, workingDirectory of aws:runShellScript.
Status ParseInputs(const ordered_json& inputs, const std::string& path, bool allow_id,
                   StepSpec& step) {
  if (!inputs.is_object()) return Content(path + ": must be an object.");
  if (allow_id) {
    KW_RETURN_IF_ERROR(
        OnlyKeys(inputs, path, {"id", "runCommand", "timeoutSeconds", "workingDirectory"}));
  } else {
    KW_RETURN_IF_ERROR(
        OnlyKeys(inputs, path, {"runCommand", "timeoutSeconds", "workingDirectory"}));
  }
  auto run = inputs.find("runCommand");
  if (run == inputs.end()) return Content(path + ".runCommand: is required.");
  if (run->is_string()) {
    step.run_command.push_back(run->get<std::string>());
  } else if (run->is_array()) {
    std::size_t i = 0;
    for (const auto& line : *run) {
      if (!line.is_string()) {
        return Content(path + ".runCommand[" + std::to_string(i) + "]: must be a string.");
      }
      step.run_command.push_back(line.get<std::string>());
      ++i;
    }
  } else {
    return Content(path + ".runCommand: must be a string or a list of strings.");
  }
  if (step.run_command.size() > agentproto::kMaxCommandsPerStep) {
    return Content(path + ".runCommand: more than " +
                   std::to_string(agentproto::kMaxCommandsPerStep) + " lines.");
  }
  if (auto w = inputs.find("workingDirectory"); w != inputs.end() && !w->is_null()) {
    if (!w->is_string()) return Content(path + ".workingDirectory: must be a string.");
    step.working_directory = w->get<std::string>();
  }
  if (auto t = inputs.find("timeoutSeconds"); t != inputs.end() && !t->is_null()) {
    std::string text;
    if (t->is_number_integer()) {
      text = std::to_string(t->get<std::int64_t>());
    } else if (t->is_string()) {
      text = t->get<std::string>();
    } else {
      return Content(path + ".timeoutSeconds: must be an integer or a {{ parameter }}.");
    }
    if (FindPlaceholders(text).empty()) {
      static const std::regex kNumber("[0-9]{1,6}");
      if (!std::regex_match(text, kNumber) || std::stoll(text) < 1 ||
          std::stoll(text) > kMaxTimeoutSeconds) {
        return Content(path + ".timeoutSeconds: must be an integer from 1 to " +
                       std::to_string(kMaxTimeoutSeconds) + ".");
      }
    }
    step.timeout_seconds = text;
  }
  return OkStatus();
}

// The inputs of keyward:syncSecret: strings (or integers) that may hold {{ parameters }}.
Status ParseSyncInputs(const ordered_json& inputs, const std::string& path, StepSpec& step) {
  if (!inputs.is_object()) return Content(path + ": must be an object.");
  for (const auto& [key, value] : inputs.items()) {
    if (key == "timeoutSeconds") continue;
    if (std::find(std::begin(kSyncSecretInputs), std::end(kSyncSecretInputs), key) ==
        std::end(kSyncSecretInputs)) {
      return Content(path + "." + key + ": is not an input of " + kSyncSecretAction + ".");
    }
    std::string text;
    if (value.is_string()) {
      text = value.get<std::string>();
    } else if (value.is_number_integer()) {
      text = std::to_string(value.get<std::int64_t>());
    } else {
      return Content(path + "." + key + ": must be a string.");
    }
    step.sync_inputs.emplace_back(key, std::move(text));
  }
  for (const char* required : {"SecretId", "VersionId", "Format"}) {
    if (!inputs.contains(required)) return Content(path + "." + required + ": is required.");
  }
  // timeoutSeconds as for aws:runShellScript.
  ordered_json rest = ordered_json::object();
  rest["runCommand"] = ordered_json::array();
  if (auto t = inputs.find("timeoutSeconds"); t != inputs.end()) rest["timeoutSeconds"] = *t;
  return ParseInputs(rest, path, false, step);
}

Status ParsePrecondition(const ordered_json& pre, const std::string& path, StepSpec& step) {
  const std::string msg =
      ": must be {\"StringEquals\": [\"platformType\", \"Linux\" or \"MacOS\"]}.";
  if (!pre.is_object() || pre.size() != 1 || !pre.contains("StringEquals")) {
    return Content(path + msg);
  }
  const auto& eq = pre["StringEquals"];
  if (!eq.is_array() || eq.size() != 2 || !eq[0].is_string() || !eq[1].is_string() ||
      eq[0] != "platformType") {
    return Content(path + msg);
  }
  std::string platform = eq[1].get<std::string>();
  if (platform == "Windows") {
    return Content(path + ": aws:runShellScript does not run on Windows.");
  }
  if (platform != "Linux" && platform != "MacOS") return Content(path + msg);
  step.precondition_platform = platform;
  return OkStatus();
}

Result<StepSpec> ParseStep(const ordered_json& s, const std::string& path) {
  if (!s.is_object()) return Content(path + ": must be an object.");
  KW_RETURN_IF_ERROR(
      OnlyKeys(s, path, {"action", "name", "inputs", "precondition", "description"}));
  StepSpec step;
  auto action = s.find("action");
  if (action == s.end() || !action->is_string()) return Content(path + ".action: is required.");
  step.action = action->get<std::string>();
  if (step.action != "aws:runShellScript" && step.action != kSyncSecretAction) {
    return Content(path + ".action: " + step.action +
                   " is not supported; keyward runs aws:runShellScript and " + kSyncSecretAction +
                   ".");
  }
  auto name = s.find("name");
  if (name == s.end() || !name->is_string() || !IsStepName(name->get<std::string>())) {
    return Content(path + ".name: is required, 1 to 128 of [a-zA-Z0-9_.-].");
  }
  step.name = name->get<std::string>();
  if (auto d = s.find("description"); d != s.end() && !d->is_string()) {
    return Content(path + ".description: must be a string.");
  }
  auto inputs = s.find("inputs");
  if (inputs == s.end()) return Content(path + ".inputs: is required.");
  if (step.action == kSyncSecretAction) {
    KW_RETURN_IF_ERROR(ParseSyncInputs(*inputs, path + ".inputs", step));
  } else {
    KW_RETURN_IF_ERROR(ParseInputs(*inputs, path + ".inputs", false, step));
  }
  if (auto pre = s.find("precondition"); pre != s.end()) {
    KW_RETURN_IF_ERROR(ParsePrecondition(*pre, path + ".precondition", step));
  }
  if (step.action == kSyncSecretAction && step.precondition_platform == "MacOS") {
    return Content(path + ".precondition: " + kSyncSecretAction + " runs on Linux only.");
  }
  return step;
}

// schemaVersion 1.2: runtimeConfig {"aws:runShellScript": {"properties": [...]}}.
Status ParseRuntimeConfig(const ordered_json& rc, CommandDocument& doc) {
  if (!rc.is_object()) return Content("runtimeConfig: must be an object.");
  KW_RETURN_IF_ERROR(OnlyKeys(rc, "runtimeConfig", {"aws:runShellScript"}));
  auto plugin = rc.find("aws:runShellScript");
  if (plugin == rc.end()) return Content("runtimeConfig: aws:runShellScript is required.");
  if (!plugin->is_object() || !plugin->contains("properties")) {
    return Content("runtimeConfig.aws:runShellScript.properties: is required.");
  }
  const std::string path = "runtimeConfig.aws:runShellScript.properties";
  ordered_json props = (*plugin)["properties"];
  if (props.is_object()) props = ordered_json::array({props});
  if (!props.is_array() || props.empty() || props.size() > kMaxSteps) {
    return Content(path + ": must hold 1 to " + std::to_string(kMaxSteps) + " entries.");
  }
  for (std::size_t i = 0; i < props.size(); ++i) {
    StepSpec step;
    step.action = "aws:runShellScript";
    step.name =
        props.size() == 1 ? "aws:runShellScript" : "aws:runShellScript-" + std::to_string(i);
    const std::string where = path + "[" + std::to_string(i) + "]";
    KW_RETURN_IF_ERROR(ParseInputs(props[i], where, true, step));
    if (auto id = props[i].find("id"); id != props[i].end()) {
      if (!id->is_string() || !IsStepName(id->get<std::string>(), true)) {
        return Content(where + ".id: must be 1 to 128 of [a-zA-Z0-9_.:-].");
      }
      step.name = id->get<std::string>();
    }
    doc.steps.push_back(std::move(step));
  }
  return OkStatus();
}

std::string Trimmed(const std::string& s) {
  std::size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  std::size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

YAML::Emitter& EmitJson(YAML::Emitter& out, const ordered_json& j) {
  switch (j.type()) {
    case ordered_json::value_t::object:
      out << YAML::BeginMap;
      for (const auto& [k, v] : j.items()) {
        out << YAML::Key << k << YAML::Value;
        EmitJson(out, v);
      }
      out << YAML::EndMap;
      break;
    case ordered_json::value_t::array:
      out << YAML::BeginSeq;
      for (const auto& v : j) EmitJson(out, v);
      out << YAML::EndSeq;
      break;
    case ordered_json::value_t::string: {
      const std::string s = j.get<std::string>();
      // A string that would read back as another type keeps its quotes.
      if (!ResolvePlain(s).is_string() || s != Trimmed(s)) {
        out << YAML::DoubleQuoted << s;
      } else if (s.find('\n') != std::string::npos) {
        out << YAML::Literal << s;
      } else {
        out << s;
      }
      break;
    }
    case ordered_json::value_t::boolean:
      out << j.get<bool>();
      break;
    case ordered_json::value_t::number_integer:
      out << j.get<std::int64_t>();
      break;
    case ordered_json::value_t::number_unsigned:
      out << j.get<std::uint64_t>();
      break;
    case ordered_json::value_t::number_float:
      out << j.get<double>();
      break;
    default:
      out << YAML::Null;
      break;
  }
  return out;
}

}  // namespace

std::string_view FormatName(DocumentFormat format) {
  return format == DocumentFormat::kYaml ? "YAML" : "JSON";
}

std::optional<DocumentFormat> ParseFormatName(std::string_view name) {
  if (name == "JSON") return DocumentFormat::kJson;
  if (name == "YAML") return DocumentFormat::kYaml;
  return std::nullopt;
}

std::string_view ParameterTypeName(ParameterType type) {
  switch (type) {
    case ParameterType::kString:
      return "String";
    case ParameterType::kStringList:
      return "StringList";
    case ParameterType::kBoolean:
      return "Boolean";
    case ParameterType::kInteger:
      return "Integer";
    case ParameterType::kStringMap:
      return "StringMap";
    case ParameterType::kMapList:
      return "MapList";
  }
  return "String";
}

const ParameterSpec* CommandDocument::FindParameter(std::string_view name) const {
  for (const auto& p : parameters) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

Result<ordered_json> ParseContentTree(std::string_view content, DocumentFormat format) {
  if (content.size() > kMaxContentBytes) {
    return InvalidArgument("The content exceeds the maximum document size of " +
                               std::to_string(kMaxContentBytes) + " bytes.",
                           "MaxDocumentSizeExceeded");
  }
  if (content.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return Content("The document is empty.");
  }
  if (!ValidUtf8(content)) return Content("The document is not valid UTF-8.");
  ordered_json tree;
  if (format == DocumentFormat::kJson) {
    if (JsonTooDeep(content)) return Content("The document is nested too deeply.");
    tree = ordered_json::parse(content, nullptr, /*allow_exceptions=*/false);
    if (tree.is_discarded()) {
      return Content("The content is not valid JSON (for YAML, set DocumentFormat to YAML).");
    }
  } else {
    if (YamlTooDeep(content)) return Content("The document is nested too deeply.");
    try {
      YAML::Node node = YAML::Load(std::string(content));
      YamlConverter conv;
      KW_ASSIGN_OR_RETURN(tree, conv.Convert(node, 0, "The document"));
    } catch (const YAML::Exception& e) {
      return Content("The content is not valid YAML (line " + std::to_string(e.mark.line + 1) +
                     ", column " + std::to_string(e.mark.column + 1) + ").");
    } catch (const std::exception&) {
      return Content("The content is not valid YAML.");
    }
  }
  if (!tree.is_object()) return Content("The document must be an object at the top level.");
  return tree;
}

Result<CommandDocument> ParseCommandDocument(std::string_view content, DocumentFormat format) {
  KW_ASSIGN_OR_RETURN(ordered_json root, ParseContentTree(content, format));
  CommandDocument doc;
  auto sv = root.find("schemaVersion");
  if (sv == root.end()) {
    return InvalidArgument("schemaVersion is required.", "InvalidDocumentSchemaVersion");
  }
  if (sv->is_string()) {
    doc.schema_version = sv->get<std::string>();
  } else if (sv->is_number()) {
    doc.schema_version = sv->dump();
  }
  if (doc.schema_version != "2.2" && doc.schema_version != "1.2") {
    return InvalidArgument(
        "schemaVersion " + (doc.schema_version.empty() ? sv->dump() : doc.schema_version) +
            " is not supported for Command documents; keyward accepts 2.2 (and 1.2).",
        "InvalidDocumentSchemaVersion");
  }
  const bool v2 = doc.schema_version == "2.2";
  if (v2) {
    KW_RETURN_IF_ERROR(
        OnlyKeys(root, "", {"schemaVersion", "description", "parameters", "mainSteps"}));
  } else {
    KW_RETURN_IF_ERROR(
        OnlyKeys(root, "", {"schemaVersion", "description", "parameters", "runtimeConfig"}));
  }
  if (auto d = root.find("description"); d != root.end()) {
    if (!d->is_string()) return Content("description: must be a string.");
    doc.description = d->get<std::string>();
  }
  if (auto params = root.find("parameters"); params != root.end()) {
    if (!params->is_object()) return Content("parameters: must be an object.");
    if (params->size() > kMaxParameters) {
      return Content("parameters: more than " + std::to_string(kMaxParameters) + " parameters.");
    }
    for (const auto& [name, spec] : params->items()) {
      KW_ASSIGN_OR_RETURN(ParameterSpec p, ParseParameter(name, spec, "parameters." + name));
      doc.parameters.push_back(std::move(p));
    }
  }
  if (v2) {
    auto steps = root.find("mainSteps");
    if (steps == root.end()) return Content("mainSteps: is required.");
    if (!steps->is_array() || steps->empty() || steps->size() > kMaxSteps) {
      return Content("mainSteps: must be a list of 1 to " + std::to_string(kMaxSteps) + " steps.");
    }
    std::set<std::string> names;
    for (std::size_t i = 0; i < steps->size(); ++i) {
      const std::string path = "mainSteps[" + std::to_string(i) + "]";
      KW_ASSIGN_OR_RETURN(StepSpec step, ParseStep((*steps)[i], path));
      if (!names.insert(step.name).second) {
        return Content(path + ".name: " + step.name + " is used by another step.");
      }
      doc.steps.push_back(std::move(step));
    }
  } else {
    auto rc = root.find("runtimeConfig");
    if (rc == root.end()) return Content("runtimeConfig: is required.");
    KW_RETURN_IF_ERROR(ParseRuntimeConfig(*rc, doc));
  }
  std::set<std::string> platforms;
  for (const auto& step : doc.steps) {
    if (step.action == kSyncSecretAction) {
      platforms.insert("Linux");
    } else if (step.precondition_platform.empty()) {
      platforms.insert({"Linux", "MacOS"});
    } else {
      platforms.insert(step.precondition_platform);
    }
  }
  doc.platform_types.assign(platforms.begin(), platforms.end());
  KW_RETURN_IF_ERROR(CheckTemplates(doc));
  return doc;
}

Result<std::string> ConvertContent(std::string_view content, DocumentFormat from,
                                   DocumentFormat to) {
  if (from == to) return std::string(content);
  KW_ASSIGN_OR_RETURN(ordered_json tree, ParseContentTree(content, from));
  if (to == DocumentFormat::kJson) {
    return tree.dump(2, ' ', false, ordered_json::error_handler_t::replace);
  }
  try {
    YAML::Emitter out;
    out.SetIndent(2);
    EmitJson(out, tree);
    if (!out.good()) return Internal("The document could not be written as YAML.");
    return std::string(out.c_str()) + "\n";
  } catch (const std::exception&) {
    return Internal("The document could not be written as YAML.");
  }
}

std::optional<std::string> DefaultValueText(const ParameterSpec& spec) {
  if (!spec.default_value) return std::nullopt;
  const ordered_json& d = *spec.default_value;
  if (d.is_string()) return d.get<std::string>();
  return d.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

Status ValidatePattern(std::string_view pattern) {
  if (pattern.size() > kMaxPatternLength) {
    return InvalidArgument("longer than " + std::to_string(kMaxPatternLength) + " characters.",
                           "InvalidDocumentContent");
  }
  struct Group {
    bool has_quantifier = false;
    bool has_alternation = false;
  };
  std::vector<Group> groups(1);
  // Adjacent wide repetitions backtrack polynomially (".*.*.*x" is cubic), so a
  // pattern may hold at most two.
  int wide = 0;
  constexpr int kMaxWide = 2;
  constexpr long kNarrowMax = 16;
  auto refuse = [](const std::string& why) {
    return InvalidArgument(why, "InvalidDocumentContent");
  };
  // Reads a quantifier at `i`, if any: returns whether it repeats more than once.
  auto quantifier = [&](std::size_t& i, bool& present) -> Result<bool> {
    present = false;
    if (i >= pattern.size()) return false;
    char c = pattern[i];
    if (c == '*' || c == '+') {
      present = true;
      ++wide;
      ++i;
      if (i < pattern.size() && pattern[i] == '?') ++i;
      return true;
    }
    if (c == '?') {
      present = true;
      ++i;
      if (i < pattern.size() && pattern[i] == '?') ++i;
      return false;
    }
    if (c == '{') {
      std::size_t close = pattern.find('}', i);
      if (close == std::string_view::npos) return false;
      std::string_view body = pattern.substr(i + 1, close - i - 1);
      std::size_t comma = body.find(',');
      std::string_view lo = body.substr(0, comma);
      std::string_view hi = comma == std::string_view::npos ? lo : body.substr(comma + 1);
      auto number = [](std::string_view s) -> long {
        if (s.empty() || s.size() > 6) return -1;
        for (char ch : s)
          if (ch < '0' || ch > '9') return -1;
        return std::stol(std::string(s));
      };
      long l = number(lo);
      if (l < 0) return false;  // not a quantifier: a literal brace
      long h = hi.empty() ? -2 : number(hi);
      if (!hi.empty() && h < 0) return false;
      if (l > kMaxRepeatCount || h > kMaxRepeatCount) {
        return refuse("repetition counts above " + std::to_string(kMaxRepeatCount) +
                      " are not allowed.");
      }
      present = true;
      if (h == -2 || h > kNarrowMax) ++wide;
      i = close + 1;
      if (i < pattern.size() && pattern[i] == '?') ++i;
      return h == -2 || h > 1;
    }
    return false;
  };
  std::size_t i = 0;
  while (i < pattern.size()) {
    char c = pattern[i];
    if (c == '\\') {
      if (i + 1 < pattern.size() && pattern[i + 1] >= '1' && pattern[i + 1] <= '9') {
        return refuse("back-references are not allowed.");
      }
      i += 2;
    } else if (c == '[') {
      ++i;
      if (i < pattern.size() && pattern[i] == '^') ++i;
      while (i < pattern.size() && pattern[i] != ']') i += pattern[i] == '\\' ? 2 : 1;
      ++i;
    } else if (c == '(') {
      groups.push_back({});
      ++i;
      continue;
    } else if (c == ')') {
      if (groups.size() < 2) return refuse("unbalanced parentheses.");
      Group g = groups.back();
      groups.pop_back();
      ++i;
      bool present = false;
      KW_ASSIGN_OR_RETURN(bool repeats, quantifier(i, present));
      if (repeats && (g.has_quantifier || g.has_alternation)) {
        return refuse(
            "a repeated group must not contain a quantifier or an alternation (it can take "
            "exponential time).");
      }
      groups.back().has_quantifier |= g.has_quantifier || present;
      groups.back().has_alternation |= g.has_alternation;
      continue;
    } else if (c == '|') {
      groups.back().has_alternation = true;
      ++i;
      continue;
    } else {
      ++i;
    }
    bool present = false;
    KW_ASSIGN_OR_RETURN(bool repeats, quantifier(i, present));
    (void)repeats;
    if (present) groups.back().has_quantifier = true;
  }
  if (groups.size() != 1) return refuse("unbalanced parentheses.");
  if (wide > kMaxWide) {
    return refuse("at most " + std::to_string(kMaxWide) +
                  " repetitions with no small upper bound (*, +, {n,}, {n,m} with m > 16) are "
                  "allowed.");
  }
  try {
    std::regex re{std::string(pattern), std::regex::ECMAScript};
  } catch (const std::regex_error&) {
    return refuse("not a valid regular expression.");
  }
  return OkStatus();
}

}  // namespace kw::documents
