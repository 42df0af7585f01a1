#include "api/ssm/windows/windows_api.hpp"

#include "api/http/json_input.hpp"
#include "common/time_format.hpp"

namespace kw::api {
namespace {

using nlohmann::json;
using windows::MaintenanceWindowService;

Error Validation(std::string m) { return InvalidArgument(std::move(m), "ValidationError"); }

Result<std::optional<int>> OptSmallInt(const json& in, const char* name) {
  KW_ASSIGN_OR_RETURN(auto v, OptInt(in, name));
  if (!v) return std::optional<int>();
  if (*v < -1000000000LL || *v > 1000000000LL) {
    return Validation(std::string("Value at '") + name + "' is out of range");
  }
  return std::optional<int>(static_cast<int>(*v));
}

Result<int> ReqInt(const json& in, const char* name) {
  KW_ASSIGN_OR_RETURN(auto v, OptSmallInt(in, name));
  if (!v) {
    return Validation("1 validation error detected: Value null at '" + std::string(name) +
                      "' failed to satisfy constraint: Member must not be null");
  }
  return *v;
}

Result<std::vector<windows::Target>> DecodeTargets(const json& in, const char* name = "Targets") {
  std::vector<windows::Target> out;
  auto it = in.find(name);
  if (it == in.end() || it->is_null()) return out;
  if (!it->is_array()) return JsonTypeError(name);
  for (const json& t : *it) {
    if (!t.is_object()) return JsonTypeError(name);
    KW_ASSIGN_OR_RETURN(auto key, OptString(t, "Key"));
    KW_ASSIGN_OR_RETURN(auto values, StringList(t, "Values"));
    out.push_back({key.value_or(""), std::move(values)});
  }
  return out;
}

Result<std::optional<std::vector<windows::Target>>> OptTargets(const json& in) {
  if (!in.contains("Targets") || in["Targets"].is_null()) {
    return std::optional<std::vector<windows::Target>>();
  }
  KW_ASSIGN_OR_RETURN(auto t, DecodeTargets(in));
  return std::optional<std::vector<windows::Target>>(std::move(t));
}

Result<windows::PageRequest> DecodePage(const json& in, int min = 10, int max = 100) {
  windows::PageRequest p;
  auto it = in.find("Filters");
  if (it != in.end() && !it->is_null()) {
    if (!it->is_array()) return JsonTypeError("Filters");
    for (const json& f : *it) {
      if (!f.is_object()) return JsonTypeError("Filters");
      KW_ASSIGN_OR_RETURN(auto key, OptString(f, "Key"));
      KW_ASSIGN_OR_RETURN(auto values, StringList(f, "Values"));
      p.filters.push_back({key.value_or(""), std::move(values)});
    }
  }
  KW_ASSIGN_OR_RETURN(p.max_results, OptSmallInt(in, "MaxResults"));
  if (p.max_results && (*p.max_results < min || *p.max_results > max)) {
    return Validation("1 validation error detected: Value '" + std::to_string(*p.max_results) +
                      "' at 'maxResults' failed to satisfy constraint: Member must have value "
                      "between " +
                      std::to_string(min) + " and " + std::to_string(max));
  }
  KW_ASSIGN_OR_RETURN(p.next_token, OptString(in, "NextToken"));
  return p;
}

Result<std::optional<windows::RunCommandParameters>> DecodeRunCommand(const json& in) {
  auto it = in.find("TaskInvocationParameters");
  if (it == in.end() || it->is_null()) return std::optional<windows::RunCommandParameters>();
  if (!it->is_object()) return JsonTypeError("TaskInvocationParameters");
  auto rc = it->find("RunCommand");
  if (rc == it->end() || rc->is_null()) return std::optional<windows::RunCommandParameters>();
  if (!rc->is_object()) return JsonTypeError("RunCommand");
  windows::RunCommandParameters p;
  KW_ASSIGN_OR_RETURN(p.comment, OptString(*rc, "Comment"));
  KW_ASSIGN_OR_RETURN(p.timeout_seconds, OptInt(*rc, "TimeoutSeconds"));
  KW_ASSIGN_OR_RETURN(p.document_version, OptString(*rc, "DocumentVersion"));
  auto params = rc->find("Parameters");
  if (params != rc->end() && !params->is_null()) {
    if (!params->is_object()) return JsonTypeError("Parameters");
    for (auto& [k, v] : params->items()) {
      KW_ASSIGN_OR_RETURN(auto values, StringList(*params, k.c_str()));
      p.parameters[k] = std::move(values);
    }
  }
  return std::optional<windows::RunCommandParameters>(std::move(p));
}

json EncodeTargets(const std::vector<windows::Target>& ts) {
  json a = json::array();
  for (const auto& t : ts) a.push_back({{"Key", t.key}, {"Values", t.values}});
  return a;
}

template <typename T>
void Put(json& j, const char* k, const std::optional<T>& v) {
  if (v) j[k] = *v;
}
void PutTime(json& j, const char* k, const std::optional<TimePoint>& t) {
  if (t) j[k] = ToEpochSeconds(*t);
}

json EncodeWindow(const windows::Window& w, bool full) {
  json j;
  j["WindowId"] = w.window_id;
  j["Name"] = w.name;
  Put(j, "Description", w.description);
  Put(j, "StartDate", w.start_date);
  Put(j, "EndDate", w.end_date);
  j["Schedule"] = w.schedule;
  Put(j, "ScheduleTimezone", w.schedule_timezone);
  Put(j, "ScheduleOffset", w.schedule_offset);
  Put(j, "NextExecutionTime", w.next_execution_time);
  j["Duration"] = w.duration;
  j["Cutoff"] = w.cutoff;
  j["Enabled"] = w.enabled;
  if (full) {
    j["AllowUnassociatedTargets"] = w.allow_unassociated_targets;
    j["CreatedDate"] = ToEpochSeconds(w.created);
    j["ModifiedDate"] = ToEpochSeconds(w.modified);
  }
  return j;
}

json EncodeTarget(const windows::WindowTarget& t) {
  json j;
  j["WindowId"] = t.window_id;
  j["WindowTargetId"] = t.window_target_id;
  j["ResourceType"] = t.resource_type;
  j["Targets"] = EncodeTargets(t.targets);
  Put(j, "OwnerInformation", t.owner_information);
  Put(j, "Name", t.name);
  Put(j, "Description", t.description);
  return j;
}

json EncodeRunCommand(const windows::RunCommandParameters& r) {
  json rc = json::object();
  if (!r.parameters.empty()) rc["Parameters"] = r.parameters;
  Put(rc, "Comment", r.comment);
  Put(rc, "TimeoutSeconds", r.timeout_seconds);
  Put(rc, "DocumentVersion", r.document_version);
  return rc;
}

// Get's shape; Describe's calls TaskType "Type" and has no invocation parameters.
json EncodeTask(const windows::WindowTask& t, bool get) {
  json j;
  j["WindowId"] = t.window_id;
  j["WindowTaskId"] = t.window_task_id;
  j["TaskArn"] = t.task_arn;
  j[get ? "TaskType" : "Type"] = t.task_type;
  j["Targets"] = EncodeTargets(t.targets);
  j["Priority"] = t.priority;
  Put(j, "MaxConcurrency", t.max_concurrency);
  Put(j, "MaxErrors", t.max_errors);
  Put(j, "Name", t.name);
  Put(j, "Description", t.description);
  Put(j, "ServiceRoleArn", t.service_role_arn);
  Put(j, "CutoffBehavior", t.cutoff_behavior);
  if (get && t.run_command) {
    j["TaskInvocationParameters"] = {{"RunCommand", EncodeRunCommand(*t.run_command)}};
  }
  return j;
}

json EncodeExecution(const windows::Execution& e) {
  json j;
  j["WindowId"] = e.window_id;
  j["WindowExecutionId"] = e.window_execution_id;
  j["Status"] = e.status;
  if (!e.status_details.empty()) j["StatusDetails"] = e.status_details;
  j["StartTime"] = ToEpochSeconds(e.start);
  PutTime(j, "EndTime", e.end);
  return j;
}

json EncodeExecTask(const windows::TaskExecution& t) {
  json j;
  j["WindowExecutionId"] = t.window_execution_id;
  j["TaskExecutionId"] = t.task_execution_id;
  j["Status"] = t.status;
  if (!t.status_details.empty()) j["StatusDetails"] = t.status_details;
  PutTime(j, "StartTime", t.start);
  PutTime(j, "EndTime", t.end);
  j["TaskArn"] = t.task_arn;
  j["TaskType"] = t.task_type;
  return j;
}

json EncodeInvocation(const windows::TaskExecution& t) {
  json j;
  j["WindowExecutionId"] = t.window_execution_id;
  j["TaskExecutionId"] = t.task_execution_id;
  j["InvocationId"] = t.invocation_id;
  j["ExecutionId"] = t.command_id;
  j["TaskType"] = t.task_type;
  j["Parameters"] = json{{"documentName", t.task_arn},
                         {"parameters", t.run_command.parameters},
                         {"comment", t.run_command.comment.value_or("")}}
                        .dump();
  j["Status"] = t.status;
  if (!t.status_details.empty()) j["StatusDetails"] = t.status_details;
  PutTime(j, "StartTime", t.start);
  PutTime(j, "EndTime", t.end);
  if (!t.window_target_id.empty()) j["WindowTargetId"] = t.window_target_id;
  return j;
}

void PutToken(json& out, const std::string& token) {
  if (!token.empty()) out["NextToken"] = token;
}

}  // namespace

std::vector<JsonOperation> WindowOperations(windows::MaintenanceWindowService& windows,
                                            const iam::Account& account) {
  MaintenanceWindowService* svc = &windows;
  (void)account;
  std::vector<JsonOperation> ops;
  auto star = [](const json&, const iam::Principal&) { return std::string("*"); };
  auto window_arn = [svc](const json& in, const iam::Principal&) {
    auto it = in.find("WindowId");
    if (it == in.end() || !it->is_string()) return std::string("*");
    return svc->WindowArn(it->get<std::string>());
  };
  auto add = [&](const char* name, bool read_only, bool by_window,
                 std::function<Result<json>(const json&)> handler) {
    JsonOperation op;
    op.name = name;
    op.read_only = read_only;
    if (by_window) {
      op.resource = window_arn;
    } else {
      op.resource = star;
    }
    op.handler = [handler = std::move(handler)](const JsonCall& call) {
      return handler(call.input);
    };
    ops.push_back(std::move(op));
  };

  add("CreateMaintenanceWindow", false, false, [svc](const json& in) -> Result<json> {
    windows::CreateWindowRequest r;
    KW_ASSIGN_OR_RETURN(r.window.name, ReqString(in, "Name"));
    KW_ASSIGN_OR_RETURN(r.window.description, OptString(in, "Description"));
    KW_ASSIGN_OR_RETURN(r.window.start_date, OptString(in, "StartDate"));
    KW_ASSIGN_OR_RETURN(r.window.end_date, OptString(in, "EndDate"));
    KW_ASSIGN_OR_RETURN(r.window.schedule, ReqString(in, "Schedule"));
    KW_ASSIGN_OR_RETURN(r.window.schedule_timezone, OptString(in, "ScheduleTimezone"));
    KW_ASSIGN_OR_RETURN(r.window.schedule_offset, OptSmallInt(in, "ScheduleOffset"));
    KW_ASSIGN_OR_RETURN(r.window.duration, ReqInt(in, "Duration"));
    KW_ASSIGN_OR_RETURN(r.window.cutoff, ReqInt(in, "Cutoff"));
    KW_ASSIGN_OR_RETURN(auto allow, OptBool(in, "AllowUnassociatedTargets"));
    if (!allow) return NullMemberError("AllowUnassociatedTargets");
    r.window.allow_unassociated_targets = *allow;
    KW_ASSIGN_OR_RETURN(r.client_token, OptString(in, "ClientToken"));
    auto tags = in.find("Tags");
    if (tags != in.end() && !tags->is_null()) {
      if (!tags->is_array()) return JsonTypeError("Tags");
      for (const json& t : *tags) {
        if (!t.is_object()) return JsonTypeError("Tags");
        KW_ASSIGN_OR_RETURN(auto key, ReqString(t, "Key"));
        KW_ASSIGN_OR_RETURN(auto value, ReqString(t, "Value"));
        r.window.tags.push_back({key, value});
      }
    }
    KW_ASSIGN_OR_RETURN(std::string id, svc->CreateMaintenanceWindow(r));
    return json{{"WindowId", id}};
  });

  add("GetMaintenanceWindow", true, true, [svc](const json& in) -> Result<json> {
    KW_ASSIGN_OR_RETURN(auto id, ReqString(in, "WindowId"));
    KW_ASSIGN_OR_RETURN(auto w, svc->GetMaintenanceWindow(id));
    return EncodeWindow(w, true);
  });

  add("UpdateMaintenanceWindow", false, true, [svc](const json& in) -> Result<json> {
    windows::UpdateWindowRequest r;
    KW_ASSIGN_OR_RETURN(r.window_id, ReqString(in, "WindowId"));
    KW_ASSIGN_OR_RETURN(r.name, OptString(in, "Name"));
    KW_ASSIGN_OR_RETURN(r.description, OptString(in, "Description"));
    KW_ASSIGN_OR_RETURN(r.start_date, OptString(in, "StartDate"));
    KW_ASSIGN_OR_RETURN(r.end_date, OptString(in, "EndDate"));
    KW_ASSIGN_OR_RETURN(r.schedule, OptString(in, "Schedule"));
    KW_ASSIGN_OR_RETURN(r.schedule_timezone, OptString(in, "ScheduleTimezone"));
    KW_ASSIGN_OR_RETURN(r.schedule_offset, OptSmallInt(in, "ScheduleOffset"));
    KW_ASSIGN_OR_RETURN(r.duration, OptSmallInt(in, "Duration"));
    KW_ASSIGN_OR_RETURN(r.cutoff, OptSmallInt(in, "Cutoff"));
    KW_ASSIGN_OR_RETURN(r.allow_unassociated_targets, OptBool(in, "AllowUnassociatedTargets"));
    KW_ASSIGN_OR_RETURN(r.enabled, OptBool(in, "Enabled"));
    KW_ASSIGN_OR_RETURN(auto replace, OptBool(in, "Replace"));
    r.replace = replace.value_or(false);
    KW_ASSIGN_OR_RETURN(auto w, svc->UpdateMaintenanceWindow(r));
    json out = EncodeWindow(w, false);
    out.erase("NextExecutionTime");
    out["AllowUnassociatedTargets"] = w.allow_unassociated_targets;
    return out;
  });

  add("DeleteMaintenanceWindow", false, true, [svc](const json& in) -> Result<json> {
    KW_ASSIGN_OR_RETURN(auto id, ReqString(in, "WindowId"));
    KW_RETURN_IF_ERROR(svc->DeleteMaintenanceWindow(id));
    return json{{"WindowId", id}};
  });

  add("DescribeMaintenanceWindows", true, false, [svc](const json& in) -> Result<json> {
    KW_ASSIGN_OR_RETURN(auto p, DecodePage(in));
    KW_ASSIGN_OR_RETURN(auto page, svc->DescribeMaintenanceWindows(p));
    json out = {{"WindowIdentities", json::array()}};
    for (const auto& w : page.items) out["WindowIdentities"].push_back(EncodeWindow(w, false));
    PutToken(out, page.next_token);
    return out;
  });

  add("RegisterTargetWithMaintenanceWindow", false, true, [svc](const json& in) -> Result<json> {
    windows::RegisterTargetRequest r;
    KW_ASSIGN_OR_RETURN(r.target.window_id, ReqString(in, "WindowId"));
    KW_ASSIGN_OR_RETURN(r.target.resource_type, ReqString(in, "ResourceType"));
    KW_ASSIGN_OR_RETURN(r.target.targets, DecodeTargets(in));
    KW_ASSIGN_OR_RETURN(r.target.owner_information, OptString(in, "OwnerInformation"));
    KW_ASSIGN_OR_RETURN(r.target.name, OptString(in, "Name"));
    KW_ASSIGN_OR_RETURN(r.target.description, OptString(in, "Description"));
    KW_ASSIGN_OR_RETURN(r.client_token, OptString(in, "ClientToken"));
    KW_ASSIGN_OR_RETURN(auto id, svc->RegisterTarget(r));
    return json{{"WindowTargetId", id}};
  });

  add("UpdateMaintenanceWindowTarget", false, true, [svc](const json& in) -> Result<json> {
    windows::UpdateTargetRequest r;
    KW_ASSIGN_OR_RETURN(r.window_id, ReqString(in, "WindowId"));
    KW_ASSIGN_OR_RETURN(r.window_target_id, ReqString(in, "WindowTargetId"));
    KW_ASSIGN_OR_RETURN(r.targets, OptTargets(in));
    KW_ASSIGN_OR_RETURN(r.owner_information, OptString(in, "OwnerInformation"));
    KW_ASSIGN_OR_RETURN(r.name, OptString(in, "Name"));
    KW_ASSIGN_OR_RETURN(r.description, OptString(in, "Description"));
    KW_ASSIGN_OR_RETURN(auto replace, OptBool(in, "Replace"));
    r.replace = replace.value_or(false);
    KW_ASSIGN_OR_RETURN(auto t, svc->UpdateTarget(r));
    json out = EncodeTarget(t);
    out.erase("ResourceType");
    return out;
  });

  add("DeregisterTargetFromMaintenanceWindow", false, true, [svc](const json& in) -> Result<json> {
    KW_ASSIGN_OR_RETURN(auto id, ReqString(in, "WindowId"));
    KW_ASSIGN_OR_RETURN(auto target, ReqString(in, "WindowTargetId"));
    KW_ASSIGN_OR_RETURN(auto safe, OptBool(in, "Safe"));
    KW_RETURN_IF_ERROR(svc->DeregisterTarget(id, target, safe.value_or(false)));
    return json{{"WindowId", id}, {"WindowTargetId", target}};
  });

  add("DescribeMaintenanceWindowTargets", true, true, [svc](const json& in) -> Result<json> {
    KW_ASSIGN_OR_RETURN(auto id, ReqString(in, "WindowId"));
    KW_ASSIGN_OR_RETURN(auto p, DecodePage(in));
    KW_ASSIGN_OR_RETURN(auto page, svc->DescribeTargets(id, p));
    json out = {{"Targets", json::array()}};
    for (const auto& t : page.items) out["Targets"].push_back(EncodeTarget(t));
    PutToken(out, page.next_token);
    return out;
  });

  auto decode_task_fields = [](const json& in, windows::WindowTask& t) -> Status {
    KW_ASSIGN_OR_RETURN(t.targets, DecodeTargets(in));
    KW_ASSIGN_OR_RETURN(auto priority, OptSmallInt(in, "Priority"));
    t.priority = priority.value_or(1);
    KW_ASSIGN_OR_RETURN(t.max_concurrency, OptString(in, "MaxConcurrency"));
    KW_ASSIGN_OR_RETURN(t.max_errors, OptString(in, "MaxErrors"));
    KW_ASSIGN_OR_RETURN(t.name, OptString(in, "Name"));
    KW_ASSIGN_OR_RETURN(t.description, OptString(in, "Description"));
    KW_ASSIGN_OR_RETURN(t.service_role_arn, OptString(in, "ServiceRoleArn"));
    KW_ASSIGN_OR_RETURN(t.cutoff_behavior, OptString(in, "CutoffBehavior"));
    KW_ASSIGN_OR_RETURN(t.run_command, DecodeRunCommand(in));
    return OkStatus();
  };

  add("RegisterTaskWithMaintenanceWindow", false, true,
      [svc, decode_task_fields](const json& in) -> Result<json> {
        windows::RegisterTaskRequest r;
        KW_ASSIGN_OR_RETURN(r.task.window_id, ReqString(in, "WindowId"));
        KW_ASSIGN_OR_RETURN(r.task.task_arn, ReqString(in, "TaskArn"));
        KW_ASSIGN_OR_RETURN(r.task.task_type, ReqString(in, "TaskType"));
        KW_RETURN_IF_ERROR(decode_task_fields(in, r.task));
        KW_ASSIGN_OR_RETURN(r.client_token, OptString(in, "ClientToken"));
        KW_ASSIGN_OR_RETURN(auto id, svc->RegisterTask(r));
        return json{{"WindowTaskId", id}};
      });

  add("UpdateMaintenanceWindowTask", false, true,
      [svc, decode_task_fields](const json& in) -> Result<json> {
        windows::UpdateTaskRequest r;
        KW_ASSIGN_OR_RETURN(r.window_id, ReqString(in, "WindowId"));
        KW_ASSIGN_OR_RETURN(r.window_task_id, ReqString(in, "WindowTaskId"));
        windows::WindowTask t;
        KW_RETURN_IF_ERROR(decode_task_fields(in, t));
        KW_ASSIGN_OR_RETURN(r.targets, OptTargets(in));
        KW_ASSIGN_OR_RETURN(r.task_arn, OptString(in, "TaskArn"));
        KW_ASSIGN_OR_RETURN(r.priority, OptSmallInt(in, "Priority"));
        r.max_concurrency = t.max_concurrency;
        r.max_errors = t.max_errors;
        r.name = t.name;
        r.description = t.description;
        r.service_role_arn = t.service_role_arn;
        r.cutoff_behavior = t.cutoff_behavior;
        r.run_command = t.run_command;
        KW_ASSIGN_OR_RETURN(auto replace, OptBool(in, "Replace"));
        r.replace = replace.value_or(false);
        KW_ASSIGN_OR_RETURN(auto task, svc->UpdateTask(r));
        json out = EncodeTask(task, true);
        out.erase("TaskType");
        return out;
      });

  add("DeregisterTaskFromMaintenanceWindow", false, true, [svc](const json& in) -> Result<json> {
    KW_ASSIGN_OR_RETURN(auto id, ReqString(in, "WindowId"));
    KW_ASSIGN_OR_RETURN(auto task, ReqString(in, "WindowTaskId"));
    KW_RETURN_IF_ERROR(svc->DeregisterTask(id, task));
    return json{{"WindowId", id}, {"WindowTaskId", task}};
  });

  add("GetMaintenanceWindowTask", true, true, [svc](const json& in) -> Result<json> {
    KW_ASSIGN_OR_RETURN(auto id, ReqString(in, "WindowId"));
    KW_ASSIGN_OR_RETURN(auto task, ReqString(in, "WindowTaskId"));
    KW_ASSIGN_OR_RETURN(auto t, svc->GetTask(id, task));
    return EncodeTask(t, true);
  });

  add("DescribeMaintenanceWindowTasks", true, true, [svc](const json& in) -> Result<json> {
    KW_ASSIGN_OR_RETURN(auto id, ReqString(in, "WindowId"));
    KW_ASSIGN_OR_RETURN(auto p, DecodePage(in));
    KW_ASSIGN_OR_RETURN(auto page, svc->DescribeTasks(id, p));
    json out = {{"Tasks", json::array()}};
    for (const auto& t : page.items) out["Tasks"].push_back(EncodeTask(t, false));
    PutToken(out, page.next_token);
    return out;
  });

  add("DescribeMaintenanceWindowExecutions", true, true, [svc](const json& in) -> Result<json> {
    KW_ASSIGN_OR_RETURN(auto id, ReqString(in, "WindowId"));
    KW_ASSIGN_OR_RETURN(auto p, DecodePage(in));
    KW_ASSIGN_OR_RETURN(auto page, svc->DescribeExecutions(id, p));
    json out = {{"WindowExecutions", json::array()}};
    for (const auto& e : page.items) out["WindowExecutions"].push_back(EncodeExecution(e));
    PutToken(out, page.next_token);
    return out;
  });

  add("GetMaintenanceWindowExecution", true, false, [svc](const json& in) -> Result<json> {
    KW_ASSIGN_OR_RETURN(auto id, ReqString(in, "WindowExecutionId"));
    KW_ASSIGN_OR_RETURN(auto e, svc->GetExecution(id));
    json out = EncodeExecution(e);
    out.erase("WindowId");
    out["TaskIds"] = e.task_execution_ids;
    return out;
  });

  add("DescribeMaintenanceWindowExecutionTasks", true, false,
      [svc](const json& in) -> Result<json> {
        KW_ASSIGN_OR_RETURN(auto id, ReqString(in, "WindowExecutionId"));
        KW_ASSIGN_OR_RETURN(auto p, DecodePage(in));
        KW_ASSIGN_OR_RETURN(auto page, svc->DescribeExecutionTasks(id, p));
        json out = {{"WindowExecutionTaskIdentities", json::array()}};
        for (const auto& t : page.items) {
          out["WindowExecutionTaskIdentities"].push_back(EncodeExecTask(t));
        }
        PutToken(out, page.next_token);
        return out;
      });

  add("GetMaintenanceWindowExecutionTask", true, false, [svc](const json& in) -> Result<json> {
    KW_ASSIGN_OR_RETURN(auto id, ReqString(in, "WindowExecutionId"));
    KW_ASSIGN_OR_RETURN(auto task, ReqString(in, "TaskId"));
    KW_ASSIGN_OR_RETURN(auto t, svc->GetExecutionTask(id, task));
    json out = EncodeExecTask(t);
    out["Type"] = out["TaskType"];
    out.erase("TaskType");
    out["Priority"] = t.priority;
    out["MaxConcurrency"] = t.max_concurrency;
    out["MaxErrors"] = t.max_errors;
    json params = json::object();
    for (const auto& [k, v] : t.run_command.parameters) params[k] = {{"Values", v}};
    out["TaskParameters"] = json::array({params});
    return out;
  });

  add("DescribeMaintenanceWindowExecutionTaskInvocations", true, false,
      [svc](const json& in) -> Result<json> {
        KW_ASSIGN_OR_RETURN(auto id, ReqString(in, "WindowExecutionId"));
        KW_ASSIGN_OR_RETURN(auto task, ReqString(in, "TaskId"));
        KW_ASSIGN_OR_RETURN(auto p, DecodePage(in));
        KW_ASSIGN_OR_RETURN(auto page, svc->DescribeExecutionTaskInvocations(id, task, p));
        json out = {{"WindowExecutionTaskInvocationIdentities", json::array()}};
        for (const auto& t : page.items) {
          out["WindowExecutionTaskInvocationIdentities"].push_back(EncodeInvocation(t));
        }
        PutToken(out, page.next_token);
        return out;
      });

  add("DescribeMaintenanceWindowSchedule", true, true, [svc](const json& in) -> Result<json> {
    windows::ScheduleRequest r;
    KW_ASSIGN_OR_RETURN(r.window_id, OptString(in, "WindowId"));
    KW_ASSIGN_OR_RETURN(r.targets, DecodeTargets(in));
    KW_ASSIGN_OR_RETURN(auto resource_type, OptString(in, "ResourceType"));
    if (resource_type && *resource_type != "INSTANCE") {
      return InvalidArgument("keyward supports only INSTANCE targets.",
                             "FeatureNotAvailableException");
    }
    KW_ASSIGN_OR_RETURN(auto p, DecodePage(in, 1, 1000000));
    r.max_results = p.max_results;
    r.next_token = p.next_token;
    KW_ASSIGN_OR_RETURN(auto page, svc->DescribeSchedule(r));
    json out = {{"ScheduledWindowExecutions", json::array()}};
    for (const auto& s : page.items) {
      out["ScheduledWindowExecutions"].push_back(
          {{"WindowId", s.window_id}, {"Name", s.name}, {"ExecutionTime", s.execution_time}});
    }
    PutToken(out, page.next_token);
    return out;
  });

  return ops;
}

}  // namespace kw::api
