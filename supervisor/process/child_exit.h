// ChildExit: the exit of one child process of baton (a worker, the
// self-upgrade check), seen on baton's loop through a pidfd and reaped there
// by its pid alone, so that its status is never taken by anyone else (the
// orphan reaper leaves such children alone).
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <functional>

#include "baton/status.h"
#include "baton/unique_fd.h"
#include "baton/uv_handle.h"

namespace baton {

class ChildExit {
 public:
  // The status as waitpid() gives it (WIFEXITED, WTERMSIG, ...).
  using Exited = std::function<void(int wait_status)>;

  // Watches `pid`, a child of this process; `exited` runs once, on the loop,
  // after it is reaped (and may destroy this).
  Status watch(uv_loop_t* loop, pid_t pid, Exited exited);
  // The pidfd watched (-1 before watch()): for pidfd_getfd while it lives.
  int pidfd() const { return pidfd_.get(); }
  // Stops watching; the process is left as it is.
  void stop();

  // For a child still unreaped when its owner goes (a shutdown path):
  // SIGKILL, then a blocking reap.
  static void kill_and_reap(pid_t pid);

 private:
  pid_t pid_ = -1;
  UniqueFd pidfd_;
  UvHandle<uv_poll_t> poll_;
  Exited exited_;
};

}  // namespace baton
