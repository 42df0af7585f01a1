#pragma once

// Rendering of command results: an aligned text table, pretty JSON or CSV. Pure
// functions over values; thread-safe.

#include <iosfwd>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace kw::cli {

enum class OutputFormat { kTable, kJson, kCsv };

// "table", "json" or "csv"; kInvalidArgument otherwise.
Result<OutputFormat> ParseOutputFormat(std::string_view name);

// Records that share their fields. Each value is a JSON scalar (string, number,
// bool) or null; a row has one value per column.
struct Records {
  std::vector<std::string> columns;
  std::vector<std::vector<nlohmann::ordered_json>> rows;
};

// One header row, then the rows; columns separated by two spaces and padded to
// the widest cell (counted in UTF-8 code points); no trailing spaces; null is
// empty, strings unquoted, bools "true"/"false". Control characters in cells are
// shown as '?' so a value cannot rewrite the terminal.
std::string RenderTable(const Records& records);
// RFC 4180: a header line, then rows; fields with ',', '"', CR or LF quoted.
std::string RenderCsv(const Records& records);
// An array of objects, the columns as keys in order.
nlohmann::ordered_json RecordsToJson(const Records& records);
// Pretty-printed with an indent of 4, as the AWS CLI prints, and a final newline;
// null prints nothing (the AWS CLI prints nothing for DeleteUser).
std::string RenderJson(const nlohmann::ordered_json& value);

// What a command produced, in each shape it can be printed in.
struct CommandOutput {
  Records records;              // table and csv
  nlohmann::ordered_json json;  // json: the document the AWS CLI would print
  // Lines printed after the table (table mode only), such as "the secret is shown
  // only once".
  std::vector<std::string> notices;
  // When set, csv mode prints this verbatim instead of `records` (the credential
  // report's own CSV).
  std::optional<std::string> raw_csv;
  // A failure that still left something to show (status of an unreachable
  // identity): printed after the output as the error line; the exit code is 1.
  std::optional<Error> error;
  // Overrides --output (a command's own --format option, as `audit` has).
  std::optional<OutputFormat> format;
};

void PrintOutput(const CommandOutput& output, OutputFormat format, std::ostream& out);

}  // namespace kw::cli
