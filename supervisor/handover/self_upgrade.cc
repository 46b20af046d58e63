#include "self_upgrade.h"

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>

#include "executable_watch.h"

namespace baton {
namespace {

void set_cloexec(const std::vector<int>& fds, bool on) {
  for (int fd : fds) ::fcntl(fd, F_SETFD, on ? FD_CLOEXEC : 0);
}

// The old baton's sockets and facts, added to the supervisor's table.
void add_sockets(HandoverTable& t, const Setup& setup) {
  for (const auto& l : setup.listeners) t.listeners.push_back({l.spec().to_string(), l.fd(), l.owns_path()});
  t.control = setup.control->handover_socket();
  if (setup.metrics) t.metrics = setup.metrics->handover_socket();
  if (setup.notifier) t.notify_socket = setup.notifier->path();
  const auto& facts = setup.control->facts();
  t.written_by = BATON_VERSION;
  t.self_upgrades = facts.self_upgrades + 1;
  t.uptime_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - facts.started).count();
}

}  // namespace

SelfUpgrade::SelfUpgrade(uv_loop_t* loop, Supervisor& supervisor, const Setup& setup)
    : loop_(loop), supervisor_(supervisor), setup_(setup) {}

SelfUpgrade::~SelfUpgrade() = default;

// The table as it stands: the supervisor's, the sockets, what is carried.
Result<UniqueFd> SelfUpgrade::table_now(HandoverTable* written) const {
  auto table = supervisor_.handover_table();
  if (!table) return table.status();
  add_sockets(*table, setup_);
  table->config_text = setup_.config_text;
  if (setup_.watch) table->watch = setup_.watch->handover();
  table->exec_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  auto fd = write_handover(*table);
  if (fd && written) *written = std::move(table.value());
  return fd;
}

void SelfUpgrade::request(Answer answer, Refused refused) {
  if (check_) return refused("a self-upgrade is being checked already; wait for its answer");
  if (std::string why = supervisor_.cannot_hand_over(); !why.empty()) return refused("not now: " + why);
  auto table = table_now();
  if (!table) return refused(table.status().message());
  const std::vector<std::string> args(setup_.self.argv.begin() + 1, setup_.self.argv.end());
  auto check = HandoverCheck::start(loop_, setup_.self.path, args, table->get(), kHandoverCheckDeadline,
                                    [this](const Status& st) { checked(st); });
  if (!check) return refused(check.status().message());
  check_ = std::move(check.value());
  answer_ = std::move(answer);
  refused_ = std::move(refused);
  spdlog::info("self-upgrade: checking that {} can take over (pid {}); baton serves on meanwhile",
               setup_.self.path, check_->pid());
}

void SelfUpgrade::checked(const Status& st) {
  check_.reset();
  Refused refused = std::move(refused_);
  Answer answer = std::move(answer_);
  if (!st) return refused(st.message());
  refused(hand_over(answer));  // returns only if there was no exec
}

// The exec, from the state of this moment; returns why it did not happen.
std::string SelfUpgrade::hand_over(const Answer& answer) {
  if (std::string why = supervisor_.cannot_hand_over(); !why.empty()) return "not now: " + why;
  HandoverTable table;
  auto fd = table_now(&table);
  if (!fd) return fd.status().message();
  return exec_with_handover(setup_.self, table, fd->get(), [&] {
           spdlog::info("self-upgrade: {} takes over in place (pid {}), with {} fds", setup_.self.path, ::getpid(),
                        table.fds().size());
           answer();
         }).message();
}

Status exec_with_handover(const SelfImage& self, const HandoverTable& table, int table_fd,
                          const std::function<void()>& last_words) {
  // From here a SIGHUP or SIGTERM stays pending (the mask and pending
  // signals survive execve; handlers do not) instead of killing baton.
  sigset_t before;
  ::sigprocmask(SIG_BLOCK, &self.handled_signals, &before);
  std::vector<int> fds = table.fds();
  fds.push_back(table_fd);
  set_cloexec(fds, false);
  ::setenv(kHandoverEnv, std::to_string(table_fd).c_str(), 1);
  if (!table.notify_socket.empty()) ::setenv("NOTIFY_SOCKET", table.notify_socket.c_str(), 1);
  last_words();
  spdlog::default_logger()->flush();
  std::vector<char*> args;
  for (const auto& a : self.argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execv(self.path.c_str(), args.data());
  const int err = errno;
  ::unsetenv(kHandoverEnv);
  ::unsetenv("NOTIFY_SOCKET");
  set_cloexec(fds, true);
  ::sigprocmask(SIG_SETMASK, &before, nullptr);
  return Status::from_errno(err, "exec " + self.path);
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

void log_takeover(const HandoverTable& t) {
  std::size_t workers = 0;
  for (const auto& g : t.generations)
    for (const auto& s : g.slots) workers += s.worker ? 1 : 0;
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  spdlog::info("took over in place from baton {} (self-upgrade {}): {} generations, {} workers; baton's own loop "
               "paused {} ms (exec, takeover); the workers served throughout",
               t.written_by, t.self_upgrades, t.generations.size(), workers, now_ms - t.exec_at_ms);
}

}  // namespace baton
