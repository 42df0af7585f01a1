#include "rotation/secret_json.hpp"

#include <nlohmann/json.hpp>

namespace kw::rotation {
namespace {

using json = nlohmann::json;

Error BadFormat(const std::string& what) {
  return FailedPrecondition("the secret's current value " + what +
                                "; it must be SecretString JSON with the string fields " +
                                kAccessKeyIdField + " and " + kSecretAccessKeyField,
                            "InvalidSecretFormat");
}

Result<json> Parse(const SecretBytes& text) {
  // nlohmann::json copies the strings it parses; those copies are not zeroised. The
  // value is in clear in this process anyway (it was just decrypted or generated).
  json doc = json::parse(text.Reveal(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return BadFormat("is not JSON");
  if (!doc.is_object()) return BadFormat("is not a JSON object");
  for (const char* field : {kAccessKeyIdField, kSecretAccessKeyField}) {
    auto it = doc.find(field);
    if (it == doc.end()) return BadFormat(std::string("lacks ") + field);
    if (!it->is_string() || it->get_ref<const std::string&>().empty()) {
      return BadFormat(std::string("has no string value for ") + field);
    }
  }
  return doc;
}

}  // namespace

Result<KeyPair> ReadKeyPair(const SecretBytes& json_text) {
  KW_ASSIGN_OR_RETURN(json doc, Parse(json_text));
  KeyPair pair;
  pair.access_key_id = doc[kAccessKeyIdField].get<std::string>();
  pair.secret_access_key = SecretBytes(doc[kSecretAccessKeyField].get<std::string>());
  return pair;
}

Result<SecretBytes> ReplaceKeyPair(const SecretBytes& old_json, std::string_view access_key_id,
                                   const SecretBytes& secret_access_key) {
  KW_ASSIGN_OR_RETURN(json doc, Parse(old_json));
  doc[kAccessKeyIdField] = std::string(access_key_id);
  doc[kSecretAccessKeyField] = std::string(secret_access_key.Reveal());
  // dump() keeps the members in key order (nlohmann's default object is sorted).
  return SecretBytes(doc.dump());
}

}  // namespace kw::rotation
