// Parsing and validation of policy documents. nlohmann-json is used with exceptions
// disabled for parsing, and any json::exception is caught here: nothing escapes Parse.

#include "policy/policy.hpp"

#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "policy/detail/internal.hpp"
#include "policy/detail/statement.hpp"

namespace kw::policy {

struct Policy::Impl {
  PolicyKind kind = PolicyKind::kIdentity;
  std::vector<Statement> statements;
};

Policy::Policy() : impl_(std::make_unique<Impl>()) {}
Policy::~Policy() = default;
Policy::Policy(Policy&&) noexcept = default;
Policy& Policy::operator=(Policy&&) noexcept = default;

PolicyKind Policy::kind() const { return impl_ ? impl_->kind : PolicyKind::kIdentity; }

const std::vector<Statement>& Policy::statements() const {
  static const std::vector<Statement> kEmpty;  // a moved-from Policy has no statements
  return impl_ ? impl_->statements : kEmpty;
}

namespace detail {
Error Malformed(std::string message) {
  return InvalidArgument(std::move(message), "MalformedPolicyDocument");
}
}  // namespace detail

namespace {

using detail::Malformed;
using nlohmann::json;

Error SyntaxError() { return Malformed("Syntax errors in policy."); }

std::string Quote(std::string_view s) {
  constexpr std::size_t kMax = 64;
  if (s.size() > kMax) return std::string(s.substr(0, kMax)) + "...";
  return std::string(s);
}

// nlohmann's parser is iterative, but a valid policy nests at most ~6 levels; refusing
// deep documents before parsing bounds memory and any recursion in json's internals.
bool NestingWithinLimit(std::string_view text) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > detail::kMaxJsonDepth) return false;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return true;
}

// A string or a non-empty array of strings. Empty result when the element is an
// empty array; an error when the shape is wrong.
Result<std::vector<std::string>> StringOrList(const json& v) {
  std::vector<std::string> out;
  if (v.is_string()) {
    out.push_back(v.get<std::string>());
    return out;
  }
  if (!v.is_array()) return SyntaxError();
  if (v.size() > detail::kMaxValues) return Malformed("Too many values in policy element.");
  out.reserve(v.size());
  for (const json& item : v) {
    if (!item.is_string()) return SyntaxError();
    out.push_back(item.get<std::string>());
  }
  return out;
}

bool IsAccountId(std::string_view s) {
  if (s.size() != 12) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

bool IsAlnum(std::string_view s) {
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) {
      return false;
    }
  }
  return true;
}

Error InvalidPrincipal(std::string_view type, std::string_view value) {
  return Malformed("Invalid principal in policy: \"" + Quote(type) + "\":\"" + Quote(value) + "\"");
}

Result<detail::PrincipalEntry> ParseAwsPrincipal(const std::string& v) {
  detail::PrincipalEntry e;
  if (v == "*") {
    e.type = detail::PrincipalType::kAny;
    return e;
  }
  if (IsAccountId(v)) {
    e.type = detail::PrincipalType::kAccount;
    e.value = v;
    return e;
  }
  std::array<std::string_view, 6> parts;
  // Only "*" may be a wildcard in a principal.
  if (v.rfind("arn:", 0) != 0 || v.find_first_of("*?") != std::string::npos ||
      !detail::SplitArn(v, parts) || parts[5].empty()) {
    return InvalidPrincipal("AWS", v);
  }
  if (parts[2] == "iam" && parts[5] == "root") {
    if (!IsAccountId(parts[4])) return InvalidPrincipal("AWS", v);
    e.type = detail::PrincipalType::kAccount;
    e.value = std::string(parts[4]);
    return e;
  }
  e.value = v;
  if (parts[2] == "iam" && parts[5].rfind("role/", 0) == 0) {
    e.type = detail::PrincipalType::kRole;
    e.account = std::string(parts[4]);
    e.role_name = std::string(parts[5].substr(parts[5].rfind('/') + 1));
    if (e.role_name.empty()) return InvalidPrincipal("AWS", v);
    return e;
  }
  e.type = detail::PrincipalType::kArn;
  return e;
}

