// /proc/PID/schedstat: how long a process has run and waited for a CPU
// (startup_cost.h reads it for baton's loop and new workers).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>

namespace baton {

struct SchedTimes {
  std::chrono::nanoseconds on_cpu{0};
  std::chrono::nanoseconds waiting{0};  // runnable, but another task had the CPU
};
// Over the process's life so far (its main thread); nullopt where the kernel
// keeps no such figures (CONFIG_SCHED_INFO off) or the process is gone.
std::optional<SchedTimes> read_sched_times(pid_t pid);

}  // namespace baton
