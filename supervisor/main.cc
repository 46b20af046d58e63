// baton: parses the command line and wires the parts together; main() reads
// as a table of contents. The behaviour lives in Supervisor (supervisor.h)
// and WorkerProcess (worker_process.h).
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <linux/close_range.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <optional>

#include "baton/listener_socket.h"
#include "listener_setup.h"
#include "logging.h"
#include "options.h"
#include "orphan_reaper.h"
#include "pid_file.h"
#include "supervisor.h"
#include "systemd_notify.h"
#include "worker_process.h"

namespace {

// A supervisor and its workers may hold many connections and fds in flight:
// use all the headroom the hard limit allows.
void raise_fd_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur >= lim.rlim_max) return;
  rlim_t old = lim.rlim_cur;
  lim.rlim_cur = lim.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &lim) == 0)
    spdlog::debug("open-files limit raised from {} to {}", old, lim.rlim_cur);
  else
    spdlog::warn("could not raise the open-files limit from {}: {}", old, std::strerror(errno));
}

// Fds baton inherited (from a shell, a test harness, a service manager) must
// not leak into workers: from here on only the spawn code passes fds on.
void mark_inherited_fds_cloexec() {
  if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
    spdlog::warn("could not mark inherited fds close-on-exec: {}; workers may inherit them", std::strerror(errno));
}

int exit_code_for_spawn_error(const baton::Status& st) {
  switch (st.error_number()) {
    case ENOENT: return baton::exit_code::kNotFound;
    case EACCES:
    case EISDIR:
    case ENOEXEC: return baton::exit_code::kNotExecutable;
    default: return baton::exit_code::kWorkerFailed;
  }
}

// The signals baton acts on. Blocked from main's first line until their
// handlers are in place, so that one sent while baton starts (ExecReload
// right after start) waits, and becomes the queued upgrade, instead of
// killing it by its default action.
sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGHUP, SIGTERM, SIGINT, SIGQUIT}) sigaddset(&set, s);
  return set;
}

// baton as a process: SIGPIPE ignored (a closed stderr must not kill the
// supervisor; libuv gives workers default dispositions back), logging, the
// fd limit, inherited fds close-on-exec, and child subreaper (orphans of
// workers come to baton, which reaps them).
void prepare_process(const baton::Options& options) {
  std::signal(SIGPIPE, SIG_IGN);
  baton::setup_logging(options.log_level, options.log_format);
  raise_fd_limit();
  mark_inherited_fds_cloexec();
  baton::become_subreaper();
}

// The listeners, and the pid file if asked for; exit code kSetup on failure.
int open_setup(const baton::Options& options, std::vector<baton::BoundListener>& listeners,
               std::optional<baton::PidFile>& pid_file) {
  auto opened = baton::open_listeners(options.listeners);
  if (!opened) {
    spdlog::error("{}", opened.status().message());
    return baton::exit_code::kSetup;
  }
  listeners = std::move(opened.value());
  if (options.pid_file.empty()) return baton::exit_code::kOk;
  auto pf = baton::PidFile::create(options.pid_file);
  if (!pf) {
    spdlog::error("{}", pf.status().message());
    return baton::exit_code::kSetup;
  }
  pid_file.emplace(std::move(pf.value()));
  return baton::exit_code::kOk;
}

// Runs the supervisor until every worker is gone; its exit code.
int supervise(uv_loop_t* loop, baton::Options options, const std::vector<baton::BoundListener>& listeners,
              baton::SupervisorObserver* observer, const sigset_t& handled) {
  using namespace baton;
  ProcessLauncher launcher(loop, listeners);
  const auto kill_timeout = options.kill_timeout;
  Supervisor supervisor(loop, std::move(options), launcher, observer);
  Status st = supervisor.start();
  // Handlers are installed: what arrived meanwhile is delivered now.
  ::sigprocmask(SIG_UNBLOCK, &handled, nullptr);
  int code = exit_code::kOk;
  if (!st) {
    spdlog::error("{}", st.message());
    code = exit_code_for_spawn_error(st);
  } else {
    uv_run(loop, UV_RUN_DEFAULT);
    code = supervisor.exit_code();
  }
  // Every worker has exited: end what they left behind, and log what is
  // still in their pipes.
  launcher.left_behind().end_all(loop, kill_timeout);
  launcher.relays().finish(std::chrono::seconds(1));
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace baton;
  const sigset_t handled = handled_signals();
  ::sigprocmask(SIG_BLOCK, &handled, nullptr);
  ParsedOptions parsed = parse_options(argc, argv);
  if (!parsed.options) return parsed.exit_code;
  prepare_process(*parsed.options);

  std::vector<BoundListener> listeners;
  std::optional<PidFile> pid_file;
  if (int code = open_setup(*parsed.options, listeners, pid_file); code != exit_code::kOk) return code;
  // Before any worker starts: workers must not inherit NOTIFY_SOCKET.
  std::unique_ptr<SystemdNotifier> notifier = SystemdNotifier::from_environment();

  uv_loop_t loop;
  uv_loop_init(&loop);
  const int code = supervise(&loop, std::move(*parsed.options), listeners, notifier.get(), handled);
  // Let the close callbacks of every handle run before the loop goes away.
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  spdlog::info("exit {}", code);
  return code;
}
