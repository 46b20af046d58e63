#include "self_upgrade.h"

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

extern char** environ;

namespace baton {
namespace {

constexpr int kCheckTimeoutMs = 10'000;

// The checker's stdout until EOF or the deadline; false on timeout.
bool read_until_eof(int fd, std::string& out) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kCheckTimeoutMs);
  char buffer[512];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) == 0) return false;
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return true;
    if (out.size() < 4096) out.append(buffer, static_cast<std::size_t>(n));
  }
}

void set_cloexec(const std::vector<int>& fds, bool on) {
  for (int fd : fds) ::fcntl(fd, F_SETFD, on ? FD_CLOEXEC : 0);
}

}  // namespace

Status check_handover(const std::string& self_path, int table_fd) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return Status::from_errno(errno, "pipe for the handover check");
  UniqueFd read_end(out[0]), write_end(out[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, table_fd, 0);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), 1);
  char* argv[] = {const_cast<char*>(self_path.c_str()), const_cast<char*>(kCheckHandover), nullptr};
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, self_path.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return Status::from_errno(rc, "run " + self_path + " " + kCheckHandover);
  write_end.reset();
  std::string said;
  const bool finished = read_until_eof(read_end.get(), said);
  if (!finished) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!finished) return Status::error(self_path + " did not answer the handover check within 10 s");
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && said == std::string(kHandoverOk) + "\n") return Status::ok();
  return Status::error(self_path + " cannot take over (its " + kCheckHandover + " " +
                       (WIFEXITED(status) ? "exited " + std::to_string(WEXITSTATUS(status))
                                          : "was killed by signal " + std::to_string(WTERMSIG(status))) +
                       (said.empty() ? "" : " and said \"" + said.substr(0, 80) + "\"") +
                       "); is it a baton that reads handover table version " + std::to_string(kHandoverVersion) + "?");
}

Status exec_with_handover(const std::string& self_path, const std::vector<std::string>& argv,
                          const HandoverTable& table, int table_fd) {
  std::vector<int> fds = table.fds();
  fds.push_back(table_fd);
  set_cloexec(fds, false);
  ::setenv(kHandoverEnv, std::to_string(table_fd).c_str(), 1);
  if (!table.notify_socket.empty()) ::setenv("NOTIFY_SOCKET", table.notify_socket.c_str(), 1);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execv(self_path.c_str(), args.data());
  const int err = errno;
  ::unsetenv(kHandoverEnv);
  ::unsetenv("NOTIFY_SOCKET");
  set_cloexec(fds, true);
  return Status::from_errno(err, "exec " + self_path);
}

std::optional<Result<HandoverTable>> inherited_handover() {
  const char* text = std::getenv(kHandoverEnv);
  if (text == nullptr) return std::nullopt;
  const int fd = std::atoi(text);
  ::unsetenv(kHandoverEnv);
  auto table = read_handover(fd);
  ::close(fd);
  return table;
}

int check_handover_main() {
  auto table = read_handover(0);
  if (!table) {
    std::fprintf(stderr, "baton %s: %s\n", kCheckHandover, table.status().message().c_str());
    return 1;
  }
  std::printf("%s\n", kHandoverOk);
  return 0;
}

namespace {

// The old baton's sockets and facts, added to the supervisor's table.
void add_sockets(HandoverTable& t, const Setup& setup, const SystemdNotifier* notifier) {
  for (const auto& l : setup.listeners) t.listeners.push_back({l.spec().to_string(), l.fd(), l.owns_path()});
  t.control = setup.control->handover_socket();
  if (setup.metrics) t.metrics = setup.metrics->handover_socket();
  if (notifier) t.notify_socket = notifier->path();
  const auto& facts = setup.control->facts();
  t.written_by = BATON_VERSION;
  t.self_upgrades = facts.self_upgrades + 1;
  t.uptime_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - facts.started).count();
}

}  // namespace

// `baton upgrade --self`; returns only when it did not happen, and why.
std::string upgrade_self(Supervisor& supervisor, const Setup& setup, const std::function<void()>& answer) {
  const SelfImage& self = setup.self;
  if (std::string why = supervisor.cannot_hand_over(); !why.empty()) return "not now: " + why;
  auto table = supervisor.handover_table();
  if (!table) return table.status().message();
  add_sockets(*table, setup, setup.notifier);
  // baton's loop pauses from here (the check runs synchronously) until the new baton has taken over.
  table->exec_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  auto fd = write_handover(*table);
  if (!fd) return fd.status().message();
  if (Status st = check_handover(self.path, fd->get()); !st) return st.message();
  spdlog::info("self-upgrade: {} takes over in place (pid {}), with {} fds", self.path, ::getpid(),
               table->fds().size());
  answer();
  spdlog::default_logger()->flush();
  return exec_with_handover(self.path, self.argv, *table, fd->get()).message();
}

void log_takeover(const HandoverTable& t) {
  std::size_t workers = 0;
  for (const auto& g : t.generations)
    for (const auto& s : g.slots) workers += s.worker ? 1 : 0;
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  spdlog::info("took over in place from baton {} (self-upgrade {}): {} generations, {} workers; baton's own loop "
               "paused {} ms (check, exec, takeover); the workers served throughout",
               t.written_by, t.self_upgrades, t.generations.size(), workers, now_ms - t.exec_at_ms);
}

}  // namespace baton
