// RepeatedLog: one kind of log line that a client can make baton write in a
// flood (a refused or evicted connection, a bad request). The first line of
// a burst is logged as it is; while more keep coming, one summary line per
// interval counts them ("control socket: bad request: 12345 more in the last
// 10s"), so that no client can fill the journal or spend baton's CPU on it.
//
// Belongs to one loop; its timer never keeps that loop running.
#pragma once

#include <spdlog/spdlog.h>
#include <uv.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "baton/uv_handle.h"

namespace baton {

class RepeatedLog {
 public:
  // `kind` leads the summary line ("metrics: clients evicted").
  RepeatedLog(uv_loop_t* loop, std::string kind, spdlog::level::level_enum level = spdlog::level::warn,
              std::chrono::milliseconds interval = std::chrono::seconds(10));
  RepeatedLog(const RepeatedLog&) = delete;
  RepeatedLog& operator=(const RepeatedLog&) = delete;
  ~RepeatedLog();

  // Logs `line` if nothing of this kind was logged in the current interval;
  // counts it for the summary otherwise.
  void log(const std::string& line);
  // Lines counted and not logged, over the whole life (for tests and metrics).
  std::uint64_t suppressed_total() const { return suppressed_total_; }

 private:
  void interval_ended();
  void log_summary();

  std::string kind_;
  spdlog::level::level_enum level_;
  std::chrono::milliseconds interval_;
  Timer timer_;  // armed while an interval is open
  std::uint64_t suppressed_ = 0, suppressed_total_ = 0;
};

}  // namespace baton
