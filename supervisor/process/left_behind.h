// LeftBehind: the processes workers leave behind, ended when baton stops.
//
// Each worker starts as the leader of its own process group (setsid, by
// posix_spawn: process_spawn.h), so whatever it starts and does not take along stays
// in that group. Once every worker has exited, baton sends SIGTERM to each
// group still alive, SIGKILL after --kill-timeout, and reaps them: what a
// PID 1 must do, with no /proc and no signal to a process it did not start.
// As PID 1 it also signals everyone else (kill(-1)): in a container, every
// process is baton's to end. One loop, one thread.
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <chrono>
#include <cstddef>
#include <vector>

namespace baton {

class LeftBehind {
 public:
  // A worker was started: its pid is its process group.
  void add_group(pid_t worker_pid);
  // For baton's exit, after every worker has exited: ends and reaps what is
  // left, running `loop` while it waits (at most kill_timeout plus a second).
  void end_all(uv_loop_t* loop, std::chrono::milliseconds kill_timeout);

 private:
  void signal_all(int signum);
  void forget_gone();
  bool done();  // every group gone (and, as PID 1, every child)

  std::vector<pid_t> groups_;
  std::size_t prune_at_ = 64;  // forget_gone() when the list reaches this
};

}  // namespace baton
