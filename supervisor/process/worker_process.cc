#include "worker_process.h"

#include <spdlog/spdlog.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>

#include "duration.h"
#include "process_spawn.h"
#include "start_priority.h"
#include "logging.h"
#include "worker_executable.h"

extern char** environ;

namespace baton {
namespace {

// The worker's environment: ours, minus any BATON_* we inherited, plus its identity.
std::vector<std::string> worker_environment(const WorkerConfig& c) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e)
    if (std::strncmp(*e, "BATON_", 6) != 0) env.emplace_back(*e);
  env.push_back("BATON_CHANNEL_FD=3");
  env.push_back("BATON_PROTOCOL=" + std::to_string(kProtocolVersion));
  env.push_back("BATON_GENERATION=" + std::to_string(c.generation));
  env.push_back("BATON_WORKER_INDEX=" + std::to_string(c.index));
  return env;
}

// A worker's stdout or stderr: it writes, baton's relay reads.
struct OutputPipe {
  UniqueFd read, write;
};
Result<OutputPipe> output_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Status::from_errno(errno, "pipe2");
  return OutputPipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

}  // namespace

WorkerProcess::WorkerProcess(uv_loop_t* loop, WorkerConfig config, const std::vector<BoundListener>& listeners,
                             const OutputRelays& relays, WorkerEvents& events)
    : config_(std::move(config)),
      listeners_(listeners),
      relays_(relays),
      events_(events),
      started_at_(std::chrono::steady_clock::now()),
      deadline_(loop),
      low_start_(loop) {}

Result<std::unique_ptr<WorkerProcess>> WorkerProcess::spawn(uv_loop_t* loop, WorkerConfig config,
                                                            const std::vector<BoundListener>& listeners,
                                                            OutputRelays& relays, WorkerEvents& events,
                                                            const WorkerIdentity* identity) {
  auto executable = config.executable.empty() ? resolve_executable(config.command[0])
                                               : Result<std::string>(config.executable);
  if (!executable) return executable.status().with_hint(exec_error_hint(executable.status().error_number()));
  auto ends = Channel::make_pair();
  if (!ends) return ends.status();
  auto out = output_pipe(), err = output_pipe();
  if (!out || !err) return (out ? err : out).status().with_context("pipe for a worker's output");
  std::unique_ptr<WorkerProcess> w(new WorkerProcess(loop, std::move(config), listeners, relays, events));
  const WorkerConfig& c = w->config_;
  w->channel_ = std::move(ends->first);
  // The child's ends (channel, pipes' write ends) close as they go out of
  // scope: the child holds the only copies, so its exit shows up as EOF.
  if (Status st = w->exec(*executable, ends->second.fd(), out->write.get(), err->write.get(), identity); !st)
    return Status::from_errno(st.error_number(), "start worker " + c.command[0])
        .with_hint(exec_error_hint(st.error_number()));
  w->exec_done_at_ = std::chrono::steady_clock::now();
  w->name_ = "worker " + std::to_string(c.generation) + "." + std::to_string(c.index) + " (pid " +
             std::to_string(w->pid_) + ")";
  if (c.start_nice > 0) w->start_low();
  for (auto [pipe, stream] : {std::pair{&*out, "stdout"}, std::pair{&*err, "stderr"}}) {
    auto relay = relays.adopt(pipe->read.release());
    if (relay) (*relay)->start(w->name_, stream);
    else spdlog::warn("{}: its {} is not logged: {}", w->name_, stream, relay.status().message());
  }
  if (Status st = w->watch_exit_by_pidfd(loop); !st) return st.with_context(w->name_);
  if (Status st = w->start_watching(loop); !st) return st.with_context(w->name_ + ": watching its channel");
  return w;
}

