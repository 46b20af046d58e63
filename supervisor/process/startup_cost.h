// Where an upgrade's start-up went, on baton's clock: from the request to the
// new workers' READY (or STANDBY), the CPU that baton's loop used, the CPU
// the new workers used (their spawn and their own start-up), and how long
// each waited for a CPU another process held. On a CPU shared with busy
// serving workers most of that wall time is waiting, not work; this line
// tells the two apart (tests/bench/reload_cost reads it). Debug level only:
// it reads /proc.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "sched_times.h"
#include "supervisor_observer.h"

namespace baton {

// baton's loop thread so far (zeros where the kernel keeps no figures).
SchedTimes loop_sched_times();

// "baton's loop: CPU 0.210 ms, waited 0.050 ms; new workers: CPU 2.100 ms, waited 3.000 ms"
std::string describe_startup_cost(const SchedTimes& loop_at_request, const std::vector<pid_t>& workers);

// The observer that logs it (debug level): the loop's figures at each
// upgrade's start, the line once its new workers have started.
class StartupCost final : public SupervisorObserver {
 public:
  void upgrade_started(const UpgradeRecord& upgrade) override;
  void candidate_started(const UpgradeRecord& upgrade, const std::vector<pid_t>& workers) override;

 private:
  SchedTimes loop_at_request_{};
};

}  // namespace baton
