#pragma once

// Which source addresses still sign requests with an access key, from CloudTrail
// LookupEvents (LookupAttributes AccessKeyId). An optional aid to verification where
// the caller may call LookupEvents: GetAccessKeyLastUsed says when and to which service
// a key was last used, not from where. Management events only, and CloudTrail delivers
// them minutes late, so an empty answer is "not seen", never proof of disuse.
// Thread-safe (stateless over a thread-safe QueryClient).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "awsclient/aws_client.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"

namespace kw::rotation::external {

inline constexpr awsclient::JsonTarget kCloudTrail{
    "cloudtrail", "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101"};

struct KeySource {
  std::string source_address;  // sourceIPAddress, or the AWS service that acted for it
  TimePoint last_seen;
  std::int64_t events = 0;
  std::string last_event;  // "GetCallerIdentity", ...
  std::string user_agent;  // of the latest event
};

// The sources of events signed with `access_key_id` from `since` to `until`, latest
// first, reading at most `max_pages` pages of 50 events (LookupEvents allows two calls a
// second per account; the client's pacing applies). Errors: those of LookupEvents
// (AccessDeniedException when the caller may not look events up).
Result<std::vector<KeySource>> LookupKeySources(const awsclient::QueryClient& cloudtrail,
                                                std::string_view access_key_id, TimePoint since,
                                                TimePoint until, int max_pages = 4);

}  // namespace kw::rotation::external
