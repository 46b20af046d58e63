#include "logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <optional>

#include "duration.h"

namespace baton {
namespace {

LogFormat g_format = LogFormat::kText;

// Digits at the start of `s`, consumed; nullopt if none.
std::optional<std::uint64_t> take_number(std::string_view& s) {
  std::size_t n = 0;
  std::uint64_t value = 0;
  while (n < s.size() && n < 19 && s[n] >= '0' && s[n] <= '9') value = value * 10 + static_cast<unsigned>(s[n++] - '0');
  if (n == 0) return std::nullopt;
  s.remove_prefix(n);
  return value;
}

bool take(std::string_view& s, std::string_view word) {
  if (s.substr(0, word.size()) != word) return false;
  s.remove_prefix(word.size());
  return true;
}

}  // namespace

std::optional<WorkerRef> find_worker_ref(std::string_view line) {
  for (std::size_t at = line.find("worker "); at != std::string_view::npos; at = line.find("worker ", at + 1)) {
    std::string_view s = line.substr(at + 7);
    auto generation = take_number(s);
    if (!generation || !take(s, ".")) continue;
    auto index = take_number(s);
    if (!index || !take(s, " (pid ")) continue;
    auto pid = take_number(s);
    if (!pid || !take(s, ")")) continue;
    return WorkerRef{*generation, static_cast<std::uint32_t>(*index), static_cast<long>(*pid), at,
                     line.size() - s.size() - at};
  }
  return std::nullopt;
}

namespace {

// The JSON fields a line's words imply: generation/worker/worker_pid for a
// line about a worker, generation for one about a generation. A worker's
// output line ("WORKER: text") loses its prefix, which the fields carry.
std::string structured_fields(std::string_view& payload, std::string_view logger) {
  const bool output = logger == "stdout" || logger == "stderr";
  std::string fields;
  if (auto ref = find_worker_ref(payload)) {
    fields = ",\"generation\":" + std::to_string(ref->generation) + ",\"worker\":" + std::to_string(ref->index) +
             ",\"worker_pid\":" + std::to_string(ref->pid);
    if (output && ref->at == 0 && payload.substr(ref->length, 2) == ": ") payload.remove_prefix(ref->length + 2);
  } else if (auto at = payload.find("generation "); at != std::string_view::npos) {
    std::string_view s = payload.substr(at + 11);
    if (auto g = take_number(s)) fields = ",\"generation\":" + std::to_string(*g);
  }
  if (output) fields += ",\"stream\":\"" + std::string(logger) + "\"";
  return fields;
}

// {"time":"2026-11-21T08:00:00.123Z","level":"info","pid":1,["generation":2,...,]"msg":"..."}
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    auto level = spdlog::level::to_string_view(msg.level);
    std::string_view payload(msg.payload.data(), msg.payload.size());
    const std::string fields =
        structured_fields(payload, std::string_view(msg.logger_name.data(), msg.logger_name.size()));
    std::string line = "{\"time\":\"" + utc_timestamp(msg.time) + "\",\"level\":\"" +
                       std::string(level.data(), level.size()) + "\",\"pid\":" + std::to_string(::getpid()) +
                       fields + ",\"msg\":\"" + json_escape(payload) + "\"}\n";
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

}  // namespace

std::size_t utf8_sequence_length(std::string_view s) {
  const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  if (s.empty()) return 0;
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  std::size_t n = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
  if (n == 0 || s.size() < n) return 0;
  for (std::size_t i = 1; i < n; ++i)
    if ((b(i) & 0xC0) != 0x80) return 0;
  // No overlong forms, no surrogates, nothing above U+10FFFF.
  if ((c == 0xE0 && b(1) < 0xA0) || (c == 0xED && b(1) > 0x9F) || (c == 0xF0 && b(1) < 0x90) ||
      (c == 0xF4 && b(1) > 0x8F))
    return 0;
  return n;
}

namespace {

// Walks `s`, handing each valid UTF-8 sequence (or one bad byte, as 0
// length) to `emit`.
template <class Emit> std::string escape_with(std::string_view s, Emit&& emit) {
  std::string out;
  out.reserve(s.size() + 8);
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = utf8_sequence_length(s.substr(i));
    emit(out, s.substr(i, n == 0 ? 1 : n), n != 0);
    i += n == 0 ? 1 : n;
  }
  return out;
}

void append_hex(std::string& out, const char* format, unsigned char c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, format, c);
  out += buf;
}

}  // namespace

std::string json_escape(std::string_view s) {
  return escape_with(s, [](std::string& out, std::string_view seq, bool valid) {
    const auto c = static_cast<unsigned char>(seq[0]);
    if (!valid) out += "\\ufffd";
    else if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7F) append_hex(out, "\\u%04x", c);
    else out += seq;
  });
}

std::string printable(std::string_view s) {
  return escape_with(s, [](std::string& out, std::string_view seq, bool valid) {
    const auto c = static_cast<unsigned char>(seq[0]);
    if (!valid || c == 0x7F) append_hex(out, "\\x%02x", c);
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20) append_hex(out, "\\x%02x", c);
    else out += seq;
  });
}

void setup_logging(const std::string& level, LogFormat format) {
  g_format = format;
  auto logger = spdlog::stderr_color_mt("baton");
  // Workers' output goes through loggers of its own, on the same sink, so
  // that a JSON line can say which stream it came from.
  for (const char* stream : {"stdout", "stderr"}) {
    auto relay = std::make_shared<spdlog::logger>(stream, logger->sinks().begin(), logger->sinks().end());
    spdlog::register_logger(relay);
  }
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& l) {
    if (format == LogFormat::kJson) l->set_formatter(std::make_unique<JsonFormatter>());
    else l->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ baton[%P] %v");
    l->set_level(spdlog::level::from_str(level));
    // Every line reaches the terminal or journal at once: a supervisor's last
    // words before a crash or SIGKILL are the ones that matter.
    l->flush_on(spdlog::level::trace);
  });
  spdlog::set_default_logger(logger);
}

std::shared_ptr<spdlog::logger> worker_output_logger(const char* stream) {
  auto logger = spdlog::get(stream);
  return logger ? logger : spdlog::default_logger();  // setup_logging() not called (unit tests)
}

void log_worker_output(spdlog::logger& logger, const std::string& who, std::string_view line) {
  // JSON escapes any byte itself; text needs printable() to keep one line per line.
  if (g_format == LogFormat::kJson) logger.info("{}: {}", who, line);
  else logger.info("{}: {}", who, printable(line));
}

}  // namespace baton
