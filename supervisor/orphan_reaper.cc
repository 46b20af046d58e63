#include "orphan_reaper.h"

#include "baton/proc_stat.h"

#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace baton {
namespace {

// Our children that are zombies.
std::vector<pid_t> zombie_children() {
  std::vector<pid_t> out;
  for (pid_t pid : children_of(::getpid())) {
    auto st = read_proc_stat(pid);
    if (st && st->state == 'Z') out.push_back(pid);
  }
  return out;
}

}  // namespace

OrphanReaper::OrphanReaper(uv_loop_t* loop, std::function<bool(pid_t)> is_worker)
    : is_worker_(std::move(is_worker)) {
  if (Status st = sigchld_.init(loop, uv_signal_init, this); !st) {
    spdlog::warn("cannot watch SIGCHLD ({}); orphans of workers are reaped only at stop", st.message());
    return;
  }
  uv_signal_start(sigchld_.get(), [](uv_signal_t* s, int) {
    if (auto* self = static_cast<OrphanReaper*>(s->data)) self->reap();
  }, SIGCHLD);
  // Not a reason to keep the loop alive: baton ends when its workers do.
  uv_unref(sigchld_.base());
}

int OrphanReaper::reap() {
  int reaped = 0;
  for (pid_t pid : zombie_children()) {
    if (is_worker_(pid)) continue;  // libuv's
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      ++reaped;
      spdlog::info("reaped orphan pid {} ({})", pid,
                   WIFSIGNALED(status) ? std::string("killed by SIG") + sigabbrev_np(WTERMSIG(status))
                                       : "exit status " + std::to_string(WEXITSTATUS(status)));
    }
  }
  return reaped;
}

void become_subreaper() {
  if (::getpid() == 1) return;  // PID 1 inherits orphans anyway
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
    spdlog::warn("could not become a child subreaper: {}; orphans of workers go to init", std::strerror(errno));
}

}  // namespace baton
