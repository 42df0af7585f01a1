#include "api/iam/policies_api.hpp"

#include <functional>
#include <map>
#include <string>
#include <utility>

#include "iam/ids.hpp"
#include "sigv4/sigv4.hpp"

namespace kw::api {
namespace {

using iam::PolicyService;
using ResourceFn = QueryOperation::Resource;

// ---- decoding -------------------------------------------------------------------

Result<iam::PageRequest> DecodePage(const QueryParams& p) {
  iam::PageRequest page;
  page.marker = p.Get("Marker").value_or("");
  KW_ASSIGN_OR_RETURN(page.max_items, p.Int("MaxItems", 1, 1000));
  return page;
}

// ---- encoding -------------------------------------------------------------------

// AWS returns policy documents percent-encoded (RFC 3986); SDKs decode them.
std::string EncodeDocument(std::string_view doc) { return sigv4::UriEncode(doc, false); }

// The Role shape. ListRoles leaves tags out, as AWS does.
void WriteRoleFields(XmlWriter& x, const iam::Role& r, bool with_tags) {
  x.Element("Path", r.path)
      .Element("RoleName", r.name)
      .Element("RoleId", r.role_id)
      .Element("Arn", r.arn)
      .TimeElement("CreateDate", r.create_date)
      .Element("AssumeRolePolicyDocument", EncodeDocument(r.assume_role_policy_document));
  if (!r.description.empty()) x.Element("Description", r.description);
  x.Element("MaxSessionDuration", static_cast<long long>(r.max_session_duration));
  if (with_tags && !r.tags.empty()) WriteTags(x, r.tags);
}

void WritePolicyFields(XmlWriter& x, const iam::ManagedPolicy& p, bool detailed) {
  x.Element("PolicyName", p.name)
      .Element("PolicyId", p.policy_id)
      .Element("Arn", p.arn)
      .Element("Path", p.path)
      .Element("DefaultVersionId", p.default_version_id)
      .Element("AttachmentCount", p.attachment_count)
      .Element("PermissionsBoundaryUsageCount", 0LL)
      .BoolElement("IsAttachable", p.is_attachable);
  if (detailed && !p.description.empty()) x.Element("Description", p.description);
  x.TimeElement("CreateDate", p.create_date).TimeElement("UpdateDate", p.update_date);
  if (detailed && !p.tags.empty()) WriteTags(x, p.tags);
}

void WriteVersionFields(XmlWriter& x, const iam::PolicyVersion& v, bool with_document) {
  if (with_document) x.Element("Document", EncodeDocument(v.document));
  x.Element("VersionId", v.version_id)
      .BoolElement("IsDefaultVersion", v.is_default)
      .TimeElement("CreateDate", v.create_date);
}

// ---- resources ------------------------------------------------------------------

struct Resources {
  PolicyService* policies;
  iam::Account account;

