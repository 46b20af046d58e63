#include "startup_cost.h"

#include <spdlog/fmt/fmt.h>
#include <unistd.h>

namespace baton {

SchedTimes loop_sched_times() { return read_sched_times(::getpid()).value_or(SchedTimes{}); }

std::string describe_startup_cost(const SchedTimes& loop_at_request, const std::vector<pid_t>& workers) {
  const SchedTimes loop = loop_sched_times();
  SchedTimes theirs;  // since fork: they did not exist at the request
  for (pid_t pid : workers) {
    auto t = read_sched_times(pid);
    if (!t) continue;
    theirs.on_cpu += t->on_cpu;
    theirs.waiting += t->waiting;
  }
  auto ms = [](std::chrono::nanoseconds d) { return std::chrono::duration<double, std::milli>(d).count(); };
  return fmt::format("baton's loop: CPU {:.3f} ms, waited {:.3f} ms; new workers: CPU {:.3f} ms, waited {:.3f} ms",
                     ms(loop.on_cpu - loop_at_request.on_cpu), ms(loop.waiting - loop_at_request.waiting),
                     ms(theirs.on_cpu), ms(theirs.waiting));
}

}  // namespace baton
