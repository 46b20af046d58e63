// Reading /proc/PID/stat: a process's state letter and parent. The supervisor
// uses it to find orphaned zombies; tests use it to check for leaks.
#pragma once

#include <sys/types.h>

#include <optional>
#include <vector>

namespace baton {

struct ProcStat {
  char state = '?';  // R, S, D, Z, ...
  pid_t ppid = 0;
};

std::optional<ProcStat> read_proc_stat(pid_t pid);
// Every process whose parent is `parent`, zombies included.
std::vector<pid_t> children_of(pid_t parent);

}  // namespace baton