  std::string RoleArn(std::string_view name) const {
    auto found = policies->FindRole(name);
    if (found && *found) return (*found)->arn;
    return iam::IamArn(account.partition, account.id, "role", "/", name);
  }
  std::string UserArn(std::string_view name) const {
    auto found = policies->users().FindUser(name);
    if (found) return found->arn;
    return iam::IamArn(account.partition, account.id, "user", "/", name);
  }
  ResourceFn Role() const {
    return [r = *this](const QueryParams& p, const iam::Principal&) {
      return r.RoleArn(p.Get("RoleName").value_or(""));
    };
  }
  ResourceFn User() const {
    return [r = *this](const QueryParams& p, const iam::Principal&) {
      return r.UserArn(p.Get("UserName").value_or(""));
    };
  }
  static ResourceFn Policy() {
    return [](const QueryParams& p, const iam::Principal&) {
      return p.Get("PolicyArn").value_or("*");
    };
  }
  static ResourceFn Star() {
    return [](const QueryParams&, const iam::Principal&) { return std::string("*"); };
  }
};

void AddRoleOperations(std::vector<QueryOperation>& ops, PolicyService* svc, const Resources& res) {
  ops.push_back(MakeOperation(
      "CreateRole", false,
      [res](const QueryParams& p, const iam::Principal&) {
        return iam::IamArn(res.account.partition, res.account.id, "role",
                           p.Get("Path").value_or("/"), p.Get("RoleName").value_or(""));
      },
      [svc](const QueryCall& call, XmlWriter& x) -> Status {
        iam::CreateRoleRequest req;
        KW_ASSIGN_OR_RETURN(req.role_name, call.params.Required("RoleName"));
        KW_ASSIGN_OR_RETURN(req.assume_role_policy_document,
                            call.params.Required("AssumeRolePolicyDocument"));
        req.path = call.params.Get("Path").value_or("");
        req.description = call.params.Get("Description").value_or("");
        KW_ASSIGN_OR_RETURN(req.max_session_duration,
                            call.params.Int("MaxSessionDuration", 3600, 43200));
        if (call.params.Get("PermissionsBoundary")) {
          return InvalidArgument("Permissions boundaries are not supported.", "InvalidInput");
        }
        KW_ASSIGN_OR_RETURN(req.tags, DecodeTagMap(call.params));
        KW_ASSIGN_OR_RETURN(iam::Role role, svc->CreateRole(req));
        x.Open("Role");
        WriteRoleFields(x, role, true);
        x.Close("Role");
        return OkStatus();
      }));

  ops.push_back(MakeOperation(
      "GetRole", true, res.Role(), [svc](const QueryCall& call, XmlWriter& x) -> Status {
        KW_ASSIGN_OR_RETURN(std::string name, call.params.Required("RoleName"));
        KW_ASSIGN_OR_RETURN(iam::Role role, svc->GetRole(name));
        x.Open("Role");
        WriteRoleFields(x, role, true);
        x.Close("Role");
        return OkStatus();
      }));

  ops.push_back(MakeOperation(
      "ListRoles", true, Resources::Star(), [svc](const QueryCall& call, XmlWriter& x) -> Status {
        KW_ASSIGN_OR_RETURN(iam::PageRequest page, DecodePage(call.params));
        KW_ASSIGN_OR_RETURN(auto roles,
                            svc->ListRoles(call.params.Get("PathPrefix").value_or(""), page));
        x.Open("Roles");
        for (const iam::Role& r : roles.items) {
          x.Open("member");
          WriteRoleFields(x, r, false);
          x.Close("member");
        }
        x.Close("Roles");
        WritePaging(x, roles.is_truncated, roles.marker);
        return OkStatus();
      }));

  ops.push_back(MakeOperation(
      "UpdateRole", false, res.Role(), [svc](const QueryCall& call, XmlWriter&) -> Status {
        KW_ASSIGN_OR_RETURN(std::string name, call.params.Required("RoleName"));
        KW_ASSIGN_OR_RETURN(auto max, call.params.Int("MaxSessionDuration", 3600, 43200));
        return svc->UpdateRole(name, call.params.Get("Description"), max);
      }));

  ops.push_back(
      MakeOperation("UpdateAssumeRolePolicy", false, res.Role(),
                    [svc](const QueryCall& call, XmlWriter&) -> Status {
                      KW_ASSIGN_OR_RETURN(std::string name, call.params.Required("RoleName"));
                      KW_ASSIGN_OR_RETURN(std::string doc, call.params.Required("PolicyDocument"));
                      return svc->UpdateAssumeRolePolicy(name, doc);
                    }));

  ops.push_back(MakeOperation(
      "DeleteRole", false, res.Role(), [svc](const QueryCall& call, XmlWriter&) -> Status {
        KW_ASSIGN_OR_RETURN(std::string name, call.params.Required("RoleName"));
        return svc->DeleteRole(name);
      }));

  ops.push_back(MakeOperation(
      "TagRole", false, res.Role(), [svc](const QueryCall& call, XmlWriter&) -> Status {
        KW_ASSIGN_OR_RETURN(std::string name, call.params.Required("RoleName"));
        if (call.params.Structs("Tags").empty()) KW_RETURN_IF_ERROR(call.params.Required("Tags"));
        KW_ASSIGN_OR_RETURN(auto tags, DecodeTagMap(call.params));
        return svc->TagRole(name, tags);
      }));

  ops.push_back(MakeOperation(
      "UntagRole", false, res.Role(), [svc](const QueryCall& call, XmlWriter&) -> Status {
        KW_ASSIGN_OR_RETURN(std::string name, call.params.Required("RoleName"));
        std::vector<std::string> keys = call.params.List("TagKeys");
        if (keys.empty()) KW_RETURN_IF_ERROR(call.params.Required("TagKeys"));
        return svc->UntagRole(name, keys);
      }));

  ops.push_back(MakeOperation(
      "ListRoleTags", true, res.Role(), [svc](const QueryCall& call, XmlWriter& x) -> Status {
        KW_ASSIGN_OR_RETURN(std::string name, call.params.Required("RoleName"));
        KW_ASSIGN_OR_RETURN(iam::PageRequest page, DecodePage(call.params));
        KW_ASSIGN_OR_RETURN(auto tags, svc->ListRoleTags(name, page));
        WriteTags(x, tags.items);
        WritePaging(x, tags.is_truncated, tags.marker);
        return OkStatus();
      }));
}

// Inline policy operations for users (entity "User") or roles ("Role").
void AddInlineOperations(std::vector<QueryOperation>& ops, PolicyService* svc, const Resources& res,
                         bool is_user) {
  const std::string kind = is_user ? "User" : "Role";
  const std::string name_param = kind + "Name";
  const ResourceFn resource = is_user ? res.User() : res.Role();

  ops.push_back(
      MakeOperation("Put" + kind + "Policy", false, resource,
                    [svc, is_user, name_param](const QueryCall& call, XmlWriter&) -> Status {
                      KW_ASSIGN_OR_RETURN(std::string entity, call.params.Required(name_param));
                      KW_ASSIGN_OR_RETURN(std::string name, call.params.Required("PolicyName"));
                      KW_ASSIGN_OR_RETURN(std::string doc, call.params.Required("PolicyDocument"));
                      return is_user ? svc->PutUserPolicy(entity, name, doc)
                                     : svc->PutRolePolicy(entity, name, doc);
                    }));

  ops.push_back(MakeOperation(
      "Get" + kind + "Policy", true, resource,
      [svc, is_user, name_param](const QueryCall& call, XmlWriter& x) -> Status {
        KW_ASSIGN_OR_RETURN(std::string entity, call.params.Required(name_param));
        KW_ASSIGN_OR_RETURN(std::string name, call.params.Required("PolicyName"));
        KW_ASSIGN_OR_RETURN(iam::InlinePolicy p, is_user ? svc->GetUserPolicy(entity, name)
                                                         : svc->GetRolePolicy(entity, name));
        x.Element(name_param, p.entity_name)
            .Element("PolicyName", p.policy_name)
            .Element("PolicyDocument", EncodeDocument(p.document));
        return OkStatus();
      }));

  ops.push_back(MakeOperation(
      "List" + kind + "Policies", true, resource,
      [svc, is_user, name_param](const QueryCall& call, XmlWriter& x) -> Status {
        KW_ASSIGN_OR_RETURN(std::string entity, call.params.Required(name_param));
        KW_ASSIGN_OR_RETURN(iam::PageRequest page, DecodePage(call.params));
        KW_ASSIGN_OR_RETURN(auto names, is_user ? svc->ListUserPolicies(entity, page)
                                                : svc->ListRolePolicies(entity, page));
        x.Open("PolicyNames");
        for (const std::string& n : names.items) x.Element("member", n);
        x.Close("PolicyNames");
        WritePaging(x, names.is_truncated, names.marker);
        return OkStatus();
      }));

  ops.push_back(MakeOperation(
      "Delete" + kind + "Policy", false, resource,
      [svc, is_user, name_param](const QueryCall& call, XmlWriter&) -> Status {
        KW_ASSIGN_OR_RETURN(std::string entity, call.params.Required(name_param));
        KW_ASSIGN_OR_RETURN(std::string name, call.params.Required("PolicyName"));
        return is_user ? svc->DeleteUserPolicy(entity, name) : svc->DeleteRolePolicy(entity, name);
      }));

  ops.push_back(MakeOperation(
      "Attach" + kind + "Policy", false, resource,
      [svc, is_user, name_param](const QueryCall& call, XmlWriter&) -> Status {
        KW_ASSIGN_OR_RETURN(std::string entity, call.params.Required(name_param));
        KW_ASSIGN_OR_RETURN(std::string arn, call.params.Required("PolicyArn"));
        return is_user ? svc->AttachUserPolicy(entity, arn) : svc->AttachRolePolicy(entity, arn);
      }));

  ops.push_back(MakeOperation(
      "Detach" + kind + "Policy", false, resource,
      [svc, is_user, name_param](const QueryCall& call, XmlWriter&) -> Status {
        KW_ASSIGN_OR_RETURN(std::string entity, call.params.Required(name_param));
        KW_ASSIGN_OR_RETURN(std::string arn, call.params.Required("PolicyArn"));
        return is_user ? svc->DetachUserPolicy(entity, arn) : svc->DetachRolePolicy(entity, arn);
      }));

  ops.push_back(MakeOperation(
      "ListAttached" + kind + "Policies", true, resource,
      [svc, is_user, name_param](const QueryCall& call, XmlWriter& x) -> Status {
        KW_ASSIGN_OR_RETURN(std::string entity, call.params.Required(name_param));
        KW_ASSIGN_OR_RETURN(iam::PageRequest page, DecodePage(call.params));
        const std::string prefix = call.params.Get("PathPrefix").value_or("");
        KW_ASSIGN_OR_RETURN(auto attached,
                            is_user ? svc->ListAttachedUserPolicies(entity, prefix, page)
                                    : svc->ListAttachedRolePolicies(entity, prefix, page));
        x.Open("AttachedPolicies");
        for (const iam::AttachedPolicy& a : attached.items) {
          x.Open("member")
              .Element("PolicyName", a.policy_name)
              .Element("PolicyArn", a.policy_arn)
              .Close("member");
        }
        x.Close("AttachedPolicies");
        WritePaging(x, attached.is_truncated, attached.marker);
        return OkStatus();
      }));
}

void AddManagedOperations(std::vector<QueryOperation>& ops, PolicyService* svc,
                          const Resources& res) {
  ops.push_back(MakeOperation(
      "CreatePolicy", false,
      [res](const QueryParams& p, const iam::Principal&) {
        return iam::IamArn(res.account.partition, res.account.id, "policy",
                           p.Get("Path").value_or("/"), p.Get("PolicyName").value_or(""));
      },
      [svc](const QueryCall& call, XmlWriter& x) -> Status {
        iam::CreatePolicyRequest req;
        KW_ASSIGN_OR_RETURN(req.policy_name, call.params.Required("PolicyName"));
        KW_ASSIGN_OR_RETURN(req.policy_document, call.params.Required("PolicyDocument"));
        req.path = call.params.Get("Path").value_or("");
        req.description = call.params.Get("Description").value_or("");
        KW_ASSIGN_OR_RETURN(req.tags, DecodeTagMap(call.params));
        KW_ASSIGN_OR_RETURN(iam::ManagedPolicy p, svc->CreatePolicy(req));
        x.Open("Policy");
        WritePolicyFields(x, p, true);
        x.Close("Policy");
        return OkStatus();
      }));

  ops.push_back(MakeOperation(
      "GetPolicy", true, Resources::Policy(), [svc](const QueryCall& call, XmlWriter& x) -> Status {
        KW_ASSIGN_OR_RETURN(std::string arn, call.params.Required("PolicyArn"));
        KW_ASSIGN_OR_RETURN(iam::ManagedPolicy p, svc->GetPolicy(arn));
        x.Open("Policy");
        WritePolicyFields(x, p, true);
        x.Close("Policy");
        return OkStatus();
      }));

  ops.push_back(
      MakeOperation("ListPolicies", true, Resources::Star(),
                    [svc](const QueryCall& call, XmlWriter& x) -> Status {
                      iam::ListPoliciesRequest req;
                      const std::string scope = call.params.Get("Scope").value_or("All");
                      if (scope == "All") {
                        req.scope = iam::PolicyScope::kAll;
                      } else if (scope == "AWS") {
                        req.scope = iam::PolicyScope::kAws;
                      } else if (scope == "Local") {
                        req.scope = iam::PolicyScope::kLocal;
                      } else {
                        return EnumValueError("scope", scope, "All, AWS, Local");
                      }
                      KW_ASSIGN_OR_RETURN(auto only_attached, call.params.Bool("OnlyAttached"));
                      req.only_attached = only_attached.value_or(false);
                      req.path_prefix = call.params.Get("PathPrefix").value_or("");
                      const std::string usage =
                          call.params.Get("PolicyUsageFilter").value_or("PermissionsPolicy");
                      if (usage != "PermissionsPolicy" && usage != "PermissionsBoundary") {
                        return EnumValueError("policyUsageFilter", usage,
                                              "PermissionsPolicy, PermissionsBoundary");
                      }
                      KW_ASSIGN_OR_RETURN(req.page, DecodePage(call.params));
                      x.Open("Policies");
                      // Nothing is used as a permissions boundary in keyward.
                      iam::PolicyServicePage<iam::ManagedPolicy> page;
                      if (usage == "PermissionsPolicy" || !req.only_attached) {
                        KW_ASSIGN_OR_RETURN(page, svc->ListPolicies(req));
                      }
                      for (const iam::ManagedPolicy& p : page.items) {
                        x.Open("member");
                        WritePolicyFields(x, p, false);
                        x.Close("member");
                      }
                      x.Close("Policies");
                      WritePaging(x, page.is_truncated, page.marker);
                      return OkStatus();
                    }));

  ops.push_back(MakeOperation("DeletePolicy", false, Resources::Policy(),
                              [svc](const QueryCall& call, XmlWriter&) -> Status {
                                KW_ASSIGN_OR_RETURN(std::string arn,
                                                    call.params.Required("PolicyArn"));
                                return svc->DeletePolicy(arn);
                              }));

  ops.push_back(MakeOperation(
      "CreatePolicyVersion", false, Resources::Policy(),
      [svc](const QueryCall& call, XmlWriter& x) -> Status {
        KW_ASSIGN_OR_RETURN(std::string arn, call.params.Required("PolicyArn"));
        KW_ASSIGN_OR_RETURN(std::string doc, call.params.Required("PolicyDocument"));
        KW_ASSIGN_OR_RETURN(auto set_default, call.params.Bool("SetAsDefault"));
        KW_ASSIGN_OR_RETURN(iam::PolicyVersion v,
                            svc->CreatePolicyVersion(arn, doc, set_default.value_or(false)));
        x.Open("PolicyVersion");
        WriteVersionFields(x, v, false);
        x.Close("PolicyVersion");
        return OkStatus();
      }));

  ops.push_back(
      MakeOperation("GetPolicyVersion", true, Resources::Policy(),
                    [svc](const QueryCall& call, XmlWriter& x) -> Status {
                      KW_ASSIGN_OR_RETURN(std::string arn, call.params.Required("PolicyArn"));
                      KW_ASSIGN_OR_RETURN(std::string id, call.params.Required("VersionId"));
                      KW_ASSIGN_OR_RETURN(iam::PolicyVersion v, svc->GetPolicyVersion(arn, id));
                      x.Open("PolicyVersion");
                      WriteVersionFields(x, v, true);
                      x.Close("PolicyVersion");
                      return OkStatus();
                    }));

  ops.push_back(
      MakeOperation("ListPolicyVersions", true, Resources::Policy(),
                    [svc](const QueryCall& call, XmlWriter& x) -> Status {
                      KW_ASSIGN_OR_RETURN(std::string arn, call.params.Required("PolicyArn"));
                      KW_ASSIGN_OR_RETURN(iam::PageRequest page, DecodePage(call.params));
                      KW_ASSIGN_OR_RETURN(auto versions, svc->ListPolicyVersions(arn, page));
                      x.Open("Versions");
                      for (const iam::PolicyVersion& v : versions.items) {
                        x.Open("member");
                        WriteVersionFields(x, v, false);
                        x.Close("member");
                      }
                      x.Close("Versions");
                      WritePaging(x, versions.is_truncated, versions.marker);
                      return OkStatus();
                    }));

  ops.push_back(
      MakeOperation("DeletePolicyVersion", false, Resources::Policy(),
                    [svc](const QueryCall& call, XmlWriter&) -> Status {
                      KW_ASSIGN_OR_RETURN(std::string arn, call.params.Required("PolicyArn"));
                      KW_ASSIGN_OR_RETURN(std::string id, call.params.Required("VersionId"));
                      return svc->DeletePolicyVersion(arn, id);
                    }));

  ops.push_back(
      MakeOperation("SetDefaultPolicyVersion", false, Resources::Policy(),
                    [svc](const QueryCall& call, XmlWriter&) -> Status {
                      KW_ASSIGN_OR_RETURN(std::string arn, call.params.Required("PolicyArn"));
                      KW_ASSIGN_OR_RETURN(std::string id, call.params.Required("VersionId"));
                      return svc->SetDefaultPolicyVersion(arn, id);
                    }));

  ops.push_back(MakeOperation(
      "ListEntitiesForPolicy", true, Resources::Policy(),
      [svc](const QueryCall& call, XmlWriter& x) -> Status {
        KW_ASSIGN_OR_RETURN(std::string arn, call.params.Required("PolicyArn"));
        const std::string filter = call.params.Get("EntityFilter").value_or("");
        iam::EntityFilter f = iam::EntityFilter::kAll;
        bool none = false;  // filters for kinds keyward does not have
        if (filter == "User") {
          f = iam::EntityFilter::kUser;
        } else if (filter == "Role") {
          f = iam::EntityFilter::kRole;
        } else if (filter == "Group" || filter == "LocalManagedPolicy" ||
                   filter == "AWSManagedPolicy") {
          none = true;
        } else if (!filter.empty()) {
          return EnumValueError("entityFilter", filter,
                                "User, Role, Group, LocalManagedPolicy, AWSManagedPolicy");
        }
        KW_ASSIGN_OR_RETURN(iam::PageRequest page, DecodePage(call.params));
        KW_ASSIGN_OR_RETURN(
            iam::PolicyEntities entities,
            svc->ListEntitiesForPolicy(arn, f, call.params.Get("PathPrefix").value_or(""), page));
        if (none) entities = iam::PolicyEntities{};
        x.Open("PolicyGroups").Close("PolicyGroups");
        x.Open("PolicyUsers");
        for (const auto& u : entities.users) {
          x.Open("member").Element("UserName", u.name).Element("UserId", u.id).Close("member");
        }
        x.Close("PolicyUsers");
        x.Open("PolicyRoles");
        for (const auto& r : entities.roles) {
          x.Open("member").Element("RoleName", r.name).Element("RoleId", r.id).Close("member");
        }
        x.Close("PolicyRoles");
        WritePaging(x, entities.is_truncated, entities.marker);
        return OkStatus();
      }));
}

}  // namespace

std::vector<QueryOperation> PolicyOperations(iam::PolicyService& policies,
                                             const iam::Account& account) {
  const Resources res{&policies, account};
  std::vector<QueryOperation> ops;
  AddRoleOperations(ops, &policies, res);
  AddInlineOperations(ops, &policies, res, /*is_user=*/true);
  AddInlineOperations(ops, &policies, res, /*is_user=*/false);
  AddManagedOperations(ops, &policies, res);
  return ops;
}

}  // namespace kw::api
