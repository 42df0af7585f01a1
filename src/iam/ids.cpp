#include "iam/ids.hpp"

namespace kw::iam {
namespace {
constexpr std::string_view kBase32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
constexpr std::string_view kBase64 =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}  // namespace

std::string NewUniqueId(std::string_view prefix, Random& random) {
  return std::string(prefix) + random.String(17, kBase32);
}

std::string NewAccessKeyId(std::string_view prefix, Random& random) {
  return std::string(prefix) + random.String(16, kBase32);
}

std::string NewSecretAccessKey(Random& random) { return random.String(40, kBase64); }

std::string NewAccountId(Random& random) {
  return random.String(1, "123456789") + random.String(11, "0123456789");
}

std::string IamArn(std::string_view partition, std::string_view account, std::string_view kind,
                   std::string_view path, std::string_view name) {
  std::string arn = "arn:";
  arn.append(partition).append(":iam::").append(account).append(":").append(kind);
  if (path.empty()) path = "/";
  arn.append(path).append(name);
  return arn;
}

}  // namespace kw::iam
