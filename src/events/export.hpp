#pragma once

// CloudTrail log files from the event log, for `keyward events export`: the records of
// a time range grouped by region and hour, each group one file `{"Records":[...]}`
// (oldest first) named as CloudTrail names its files:
//   AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/
//     ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHmmZ_UNIQUE.json.gz
// (the caller gzips the content). UNIQUE is 16 characters from a hash of the content,
// so exporting the same range twice gives the same files. Thread-safe (reads only).

#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/result.hpp"
#include "events/event_log.hpp"

namespace kw::events {

struct ExportFile {
  std::string relative_path;  // ends in .json.gz
  std::string json;           // uncompressed
  std::size_t records = 0;
};

Result<std::vector<ExportFile>> BuildExport(const EventLog& log, std::string_view account_id,
                                            TimePoint since, TimePoint until);

}  // namespace kw::events