Status ParsePrincipal(const json& v, std::vector<detail::PrincipalEntry>& out) {
  if (v.is_string()) {
    if (v.get_ref<const std::string&>() != "*") {
      return InvalidPrincipal("", v.get_ref<const std::string&>());
    }
    out.push_back(detail::PrincipalEntry{detail::PrincipalType::kAny, {}, {}, {}});
    return OkStatus();
  }
  if (!v.is_object() || v.empty()) return SyntaxError();
  for (const auto& [type, value] : v.items()) {
    const bool aws = type == "AWS";
    if (!aws && type != "Service" && type != "Federated" && type != "CanonicalUser") {
      return Malformed("Invalid principal type in policy: " + Quote(type));
    }
    KW_ASSIGN_OR_RETURN(std::vector<std::string> values, StringOrList(value));
    if (values.empty()) return InvalidPrincipal(type, "");
    if (out.size() + values.size() > detail::kMaxValues) {
      return Malformed("Too many values in policy element.");
    }
    for (const std::string& s : values) {
      if (aws) {
        KW_ASSIGN_OR_RETURN(detail::PrincipalEntry e, ParseAwsPrincipal(s));
        out.push_back(std::move(e));
      } else {
        if (s.empty()) return InvalidPrincipal(type, s);
        out.push_back(detail::PrincipalEntry{detail::PrincipalType::kNamed, s, {}, {}});
      }
    }
  }
  return OkStatus();
}

Result<Statement> ParseStatement(const json& j, PolicyKind kind, bool variables) {
  if (!j.is_object()) return SyntaxError();
  for (const auto& [key, value] : j.items()) {
    if (key != "Sid" && key != "Effect" && key != "Action" && key != "NotAction" &&
        key != "Resource" && key != "NotResource" && key != "Principal" && key != "NotPrincipal" &&
        key != "Condition") {
      return SyntaxError();
    }
  }
  Statement s;
  if (auto it = j.find("Sid"); it != j.end()) {
    if (!it->is_string()) return SyntaxError();
    s.sid = it->get<std::string>();
    // IAM (identity and trust policies) restricts Sids to ASCII letters and digits.
    if (kind == PolicyKind::kIdentity && !IsAlnum(s.sid)) {
      return Malformed(
          "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies "
          "the regular expression [0-9A-Za-z]*");
    }
  }

  auto effect = j.find("Effect");
  if (effect == j.end()) return Malformed("Missing required field Effect");
  if (!effect->is_string()) return SyntaxError();
  if (*effect == "Allow") {
    s.allow = true;
  } else if (*effect == "Deny") {
    s.allow = false;
  } else {
    return Malformed("Invalid effect: " + Quote(effect->get_ref<const std::string&>()));
  }

  auto action = j.find("Action");
  auto not_action = j.find("NotAction");
  if (action != j.end() && not_action != j.end()) {
    return Malformed("Policy statement must contain either Action or NotAction, not both.");
  }
  if (action == j.end() && not_action == j.end()) {
    return Malformed("Policy statement must contain actions.");
  }
  s.not_action = not_action != j.end();
  KW_ASSIGN_OR_RETURN(std::vector<std::string> actions,
                      StringOrList(s.not_action ? *not_action : *action));
  if (actions.empty()) return Malformed("Policy statement must contain actions.");
  s.actions.reserve(actions.size());
  for (const std::string& a : actions) {
    const std::size_t colon = a.find(':');
    if (a != "*" && (colon == std::string::npos || colon == 0)) {
      return Malformed(
          "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, "
          "etc.");
    }
    s.actions.push_back(detail::CompilePattern(a, /*glob=*/true, /*variables=*/false,
                                               /*lower=*/true));
  }

  auto resource = j.find("Resource");
  auto not_resource = j.find("NotResource");
  if (resource != j.end() && not_resource != j.end()) {
    return Malformed("Policy statement must contain either Resource or NotResource, not both.");
  }
  if (resource != j.end() || not_resource != j.end()) {
    s.not_resource = not_resource != j.end();
    KW_ASSIGN_OR_RETURN(std::vector<std::string> resources,
                        StringOrList(s.not_resource ? *not_resource : *resource));
    if (resources.empty()) return Malformed("Policy statement must contain resources.");
    s.has_resource = true;
    s.resources.reserve(resources.size());
    for (const std::string& r : resources) {
      if (r != "*" && r.rfind("arn:", 0) != 0) {
        return Malformed("Resource " + Quote(r) + " must be in ARN format or \"*\".");
      }
      s.resources.push_back(detail::CompilePattern(r, true, variables, false));
    }
  } else if (kind == PolicyKind::kIdentity) {
    return Malformed("Policy statement must contain resources.");
  }

  auto principal = j.find("Principal");
  auto not_principal = j.find("NotPrincipal");
  if (principal != j.end() || not_principal != j.end()) {
    if (kind == PolicyKind::kIdentity) {
      return Malformed("Policy document should not specify a principal.");
    }
    if (principal != j.end() && not_principal != j.end()) {
      return Malformed("Policy statement must contain either Principal or NotPrincipal, not both.");
    }
    s.has_principal = true;
    s.not_principal = not_principal != j.end();
    KW_RETURN_IF_ERROR(ParsePrincipal(s.not_principal ? *not_principal : *principal, s.principals));
  } else if (kind == PolicyKind::kResource) {
    return Malformed("Missing required field Principal");
  }

  if (auto cond = j.find("Condition"); cond != j.end()) {
    if (!cond->is_object()) return SyntaxError();
    for (const auto& [op, block] : cond->items()) {
      KW_RETURN_IF_ERROR(detail::ParseConditionBlock(op, block, variables, s.conditions));
    }
  }
  return s;
}

