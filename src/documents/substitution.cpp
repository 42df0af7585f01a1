#include "documents/substitution.hpp"

#include <algorithm>
#include <optional>
#include <regex>
#include <set>

#include "documents/placeholders.hpp"

namespace kw::documents {
namespace {

using nlohmann::ordered_json;

Error BadParameters(std::string message) {
  return InvalidArgument(std::move(message), "InvalidParameters");
}

// Follows a POSIX shell script character by character, well enough to know how a
// placeholder at the current position must be quoted. It errs towards "other" (a
// place where data is refused) whenever it is not sure.
class ShellTracker {
 public:
  enum class Where { kCode, kSingle, kDouble, kComment, kOther };

  void Feed(std::string_view text) {
    for (char c : text) Feed(c);
  }

  Where where() const {
    if (in_body_ || escape_ || delim_phase_ != DelimPhase::kNone) return Where::kOther;
    if (stack_.empty()) return Where::kCode;
    switch (stack_.back().ctx) {
      case Ctx::kSubst:
        return Where::kCode;
      case Ctx::kSingle:
        return Where::kSingle;
      case Ctx::kDouble:
        return Where::kDouble;
      case Ctx::kComment:
        return Where::kComment;
      default:
        return Where::kOther;
    }
  }

  // At the script's top level, where a whole line of shell code may start.
  bool AtTopLevel() const {
    return stack_.empty() && !in_body_ && !escape_ && pending_.empty() &&
           delim_phase_ == DelimPhase::kNone;
  }

  // After data was inserted: the next character does not start a word.
  void AfterData() { prev_ = 'a'; }

 private:
  enum class Ctx { kSubst, kSingle, kDouble, kBacktick, kParam, kComment };
  struct Frame {
    Ctx ctx;
    int parens = 0;  // kSubst: open '(' inside it
  };
  enum class DelimPhase { kNone, kStart, kWord };
  struct Heredoc {
    std::string delimiter;
    bool strip_tabs = false;
  };

  bool InCode() const { return stack_.empty() || stack_.back().ctx == Ctx::kSubst; }

  static bool WordBoundary(char c) {
    return c == '\n' || c == ' ' || c == '\t' || c == ';' || c == '&' || c == '|' || c == '(' ||
           c == ')' || c == '<' || c == '>';
  }

  void Feed(char c) {
    if (in_body_) {
      FeedBody(c);
      return;
    }
    if (delim_phase_ != DelimPhase::kNone) FeedDelimiter(c);
    const char prev = prev_;
    const char prev2 = prev2_;
    prev2_ = prev_;
    prev_ = c;
    if (escape_) {
      escape_ = false;
      prev_ = 'a';  // an escaped character is never special
      return;
    }
    if (stack_.empty() || stack_.back().ctx == Ctx::kSubst) {
      FeedCode(c, prev, prev2);
      return;
    }
    Frame& top = stack_.back();
    switch (top.ctx) {
      case Ctx::kSingle:
        if (c == '\'') stack_.pop_back();
        break;
      case Ctx::kDouble:
        if (c == '\\') {
          escape_ = true;
        } else if (c == '"') {
          stack_.pop_back();
        } else if (c == '`') {
          stack_.push_back({Ctx::kBacktick});
        } else if (prev == '$' && c == '(') {
          stack_.push_back({Ctx::kSubst});
        } else if (prev == '$' && c == '{') {
          stack_.push_back({Ctx::kParam});
        }
        break;
      case Ctx::kBacktick:
        if (c == '\\') {
          escape_ = true;
        } else if (c == '`') {
          stack_.pop_back();
        }
        break;
      case Ctx::kParam:
        if (c == '\\') {
          escape_ = true;
        } else if (c == '}') {
          stack_.pop_back();
        } else if (c == '"') {
          stack_.push_back({Ctx::kDouble});
        } else if (c == '\'') {
          stack_.push_back({Ctx::kSingle});
        } else if (prev == '$' && c == '{') {
          stack_.push_back({Ctx::kParam});
        } else if (prev == '$' && c == '(') {
          stack_.push_back({Ctx::kSubst});
        }
        break;
      case Ctx::kComment:
        if (c == '\n') {
          stack_.pop_back();
          if (InCode()) StartBodies();
        }
        break;
      case Ctx::kSubst:
        break;
    }
  }

