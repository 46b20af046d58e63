#include "orphan_reaper.h"

#include <dirent.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace baton {
namespace {

// Our children that are zombies, from /proc/PID/stat ("pid (comm) state ppid ...").
std::vector<pid_t> zombie_children() {
  std::vector<pid_t> out;
  const pid_t self = ::getpid();
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    std::ifstream in(std::string("/proc/") + e->d_name + "/stat");
    std::string line;
    if (!std::getline(in, line)) continue;
    auto close = line.rfind(')');  // the command may itself contain ')'
    if (close == std::string::npos || close + 4 >= line.size()) continue;
    char state = line[close + 2];
    long ppid = std::strtol(line.c_str() + close + 4, nullptr, 10);
    if (state == 'Z' && ppid == self) out.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(d);
  return out;
}

}  // namespace

OrphanReaper::OrphanReaper(uv_loop_t* loop, std::function<bool(pid_t)> is_worker)
    : is_worker_(std::move(is_worker)) {
  uv_signal_init(loop, sigchld_.get());
  sigchld_.mark_initialized();
  sigchld_.get()->data = this;
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
