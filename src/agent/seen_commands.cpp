#include "agent/seen_commands.hpp"

#include <nlohmann/json.hpp>

#include "common/atomic_file.hpp"

namespace kw::agent {
namespace {

using nlohmann::json;

// Bounded by our own writes; a larger file is someone else's and refused.
constexpr std::size_t kMaxFile = 64 << 20;

}  // namespace

SeenCommands::SeenCommands(std::filesystem::path file, std::size_t max_entries,
                           std::size_t max_result_bytes)
    : file_(std::move(file)), max_entries_(max_entries), max_result_bytes_(max_result_bytes) {}

Result<std::vector<SeenCommands::Stored>> SeenCommands::Load() const {
  auto text = ReadFileLimited(file_, kMaxFile);
  if (!text) {
    if (text.error().code == ErrorCode::kNotFound) return std::vector<Stored>{};
    return text.error();
  }
  json j = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_array()) {
    return FailedPrecondition(file_.string() + " is not a JSON array");
  }
  std::vector<Stored> out;
  out.reserve(j.size());
  try {
    for (const auto& e : j) {
      if (!e.is_object() || !e.contains("Id") || !e["Id"].is_string()) continue;
      Stored s;
      s.id = e["Id"].get<std::string>();
      s.status = e.value("Status", std::string());
      s.response_code = e.value("ResponseCode", -1);
      s.result = e.value("Result", std::string());
      s.finished = e.value("Finished", false);
      s.delivered = e.value("Delivered", false);
      out.push_back(std::move(s));
    }
  } catch (const json::exception&) {
    return FailedPrecondition(file_.string() + " has a malformed entry");
  }
  return out;
}

Status SeenCommands::Save(std::vector<Stored>& entries) const {
  if (entries.size() > max_entries_) {
    entries.erase(entries.begin(),
                  entries.begin() + static_cast<std::ptrdiff_t>(entries.size() - max_entries_));
  }
  // Keep the newest results whole; older ones shrink to status and code.
  std::size_t budget = max_result_bytes_;
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    if (it->result.size() <= budget) {
      budget -= it->result.size();
    } else {
      it->result.clear();
      budget = 0;
    }
  }
  json j = json::array();
  for (const Stored& s : entries) {
    j.push_back({{"Id", s.id},
                 {"Status", s.status},
                 {"ResponseCode", s.response_code},
                 {"Result", s.result},
                 {"Finished", s.finished},
                 {"Delivered", s.delivered}});
  }
  return WriteFileAtomic(file_, j.dump(-1, ' ', false, json::error_handler_t::replace), 0600);
}

SeenCommands::Entry SeenCommands::ToEntry(const Stored& s) {
  Entry e;
  e.command_id = s.id;
  e.result_delivered = s.delivered;
  if (s.finished) {
    agentproto::ResultMessage r;
    if (!s.result.empty()) {
      auto decoded = agentproto::DecodeControlMessage(s.result);
      if (decoded && decoded->type == agentproto::ControlMessage::Type::kResult) {
        r = std::move(decoded->result);
      }
    }
    r.command_id = s.id;
    r.status = s.status;
    r.response_code = s.response_code;
    e.result = std::move(r);
  }
  return e;
}

Result<std::optional<SeenCommands::Entry>> SeenCommands::Insert(const std::string& command_id) {
  std::lock_guard lock(mu_);
  KW_ASSIGN_OR_RETURN(std::vector<Stored> entries, Load());
  for (const Stored& s : entries) {
    if (s.id == command_id) return std::optional<Entry>(ToEntry(s));
  }
  Stored s;
  s.id = command_id;
  entries.push_back(std::move(s));
  KW_RETURN_IF_ERROR(Save(entries));
  return std::optional<Entry>();
}

Status SeenCommands::RecordResult(const agentproto::ResultMessage& result) {
  std::lock_guard lock(mu_);
  KW_ASSIGN_OR_RETURN(std::vector<Stored> entries, Load());
  Stored* target = nullptr;
  for (Stored& s : entries) {
    if (s.id == result.command_id) target = &s;
  }
  if (target == nullptr) {
    entries.push_back(Stored{});
    target = &entries.back();
    target->id = result.command_id;
  }
  target->status = result.status;
  target->response_code = result.response_code;
  target->result = agentproto::Encode(result);
  target->finished = true;
  target->delivered = false;
  return Save(entries);
}

Status SeenCommands::MarkDelivered(const std::string& command_id) {
  std::lock_guard lock(mu_);
  KW_ASSIGN_OR_RETURN(std::vector<Stored> entries, Load());
  for (Stored& s : entries) {
    if (s.id == command_id && s.finished && !s.delivered) {
      s.delivered = true;
      return Save(entries);
    }
  }
  return OkStatus();
}

Result<std::vector<agentproto::ResultMessage>> SeenCommands::Undelivered() {
  std::lock_guard lock(mu_);
  KW_ASSIGN_OR_RETURN(std::vector<Stored> entries, Load());
  std::vector<agentproto::ResultMessage> out;
  for (const Stored& s : entries) {
    if (s.finished && !s.delivered) out.push_back(*ToEntry(s).result);
  }
  return out;
}

}  // namespace kw::agent