Status WorkerProcess::exec(const std::string& executable, int channel_fd, int out_fd, int err_fd,
                           const WorkerIdentity* identity) {
  // argv[0] stays as given; with --user, baton itself runs first and execs the worker in place.
  // setsid(): the worker leads a process group of its own, so what it leaves
  // behind can be ended by group at stop (left_behind.h), and a terminal's
  // Ctrl-C reaches baton alone, which drains its workers.
  SpawnRequest request{.file = identity ? "/proc/self/exe" : executable,
                       .argv = identity ? exec_as_argv(*identity, executable, config_.command) : config_.command,
                       .env = worker_environment(config_),
                       .stdout_fd = out_fd,
                       .stderr_fd = err_fd,
                       .channel_fd = channel_fd};
  auto pid = spawn_process(request);
  if (!pid) return pid.status();
  pid_ = *pid;
  return Status::ok();
}

// Low until READY or STANDBY, but for kLowStartLimit at most: on a CPU the
// serving workers keep busy, a start-up that needs more than that would be
// stretched toward the ready timeout, and the upgrade fail for it.
void WorkerProcess::start_low() {
  set_start_nice(pid_, config_.start_nice);
  low_start_.start(kLowStartLimit, [this] {
    set_start_nice(pid_, 0);  // first: the line says it is done
    spdlog::info("{}: still starting after {} at nice {}; back to normal priority", name_,
                 format_duration(kLowStartLimit), config_.start_nice);
  });
}

void WorkerProcess::end_low_start() {
  if (!low_start_.active()) return;
  low_start_.stop();
  set_start_nice(pid_, 0);
}