  void FeedCode(char c, char prev, char prev2) {
    switch (c) {
      case '\\':
        escape_ = true;
        return;
      case '\'':
        stack_.push_back({Ctx::kSingle});
        return;
      case '"':
        stack_.push_back({Ctx::kDouble});
        return;
      case '`':
        stack_.push_back({Ctx::kBacktick});
        return;
      case '#':
        if (WordBoundary(prev)) stack_.push_back({Ctx::kComment});
        return;
      case '(':
        if (prev == '$') {
          stack_.push_back({Ctx::kSubst});
        } else if (!stack_.empty()) {
          ++stack_.back().parens;
        }
        return;
      case ')':
        if (!stack_.empty()) {
          if (stack_.back().parens > 0) {
            --stack_.back().parens;
          } else {
            stack_.pop_back();
          }
        }
        return;
      case '{':
        if (prev == '$') stack_.push_back({Ctx::kParam});
        return;
      case '<':
        if (prev == '<' && prev2 != '<') {
          delim_phase_ = DelimPhase::kStart;
          delim_ = Heredoc{};
        } else if (prev == '<' && prev2 == '<') {
          delim_phase_ = DelimPhase::kNone;  // a bash here-string, <<<
        }
        return;
      case '\n':
        StartBodies();
        return;
      default:
        return;
    }
  }

  // Collects the delimiter word after "<<" (quotes removed; a quoted delimiter only
  // changes expansion in the body, which refuses placeholders either way).
  void FeedDelimiter(char c) {
    if (delim_phase_ == DelimPhase::kStart) {
      if (c == '-' && delim_.delimiter.empty() && !delim_.strip_tabs) {
        delim_.strip_tabs = true;
        return;
      }
      if (c == ' ' || c == '\t') return;
      if (c == '<') return;  // handled as a here-string by FeedCode
      if (c == '\n' || WordBoundary(c)) {
        delim_phase_ = DelimPhase::kNone;  // no word: a syntax error for the shell
        return;
      }
      delim_phase_ = DelimPhase::kWord;
    }
    if (c == '\'' || c == '"' || c == '\\') return;
    if (c == ' ' || c == '\t' || WordBoundary(c)) {
      delim_phase_ = DelimPhase::kNone;
      if (!delim_.delimiter.empty()) pending_.push_back(delim_);
      return;
    }
    delim_.delimiter.push_back(c);
  }

  void StartBodies() {
    if (!pending_.empty()) {
      in_body_ = true;
      line_.clear();
    }
  }

  void FeedBody(char c) {
    if (c != '\n') {
      if (line_.size() <= pending_.front().delimiter.size() + 64) line_.push_back(c);
      return;
    }
    std::string_view line = line_;
    if (pending_.front().strip_tabs) {
      while (!line.empty() && line.front() == '\t') line.remove_prefix(1);
    }
    if (line == pending_.front().delimiter) {
      pending_.erase(pending_.begin());
      if (pending_.empty()) in_body_ = false;
    }
    line_.clear();
    prev_ = '\n';
  }

