// baton's logs go to stderr through spdlog, as text (coloured on a terminal)
// or as one JSON object per line for log shippers.
#pragma once

#include <string>

#include "options.h"

namespace baton {

void setup_logging(const std::string& level, LogFormat format);

// JSON string escaping for log fields (exposed for tests).
std::string json_escape(std::string_view s);

}  // namespace baton
