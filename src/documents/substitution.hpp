#pragma once

// Parameter validation and `{{ name }}` substitution into a Command document's steps.
// Pure functions; thread-safe. The rule (docs/adr/0006-document-parameter-substitution.md):
//
// - A runCommand line that is exactly one placeholder of a String or StringList
//   parameter, at the script's top level, expands to the value (each item of a list
//   on its own line) as shell code: that is the parameter's purpose, as with
//   AWS-RunShellScript's `commands`.
// - Any other placeholder of a String, StringList, StringMap or MapList parameter in
//   runCommand is inserted as literal data quoted for where it stands, as a POSIX
//   shell reads the script (runCommand lines joined by newlines): outside quotes one
//   single-quoted word per item ('  ->  '\''), inside single quotes the same escape,
//   inside double quotes with \ $ ` " backslash-escaped, in a comment with line breaks
//   made spaces. Where quoting cannot be made safe (after a backslash, inside `...`,
//   ${...}, or a here-document body) the placeholder is refused.
// - Integer and Boolean values are validated strictly (an optional '-' and digits;
//   true/false) and inserted as they are, anywhere.
// - workingDirectory and timeoutSeconds take single values verbatim; timeoutSeconds
//   must then be an integer 1..172800.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "agentproto/agent_protocol.hpp"
#include "common/result.hpp"
#include "documents/document_parser.hpp"

namespace kw::documents {

// SSM's parameter map: name -> values (one value for every type but StringList).
using ParameterValues = std::map<std::string, std::vector<std::string>>;

inline constexpr std::size_t kMaxParameterValueBytes = 64 * 1024;
// Values checked against an allowedPattern are at most this long: libstdc++'s regex
// recurses once per input character.
inline constexpr std::size_t kMaxPatternInputChars = 1024;
// The rendered steps of one command must fit one control-channel message.
inline constexpr std::size_t kMaxRenderedBytes = agentproto::kMaxMessageBytes / 2;

// Validates `input` against the document's parameters and fills defaults. Errors,
// reason "InvalidParameters" (kInvalidArgument): a name the document does not declare,
// a required parameter without a value, a value of the wrong shape for its type, not
// in allowedValues, not matching allowedPattern, outside min/max items or chars, or
// holding a NUL. Defaults are the author's and are not checked against allowedValues
// or allowedPattern.
Result<ParameterValues> ResolveParameters(const CommandDocument& doc, const ParameterValues& input);

// The steps an instance of `platform_type` runs (steps whose precondition names
// another platform are left out), with `values` (from ResolveParameters) substituted.
// Errors: "InvalidParameters" as above, and when a value makes a step invalid
// (timeoutSeconds out of range, a multi-line working directory, too large).
Result<std::vector<agentproto::Step>> RenderSteps(const CommandDocument& doc,
                                                  const ParameterValues& values,
                                                  std::string_view platform_type);

// ResolveParameters then RenderSteps.
Result<std::vector<agentproto::Step>> SubstituteParameters(const CommandDocument& doc,
                                                           const ParameterValues& input,
                                                           std::string_view platform_type);

// The document-time check the parser runs: every placeholder names a declared
// parameter and every embedded placeholder stands where it can be quoted. Errors:
// "InvalidDocumentContent" naming the step and line.
Status CheckTemplates(const CommandDocument& doc);

// `value` as one single-quoted POSIX shell word.
std::string ShellQuote(std::string_view value);

}  // namespace kw::documents