  std::vector<Frame> stack_;
  bool escape_ = false;
  char prev_ = '\n';
  char prev2_ = '\n';
  DelimPhase delim_phase_ = DelimPhase::kNone;
  Heredoc delim_;
  std::vector<Heredoc> pending_;
  bool in_body_ = false;
  std::string line_;
};

bool IsStrictInteger(std::string_view s) {
  std::string_view digits = s;
  if (!digits.empty() && digits.front() == '-') digits.remove_prefix(1);
  if (digits.empty() || digits.size() > 18) return false;
  return std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool IsRawType(ParameterType t) {
  return t == ParameterType::kInteger || t == ParameterType::kBoolean;
}

std::string EscapeForSingle(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string EscapeForDouble(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\' || c == '$' || c == '`' || c == '"') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

std::string Join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += sep;
    out += items[i];
  }
  return out;
}

// The value of a parameter placed where `where` says, or nullopt where it cannot be.
std::optional<std::string> QuoteFor(ShellTracker::Where where, const ParameterSpec& spec,
                                    const std::vector<std::string>& values) {
  if (IsRawType(spec.type)) return values.empty() ? std::string() : values.front();
  std::vector<std::string> parts;
  switch (where) {
    case ShellTracker::Where::kCode:
      for (const auto& v : values) parts.push_back(ShellQuote(v));
      return Join(parts, " ");
    case ShellTracker::Where::kSingle:
      for (const auto& v : values) parts.push_back(EscapeForSingle(v));
      return Join(parts, " ");
    case ShellTracker::Where::kDouble:
      for (const auto& v : values) parts.push_back(EscapeForDouble(v));
      return Join(parts, " ");
    case ShellTracker::Where::kComment: {
      std::string s = Join(values, " ");
      std::replace(s.begin(), s.end(), '\n', ' ');
      std::replace(s.begin(), s.end(), '\r', ' ');
      return s;
    }
    case ShellTracker::Where::kOther:
      return std::nullopt;
  }
  return std::nullopt;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

Error UnknownPlaceholder(const std::string& where, const std::string& name) {
  if (name.find(':') != std::string::npos) {
    return BadParameters(where + ": {{" + name +
                         "}}: references to other services are not supported by keyward");
  }
  return BadParameters(where + ": {{" + name + "}} names no parameter of the document");
}

struct Renderer {
  const CommandDocument& doc;
  const ParameterValues& values;
  std::size_t total = 0;

  Result<const ParameterSpec*> Lookup(const std::string& where, const std::string& name) const {
    const ParameterSpec* spec = doc.FindParameter(name);
    if (spec == nullptr) return UnknownPlaceholder(where, name);
    if (values.find(name) == values.end()) {
      return BadParameters(where + ": parameter " + name + " has no value");
    }
    return spec;
  }

  Result<std::vector<std::string>> RunCommand(const StepSpec& step) {
    ShellTracker tracker;
    std::vector<std::string> out;
    for (std::size_t i = 0; i < step.run_command.size(); ++i) {
      const std::string& line = step.run_command[i];
      const std::string where = "step " + step.name + ", runCommand line " + std::to_string(i + 1);
      auto holders = FindPlaceholders(line);
      if (holders.size() == 1 && Trim(line).size() == holders[0].end - holders[0].begin &&
          tracker.AtTopLevel()) {
        KW_ASSIGN_OR_RETURN(const ParameterSpec* spec, Lookup(where, holders[0].name));
        const auto& vals = values.at(spec->name);
        if (spec->type == ParameterType::kString || spec->type == ParameterType::kStringList) {
          // Shell code by the parameter's purpose (AWS-RunShellScript's `commands`).
          for (const auto& v : vals) {
            KW_RETURN_IF_ERROR(Add(out, v));
            tracker.Feed(v);
            tracker.Feed("\n");
          }
          continue;
        }
      }
      std::string rendered;
      std::size_t pos = 0;
      for (const auto& h : holders) {
        std::string_view literal(line.data() + pos, h.begin - pos);
        rendered += literal;
        tracker.Feed(literal);
        KW_ASSIGN_OR_RETURN(const ParameterSpec* spec, Lookup(where, h.name));
        auto quoted = QuoteFor(tracker.where(), *spec, values.at(spec->name));
        if (!quoted) {
          return BadParameters(where + ": {{ " + h.name +
                               " }} stands after a backslash, inside `...`, ${...} or a "
                               "here-document, where keyward cannot quote a value safely; "
                               "assign it to a variable on a line of its own first");
        }
        rendered += *quoted;
        tracker.AfterData();
        pos = h.end;
      }
      std::string_view rest(line.data() + pos, line.size() - pos);
      rendered += rest;
      tracker.Feed(rest);
      tracker.Feed("\n");
      KW_RETURN_IF_ERROR(Add(out, std::move(rendered)));
    }
    return out;
  }

  Status Add(std::vector<std::string>& out, std::string line) {
    total += line.size() + 1;
    if (total > kMaxRenderedBytes) {
      return BadParameters("the command is too large once its parameters are substituted (" +
                           std::to_string(kMaxRenderedBytes) + " bytes at most)");
    }
    if (out.size() >= agentproto::kMaxCommandsPerStep) {
      return BadParameters("a step has more than " +
                           std::to_string(agentproto::kMaxCommandsPerStep) +
                           " runCommand lines once its parameters are substituted");
    }
    out.push_back(std::move(line));
    return OkStatus();
  }

  // keyward:syncSecret: agentproto::kSyncStepGuard, then "Name=value" per input whose
  // value is not empty (an empty parameter means "not set"). Values are verbatim: the
  // agent never hands them to a shell except Reload/HealthCheck, which are commands.
  Result<std::vector<std::string>> SyncInputs(const StepSpec& step) {
    std::vector<std::string> out = {agentproto::kSyncStepGuard};
    for (const auto& [name, text] : step.sync_inputs) {
      KW_ASSIGN_OR_RETURN(std::string value, Plain("step " + step.name + ", " + name, text));
      if (value.empty()) continue;
      for (char c : value) {
        if (static_cast<unsigned char>(c) < 0x20) {
          return BadParameters("step " + step.name + ": " + name + " holds a control character");
        }
      }
      KW_RETURN_IF_ERROR(Add(out, name + "=" + value));
    }
    return out;
  }

  // workingDirectory and timeoutSeconds: single values, verbatim.
  Result<std::string> Plain(const std::string& where, const std::string& text) {
    std::string out;
    std::size_t pos = 0;
    for (const auto& h : FindPlaceholders(text)) {
      out.append(text, pos, h.begin - pos);
      KW_ASSIGN_OR_RETURN(const ParameterSpec* spec, Lookup(where, h.name));
      const auto& vals = values.at(spec->name);
      if (vals.size() != 1 || spec->type == ParameterType::kStringMap ||
          spec->type == ParameterType::kMapList) {
        return BadParameters(where + ": {{ " + h.name + " }} must be a single value");
      }
      out += vals.front();
      pos = h.end;
    }
    out.append(text, pos, std::string::npos);
    total += out.size();
    if (total > kMaxRenderedBytes) return BadParameters("the command is too large");
    return out;
  }
};

bool StepRunsOn(const StepSpec& step, std::string_view platform) {
  if (step.action == kSyncSecretAction) return platform == "Linux";
  if (!step.precondition_platform.empty()) return step.precondition_platform == platform;
  return platform == "Linux" || platform == "MacOS";
}

Result<std::vector<std::string>> ValuesFromDefault(const ParameterSpec& spec) {
  const ordered_json& d = *spec.default_value;
  auto scalar = [](const ordered_json& j) -> std::string {
    return j.is_string() ? j.get<std::string>() : j.dump();
  };
  switch (spec.type) {
    case ParameterType::kString:
    case ParameterType::kBoolean:
    case ParameterType::kInteger:
      return std::vector<std::string>{scalar(d)};
    case ParameterType::kStringList: {
      std::vector<std::string> out;
      if (d.is_array()) {
        for (const auto& item : d) out.push_back(scalar(item));
      } else {
        out.push_back(scalar(d));
      }
      return out;
    }
    case ParameterType::kStringMap:
    case ParameterType::kMapList:
      return std::vector<std::string>{d.dump()};
  }
  return std::vector<std::string>{};
}

Status CheckValue(const ParameterSpec& spec, const std::vector<std::string>& vals) {
  const std::string& name = spec.name;
  std::size_t bytes = 0;
  for (const auto& v : vals) {
    bytes += v.size();
    if (v.find('\0') != std::string::npos) {
      return BadParameters("Parameter " + name + " holds a NUL character");
    }
  }
  if (bytes > kMaxParameterValueBytes) {
    return BadParameters("Parameter " + name + " is longer than " +
                         std::to_string(kMaxParameterValueBytes) + " bytes");
  }
  const bool single = spec.type != ParameterType::kStringList;
  if (single && vals.size() != 1) {
    return BadParameters("Parameter " + name + " of type " +
                         std::string(ParameterTypeName(spec.type)) + " takes exactly one value");
  }
  switch (spec.type) {
    case ParameterType::kBoolean:
      if (vals[0] != "true" && vals[0] != "false") {
        return BadParameters("Parameter " + name + " must be true or false");
      }
      break;
    case ParameterType::kInteger:
      if (!IsStrictInteger(vals[0])) {
        return BadParameters("Parameter " + name + " must be an integer");
      }
      break;
    case ParameterType::kStringMap:
    case ParameterType::kMapList: {
      auto j = ordered_json::parse(vals[0], nullptr, /*allow_exceptions=*/false);
      bool ok = spec.type == ParameterType::kStringMap ? j.is_object() : j.is_array();
      if (ok && spec.type == ParameterType::kMapList) {
        ok = std::all_of(j.begin(), j.end(), [](const ordered_json& e) { return e.is_object(); });
      }
      if (!ok) {
        return BadParameters(
            "Parameter " + name + " must be a JSON " +
            (spec.type == ParameterType::kStringMap ? "object" : "list of objects"));
      }
      if (spec.type == ParameterType::kMapList) {
        if (spec.min_items && static_cast<std::int64_t>(j.size()) < *spec.min_items) {
          return BadParameters("Parameter " + name + " has fewer items than minItems");
        }
        if (spec.max_items && static_cast<std::int64_t>(j.size()) > *spec.max_items) {
          return BadParameters("Parameter " + name + " has more items than maxItems");
        }
      }
      break;
    }
    case ParameterType::kStringList:
      if (spec.min_items && static_cast<std::int64_t>(vals.size()) < *spec.min_items) {
        return BadParameters("Parameter " + name + " has fewer items than minItems");
      }
      if (spec.max_items && static_cast<std::int64_t>(vals.size()) > *spec.max_items) {
        return BadParameters("Parameter " + name + " has more items than maxItems");
      }
      break;
    case ParameterType::kString:
      break;
  }
  const bool textual =
      spec.type == ParameterType::kString || spec.type == ParameterType::kStringList;
  if (textual) {
    for (const auto& v : vals) {
      if (spec.min_chars && static_cast<std::int64_t>(v.size()) < *spec.min_chars) {
        return BadParameters("Parameter " + name + " is shorter than minChars");
      }
      if (spec.max_chars && static_cast<std::int64_t>(v.size()) > *spec.max_chars) {
        return BadParameters("Parameter " + name + " is longer than maxChars");
      }
    }
  }
  if (!spec.allowed_values.empty()) {
    for (const auto& v : vals) {
      if (std::find(spec.allowed_values.begin(), spec.allowed_values.end(), v) ==
          spec.allowed_values.end()) {
        return BadParameters("Parameter " + name + " has a value that is not in allowedValues");
      }
    }
  }
  if (spec.allowed_pattern && textual) {
    std::regex re;
    try {
      re = std::regex(*spec.allowed_pattern, std::regex::ECMAScript);
    } catch (const std::regex_error&) {
      return BadParameters("Parameter " + name + " has an allowedPattern that does not compile");
    }
    for (const auto& v : vals) {
      if (v.size() > kMaxPatternInputChars) {
        return BadParameters("Parameter " + name + " is longer than " +
                             std::to_string(kMaxPatternInputChars) +
                             " characters, the most keyward checks against an allowedPattern");
      }
      bool matched = false;
      try {
        matched = std::regex_match(v, re);
      } catch (const std::regex_error&) {
        matched = false;
      }
      if (!matched) {
        return BadParameters("Parameter " + name + " does not match its allowedPattern " +
                             *spec.allowed_pattern);
      }
    }
  }
  return OkStatus();
}

}  // namespace

std::string ShellQuote(std::string_view value) { return "'" + EscapeForSingle(value) + "'"; }

Result<ParameterValues> ResolveParameters(const CommandDocument& doc,
                                          const ParameterValues& input) {
  for (const auto& [name, vals] : input) {
    if (doc.FindParameter(name) == nullptr) {
      return BadParameters("Parameter " + name + " is not defined in the document");
    }
  }
  ParameterValues out;
  for (const auto& spec : doc.parameters) {
    auto it = input.find(spec.name);
    if (it != input.end()) {
      KW_RETURN_IF_ERROR(CheckValue(spec, it->second));
      out[spec.name] = it->second;
    } else if (spec.default_value) {
      KW_ASSIGN_OR_RETURN(out[spec.name], ValuesFromDefault(spec));
    } else {
      return BadParameters("Parameter " + spec.name + " is required and has no value");
    }
  }
  return out;
}

Result<std::vector<agentproto::Step>> RenderSteps(const CommandDocument& doc,
                                                  const ParameterValues& values,
                                                  std::string_view platform_type) {
  Renderer r{doc, values};
  std::vector<agentproto::Step> steps;
  for (const auto& spec : doc.steps) {
    if (!StepRunsOn(spec, platform_type)) continue;
    agentproto::Step step;
    step.name = spec.name;
    step.action = spec.action;
    if (spec.action == kSyncSecretAction) {
      KW_ASSIGN_OR_RETURN(step.run_command, r.SyncInputs(spec));
    } else {
      KW_ASSIGN_OR_RETURN(step.run_command, r.RunCommand(spec));
    }
    if (spec.working_directory) {
      KW_ASSIGN_OR_RETURN(
          step.working_directory,
          r.Plain("step " + spec.name + ", workingDirectory", *spec.working_directory));
      for (char c : step.working_directory) {
        if (static_cast<unsigned char>(c) < 0x20) {
          return BadParameters("step " + spec.name +
                               ": workingDirectory holds a control character");
        }
      }
    }
    step.timeout_seconds = kDefaultTimeoutSeconds;
    if (spec.timeout_seconds) {
      KW_ASSIGN_OR_RETURN(std::string t,
                          r.Plain("step " + spec.name + ", timeoutSeconds", *spec.timeout_seconds));
      std::int64_t n = 0;
      if (!IsStrictInteger(t) || (n = std::stoll(t)) < 1 || n > kMaxTimeoutSeconds) {
        return BadParameters("step " + spec.name +
                             ": timeoutSeconds must be an integer from 1 to " +
                             std::to_string(kMaxTimeoutSeconds));
      }
      step.timeout_seconds = n;
    }
    steps.push_back(std::move(step));
  }
  return steps;
}

Result<std::vector<agentproto::Step>> SubstituteParameters(const CommandDocument& doc,
                                                           const ParameterValues& input,
                                                           std::string_view platform_type) {
  KW_ASSIGN_OR_RETURN(ParameterValues values, ResolveParameters(doc, input));
  return RenderSteps(doc, values, platform_type);
}

Status CheckTemplates(const CommandDocument& doc) {
  // Render every step with a harmless stand-in value for each parameter: the
  // renderer's errors are then the template's own.
  ParameterValues probe;
  for (const auto& spec : doc.parameters) {
    switch (spec.type) {
      case ParameterType::kInteger:
        probe[spec.name] = {"1"};
        break;
      case ParameterType::kBoolean:
        probe[spec.name] = {"true"};
        break;
      case ParameterType::kStringMap:
        probe[spec.name] = {"{}"};
        break;
      case ParameterType::kMapList:
        probe[spec.name] = {"[]"};
        break;
      default:
        probe[spec.name] = {"1"};
        break;
    }
  }
  Renderer r{doc, probe};
  for (const auto& spec : doc.steps) {
    auto run = spec.action == kSyncSecretAction ? r.SyncInputs(spec) : r.RunCommand(spec);
    if (!run) return InvalidArgument(run.error().message, "InvalidDocumentContent");
    for (const auto* text : {spec.working_directory ? &*spec.working_directory : nullptr,
                             spec.timeout_seconds ? &*spec.timeout_seconds : nullptr}) {
      if (text == nullptr) continue;
      auto plain = r.Plain("step " + spec.name, *text);
      if (!plain) return InvalidArgument(plain.error().message, "InvalidDocumentContent");
    }
  }
  return OkStatus();
}

}  // namespace kw::documents
