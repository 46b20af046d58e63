// baton's logs go to stderr through spdlog, as text (coloured on a terminal)
// or as one JSON object per line for log shippers.
#pragma once

#include <spdlog/logger.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "options.h"

namespace baton {

// Text: "2026-11-23 08:00:00.123 info  baton[1] worker 2.0 (pid 7): ..."
// JSON: {"time":...,"level":...,"pid":1,"generation":2,"worker":0,"worker_pid":7,"msg":...}
// (generation, worker and worker_pid on every line about a worker; stream
// "stdout"/"stderr" on a worker's own output lines).
void setup_logging(const std::string& level, LogFormat format);

// The logger for what workers write to `stream` ("stdout" or "stderr"): the
// default logger's sink under that name. Look it up once per pipe.
std::shared_ptr<spdlog::logger> worker_output_logger(const char* stream);
// One line a worker wrote; `who` is its name.
void log_worker_output(spdlog::logger& logger, const std::string& who, std::string_view line);

// "worker 2.0 (pid 7)" found in a log line: what its JSON fields say.
struct WorkerRef {
  std::uint64_t generation = 0;
  std::uint32_t index = 0;
  long pid = 0;
  std::size_t at = 0, length = 0;  // where the words are in the line
};
std::optional<WorkerRef> find_worker_ref(std::string_view line);

// JSON string escaping for log fields (exposed for tests). Bytes that are
// not valid UTF-8 become U+FFFD, so every line stays valid JSON.
std::string json_escape(std::string_view s);

// Text a worker controls (its output, its ERROR message), made safe for one
// log line: control characters become \n, \t, \xNN; invalid UTF-8 becomes \xNN.
std::string printable(std::string_view s);

// The length of the valid UTF-8 sequence at the start of `s`, 0 if invalid.
std::size_t utf8_sequence_length(std::string_view s);

}  // namespace baton
