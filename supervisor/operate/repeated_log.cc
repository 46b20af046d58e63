#include "repeated_log.h"

#include "duration.h"

namespace baton {

RepeatedLog::RepeatedLog(uv_loop_t* loop, std::string kind, spdlog::level::level_enum level,
                         std::chrono::milliseconds interval)
    : kind_(std::move(kind)), level_(level), interval_(interval), timer_(loop) {
  timer_.let_loop_end();
}

// What was counted and not yet said is said now: baton is about to exit.
RepeatedLog::~RepeatedLog() { log_summary(); }

void RepeatedLog::log(const std::string& line) {
  if (timer_.active()) {
    ++suppressed_;
    ++suppressed_total_;
    return;
  }
  spdlog::log(level_, "{}", line);
  timer_.start(interval_, [this] { interval_ended(); });
}

// A burst goes on while each interval had more; a quiet interval ends it.
void RepeatedLog::interval_ended() {
  if (suppressed_ == 0) return;
  log_summary();
  timer_.start(interval_, [this] { interval_ended(); });
}

void RepeatedLog::log_summary() {
  if (suppressed_ == 0) return;
  spdlog::log(level_, "{}: {} more in the last {}", kind_, suppressed_, format_duration(interval_));
  suppressed_ = 0;
}

}  // namespace baton
