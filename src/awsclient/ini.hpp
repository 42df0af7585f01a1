#pragma once

// A parser for the AWS shared config and credentials files (~/.aws/credentials,
// ~/.aws/config). It follows what botocore's configparser accepts, so a file that
// works with the AWS CLI works here: `[section]` headers, `key = value` or
// `key: value` lines, whole-line comments starting with '#' or ';', indented
// continuation lines (the nested `s3 =` style) appended to the previous value with
// '\n'. Keys are lower-cased like configparser does; values are trimmed and never
// contain inline comments (configparser keeps "a # b" as the value). Pure functions,
// thread-safe.

#include <map>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace kw::awsclient {

// section name -> key -> value. Section names keep their spelling ("profile dev").
using IniSections = std::map<std::string, std::map<std::string, std::string>, std::less<>>;

// kInvalidArgument naming the line on: a key before any section, a line that is
// neither header, key nor comment, an unterminated header, an empty key, a duplicate
// section or a duplicate key within a section (configparser's strict mode refuses
// those too, so the AWS CLI would not silently pick one either). Error messages
// quote the line number, never the line itself, because it may hold a secret.
Result<IniSections> ParseIni(std::string_view text);

}  // namespace kw::awsclient