Result<std::vector<Statement>> ParseDocument(std::string_view text, PolicyKind kind) {
  if (!NestingWithinLimit(text)) return SyntaxError();
  const json doc = json::parse(text.begin(), text.end(), /*cb=*/nullptr,
                               /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return SyntaxError();
  for (const auto& [key, value] : doc.items()) {
    if (key != "Version" && key != "Id" && key != "Statement") return SyntaxError();
  }
  // No Version means the 2008-10-17 language: ${...} is literal text there.
  bool variables = false;
  if (auto v = doc.find("Version"); v != doc.end()) {
    if (!v->is_string()) return SyntaxError();
    if (*v == "2012-10-17") {
      variables = true;
    } else if (*v != "2008-10-17") {
      return Malformed("The policy failed legacy parsing");
    }
  }
  if (auto id = doc.find("Id"); id != doc.end() && !id->is_string()) return SyntaxError();

  auto st = doc.find("Statement");
  if (st == doc.end()) return Malformed("Missing required field Statement");
  std::vector<const json*> items;
  if (st->is_object()) {
    items.push_back(&*st);
  } else if (st->is_array()) {
    if (st->size() > detail::kMaxStatements) return Malformed("Too many statements in policy.");
    for (const json& item : *st) items.push_back(&item);
  } else {
    return SyntaxError();
  }

  std::vector<Statement> statements;
  statements.reserve(items.size());
  std::set<std::string> sids;
  for (const json* item : items) {
    KW_ASSIGN_OR_RETURN(Statement s, ParseStatement(*item, kind, variables));
    if (!s.sid.empty() && !sids.insert(s.sid).second) {
      return Malformed("Statement IDs (SID) in a single policy must be unique.");
    }
    statements.push_back(std::move(s));
  }
  return statements;
}

}  // namespace

Result<Policy> Parse(std::string_view json_text, PolicyKind kind) {
  try {
    KW_ASSIGN_OR_RETURN(std::vector<Statement> statements, ParseDocument(json_text, kind));
    Policy policy;
    policy.impl_->kind = kind;
    policy.impl_->statements = std::move(statements);
    return policy;
  } catch (const nlohmann::json::exception&) {
    return SyntaxError();
  }
}

}  // namespace kw::policy
