// Starting a worker process without copying baton's page tables.
//
// libuv's uv_spawn (1.44) fork()s: the kernel copies baton's page tables,
// and the child takes copy-on-write faults until it execs. On these virtual
// machines that alone cost about 5 ms per worker, on baton's loop, and on
// the CPU the serving workers share. posix_spawn (glibc: clone with
// CLONE_VM | CLONE_VFORK) shares the memory until exec instead.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "baton/status.h"

namespace baton {

struct SpawnRequest {
  std::string file;                // what to exec
  std::vector<std::string> argv;   // argv[0] included
  std::vector<std::string> env;    // NAME=value
  // Become fds 0, 1, 2 and 3 in the child (-1: fd 0 inherited, 1 to 3 as
  // they are); everything else of ours is close-on-exec.
  int stdin_fd = -1, stdout_fd = -1, stderr_fd = -1, channel_fd = -1;
};

// Spawns in a session of its own (setsid), every signal at its default
// disposition and none blocked. Returns the pid, or the
// exec's own error (ENOENT, EACCES, ...), reported before it returns.
Result<pid_t> spawn_process(const SpawnRequest& request);

// baton's own environment, for a helper child (the handover check, a stack capture).
std::vector<std::string> current_environment();
// A waitpid() status in words: "exited 3", "was killed by signal 9".
std::string describe_wait_status(int status);

}  // namespace baton
