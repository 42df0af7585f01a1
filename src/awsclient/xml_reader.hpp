#pragma once

// A small, strict XML reader for AWS query-protocol responses. It builds a tree of
// elements and their text; attributes (xmlns) are checked for syntax and dropped.
// Supported: the XML declaration, comments, processing instructions, CDATA
// sections, the five predefined entities and numeric character references.
// Refused: DOCTYPE (no entity definitions, so no entity expansion attacks), any
// other entity, mismatched or unclosed tags, text outside the root element,
// control characters, and input beyond the limits. Never throws; pure and
// thread-safe.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace kw::awsclient::xml {

struct Node {
  std::string name;  // as written, including any namespace prefix
  // Character data directly inside this element (not its children's), decoded,
  // concatenated in order. Whitespace between child elements is kept as is.
  std::string text;
  std::vector<Node> children;

  // The first child element named `name`, or nullptr.
  const Node* Child(std::string_view child_name) const;
  // All child elements named `name`, in document order.
  std::vector<const Node*> Children(std::string_view child_name) const;
  // Follows a '/'-separated path of child names ("ListUsersResult/Users"); nullptr if
  // any step is missing. An empty path is this node.
  const Node* Find(std::string_view path) const;
  // Text of the element at `path`, or `fallback` when it is missing.
  std::string TextAt(std::string_view path, std::string_view fallback = {}) const;
};

struct Limits {
  std::size_t max_bytes = 8 << 20;  // the whole document
  int max_depth = 64;               // element nesting
  std::size_t max_nodes = 200000;   // elements in total
};

// Parses a whole document. kInvalidArgument with the byte offset ("XML: mismatched
// end tag </b> for <a> at byte 12") on malformed input or an exceeded limit.
Result<Node> Parse(std::string_view document, const Limits& limits = {});

}  // namespace kw::awsclient::xml
