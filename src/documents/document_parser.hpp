#pragma once

// SSM Command documents: parsing and validation (pure functions, thread-safe).
//
// A document is JSON or YAML text (at most kMaxContentBytes, nested at most
// kMaxNestingDepth) of schemaVersion "2.2" (`parameters`, `mainSteps`) or "1.2"
// (`parameters`, `runtimeConfig`), whose actions are aws:runShellScript and keyward's
// keyward:syncSecret (schema 2.2 only; Linux only). Every
// problem is kInvalidArgument with reason "InvalidDocumentContent" and a message that
// says where ("mainSteps[1].inputs.runCommand: ..."); an unsupported schema version is
// "InvalidDocumentSchemaVersion"; oversized content "MaxDocumentSizeExceeded". The
// parser never throws (yaml-cpp and nlohmann-json exceptions stop here) and bounds
// the work any input can cause: size, depth, node count (YAML aliases cannot expand
// into a billion nodes), allowedPattern length and shape.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace kw::documents {

inline constexpr std::size_t kMaxContentBytes = 64 * 1024;  // SSM's limit
inline constexpr int kMaxNestingDepth = 32;
inline constexpr std::size_t kMaxSteps = 20;
inline constexpr std::size_t kMaxParameters = 50;
inline constexpr std::size_t kMaxPatternLength = 512;
inline constexpr std::int64_t kMaxTimeoutSeconds = 172800;  // SSM's 48 hours
inline constexpr std::int64_t kDefaultTimeoutSeconds = 3600;

enum class DocumentFormat { kJson, kYaml };

// "JSON" / "YAML".
std::string_view FormatName(DocumentFormat format);
// nullopt for anything else (TEXT is refused by the service with its own message).
std::optional<DocumentFormat> ParseFormatName(std::string_view name);

enum class ParameterType { kString, kStringList, kBoolean, kInteger, kStringMap, kMapList };

std::string_view ParameterTypeName(ParameterType type);

struct ParameterSpec {
  std::string name;  // [a-zA-Z0-9_]+
  ParameterType type = ParameterType::kString;
  std::string description;
  // The default in the document's own JSON type (string, array of strings, bool,
  // integer, object, array of objects). A parameter without one is required.
  std::optional<nlohmann::ordered_json> default_value;
  std::vector<std::string> allowed_values;
  std::optional<std::string> allowed_pattern;  // full-match ECMAScript, checked shape
  std::optional<std::int64_t> min_items, max_items, min_chars, max_chars;
};

// keyward's own action: the agent installs a secret version (agent secret sync). Its
// inputs are the Keyward-SyncSecret document's parameters (kSyncSecretInputs).
inline constexpr const char* kSyncSecretAction = "keyward:syncSecret";
inline constexpr std::string_view kSyncSecretInputs[] = {"SecretId",    "VersionId",
                                                         "Format",      "Path",
                                                         "Profile",     "Owner",
                                                         "Group",       "Mode",
                                                         "Reload",      "ReloadTimeoutSeconds",
                                                         "HealthCheck", "HealthTimeoutSeconds",
                                                         "User"};

struct StepSpec {
  std::string name;
  std::string action;                    // "aws:runShellScript" or kSyncSecretAction
  std::vector<std::string> run_command;  // templates, placeholders not yet substituted
  // keyward:syncSecret: input name and template, in document order.
  std::vector<std::pair<std::string, std::string>> sync_inputs;
  std::optional<std::string> working_directory;  // template
  std::optional<std::string> timeout_seconds;    // template or decimal; absent: 3600
  // From the precondition {"StringEquals": ["platformType", X]}; empty: no precondition.
  std::string precondition_platform;
};

struct CommandDocument {
  std::string schema_version;  // "2.2" or "1.2"
  std::string description;
  std::vector<ParameterSpec> parameters;  // in document order
  std::vector<StepSpec> steps;
  // Linux and MacOS for aws:runShellScript, narrowed by preconditions; sorted.
  std::vector<std::string> platform_types;

  const ParameterSpec* FindParameter(std::string_view name) const;
};

// Parses `content` as `format` into a JSON tree (object order kept). YAML plain
// scalars become null/bool/integer/float where YAML 1.2's core schema says so;
// quoted scalars stay strings. Errors: InvalidDocumentContent (not that format, not an
// object at the top, too deep, too many nodes, duplicate or non-scalar keys),
// MaxDocumentSizeExceeded.
Result<nlohmann::ordered_json> ParseContentTree(std::string_view content, DocumentFormat format);

// Parses and validates a Command document.
Result<CommandDocument> ParseCommandDocument(std::string_view content, DocumentFormat format);

// The same document in `to` (GetDocument's DocumentFormat). JSON output is indented
// by 2; content already in `to` is returned unchanged.
Result<std::string> ConvertContent(std::string_view content, DocumentFormat from,
                                   DocumentFormat to);

// The parameter's default as DescribeDocument reports it (DefaultValue): the string
// itself for String, compact JSON otherwise; nullopt without a default.
std::optional<std::string> DefaultValueText(const ParameterSpec& spec);

// Checks an allowedPattern for length and shape: no back-references, no quantified
// group that itself contains a quantifier or alternation (the shapes that backtrack
// exponentially), repetition counts at most 1000, and it must compile.
Status ValidatePattern(std::string_view pattern);

}  // namespace kw::documents
