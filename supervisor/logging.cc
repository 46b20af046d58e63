#include "logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>

namespace baton {
namespace {

// {"time":"2026-11-21T08:00:00.123Z","level":"info","pid":1,"msg":"..."}
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    using namespace std::chrono;
    auto t = system_clock::to_time_t(msg.time);
    auto ms = duration_cast<milliseconds>(msg.time.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char stamp[64];
    std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
    auto level = spdlog::level::to_string_view(msg.level);
    std::string line = std::string("{\"time\":\"") + stamp + "\",\"level\":\"" +
                       std::string(level.data(), level.size()) + "\",\"pid\":" +
                       std::to_string(::getpid()) + ",\"msg\":\"" +
                       json_escape(std::string_view(msg.payload.data(), msg.payload.size())) + "\"}\n";
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
  auto logger = spdlog::stderr_color_mt("baton");
  if (format == LogFormat::kJson) {
    logger->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ baton[%P] %v");
  }
  logger->set_level(spdlog::level::from_str(level));
  // Every line reaches the terminal or journal at once: a supervisor's last
  // words before a crash or SIGKILL are the ones that matter.
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

}  // namespace baton
