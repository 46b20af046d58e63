#include "process_spawn.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include "baton/unique_fd.h"

extern char** environ;

namespace baton {
namespace {

// posix_spawn's two option objects, destroyed however spawn_process returns.
struct SpawnOptions {
  SpawnOptions() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~SpawnOptions() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  SpawnOptions(const SpawnOptions&) = delete;
  SpawnOptions& operator=(const SpawnOptions&) = delete;
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
};

// A source fd for dup2 onto 0 to 3 must not be one of those: when baton
// was started with stdio closed, a pipe may have landed there, and one
// dup2 would overwrite another's source. `held` keeps any copy made.
int above_stdio(int fd, UniqueFd& held) {
  if (fd > 3 || fd < 0) return fd;
  held = UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 4));
  return held.get();
}

std::vector<char*> c_strings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  for (const auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace

Result<pid_t> spawn_process(const SpawnRequest& r) {
  SpawnOptions o;
  const int given[4] = {r.stdin_fd, r.stdout_fd, r.stderr_fd, r.channel_fd};
  UniqueFd held[4];
  for (int target = 0; target <= 3; ++target) {
    if (given[target] < 0) continue;
    const int source = above_stdio(given[target], held[target]);
    if (source < 0) return Status::from_errno(errno, "moving a child's fd above 3");
    posix_spawn_file_actions_adddup2(&o.actions, source, target);  // dup2 clears close-on-exec
  }
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);  // baton ignores SIGPIPE and handles others: the worker starts from the defaults
  posix_spawnattr_setsigmask(&o.attr, &none);
  posix_spawnattr_setsigdefault(&o.attr, &all);
  posix_spawnattr_setflags(&o.attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  auto argv = c_strings(r.argv);
  auto env = c_strings(r.env);
  if (int rc = ::posix_spawn(&pid, r.file.c_str(), &o.actions, &o.attr, argv.data(), env.data()); rc != 0)
    return Status::from_errno(rc, "spawn " + r.file);
  return pid;
}

std::vector<std::string> current_environment() {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  return env;
}

std::string describe_wait_status(int status) {
  return WIFEXITED(status) ? "exited " + std::to_string(WEXITSTATUS(status))
                           : "was killed by signal " + std::to_string(WTERMSIG(status));
}

}  // namespace baton
