#include "api/iam/users_api.hpp"

#include "crypto/digest.hpp"
#include "iam/ids.hpp"

namespace kw::api {
namespace {

using iam::UserService;

// ---- decoding -------------------------------------------------------------------

std::optional<std::string_view> OptionalView(const std::optional<std::string>& s) {
  if (!s) return std::nullopt;
  return std::string_view(*s);
}

Result<std::optional<int>> MaxItems(const QueryParams& p) {
  KW_ASSIGN_OR_RETURN(std::optional<long long> n, p.Int("MaxItems", 1, 1000));
  if (!n) return std::optional<int>();
  return std::optional<int>(static_cast<int>(*n));
}

// Tags.member.N.Key / Tags.member.N.Value. Both are required members of Tag.
Result<std::vector<iam::Tag>> DecodeTags(const QueryParams& p) {
  std::vector<iam::Tag> tags;
  const auto structs = p.Structs("Tags");
  for (std::size_t i = 0; i < structs.size(); ++i) {
    const auto& m = structs[i];
    for (const char* field : {"Key", "Value"}) {
      if (m.find(field) == m.end()) {
        std::string member = field;
        member[0] = static_cast<char>(member[0] - 'A' + 'a');
        return InvalidArgument("1 validation error detected: Value null at 'tags." +
                                   std::to_string(i + 1) + ".member." + member +
                                   "' failed to satisfy constraint: Member must not be null",
                               "ValidationError");
      }
    }
    tags.push_back({m.at("Key"), m.at("Value")});
  }
  return tags;
}

Result<iam::KeyStatus> DecodeStatus(const std::string& s) {
  if (s == "Active") return iam::KeyStatus::kActive;
  if (s == "Inactive") return iam::KeyStatus::kInactive;
  return EnumValueError("status", s, "Active, Inactive");
}

// ---- encoding -------------------------------------------------------------------

// The User shape. ListUsers leaves the tags out, as AWS does.
void WriteUserFields(XmlWriter& x, const iam::User& u, bool with_tags) {
  x.Element("Path", u.path)
      .Element("UserName", u.name)
      .Element("UserId", u.user_id)
      .Element("Arn", u.arn)
      .TimeElement("CreateDate", u.create_date);
  if (with_tags && !u.tags.empty()) WriteTags(x, u.tags);
}

// ---- resources ------------------------------------------------------------------

struct Resources {
  UserService& users;
  iam::Account account;

