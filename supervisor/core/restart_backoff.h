// How long to wait before restarting a worker that crashed. Pure logic, no I/O.
//
// The first crash restarts at once-ish (initial delay); each further crash
// doubles the delay up to a cap. A worker that stayed up for `stable_after`
// has earned a clean slate.
#pragma once

#include <chrono>

namespace baton {

class RestartBackoff {
 public:
  using Clock = std::chrono::steady_clock;
  struct Config {
    std::chrono::milliseconds initial{100};
    std::chrono::milliseconds max{10'000};
    std::chrono::milliseconds stable_after{10'000};
  };

  RestartBackoff() = default;
  explicit RestartBackoff(Config config) : config_(config) {}

  // A worker that started at `started` crashed at `now`: the delay before the next start.
  std::chrono::milliseconds on_crash(Clock::time_point started, Clock::time_point now);
  // A restart could not even start the worker: one more failure in a row.
  std::chrono::milliseconds on_failed_start() { return next_delay(); }
  int consecutive_crashes() const { return crashes_; }

 private:
  std::chrono::milliseconds next_delay();

  Config config_;
  int crashes_ = 0;
};

}  // namespace baton
