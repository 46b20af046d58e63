#include "startup_cost.h"

#include <spdlog/spdlog.h>

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

void StartupCost::upgrade_started(const UpgradeRecord&) {
  if (spdlog::should_log(spdlog::level::debug)) loop_at_request_ = loop_sched_times();
}

// On a busy CPU, how much of the start-up was work and how much waiting.
void StartupCost::candidate_started(const UpgradeRecord& upgrade, const std::vector<pid_t>& workers) {
  if (!spdlog::should_log(spdlog::level::debug)) return;
  spdlog::debug("upgrade to generation {}: its workers started {:.3f} ms after the request; {}", upgrade.candidate,
                std::chrono::duration<double, std::milli>(upgrade.duration()).count(),
                describe_startup_cost(loop_at_request_, workers));
}

}  // namespace baton
