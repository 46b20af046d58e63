#include "left_behind.h"

#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>

#include "baton/uv_handle.h"
#include "orphan_reaper.h"

namespace baton {
namespace {

bool group_alive(pid_t group) { return ::kill(-group, 0) == 0 || errno == EPERM; }

// Every worker is gone by now: any zombie child is a leftover.
void reap_all() {
  int status;
  while (reap_one_orphan([](pid_t) { return false; }, &status) > 0) {
  }
}

}  // namespace

void LeftBehind::add_group(pid_t worker_pid) {
  // Groups of workers long gone are forgotten as we go, so 1,000 upgrades
  // leave a short list. The scan runs when the list has doubled since the
  // last one: O(1) per spawn, even with hundreds of live workers.
  if (groups_.size() >= prune_at_) {
    forget_gone();
    prune_at_ = std::max<std::size_t>(64, 2 * groups_.size());
  }
  groups_.push_back(worker_pid);
}

void LeftBehind::forget_gone() {
  std::erase_if(groups_, [](pid_t g) { return !group_alive(g); });
}

bool LeftBehind::done() {
  reap_all();
  forget_gone();
  if (!groups_.empty()) return false;
  siginfo_t info{};
  return ::getpid() != 1 || (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0 && errno == ECHILD);
}

void LeftBehind::signal_all(int signum) {
  for (pid_t g : groups_) ::kill(-g, signum);
  if (::getpid() == 1) ::kill(-1, signum);
}

void LeftBehind::end_all(uv_loop_t* loop, std::chrono::milliseconds kill_timeout) {
  if (done()) return;
  spdlog::info("{} process group(s) left behind by workers: SIGTERM, SIGKILL after {} ms", groups_.size(),
               kill_timeout.count());
  signal_all(SIGTERM);
  UvHandle<uv_signal_t> sigchld;
  // Only to wake the loop when one of them exits; done() reaps.
  if (sigchld.init(loop, uv_signal_init, nullptr)) uv_signal_start(sigchld.get(), [](uv_signal_t*, int) {}, SIGCHLD);
  Timer escalate(loop);
  bool expired = false;
  escalate.start(kill_timeout, [&] {
    spdlog::warn("process groups left behind still running after SIGTERM; sending SIGKILL");
    signal_all(SIGKILL);
    escalate.start(std::chrono::seconds(1), [&] { expired = true; });
  });
  while (!done() && !expired) uv_run(loop, UV_RUN_ONCE);
  if (!done()) spdlog::error("processes left behind by workers would not die (state D?); giving up on them");
}

}  // namespace baton
