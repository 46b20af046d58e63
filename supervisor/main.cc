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
#include <cstdio>
#include <cstring>
#include <optional>

#include "early_signals.h"
#include "client_commands.h"
#include "control_server.h"
#include "executable_watch.h"
#include "handover_check.h"
#include "logging.h"
#include "metrics.h"
#include "metrics_server.h"
#include "command_line.h"
#include "orphan_reaper.h"
#include "probation_check.h"
#include "self_upgrade.h"
#include "startup_cost.h"
#include "service_setup.h"
#include "supervisor.h"
#include "systemd_notify.h"
#include "worker_executable.h"
#include "worker_identity.h"
#include "worker_process.h"

namespace {

using baton::SelfImage;
using baton::Setup;

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

// baton as a process: SIGPIPE ignored (a closed stderr must not kill the
// supervisor; the spawn gives workers default dispositions back), logging, the
// fd limit, inherited fds close-on-exec, and child subreaper (orphans of
// workers come to baton, which reaps them).
void prepare_process(const baton::Options& options) {
  std::signal(SIGPIPE, SIG_IGN);
  baton::setup_logging(options.log_level, options.log_format);
  raise_fd_limit();
  mark_inherited_fds_cloexec();
  baton::become_subreaper();
}

// Starts the control socket and the metrics on behalf of `supervisor`.
baton::Status serve_operation(Setup& setup, baton::Supervisor& supervisor, baton::Metrics* metrics) {
  if (baton::Status st = setup.control->serve(supervisor); !st) return st;
  if (!setup.metrics) return baton::Status::ok();
  return setup.metrics->serve({
      .metrics = [&supervisor, metrics] { return metrics->scrape(supervisor.report()); },
      .not_ready = [&] { return supervisor.not_ready_reason(); },
  });
}

// --watch: the worker's executable, resolved now as each spawn will resolve it.
std::unique_ptr<baton::ExecutableWatch> watch_executable(uv_loop_t* loop, const baton::Options& options,
                                                         Setup& setup, baton::Supervisor& supervisor,
                                                         baton::Status& st) {
  if (!options.watch || !st) return nullptr;
  auto path = baton::resolve_executable(options.command[0]);
  if (!path) {
    st = path.status();
    return nullptr;
  }
  auto watch = std::make_unique<baton::ExecutableWatch>(
      loop, *path, options.watch_settle, [&supervisor](const std::string& why) { supervisor.request_upgrade(why); });
  st = watch->start(setup.adopted ? setup.adopted->watch : std::nullopt);
  setup.watch = watch.get();
  return watch;
}

// --probation-check: asks the generation on probation, as a load balancer would.
std::unique_ptr<baton::ProbationCheck> probation_check(uv_loop_t* loop, const baton::Options& options, Setup& setup,
                                                       baton::Supervisor& supervisor, baton::Status& st) {
  if (options.probation_check.empty() || !st) return nullptr;
  std::vector<baton::ListenerSpec> specs;
  for (const auto& l : setup.listeners) specs.push_back(l.spec());
  auto target = baton::parse_health_target(options.probation_check, specs);
  if (!target) {
    st = target.status();
    return nullptr;
  }
  return std::make_unique<baton::ProbationCheck>(
      loop, *target, [&supervisor](std::uint64_t g, const std::string& why) { supervisor.report_unhealthy(g, why); });
}

// Runs the supervisor until every worker is gone; its exit code.
int supervise(uv_loop_t* loop, baton::Options options, Setup& setup, baton::ObserverList& observers,
              const sigset_t& handled) {
  using namespace baton;
  ProcessLauncher launcher(loop, setup.listeners, setup.identity, options.udp_steering);
  const auto kill_timeout = options.kill_timeout;
  std::optional<Metrics> metrics;  // only with --metrics
  if (setup.metrics) observers.add(&metrics.emplace());
  StartupCost startup_cost;
  observers.add(&startup_cost);
  observers.add(setup.control.get());
  Supervisor supervisor(loop, options, launcher, &observers);
  SelfUpgrade self_upgrade(loop, supervisor, setup);
  setup.control->on_self_upgrade(
      [&](SelfUpgrade::Answer answer, SelfUpgrade::Refused refused) { self_upgrade.request(answer, refused); });
  // Children that are neither workers nor the check are orphans of workers.
  OrphanReaper reaper(loop, [&](pid_t pid) { return supervisor.is_worker(pid) || self_upgrade.owns_child(pid); });
  Status st = serve_operation(setup, supervisor, metrics ? &*metrics : nullptr);
  auto watch = watch_executable(loop, options, setup, supervisor, st);
  observers.add(watch.get());
  auto check = probation_check(loop, options, setup, supervisor, st);
  observers.add(check.get());
  if (st) st = setup.adopted ? supervisor.adopt(*setup.adopted) : supervisor.start();
  if (st && setup.adopted) log_takeover(*setup.adopted);
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
  reaper.reap();  // whatever orphans exited last
  // Every worker has exited: end what they left behind, and log what is
  // still in their pipes.
  launcher.left_behind().end_all(loop, kill_timeout);
  launcher.relays().finish(std::chrono::seconds(1));
  return code;
}

// `baton run`; `handover`: what the previous baton handed over (upgrade --self).
int run(baton::ParsedCommand parsed, sigset_t handled, SelfImage self, std::optional<baton::HandoverTable> handover) {
  using namespace baton;
  Options& options = parsed.options;
  std::optional<WorkerIdentity> identity;
  if (!options.user.empty()) {
    auto who = resolve_identity(options.user, options.group);
    if (!who) {
      std::fprintf(stderr, "baton: --user: %s\n", who.status().message().c_str());
      return exit_code::kUsage;
    }
    identity = std::move(who.value());
  }
  // --forward-signal ones too, from here until their handlers are in place.
  for (int s : options.forward_signals) sigaddset(&handled, s);
  ::sigprocmask(SIG_BLOCK, &handled, nullptr);
  self.handled_signals = handled;
  prepare_process(options);
  uv_loop_t loop;
  uv_loop_init(&loop);
  int code = exit_code::kOk;
  {
    Setup setup;
    setup.identity = std::move(identity);
    setup.self = std::move(self);
    setup.adopted = std::move(handover);
    setup.config_text = std::move(parsed.config_text);
    code = open_setup(&loop, options, setup);
    if (code == exit_code::kOk) {
      // Before any worker starts: workers must not inherit NOTIFY_SOCKET.
      std::unique_ptr<SystemdNotifier> notifier = SystemdNotifier::from_environment();
      ObserverList observers;
      observers.add(notifier.get());
      setup.notifier = notifier.get();
      code = supervise(&loop, std::move(options), setup, observers, handled);
    }
    // Leaving this scope closes the control socket: `baton stop --wait` returns.
  }
  // Let the close callbacks of every handle run before the loop goes away.
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  spdlog::info("exit {}", code);
  return code;
}

// `baton check-config FILE`: parsed and checked already; the worker must exist.
int check_config(const baton::ParsedCommand& parsed) {
  const baton::Options& o = parsed.options;
  auto exe = baton::resolve_executable(o.command[0]);
  if (!exe) {
    std::fprintf(stderr, "baton: %s: command: %s\n", parsed.config_file.c_str(), exe.status().message().c_str());
    return baton::exit_code::kUsage;
  }
  std::printf("%s: ok\n  worker    %s (%s mode, %u per generation)\n", parsed.config_file.c_str(), exe->c_str(),
              o.mode == baton::UpgradeMode::kHandoff ? "handoff" : "drain", o.workers);
  for (const auto& l : o.listeners) std::printf("  listener  %s\n", l.to_string().c_str());
  std::printf("  name      %s\n", o.name.c_str());
  if (o.metrics) std::printf("  metrics   %s\n", o.metrics->url().c_str());
  return baton::exit_code::kOk;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace baton;
  // A worker on its way to its --user: before anything else (no signal mask to leave behind).
  if (argc > 1 && std::strcmp(argv[1], kExecAs) == 0) return exec_as_main(argc, argv);
  if (argc > 1 && std::strcmp(argv[1], kCheckHandover) == 0) return check_handover_main(argc, argv);
  // Blocked already before any library's constructors (early_signals.cc); this is the same set, again.
  const sigset_t handled = handled_signals();
  ::sigprocmask(SIG_BLOCK, &handled, nullptr);
  // After `baton upgrade --self`: the previous baton's table, which carries
  // the config file's text as it read it (the file may be gone since).
  auto handover = inherited_handover();
  if (handover && !*handover) {
    // The check before the exec read this same table: only a bug gets here.
    std::fprintf(stderr, "baton: cannot take over from the previous baton: %s\n", handover->status().message().c_str());
    return exit_code::kInternal;
  }
  std::optional<HandoverTable> adopted;
  if (handover) adopted = std::move(handover->value());
  ParsedCommand parsed = parse_command_line(argc, argv, adopted ? adopted->config_text : std::nullopt);
  if (parsed.command == Command::kRun)
    return run(std::move(parsed), handled, baton::self_image(argc, argv), std::move(adopted));
  if (!parsed.command) return parsed.exit_code;  // --help, --version, a mistake: a signal that came waits with them
  // Client commands keep the default signal actions: Ctrl-C ends a --wait.
  ::sigprocmask(SIG_UNBLOCK, &handled, nullptr);
  switch (*parsed.command) {
    case Command::kStatus: return run_status(parsed.client);
    case Command::kUpgrade: return run_upgrade(parsed.client);
    case Command::kStop: return run_stop(parsed.client);
    case Command::kCheckConfig: return check_config(parsed);
    case Command::kRun: break;
  }
  return exit_code::kInternal;
}
