#include "support/command.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "baton/unique_fd.h"

namespace testing_support {
namespace {

// Reads both pipes until both are at EOF or the deadline passes.
bool drain(baton::UniqueFd& out_fd, baton::UniqueFd& err_fd, CommandResult& r,
           std::chrono::steady_clock::time_point deadline) {
  while (out_fd || err_fd) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p[2] = {{.fd = out_fd.get(), .events = POLLIN}, {.fd = err_fd.get(), .events = POLLIN}};
    if (::poll(p, 2, static_cast<int>(left.count())) < 0 && errno != EINTR) return false;
    for (int i = 0; i < 2; ++i) {
      if (p[i].fd < 0 || p[i].revents == 0) continue;
      char buf[4096];
      const ssize_t n = ::read(p[i].fd, buf, sizeof buf);
      if (n > 0) (i == 0 ? r.out : r.err).append(buf, static_cast<std::size_t>(n));
      else if (n == 0 || errno != EINTR) (i == 0 ? out_fd : err_fd).reset();
    }
  }
  return true;
}

}  // namespace

std::string CommandResult::describe() const {
  return "exit " + std::to_string(exit_code) + (timed_out ? " (timed out)" : "") + "\nstdout:\n" + out +
         "\nstderr:\n" + err;
}

CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  CommandResult r;
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return r;
  baton::UniqueFd out_read(out_pipe[0]), out_write(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return r;
  baton::UniqueFd err_read(err_pipe[0]), err_write(err_pipe[1]);
  std::vector<std::string> args = argv;
  std::vector<char*> cargv;
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return r;
  if (pid == 0) {
    const int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, 0);
    ::dup2(out_write.get(), 1);
    ::dup2(err_write.get(), 2);
    ::execvp(cargv[0], cargv.data());
    ::_exit(127);
  }
  out_write.reset();
  err_write.reset();
  r.timed_out = !drain(out_read, err_read, r, std::chrono::steady_clock::now() + timeout);
  if (r.timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

CommandResult run_baton(std::vector<std::string> args, std::chrono::milliseconds timeout) {
  args.insert(args.begin(), BATON_BIN);
  return run_command(args, timeout);
}

bool have_program(const std::string& program) {
  return run_command({"sh", "-c", "command -v " + program}, std::chrono::seconds(10)).exit_code == 0;
}

}  // namespace testing_support
