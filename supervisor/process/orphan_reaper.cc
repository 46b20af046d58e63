#include "orphan_reaper.h"

#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <string>

namespace baton {
namespace {

// A worker is reaped when its pidfd turns readable, a loop turn away from
// our SIGCHLD: look again a moment later.
constexpr std::chrono::milliseconds kRetry{10};

std::string describe_status(int status) {
  return WIFSIGNALED(status) ? std::string("killed by SIG") + sigabbrev_np(WTERMSIG(status))
                             : "exit status " + std::to_string(WEXITSTATUS(status));
}

}  // namespace

pid_t reap_one_orphan(const std::function<bool(pid_t)>& is_worker, int* status) {
  siginfo_t info{};
  if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0) return errno == ECHILD ? 0 : -1;
  if (info.si_pid == 0 || is_worker(info.si_pid)) return 0;
  return ::waitpid(info.si_pid, status, WNOHANG) == info.si_pid ? info.si_pid : -1;
}

OrphanReaper::OrphanReaper(uv_loop_t* loop, std::function<bool(pid_t)> is_worker)
    : is_worker_(std::move(is_worker)), retry_(loop) {
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
  int status = 0;
  for (pid_t pid; (pid = reap_one_orphan(is_worker_, &status)) > 0; ++reaped)
    spdlog::info("reaped orphan pid {} ({})", pid, describe_status(status));
  // A worker's zombie may stand first in line: its WorkerProcess reaps it, then we go on.
  siginfo_t info{};
  if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid != 0)
    retry_.start(kRetry, [this] { reap(); });
  return reaped;
}

void become_subreaper() {
  if (::getpid() == 1) return;  // PID 1 inherits orphans anyway
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
    spdlog::warn("could not become a child subreaper: {}; orphans of workers go to init", std::strerror(errno));
}

}  // namespace baton
