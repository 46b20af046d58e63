// Reading /proc/PID/stat: a process's state letter and parent. The supervisor
// uses it to find orphaned zombies; tests use it to check for leaks. And
// /proc/PID/schedstat: how long a process has run and waited for a CPU.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <vector>

namespace baton {

struct ProcStat {
  char state = '?';  // R, S, D, Z, ...
  pid_t ppid = 0;
};

std::optional<ProcStat> read_proc_stat(pid_t pid);

struct SchedTimes {
  std::chrono::nanoseconds on_cpu{0};
  std::chrono::nanoseconds waiting{0};  // runnable, but another task had the CPU
};
// Over the process's life so far (its main thread); nullopt where the kernel
// keeps no such figures (CONFIG_SCHED_INFO off) or the process is gone.
std::optional<SchedTimes> read_sched_times(pid_t pid);
// Every process whose parent is `parent`, zombies included.
std::vector<pid_t> children_of(pid_t parent);

}  // namespace baton
