// baton's CPU time slice, and a worker's back to the kernel's default.
//
// Since Linux 6.12 (EEVDF) a task may ask for a shorter slice than the
// default (sched_attr.sched_runtime, 0.1 to 100 ms, no privilege needed).
// A runnable task with a short slice gets an earlier deadline, so the
// scheduler picks it ahead of one that has been running. baton works in
// bursts of tens of microseconds, and a process it spawns inherits its
// slice until exec. With the default slice, an upgrade's new process waited
// behind a busy serving worker on its CPU for up to a scheduler tick (4 ms
// at HZ=250) before it could exec: see tests/bench/RESULTS.md, reload_cost.
// The worker gets the default back as soon as it has exec'd, so its own
// scheduling is the application's, as before. Older kernels accept the
// call and ignore the slice.
#pragma once

#include <sys/types.h>

#include <chrono>

#include "baton/status.h"

namespace baton {

// Sets the calling process's slice; 0 gives it the kernel's default (a
// self-upgraded baton may have inherited another).
Status set_own_cpu_slice(std::chrono::microseconds slice);
// Gives `pid` the kernel's default slice, keeping its nice value.
void reset_cpu_slice(pid_t pid);

}  // namespace baton
