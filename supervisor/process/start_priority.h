// With --start-nice N (default 19), a starting worker runs at a low CPU
// priority until it says READY or STANDBY, so that its start-up (exec,
// dynamic linking, its own initialization) cannot take the CPU from the
// workers serving beside it: tests/bench/reload_cost measures both ways (see
// tests/bench/RESULTS.md). For kLowStartLimit at most, so that a start-up
// on a saturated CPU is delayed by that much and never starved.
//
// Both the process's nice value and its autogroup's are set: each worker
// leads a session of its own, and with sched_autogroup the CPU is shared
// between sessions first. Raising a worker back to 0 needs CAP_SYS_NICE (or
// an RLIMIT_NICE that allows nice 0); without it, workers start at normal
// priority, as they would never get it back.
#pragma once

#include <sys/types.h>

#include <chrono>

namespace baton {

// The longest a worker starts at low priority: then it is raised anyway.
inline constexpr std::chrono::milliseconds kLowStartLimit{1000};

// Whether this baton may raise a worker back to nice 0.
bool can_restore_priority();
// Sets `pid`'s nice value and its autogroup's (where the kernel has them).
void set_start_nice(pid_t pid, int nice);

}  // namespace baton
