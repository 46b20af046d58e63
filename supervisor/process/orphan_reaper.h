// OrphanReaper: baton as PID 1 or child subreaper.
//
// A worker's own children that outlive it are re-parented to baton (as a
// container's PID 1, or because baton sets PR_SET_CHILD_SUBREAPER). Workers
// (and the self-upgrade check) are reaped by whoever watches their pidfd, so
// on every SIGCHLD this reaps the other zombie children. It peeks with waitid(WNOWAIT) and never reads
// /proc: a zombie that is a worker is left to its WorkerProcess (which
// reaps it through a pidfd), and the peek is tried again once it has.
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <functional>

#include "baton/uv_handle.h"

namespace baton {

class OrphanReaper {
 public:
  // `is_worker(pid)` says which children are workers (reaped by their WorkerProcess); they are left alone.
  OrphanReaper(uv_loop_t* loop, std::function<bool(pid_t)> is_worker);
  OrphanReaper(const OrphanReaper&) = delete;
  OrphanReaper& operator=(const OrphanReaper&) = delete;

  // Reaps every zombie child that is not a worker; returns how many.
  int reap();

 private:
  std::function<bool(pid_t)> is_worker_;
  UvHandle<uv_signal_t> sigchld_;
  Timer retry_;  // after a worker's zombie blocked the peek
};

// Reaps one zombie child that `is_worker` does not claim, without waiting.
// Returns its pid, 0 if there is none (or the next one is a worker's), -1 on error.
pid_t reap_one_orphan(const std::function<bool(pid_t)>& is_worker, int* status);

// Makes orphaned descendants re-parent to this process (no-op as PID 1).
void become_subreaper();

}  // namespace baton
