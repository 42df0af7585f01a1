#pragma once

// `{{ name }}` placeholders in document templates. Pure functions; thread-safe.

#include <string>
#include <string_view>
#include <vector>

namespace kw::documents {

struct Placeholder {
  std::size_t begin = 0;  // offset of the first '{'
  std::size_t end = 0;    // one past the last '}'
  std::string name;       // trimmed; may hold ':' (an SSM "{{ssm:...}}" reference)
};

// Every `{{ NAME }}` in `text`, where NAME is one or more of [A-Za-z0-9_.:/-] and the
// spaces and tabs around it are optional. Anything else between braces is literal
// text (a shell `{{` or `${{x}}` is not a placeholder unless it has this shape).
std::vector<Placeholder> FindPlaceholders(std::string_view text);

// True if the name can be a document parameter ([A-Za-z0-9_]+).
bool IsParameterName(std::string_view name);

}  // namespace kw::documents
