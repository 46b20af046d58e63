// Durations on the command line: "250ms", "10s", "2m", or a bare number of
// seconds; and times as log lines and `baton status` print them.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "baton/status.h"

namespace baton {

Result<std::chrono::milliseconds> parse_duration(std::string_view text);
std::string format_duration(std::chrono::milliseconds d);  // "1500ms", "10s"
// "2026-11-23T08:00:00.123Z"
std::string utc_timestamp(std::chrono::system_clock::time_point t);

}  // namespace baton
