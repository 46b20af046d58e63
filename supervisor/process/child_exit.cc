#include "child_exit.h"

#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

namespace baton {

Status ChildExit::watch(uv_loop_t* loop, pid_t pid, Exited exited) {
  pid_ = pid;
  exited_ = std::move(exited);
  pidfd_ = UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd_) return Status::from_errno(errno, "pidfd_open");
  if (Status st = poll_.init(loop, uv_poll_init, this, pidfd_.get()); !st) return st;
  // Readable once the process has exited.
  uv_poll_start(poll_.get(), UV_READABLE, [](uv_poll_t* poll, int, int) {
    auto* self = static_cast<ChildExit*>(poll->data);
    int status = 0;
    if (self == nullptr || ::waitpid(self->pid_, &status, WNOHANG) != self->pid_) return;
    self->stop();
    Exited exited = std::move(self->exited_);
    exited(status);  // last: it may destroy `self`
  });
  return Status::ok();
}

void ChildExit::stop() { poll_.close(); }

void ChildExit::kill_and_reap(pid_t pid) {
  ::kill(pid, SIGKILL);
  int status;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace baton
