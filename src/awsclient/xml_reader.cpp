#include "awsclient/xml_reader.hpp"

#include <cstdint>

namespace kw::awsclient::xml {

const Node* Node::Child(std::string_view child_name) const {
  for (const Node& c : children) {
    if (c.name == child_name) return &c;
  }
  return nullptr;
}

std::vector<const Node*> Node::Children(std::string_view child_name) const {
  std::vector<const Node*> out;
  for (const Node& c : children) {
    if (c.name == child_name) out.push_back(&c);
  }
  return out;
}

const Node* Node::Find(std::string_view path) const {
  const Node* cur = this;
  while (!path.empty() && cur != nullptr) {
    const auto slash = path.find('/');
    cur = cur->Child(path.substr(0, slash));
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
  }
  return cur;
}

std::string Node::TextAt(std::string_view path, std::string_view fallback) const {
  const Node* n = Find(path);
  return n == nullptr ? std::string(fallback) : n->text;
}

namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool IsNameStart(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == ':' || c >= 0x80;
}
bool IsNameChar(unsigned char c) {
  return IsNameStart(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

// XML 1.0 Char production, for numeric character references.
bool IsXmlChar(std::uint32_t cp) {
  return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
         (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
}

void AppendUtf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Recursive descent over the input. Recursion depth is bounded by Limits::max_depth.
class Parser {
 public:
  Parser(std::string_view in, const Limits& limits) : in_(in), limits_(limits) {}

  Result<Node> Document() {
    if (in_.size() > limits_.max_bytes) {
      return InvalidArgument("XML: document larger than " + std::to_string(limits_.max_bytes) +
                             " bytes");
    }
    if (in_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
    if (Rest().substr(0, 5) == "<?xml") {
      KW_RETURN_IF_ERROR(SkipPi());
    }
    KW_RETURN_IF_ERROR(Misc());
    if (Rest().substr(0, 9) == "<!DOCTYPE") return Fail("DOCTYPE is not allowed");
    if (AtEnd() || Peek() != '<') return Fail("expected the root element");
    Node root;
    KW_RETURN_IF_ERROR(Element(root, 1));
    KW_RETURN_IF_ERROR(Misc());
    if (!AtEnd()) return Fail("content after the root element");
    return root;
  }

 private:
  std::string_view Rest() const { return in_.substr(pos_); }
  bool AtEnd() const { return pos_ >= in_.size(); }
  char Peek() const { return in_[pos_]; }
  bool StartsWith(std::string_view s) const { return Rest().substr(0, s.size()) == s; }

  Error Fail(std::string_view what) const {
    return InvalidArgument("XML: " + std::string(what) + " at byte " + std::to_string(pos_));
  }

  void SkipSpace() {
    while (!AtEnd() && IsSpace(Peek())) ++pos_;
  }

  // Whitespace, comments and processing instructions (outside the root element).
  Status Misc() {
    for (;;) {
      SkipSpace();
      if (StartsWith("<!--")) {
        KW_RETURN_IF_ERROR(SkipComment());
      } else if (StartsWith("<?")) {
        KW_RETURN_IF_ERROR(SkipPi());
      } else {
        return OkStatus();
      }
    }
  }

  Status SkipComment() {
    const auto end = in_.find("-->", pos_ + 4);
    if (end == std::string_view::npos) return Fail("unterminated comment");
    // "--" inside a comment is not well-formed XML.
    if (in_.substr(pos_ + 4, end - pos_ - 4).find("--") != std::string_view::npos) {
      return Fail("'--' inside a comment");
    }
    pos_ = end + 3;
    return OkStatus();
  }

  Status SkipPi() {
    const auto end = in_.find("?>", pos_ + 2);
    if (end == std::string_view::npos) return Fail("unterminated processing instruction");
    pos_ = end + 2;
    return OkStatus();
  }

  Result<std::string_view> Name() {
    const std::size_t start = pos_;
    if (AtEnd() || !IsNameStart(static_cast<unsigned char>(Peek()))) {
      return Fail("expected a name");
    }
    while (!AtEnd() && IsNameChar(static_cast<unsigned char>(Peek()))) ++pos_;
    return in_.substr(start, pos_ - start);
  }

  // After '&': decodes one reference into `out`.
  Status Reference(std::string& out) {
    const auto semi = in_.find(';', pos_);
    if (semi == std::string_view::npos || semi - pos_ > 12) return Fail("bad entity reference");
    const std::string_view ref = in_.substr(pos_, semi - pos_);
    if (ref == "lt") {
      out += '<';
    } else if (ref == "gt") {
      out += '>';
    } else if (ref == "amp") {
      out += '&';
    } else if (ref == "quot") {
      out += '"';
    } else if (ref == "apos") {
      out += '\'';
    } else if (ref.size() >= 2 && ref[0] == '#') {
      const bool hex = ref[1] == 'x';
      const std::string_view digits = ref.substr(hex ? 2 : 1);
      if (digits.empty()) return Fail("empty character reference");
      std::uint32_t cp = 0;
      for (char c : digits) {
        int d;
        if (c >= '0' && c <= '9') {
          d = c - '0';
        } else if (hex && c >= 'a' && c <= 'f') {
          d = c - 'a' + 10;
        } else if (hex && c >= 'A' && c <= 'F') {
          d = c - 'A' + 10;
        } else {
          return Fail("bad character reference");
        }
        cp = cp * (hex ? 16 : 10) + static_cast<std::uint32_t>(d);
        if (cp > 0x10FFFF) return Fail("character reference out of range");
      }
      if (!IsXmlChar(cp)) return Fail("character reference to a forbidden character");
      AppendUtf8(out, cp);
    } else {
      return Fail("unknown entity '&" + std::string(ref) + ";'");
    }
    pos_ = semi + 1;
    return OkStatus();
  }

  Status Attributes() {
    for (;;) {
      const std::size_t before = pos_;
      SkipSpace();
      if (AtEnd()) return Fail("unterminated start tag");
      if (Peek() == '>' || Peek() == '/') return OkStatus();
      if (pos_ == before) return Fail("expected whitespace before an attribute");
      KW_RETURN_IF_ERROR(Name());
      SkipSpace();
      if (AtEnd() || Peek() != '=') return Fail("expected '=' after an attribute name");
      ++pos_;
      SkipSpace();
      if (AtEnd() || (Peek() != '"' && Peek() != '\'')) return Fail("expected a quoted value");
      const char quote = Peek();
      ++pos_;
      std::string ignored;
      for (;;) {
        if (AtEnd()) return Fail("unterminated attribute value");
        const char c = Peek();
        if (c == quote) break;
        if (c == '<') return Fail("'<' in an attribute value");
        if (c == '&') {
          ++pos_;
          KW_RETURN_IF_ERROR(Reference(ignored));
          continue;
        }
        if (static_cast<unsigned char>(c) < 0x20 && !IsSpace(c)) {
          return Fail("control character");
        }
        ++pos_;
      }
      ++pos_;
    }
  }

  // At '<' of a start tag. Fills `node` and consumes through its end tag.
  Status Element(Node& node, int depth) {
    if (depth > limits_.max_depth) return Fail("elements nested too deeply");
    if (++nodes_ > limits_.max_nodes) return Fail("too many elements");
    ++pos_;  // '<'
    KW_ASSIGN_OR_RETURN(std::string_view name, Name());
    node.name = std::string(name);
    KW_RETURN_IF_ERROR(Attributes());
    if (Peek() == '/') {
      ++pos_;
      if (AtEnd() || Peek() != '>') return Fail("expected '>' after '/'");
      ++pos_;
      return OkStatus();
    }
    ++pos_;  // '>'
    for (;;) {
      if (AtEnd()) return Fail("unclosed element <" + node.name + ">");
      const char c = Peek();
      if (c == '<') {
        if (StartsWith("</")) {
          pos_ += 2;
          KW_ASSIGN_OR_RETURN(std::string_view end_name, Name());
          if (end_name != node.name) {
            return Fail("mismatched end tag </" + std::string(end_name) + "> for <" + node.name +
                        ">");
          }
          SkipSpace();
          if (AtEnd() || Peek() != '>') return Fail("expected '>' in an end tag");
          ++pos_;
          return OkStatus();
        }
        if (StartsWith("<!--")) {
          KW_RETURN_IF_ERROR(SkipComment());
        } else if (StartsWith("<![CDATA[")) {
          const auto end = in_.find("]]>", pos_ + 9);
          if (end == std::string_view::npos) return Fail("unterminated CDATA section");
          node.text.append(in_.substr(pos_ + 9, end - pos_ - 9));
          pos_ = end + 3;
        } else if (StartsWith("<?")) {
          KW_RETURN_IF_ERROR(SkipPi());
        } else if (StartsWith("<!")) {
          return Fail("markup declaration inside an element");
        } else {
          node.children.emplace_back();
          KW_RETURN_IF_ERROR(Element(node.children.back(), depth + 1));
        }
      } else if (c == '&') {
        ++pos_;
        KW_RETURN_IF_ERROR(Reference(node.text));
      } else {
        if (static_cast<unsigned char>(c) < 0x20 && !IsSpace(c)) {
          return Fail("control character");
        }
        if (c == '>' && pos_ >= 2 && in_.substr(pos_ - 2, 3) == "]]>") {
          return Fail("']]>' in text");
        }
        node.text += c;
        ++pos_;
      }
    }
  }

  std::string_view in_;
  const Limits& limits_;
  std::size_t pos_ = 0;
  std::size_t nodes_ = 0;
};

}  // namespace

Result<Node> Parse(std::string_view document, const Limits& limits) {
  return Parser(document, limits).Document();
}

}  // namespace kw::awsclient::xml