  std::string UserArn(std::string_view name) const {
    auto found = users.FindUser(name);
    if (found) return found->arn;
    return iam::IamArn(account.partition, account.id, "user", "/", name);
  }
  // UserName if given, else the caller.
  std::string TargetUser(const QueryParams& p, const iam::Principal& caller) const {
    if (auto name = p.Get("UserName")) return UserArn(*name);
    return caller.arn;
  }
};

}  // namespace

std::vector<QueryOperation> UserOperations(UserService& users, const iam::Account& account) {
  const Resources res{users, account};
  auto target_user = [res](const QueryParams& p, const iam::Principal& c) {
    return res.TargetUser(p, c);
  };
  auto star = [](const QueryParams&, const iam::Principal&) { return std::string("*"); };

  std::vector<QueryOperation> ops;

  // ---- users ----
  ops.push_back(MakeOperation(
      "CreateUser", false,
      [res](const QueryParams& p, const iam::Principal&) {
        return iam::IamArn(res.account.partition, res.account.id, "user",
                           p.Get("Path").value_or("/"), p.Get("UserName").value_or(""));
      },
      [svc = &users](const QueryCall& call, XmlWriter& x) -> Status {
        iam::CreateUserRequest req;
        KW_ASSIGN_OR_RETURN(req.user_name, call.params.Required("UserName"));
        req.path = call.params.Get("Path");
        KW_ASSIGN_OR_RETURN(req.tags, DecodeTags(call.params));
        KW_ASSIGN_OR_RETURN(iam::User user, svc->CreateUser(req));
        x.Open("User");
        WriteUserFields(x, user, true);
        x.Close("User");
        return OkStatus();
      }));

  ops.push_back(MakeOperation(
      "GetUser", true, target_user, [svc = &users](const QueryCall& call, XmlWriter& x) -> Status {
        const auto name = call.params.Get("UserName");
        KW_ASSIGN_OR_RETURN(iam::User user, svc->GetUser(OptionalView(name), &call.principal));
        x.Open("User");
        WriteUserFields(x, user, true);
        x.Close("User");
        return OkStatus();
      }));

  ops.push_back(MakeOperation("ListUsers", true, star,
                              [svc = &users](const QueryCall& call, XmlWriter& x) -> Status {
                                iam::ListUsersRequest req;
                                req.path_prefix = call.params.Get("PathPrefix");
                                req.marker = call.params.Get("Marker");
                                KW_ASSIGN_OR_RETURN(req.max_items, MaxItems(call.params));
                                KW_ASSIGN_OR_RETURN(iam::UserPage page, svc->ListUsers(req));
                                x.Open("Users");
                                for (const iam::User& u : page.users) {
                                  x.Open("member");
                                  WriteUserFields(x, u, false);
                                  x.Close("member");
                                }
                                x.Close("Users");
                                WritePaging(x, page.is_truncated, page.marker);
                                return OkStatus();
                              }));

  ops.push_back(MakeOperation("UpdateUser", false, target_user,
                              [svc = &users](const QueryCall& call, XmlWriter&) -> Status {
                                iam::UpdateUserRequest req;
                                KW_ASSIGN_OR_RETURN(req.user_name,
                                                    call.params.Required("UserName"));
                                req.new_user_name = call.params.Get("NewUserName");
                                req.new_path = call.params.Get("NewPath");
                                return svc->UpdateUser(req);
                              }));

  ops.push_back(MakeOperation("DeleteUser", false, target_user,
                              [svc = &users](const QueryCall& call, XmlWriter&) -> Status {
                                KW_ASSIGN_OR_RETURN(std::string name,
                                                    call.params.Required("UserName"));
                                return svc->DeleteUser(name);
                              }));

  ops.push_back(MakeOperation(
      "TagUser", false, target_user, [svc = &users](const QueryCall& call, XmlWriter&) -> Status {
        KW_ASSIGN_OR_RETURN(std::string name, call.params.Required("UserName"));
        if (call.params.Structs("Tags").empty()) {
          // Tags is a required member; an empty list is sent as "Tags=".
          KW_RETURN_IF_ERROR(call.params.Required("Tags"));
        }
        KW_ASSIGN_OR_RETURN(std::vector<iam::Tag> tags, DecodeTags(call.params));
        return svc->TagUser(name, tags);
      }));

  ops.push_back(MakeOperation(
      "UntagUser", false, target_user, [svc = &users](const QueryCall& call, XmlWriter&) -> Status {
        KW_ASSIGN_OR_RETURN(std::string name, call.params.Required("UserName"));
        std::vector<std::string> keys = call.params.List("TagKeys");
        if (keys.empty()) KW_RETURN_IF_ERROR(call.params.Required("TagKeys"));
        return svc->UntagUser(name, keys);
      }));

  ops.push_back(
      MakeOperation("ListUserTags", true, target_user,
                    [svc = &users](const QueryCall& call, XmlWriter& x) -> Status {
                      KW_ASSIGN_OR_RETURN(std::string name, call.params.Required("UserName"));
                      KW_ASSIGN_OR_RETURN(std::optional<int> max, MaxItems(call.params));
                      KW_ASSIGN_OR_RETURN(iam::TagPage page,
                                          svc->ListUserTags(name, call.params.Get("Marker"), max));
                      WriteTags(x, page.tags);
                      WritePaging(x, page.is_truncated, page.marker);
                      return OkStatus();
                    }));

  // ---- access keys ----
  ops.push_back(MakeOperation("CreateAccessKey", false, target_user,
                              [svc = &users](const QueryCall& call, XmlWriter& x) -> Status {
                                const auto name = call.params.Get("UserName");
                                KW_ASSIGN_OR_RETURN(
                                    iam::CreatedAccessKey key,
                                    svc->CreateAccessKey(OptionalView(name), &call.principal));
                                x.Open("AccessKey")
                                    .Element("UserName", key.metadata.user_name)
                                    .Element("AccessKeyId", key.metadata.access_key_id)
                                    .Element("Status", iam::KeyStatusName(key.metadata.status))
                                    .Element("SecretAccessKey", key.secret_access_key.Reveal())
                                    .TimeElement("CreateDate", key.metadata.create_date)
                                    .Close("AccessKey");
                                return OkStatus();
                              }));

  ops.push_back(MakeOperation("ListAccessKeys", true, target_user,
                              [svc = &users](const QueryCall& call, XmlWriter& x) -> Status {
                                const auto name = call.params.Get("UserName");
                                KW_ASSIGN_OR_RETURN(std::optional<int> max, MaxItems(call.params));
                                KW_ASSIGN_OR_RETURN(iam::AccessKeyPage page,
                                                    svc->ListAccessKeys(OptionalView(name),
                                                                        call.params.Get("Marker"),
                                                                        max, &call.principal));
                                x.Open("AccessKeyMetadata");
                                for (const iam::AccessKeyMetadata& k : page.keys) {
                                  x.Open("member")
                                      .Element("UserName", k.user_name)
                                      .Element("AccessKeyId", k.access_key_id)
                                      .Element("Status", iam::KeyStatusName(k.status))
                                      .TimeElement("CreateDate", k.create_date)
                                      .Close("member");
                                }
                                x.Close("AccessKeyMetadata");
                                WritePaging(x, page.is_truncated, page.marker);
                                return OkStatus();
                              }));

  ops.push_back(
      MakeOperation("UpdateAccessKey", false, target_user,
                    [svc = &users](const QueryCall& call, XmlWriter&) -> Status {
                      const auto name = call.params.Get("UserName");
                      KW_ASSIGN_OR_RETURN(std::string id, call.params.Required("AccessKeyId"));
                      KW_ASSIGN_OR_RETURN(std::string status_text, call.params.Required("Status"));
                      KW_ASSIGN_OR_RETURN(iam::KeyStatus status, DecodeStatus(status_text));
                      return svc->UpdateAccessKey(OptionalView(name), id, status, &call.principal);
                    }));

  ops.push_back(
      MakeOperation("DeleteAccessKey", false, target_user,
                    [svc = &users](const QueryCall& call, XmlWriter&) -> Status {
                      const auto name = call.params.Get("UserName");
                      KW_ASSIGN_OR_RETURN(std::string id, call.params.Required("AccessKeyId"));
                      return svc->DeleteAccessKey(OptionalView(name), id, &call.principal);
                    }));

  ops.push_back(MakeOperation(
      "GetAccessKeyLastUsed", true,
      // The key's owner; an unknown key gets a user ARN that names no one, so only a
      // policy on all users lets the caller learn that it does not exist.
      [res](const QueryParams& p, const iam::Principal&) {
        if (auto id = p.Get("AccessKeyId")) {
          if (auto key = res.users.FindAccessKey(*id)) return res.UserArn(key->user_name);
        }
        return iam::IamArn(res.account.partition, res.account.id, "user", "/", "");
      },
      [svc = &users](const QueryCall& call, XmlWriter& x) -> Status {
        KW_ASSIGN_OR_RETURN(std::string id, call.params.Required("AccessKeyId"));
        KW_ASSIGN_OR_RETURN(iam::AccessKeyLastUsed used, svc->GetAccessKeyLastUsed(id));
        x.Element("UserName", used.user_name).Open("AccessKeyLastUsed");
        if (used.last_used_date) x.TimeElement("LastUsedDate", *used.last_used_date);
        x.Element("ServiceName", used.service_name)
            .Element("Region", used.region)
            .Close("AccessKeyLastUsed");
        return OkStatus();
      }));

  // ---- credential report ----
  ops.push_back(MakeOperation("GenerateCredentialReport", false, star,
                              [svc = &users](const QueryCall&, XmlWriter& x) -> Status {
                                KW_ASSIGN_OR_RETURN(iam::ReportGeneration gen,
                                                    svc->GenerateCredentialReport());
                                x.Element("State", gen.state);
                                if (!gen.description.empty())
                                  x.Element("Description", gen.description);
                                return OkStatus();
                              }));

  ops.push_back(MakeOperation(
      "GetCredentialReport", true, star, [svc = &users](const QueryCall&, XmlWriter& x) -> Status {
        KW_ASSIGN_OR_RETURN(iam::CredentialReportContent report, svc->GetCredentialReport());
        // Content is a blob: base64 on the wire.
        x.Element("Content", crypto::Base64Encode(report.csv))
            .Element("ReportFormat", "text/csv")
            .TimeElement("GeneratedTime", report.generated_time);
        return OkStatus();
      }));

  return ops;
}

}  // namespace kw::api