Status WorkerProcess::watch_exit_by_pidfd(uv_loop_t* loop) {
  return exit_.watch(loop, pid_, [this](int status) {
    exited(WIFEXITED(status) ? WEXITSTATUS(status) : 0, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  });
}

Status WorkerProcess::start_watching(uv_loop_t* loop) {
  if (Status st = poll_.init(loop, uv_poll_init, this, channel_.fd()); !st) return st;
  uv_poll_start(poll_.get(), UV_READABLE | UV_DISCONNECT, &WorkerProcess::on_readable);
  deadline_.start(config_.ready_timeout, [this] {
    reject("not READY within the ready timeout of " + format_duration(config_.ready_timeout));
  });
  return Status::ok();
}

WorkerProcess::~WorkerProcess() {
  // Normal flow destroys a worker only after its pidfd watch reaped it. Anything else is
  // a bug or a shutdown path: make sure no child outlives us unreaped.
  if (pid_ > 0 && state_ != State::kExited) ChildExit::kill_and_reap(pid_);
}

void WorkerProcess::exited(std::int64_t status, int signal) {
  state_ = State::kExited;
  deadline_.stop();
  low_start_.stop();
  poll_.close();
  exit_.stop();
  // The owner may destroy *this here: nothing touches it afterwards.
  events_.on_exit(*this, WorkerExit{status, signal, rejected_});
}

void WorkerProcess::on_readable(uv_poll_t* poll, int status, int /*events*/) {
  auto* self = static_cast<WorkerProcess*>(poll->data);
  if (self == nullptr) return;
  if (status < 0) {
    // libuv reports POLLERR as UV_EBADF. On our socket that means the worker
    // died with messages of ours unread; reading shows the EOF.
    uv_poll_stop(poll);
  }
  self->read_channel();
}

void WorkerProcess::read_channel() {
  // Drain the socket: several messages may be waiting behind one wakeup.
  while (state_ != State::kExited && rejected_.empty()) {
    auto r = channel_.receive();
    if (!r) {
      reject("protocol error: " + r.status().message());
      return;
    }
    if (r->outcome == Channel::Outcome::kWouldBlock) return;
    if (r->outcome == Channel::Outcome::kClosed) {
      // The exit callback follows and says how it ended (a worker that closed
      // its channel but lives on meets its ready or drain deadline instead).
      // Stop watching: EOF stays readable forever.
      uv_poll_stop(poll_.get());
      return;
    }
    handle(r->message);
  }
}

void WorkerProcess::handle(const Envelope& m) {
  const std::string got = message_type_name(static_cast<std::uint16_t>(m.type));
  if (!m.fds.empty() || m.fds_lost)
    return reject("protocol error: " + got + " carried " + (m.fds_lost ? "more" : std::to_string(m.fds.size())) +
                  " fds; workers never send fds (they were closed)");
  const bool handoff_reply =
      m.type == MessageType::kError || m.type == MessageType::kSent || m.type == MessageType::kRestored ||
      m.type == MessageType::kParked;
  if (handoff_reply && late_replies_ > 0) return ignore_late_handoff_reply(got);
  // Only news (the pause starts): one that crossed a RESUME or a stop says nothing any more.
  if (m.type == MessageType::kPrecopied && state_ != State::kHandingOff)
    return spdlog::debug("{}: PRECOPIED arrived after the handoff was called off; ignored", name_);
  if (state_ == State::kHandingOff) return on_handoff_reply(m);
  if (state_ == State::kParking) return on_park_reply(m);
  if (m.type == MessageType::kError) {
    auto e = m.as<Error>();
    return reject(e ? "reported an error: " + printable(e->message) : "protocol error: " + e.status().message());
  }
  if (state_ == State::kStarting) return on_hello(m);
  if (state_ == State::kWelcomed) return on_welcomed(m);
  reject("protocol error: unexpected " + got + " (" + state_name(state_) + ")");
}

void WorkerProcess::on_hello(const Envelope& m) {
  hello_at_ = std::chrono::steady_clock::now();
  auto hello = m.as<Hello>();
  if (!hello) return reject("protocol error: " + hello.status().message() + " (first message must be HELLO)");
  if (hello->protocol_version != kProtocolVersion)
    return reject("speaks protocol " + std::to_string(hello->protocol_version) + ", baton speaks " +
                  std::to_string(kProtocolVersion) + "; rebuild it against this libbaton");
  if (hello->pid != static_cast<std::uint32_t>(pid_))
    spdlog::warn("{}: HELLO says pid {}; signals go to {} (a wrapper script should exec the worker)", name_,
                 hello->pid, pid_);
  Welcome welcome{config_.generation, config_.index, {}, kWelcomeFeatures | (config_.standby ? kWelcomeStandby : 0u)};
  std::vector<int> fds;
  for (const auto& l : listeners_) {
    welcome.listeners.push_back({l.spec().name, l.spec().url()});
    fds.push_back(l.fd());
  }
  if (Status st = channel_.send(welcome, fds); !st) return reject("sending WELCOME: " + st.message());
  state_ = State::kWelcomed;
  spdlog::debug("{}: HELLO from \"{}\", sent WELCOME with {} listener(s)", name_, hello->worker_name, fds.size());
}

// WELCOME sent: READY, or in a handoff upgrade STANDBY; FEATURES may come first.
void WorkerProcess::on_welcomed(const Envelope& m) {
  if (m.type == MessageType::kFeatures) return on_features(m);
  if (config_.standby) {
    if (m.type == MessageType::kReady)
      return reject("said READY, but this is a handoff upgrade and it should say STANDBY; "
                    "it does not support handoff mode (run baton with --mode drain)");
    auto standby = m.as<Standby>();
    if (!standby) return reject("protocol error: " + standby.status().message());
    state_versions_ = std::move(standby->state_versions);
    state_ = State::kStandby;
    deadline_.stop();
    on_started_up("STANDBY");
    return events_.on_standby(*this);
  }
  auto ready = m.as<Ready>();
  if (!ready) return reject("protocol error: " + ready.status().message());
  state_ = State::kReady;
  deadline_.stop();
  on_started_up("READY");
  events_.on_ready(*this);
}

// Started: back to full priority if READY; where the start-up's time went, on baton's clock (reload_cost reads it).
void WorkerProcess::on_started_up(const char* said) {
  if (state_ == State::kReady) end_low_start();  // a standby one waits for its pause (worker_handle.h)
  auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  spdlog::debug("{}: fork+exec {:.3f} ms, HELLO {:.3f} ms after exec, {} {:.3f} ms after HELLO", name_,
                ms(exec_done_at_ - started_at_), ms(hello_at_ - exec_done_at_), said,
                ms(std::chrono::steady_clock::now() - hello_at_));
}

void WorkerProcess::on_features(const Envelope& m) {
  auto f = m.as<Features>();
  if (!f) return reject("protocol error: " + f.status().message());
  if (features_) return reject("protocol error: FEATURES twice (it comes once, before READY or STANDBY)");
  features_ = f->flags;
  spdlog::debug("{}: FEATURES {:#x}", name_, f->flags);
}

void WorkerProcess::send_signal(int signal) {
  if (state_ == State::kExited) return;
  // Still our child, unreaped (the pidfd's watch reaps it): its pid cannot be reused.
  int rc = ::kill(pid_, signal) == 0 ? 0 : -errno;
  if (rc != 0 && rc != UV_ESRCH) spdlog::error("{}: kill(SIG{}): {}", name_, sigabbrev_np(signal), uv_strerror(rc));
}

void WorkerProcess::set_due(std::chrono::milliseconds in, const char* action, std::function<void()> fire) {
  due_action_ = action;
  deadline_.start(in, [this, fire = std::move(fire)] {
    due_action_ = "";
    fire();
  });
}

void WorkerProcess::terminate_after(std::chrono::milliseconds grace, const char* what) {
  set_due(grace, "sigterm", [this, grace, what] {
    spdlog::warn("{} still running {} after {}; sending SIGTERM", name_, format_duration(grace), what);
    send_signal(SIGTERM);
    escalate_to_kill();
  });
}

void WorkerProcess::escalate_to_kill() {
  set_due(config_.kill_timeout, "sigkill", [this] {
    spdlog::warn("{} still running {} after SIGTERM; sending SIGKILL", name_, format_duration(config_.kill_timeout));
    send_signal(SIGKILL);
  });
}

void WorkerProcess::drain(std::chrono::milliseconds drain_timeout) {
  if (state_ == State::kExited || state_ == State::kDraining) return;
  // A parked worker serves nothing: it has nothing to drain.
  if (state_ == State::kParking || state_ == State::kParked) return commit(drain_timeout);
  resume();  // an old worker in the middle of a handoff serves again first
  if (state_ != State::kReady) return terminate();
  state_ = State::kDraining;
  if (Status st = channel_.send(Drain{static_cast<std::uint32_t>(drain_timeout.count())}); !st) {
    spdlog::warn("{}: could not send DRAIN ({}); sending SIGTERM", name_, st.message());
    send_signal(SIGTERM);
    return escalate_to_kill();
  }
  terminate_after(drain_timeout, "DRAIN");
}

void WorkerProcess::terminate() {
  if (state_ == State::kExited) return;
  // Stopped in the middle of a handoff: its SENT, RESTORED or ERROR may be on the way.
  expect_late_reply();
  state_ = State::kDraining;
  send_signal(SIGTERM);
  escalate_to_kill();
}

void WorkerProcess::reject(const std::string& reason) {
  if (state_ == State::kExited || !rejected_.empty()) return;
  spdlog::error("{} rejected: {}; killing it", name_, reason);
  kill_now(reason);
}

void WorkerProcess::abandon(const std::string& reason) {
  if (state_ == State::kExited || !rejected_.empty()) return;
  spdlog::debug("{}: {}; killing it", name_, reason);
  kill_now(reason);
}

void WorkerProcess::kill_now(const std::string& reason) {
  rejected_ = reason;
  uv_poll_stop(poll_.get());
  deadline_.stop();
  send_signal(SIGKILL);
}

Result<std::unique_ptr<WorkerHandle>> ProcessLauncher::launch(WorkerConfig config, WorkerEvents& events) {
  auto w = WorkerProcess::spawn(loop_, std::move(config), listeners_, relays_, events,
                                identity_ ? &*identity_ : nullptr);
  if (!w) return w.status();
  left_behind_.add_group((*w)->pid());
  return std::unique_ptr<WorkerHandle>(std::move(w.value()));
}

Result<std::shared_ptr<const HeldFile>> ProcessLauncher::hold(const std::string& command) {
  auto held = HeldExecutable::open(command);
  if (!held) return held.status();
  return std::shared_ptr<const HeldFile>(std::move(held.value()));
}

}  // namespace baton
