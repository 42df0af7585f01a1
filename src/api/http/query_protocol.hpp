#pragma once

// The AWS query protocol (IAM, STS): form-encoded parameters in, XML out.
// A service is a table of operations; the dispatcher (api/http/dispatcher.hpp)
// authenticates, authorizes with each operation's action and resource, calls the
// handler and wraps its result:
//   <{Op}Response xmlns="..."><{Op}Result>...</{Op}Result>
//   <ResponseMetadata><RequestId>...</RequestId></ResponseMetadata></{Op}Response>
// Errors returned by handlers become <ErrorResponse> via api/http/aws_error.hpp.

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"
#include "common/result.hpp"
#include "iam/principal.hpp"

namespace kw::api {

// Decoded form parameters. Immutable after Parse; thread-compatible.
class QueryParams {
 public:
  // Parses "a=1&b=x%20y" (application/x-www-form-urlencoded; '+' is a space). A bad
  // percent-escape, or more than 10,000 parameters, is kInvalidArgument with reason
  // "MalformedQueryString". Duplicate names: the first wins.
  static Result<QueryParams> Parse(std::string_view form);
  // Adds the parameters of `form` that are not already present.
  Status Merge(std::string_view form);

  std::optional<std::string> Get(std::string_view name) const;
  // kInvalidArgument with reason "MissingParameter" ("The request must contain the
  // parameter UserName.") if absent.
  Result<std::string> Required(std::string_view name) const;
  // nullopt if absent; kInvalidArgument/"ValidationError" if not an integer in
  // [min, max] (AWS's "1 validation error detected: Value 'x' at 'maxItems' failed to
  // satisfy constraint: ...").
  Result<std::optional<long long>> Int(std::string_view name, long long min, long long max) const;
  // nullopt if absent; "ValidationError" unless "true" or "false".
  Result<std::optional<bool>> Bool(std::string_view name) const;
  // A list of strings: Name.member.1, Name.member.2, ... in index order.
  std::vector<std::string> List(std::string_view name) const;
  // A list of structures: Name.member.N.Field, as maps Field -> value, in index
  // order. Tags.member.1.Key / Tags.member.1.Value -> {{"Key",..},{"Value",..}}.
  std::vector<std::map<std::string, std::string>> Structs(std::string_view name) const;

  const std::map<std::string, std::string, std::less<>>& all() const { return params_; }

 private:
  std::map<std::string, std::string, std::less<>> params_;
};

// Builds XML with escaping. Elements must be closed in order. Thread-compatible.
class XmlWriter {
 public:
  XmlWriter() = default;
  // Not copyable: open_ points into structure_.
  XmlWriter(const XmlWriter&) = delete;
  XmlWriter& operator=(const XmlWriter&) = delete;

  XmlWriter& Open(std::string_view tag);
  XmlWriter& Close(std::string_view tag);
  // <tag>escaped text</tag>
  XmlWriter& Element(std::string_view tag, std::string_view text);
  XmlWriter& Element(std::string_view tag, long long number);
  XmlWriter& BoolElement(std::string_view tag, bool value);
  // ISO 8601, as IAM and STS return dates.
  XmlWriter& TimeElement(std::string_view tag, TimePoint t);
  const std::string& str() const { return out_; }

  // From now on, also builds what is written as JSON for the event log's
  // responseElements, so that no one parses the XML back: elements become members named
  // as in the XML ("AccessKey"), "member" children array elements, numbers and booleans
  // typed, times in CloudTrail's IAM/STS notation ("Oct 20, 2021 3:52:34 PM", UTC), an
  // element opened and closed empty an empty array (IAM writes only lists that way).
  // Call before the first write. Off by default: writers nobody observes pay one branch.
  void RecordStructure();
  // The JSON built so far (null if not recording or nothing was written); the writer
  // stops recording. May hold secrets (CreateAccessKey's SecretAccessKey): redact.
  nlohmann::json TakeStructure();

 private:
  // The JSON slot the next element goes into: a member of the innermost open object, or
  // a new element of it when `tag` is "member" (it then becomes an array).
  nlohmann::json& Slot(std::string_view tag);
  void Leaf(std::string_view tag, nlohmann::json value);

  std::string out_;
  bool recording_ = false;
  nlohmann::json structure_;
  // The open elements' JSON nodes, innermost last (&structure_ first). A pointer into
  // an array stays valid: an array grows only after its last element was closed.
  std::vector<nlohmann::json*> open_;
};

// CloudTrail's notation for dates in IAM and STS responseElements (Java's default
// DateFormat, UTC): "Oct 20, 2021 3:52:34 PM".
std::string FormatCloudTrailResponseDate(TimePoint t);

std::string XmlEscape(std::string_view text);

// <IsTruncated>, and <Marker> when truncated: the paging tail of IAM list results.
void WritePaging(XmlWriter& x, bool is_truncated, std::string_view marker);

// <Tags><member><Key>k</Key><Value>v</Value></member>...</Tags> in the order of
// `tags`: a map, or a sequence of pairs or of {key, value} structs.
template <typename Tags>
void WriteTags(XmlWriter& x, const Tags& tags) {
  x.Open("Tags");
  for (const auto& [key, value] : tags) {
    x.Open("member").Element("Key", key).Element("Value", value).Close("member");
  }
  x.Close("Tags");
}

// kInvalidArgument/"ValidationError" in AWS's words for one failed constraint:
// "1 validation error detected: Value 'v' at 'member' failed to satisfy constraint: c".
Error ValidationError(std::string_view member, std::string_view value, std::string_view constraint);
// ValidationError with "Member must satisfy enum value set: [set]".
Error EnumValueError(std::string_view member, std::string_view value, std::string_view set);

// Tags.member.N.Key / Tags.member.N.Value as a map (a repeated key: the later wins).
// A member without Key or Value is "ValidationError" ("Value null at 'tags.N.member'").
Result<std::map<std::string, std::string>> DecodeTagMap(const QueryParams& params);

// What a handler gets.
struct QueryCall {
  const QueryParams& params;
  const iam::Principal& principal;
  std::string_view request_id;
  std::string_view source_ip;
  TimePoint now;
};

struct QueryOperation {
  using Resource = std::function<std::string(const QueryParams&, const iam::Principal&)>;
  using Handler = std::function<Status(const QueryCall&, XmlWriter& result)>;

  std::string name;  // "CreateUser"
  bool read_only = false;
  // false only for operations that every authenticated caller may call
  // (sts:GetCallerIdentity) or that authorize themselves (sts:AssumeRole checks the
  // trust policy and the caller's identity policy together).
  bool authorize = true;
  // The ARN the operation acts on, for authorization, computed from the raw
  // parameters (missing ones yield a placeholder; the handler then reports them).
  Resource resource;
  // Writes the inside of <{name}Result> (may write nothing). An error is mapped to
  // an AWS error response.
  Handler handler;
};

QueryOperation MakeOperation(std::string name, bool read_only, QueryOperation::Resource resource,
                             QueryOperation::Handler handler, bool authorize = true);

struct QueryService {
  std::string signing_name;   // SigV4 service name: "iam", "sts"
  std::string action_prefix;  // policy action prefix: "iam", "sts"
  std::string xmlns;          // "https://iam.amazonaws.com/doc/2010-05-08/"
  std::string version;        // "2010-05-08"
  std::vector<QueryOperation> operations;
};

}  // namespace kw::api
