#include "cli/output.hpp"

#include <algorithm>
#include <ostream>

#include "common/strings.hpp"

namespace kw::cli {
namespace {

std::string CellText(const nlohmann::ordered_json& v) {
  if (v.is_null()) return {};
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

std::string SanitizeForTerminal(std::string s) {
  for (char& c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) c = '?';
  }
  return s;
}

std::size_t DisplayWidth(std::string_view s) {
  std::size_t n = 0;
  for (char c : s) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;  // skip UTF-8 continuations
  }
  return n;
}

void AppendRow(std::string& out, const std::vector<std::string>& cells,
               const std::vector<std::size_t>& widths) {
  std::string line;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    if (i > 0) line += "  ";
    line += cells[i];
    if (i + 1 < cells.size()) line.append(widths[i] - DisplayWidth(cells[i]), ' ');
  }
  while (!line.empty() && line.back() == ' ') line.pop_back();
  out += line;
  out += '\n';
}

}  // namespace

Result<OutputFormat> ParseOutputFormat(std::string_view name) {
  if (name == "table") return OutputFormat::kTable;
  if (name == "json") return OutputFormat::kJson;
  if (name == "csv") return OutputFormat::kCsv;
  return InvalidArgument("--output must be table, json or csv, got '" + std::string(name) + "'");
}

std::string RenderTable(const Records& records) {
  const std::size_t n = records.columns.size();
  std::vector<std::vector<std::string>> cells;
  cells.reserve(records.rows.size() + 1);
  cells.push_back({});
  for (const auto& c : records.columns) cells.back().push_back(SanitizeForTerminal(c));
  for (const auto& row : records.rows) {
    cells.push_back({});
    for (std::size_t i = 0; i < n; ++i) {
      cells.back().push_back(i < row.size() ? SanitizeForTerminal(CellText(row[i])) : "");
    }
  }
  std::vector<std::size_t> widths(n, 0);
  for (const auto& row : cells) {
    for (std::size_t i = 0; i < n; ++i) widths[i] = std::max(widths[i], DisplayWidth(row[i]));
  }
  std::string out;
  for (const auto& row : cells) AppendRow(out, row, widths);
  return out;
}

std::string RenderCsv(const Records& records) {
  std::string out;
  auto line = [&](const std::vector<std::string>& fields) {
    for (std::size_t i = 0; i < fields.size(); ++i) {
      if (i > 0) out += ',';
      out += CsvField(fields[i]);
    }
    out += '\n';
  };
  line(records.columns);
  for (const auto& row : records.rows) {
    std::vector<std::string> fields;
    for (std::size_t i = 0; i < records.columns.size(); ++i) {
      fields.push_back(i < row.size() ? CellText(row[i]) : "");
    }
    line(fields);
  }
  return out;
}

nlohmann::ordered_json RecordsToJson(const Records& records) {
  auto out = nlohmann::ordered_json::array();
  for (const auto& row : records.rows) {
    nlohmann::ordered_json obj = nlohmann::ordered_json::object();
    for (std::size_t i = 0; i < records.columns.size(); ++i) {
      obj[records.columns[i]] = i < row.size() ? row[i] : nullptr;
    }
    out.push_back(std::move(obj));
  }
  return out;
}

std::string RenderJson(const nlohmann::ordered_json& value) {
  if (value.is_null()) return {};
  // `replace` keeps invalid UTF-8 from a server from turning into an exception.
  return value.dump(4, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

void PrintOutput(const CommandOutput& output, OutputFormat format, std::ostream& out) {
  switch (format) {
    case OutputFormat::kJson:
      out << RenderJson(output.json);
      break;
    case OutputFormat::kCsv:
      out << (output.raw_csv ? *output.raw_csv : RenderCsv(output.records));
      if (output.raw_csv && !output.raw_csv->empty() && output.raw_csv->back() != '\n') {
        out << '\n';
      }
      break;
    case OutputFormat::kTable:
      if (!output.records.columns.empty()) out << RenderTable(output.records);
      for (const auto& n : output.notices) out << n << '\n';
      break;
  }
}

}  // namespace kw::cli
