// Wildcards and policy variables.

#include <algorithm>
#include <string>
#include <string_view>

#include "policy/detail/internal.hpp"
#include "policy/policy.hpp"

namespace kw::policy {
namespace detail {
namespace {

// Iterative glob with single-star backtracking: O(|pattern| * |value|) in the worst
// case, never exponential, no recursion.
template <bool kEscapes>
bool Glob(std::string_view p, std::string_view v, bool ci) {
  constexpr std::size_t kNone = std::string_view::npos;
  std::size_t pi = 0, vi = 0, star_p = kNone, star_v = 0;
  while (vi < v.size()) {
    if (pi < p.size()) {
      char c = p[pi];
      if (c == '*') {
        star_p = ++pi;
        star_v = vi;
        continue;
      }
      if (c == '?') {
        ++pi;
        ++vi;
        continue;
      }
      std::size_t step = 1;
      if (kEscapes && c == '\\' && pi + 1 < p.size()) {
        c = p[pi + 1];
        step = 2;
      }
      const char vc = v[vi];
      if (ci ? ToLowerAscii(c) == ToLowerAscii(vc) : c == vc) {
        pi += step;
        ++vi;
        continue;
      }
    }
    if (star_p == kNone) return false;
    pi = star_p;
    vi = ++star_v;
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

void AppendEscaped(std::string& out, std::string_view s, bool glob) {
  if (!glob) {
    out.append(s);
    return;
  }
  for (char c : s) {
    if (c == '\\' || c == '*' || c == '?') out.push_back('\\');
    out.push_back(c);
  }
}

// Literal policy text in a glob: wildcards stay active, only '\' needs escaping.
void AppendGlobLiteral(std::string& out, std::string_view s, bool glob) {
  for (char c : s) {
    if (glob && c == '\\') out.push_back('\\');
    out.push_back(c);
  }
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "aws:username" or "aws:PrincipalTag/team, 'default'". False if not a variable.
bool ParseVariable(std::string_view inner, Piece& piece) {
  std::string_view key = inner;
  const std::size_t comma = inner.find(',');
  if (comma != std::string_view::npos) {
    key = inner.substr(0, comma);
    std::string_view def = Trim(inner.substr(comma + 1));
    if (def.size() < 2 || def.front() != '\'' || def.back() != '\'') return false;
    piece.has_default = true;
    piece.default_value = std::string(def.substr(1, def.size() - 2));
  }
  key = Trim(key);
  if (key.empty()) return false;
  piece.is_variable = true;
  piece.text = ToLowerAscii(key);
  return true;
}

}  // namespace

bool GlobMatch(std::string_view pattern, std::string_view value, bool case_insensitive) {
  return Glob<true>(pattern, value, case_insensitive);
}

Pattern CompilePattern(std::string_view text, bool glob, bool variables, bool lower) {
  Pattern p;
  p.glob = glob;
  const std::string src = lower ? ToLowerAscii(text) : std::string(text);
  const bool has_vars = variables && src.find("${") != std::string::npos;
  if (!has_vars) {
    if (glob && src == "*") {
      p.kind = Pattern::Kind::kAny;
    } else if (!glob || src.find_first_of("*?") == std::string::npos) {
      p.kind = Pattern::Kind::kExact;
      p.text = src;
    } else {
      p.kind = Pattern::Kind::kGlob;
      AppendGlobLiteral(p.text, src, true);
    }
    return p;
  }
  // Variable names and defaults come from the original text: the key is looked up
  // case-insensitively anyway, and a default value keeps its case.
  std::string cur;
  bool any_variable = false;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t open = text.find("${", i);
    const std::size_t close = open == std::string_view::npos ? open : text.find('}', open + 2);
    if (close == std::string_view::npos) {
      AppendGlobLiteral(cur, std::string_view(src).substr(i), glob);
      break;
    }
    AppendGlobLiteral(cur, std::string_view(src).substr(i, open - i), glob);
    const std::string_view inner = text.substr(open + 2, close - open - 2);
    Piece var;
    if (inner == "*" || inner == "?" || inner == "$") {
      AppendEscaped(cur, inner, glob);  // a literal '*', '?' or '$'
    } else if (ParseVariable(inner, var)) {
      if (!cur.empty()) p.pieces.push_back(Piece{false, std::move(cur), false, {}});
      cur.clear();
      p.pieces.push_back(std::move(var));
      any_variable = true;
    } else {
      AppendGlobLiteral(cur, std::string_view(src).substr(open, close + 1 - open), glob);
    }
    i = close + 1;
  }
  if (!any_variable) {
    // Only ${*}-style escapes: a fixed pattern after all.
    if (glob) {
      p.kind = Pattern::Kind::kGlob;
      p.text = std::move(cur);
    } else {
      p.kind = Pattern::Kind::kExact;
      p.text = std::move(cur);
    }
    p.pieces.clear();
    return p;
  }
  if (!cur.empty()) p.pieces.push_back(Piece{false, std::move(cur), false, {}});
  p.kind = Pattern::Kind::kVariables;
  return p;
}

bool ExpandPattern(const Pattern& p, const RequestContext& request, std::string& out) {
  out.clear();
  for (const Piece& piece : p.pieces) {
    if (!piece.is_variable) {
      out.append(piece.text);
      continue;
    }
    const std::vector<std::string>* values = FindKey(request, piece.text);
    // A multi-valued key cannot be a variable: AWS treats it as unresolvable.
    if (values != nullptr && values->size() == 1) {
      AppendEscaped(out, values->front(), p.glob);
    } else if (piece.has_default) {
      AppendEscaped(out, piece.default_value, p.glob);
    } else {
      return false;
    }
  }
  return true;
}

bool MatchPattern(const Pattern& p, std::string_view value, bool case_insensitive,
                  const RequestContext& request) {
  switch (p.kind) {
    case Pattern::Kind::kAny:
      return true;
    case Pattern::Kind::kExact:
      return case_insensitive ? EqualsIgnoreCase(p.text, value) : p.text == value;
    case Pattern::Kind::kGlob:
      return Glob<true>(p.text, value, case_insensitive);
    case Pattern::Kind::kVariables: {
      std::string expanded;
      if (!ExpandPattern(p, request, expanded)) return false;
      if (p.glob) return Glob<true>(expanded, value, case_insensitive);
      return case_insensitive ? EqualsIgnoreCase(expanded, value) : expanded == value;
    }
  }
  return false;
}

bool SplitArn(std::string_view arn, std::array<std::string_view, 6>& parts) {
  std::size_t start = 0;
  for (int i = 0; i < 5; ++i) {
    const std::size_t colon = arn.find(':', start);
    if (colon == std::string_view::npos) return false;
    parts[i] = arn.substr(start, colon - start);
    start = colon + 1;
  }
  parts[5] = arn.substr(start);
  return true;
}

const std::vector<std::string>* FindKey(const RequestContext& request, const std::string& key) {
  auto it = request.keys.find(key);
  if (it != request.keys.end()) return &it->second;
  // Callers are asked to store keys lowercase; tolerate those that did not.
  for (const auto& [k, v] : request.keys) {
    if (EqualsIgnoreCase(k, key)) return &v;
  }
  return nullptr;
}

}  // namespace detail

bool WildcardMatch(std::string_view pattern, std::string_view value, bool case_insensitive) {
  return detail::Glob<false>(pattern, value, case_insensitive);
}

}  // namespace kw::policy
