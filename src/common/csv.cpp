#include "common/csv.hpp"

namespace kw {

Result<std::vector<std::vector<std::string>>> ParseCsv(std::string_view text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false;      // inside a quoted field
  bool was_quoted = false;  // the current field was quoted (nothing may follow the quote)
  bool row_started = false;
  std::size_t i = 0;
  auto end_field = [&] {
    row.push_back(std::move(field));
    field.clear();
    was_quoted = false;
  };
  auto end_row = [&] {
    end_field();
    rows.push_back(std::move(row));
    row.clear();
    row_started = false;
  };
  while (i < text.size()) {
    const char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        was_quoted = true;
      } else {
        field += c;
      }
      ++i;
      continue;
    }
    if (c == '"') {
      if (!field.empty() || was_quoted) {
        return InvalidArgument("CSV: stray quote at byte " + std::to_string(i));
      }
      quoted = true;
      row_started = true;
    } else if (c == ',') {
      end_field();
      row_started = true;
    } else if (c == '\n' || (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n')) {
      // A blank line is no row (the report never has one; a trailing one is common).
      if (row_started || !row.empty()) end_row();
      if (c == '\r') ++i;
    } else {
      if (was_quoted)
        return InvalidArgument("CSV: text after a closing quote at byte " + std::to_string(i));
      field += c;
      row_started = true;
    }
    ++i;
  }
  if (quoted) return InvalidArgument("CSV: unterminated quoted field");
  if (row_started || !field.empty()) end_row();
  return rows;
}

}  // namespace kw
