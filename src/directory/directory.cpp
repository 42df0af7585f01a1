#include "directory/directory.hpp"

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "common/csv.hpp"
#include "common/strings.hpp"

namespace kw::directory {
namespace {

using nlohmann::json;

std::string Trim(std::string_view s) {
  std::size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  return std::string(s.substr(b, e - b));
}

Result<Person> MakePerson(std::string where, std::string id, std::string status, std::string kind,
                          std::string name, std::string email, std::string department) {
  Person p;
  p.id = Trim(id);
  if (p.id.empty()) return InvalidArgument(where + ": id is missing");
  const std::string st = Trim(status);
  if (st.empty()) return InvalidArgument(where + " (" + p.id + "): status is missing");
  auto parsed = ParsePersonStatus(st);
  if (!parsed) {
    return InvalidArgument(where + " (" + p.id + "): status '" + st +
                           "' is not active, departed or transferred");
  }
  p.status = *parsed;
  kind = ToLowerAscii(Trim(kind));
  p.kind = kind.empty() ? "person" : kind;
  p.name = Trim(name);
  p.email = Trim(email);
  p.department = Trim(department);
  return p;
}

}  // namespace

std::string_view PersonStatusName(PersonStatus s) {
  switch (s) {
    case PersonStatus::kActive:
      return "active";
    case PersonStatus::kDeparted:
      return "departed";
    case PersonStatus::kTransferred:
      return "transferred";
  }
  return "active";
}

std::optional<PersonStatus> ParsePersonStatus(std::string_view s) {
  const std::string l = ToLowerAscii(s);
  if (l == "active") return PersonStatus::kActive;
  if (l == "departed") return PersonStatus::kDeparted;
  if (l == "transferred") return PersonStatus::kTransferred;
  return std::nullopt;
}

Status ValidateSnapshot(const Snapshot& snapshot) {
  std::set<std::string> seen;
  for (const Person& p : snapshot.people) {
    if (p.id.empty()) return InvalidArgument("directory: a person has no id");
    if (p.kind != "person" && p.kind != "team") {
      return InvalidArgument("directory: " + p.id + ": kind '" + p.kind +
                             "' is not person or team");
    }
    if (!seen.insert(ToLowerAscii(p.id)).second) {
      return InvalidArgument("directory: id '" + p.id + "' appears twice");
    }
  }
  return OkStatus();
}

Result<Snapshot> ParseCsvExport(std::string_view text) {
  if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // BOM
  KW_ASSIGN_OR_RETURN(auto rows, ParseCsv(text));
  if (rows.empty()) return InvalidArgument("directory CSV: no header row");
  std::map<std::string, std::size_t> col;
  for (std::size_t i = 0; i < rows[0].size(); ++i) col[ToLowerAscii(Trim(rows[0][i]))] = i;
  for (const char* required : {"id", "status"}) {
    if (!col.count(required)) {
      return InvalidArgument(std::string("directory CSV: the header has no '") + required +
                             "' column");
    }
  }
  Snapshot snap;
  for (std::size_t r = 1; r < rows.size(); ++r) {
    const auto& row = rows[r];
    if (row.size() != rows[0].size()) {
      return InvalidArgument("directory CSV: row " + std::to_string(r + 1) + " has " +
                             std::to_string(row.size()) + " fields, the header " +
                             std::to_string(rows[0].size()));
    }
    auto get = [&](const char* name) {
      auto it = col.find(name);
      return it == col.end() ? std::string() : row[it->second];
    };
    KW_ASSIGN_OR_RETURN(
        Person p, MakePerson("directory CSV row " + std::to_string(r + 1), get("id"), get("status"),
                             get("kind"), get("name"), get("email"), get("department")));
    snap.people.push_back(std::move(p));
  }
  KW_RETURN_IF_ERROR(ValidateSnapshot(snap));
  return snap;
}

Result<Snapshot> ParseJsonExport(std::string_view text) {
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded()) return InvalidArgument("directory JSON: not valid JSON");
  const json* list = &doc;
  if (doc.is_object()) {
    auto it = doc.find("people");
    if (it == doc.end()) return InvalidArgument("directory JSON: no \"people\" member");
    list = &*it;
  }
  if (!list->is_array()) return InvalidArgument("directory JSON: \"people\" is not an array");
  Snapshot snap;
  std::size_t n = 0;
  for (const json& e : *list) {
    const std::string where = "directory JSON entry " + std::to_string(n++);
    if (!e.is_object()) return InvalidArgument(where + ": not an object");
    auto str = [&](const char* name) -> Result<std::string> {
      auto it = e.find(name);
      if (it == e.end() || it->is_null()) return std::string();
      if (!it->is_string()) return InvalidArgument(where + ": " + name + " is not a string");
      return it->get<std::string>();
    };
    KW_ASSIGN_OR_RETURN(std::string id, str("id"));
    KW_ASSIGN_OR_RETURN(std::string status, str("status"));
    KW_ASSIGN_OR_RETURN(std::string kind, str("kind"));
    KW_ASSIGN_OR_RETURN(std::string name, str("name"));
    KW_ASSIGN_OR_RETURN(std::string email, str("email"));
    KW_ASSIGN_OR_RETURN(std::string department, str("department"));
    KW_ASSIGN_OR_RETURN(Person p, MakePerson(where, id, status, kind, name, email, department));
    snap.people.push_back(std::move(p));
  }
  KW_RETURN_IF_ERROR(ValidateSnapshot(snap));
  return snap;
}

Result<Snapshot> FileSource::Fetch() {
  std::ifstream in(path_, std::ios::binary);
  if (!in) return Unavailable("directory: cannot read " + path_);
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return Unavailable("directory: error reading " + path_);
  const std::string text = buf.str();
  const bool csv = path_.size() >= 4 && ToLowerAscii(path_.substr(path_.size() - 4)) == ".csv";
  auto snap = csv ? ParseCsvExport(text) : ParseJsonExport(text);
  if (!snap) return InvalidArgument(path_ + ": " + snap.error().message);
  return snap;
}

}  // namespace kw::directory
