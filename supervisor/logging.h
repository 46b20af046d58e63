// baton's logs go to stderr through spdlog, as text (coloured on a terminal)
// or as one JSON object per line for log shippers.
#pragma once

#include <string>
#include <string_view>

#include "options.h"

namespace baton {

void setup_logging(const std::string& level, LogFormat format);

// JSON string escaping for log fields (exposed for tests). Bytes that are
// not valid UTF-8 become U+FFFD, so every line stays valid JSON.
std::string json_escape(std::string_view s);

// Text a worker controls (its output, its ERROR message), made safe for one
// log line: control characters become \n, \t, \xNN; invalid UTF-8 becomes \xNN.
std::string printable(std::string_view s);

// The length of the valid UTF-8 sequence at the start of `s`, 0 if invalid.
std::size_t utf8_sequence_length(std::string_view s);

}  // namespace baton
