#include "worker_process.h"

#include <spdlog/spdlog.h>
#include <sys/wait.h>

#include <csignal>
#include <cstring>

#include "duration.h"
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

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

const char* state_name(WorkerState s) {
  switch (s) {
    case WorkerState::kStarting: return "starting";
    case WorkerState::kWelcomed: return "welcomed";
    case WorkerState::kStandby: return "standing by";
    case WorkerState::kHandingOff: return "handing off";
    case WorkerState::kSent: return "sent its state";
    case WorkerState::kRestored: return "restored";
    case WorkerState::kParking: return "parking";
    case WorkerState::kParked: return "parked";
    case WorkerState::kReady: return "ready";
    case WorkerState::kDraining: return "draining";
    case WorkerState::kExited: return "exited";
  }
  return "?";
}

std::string WorkerExit::describe() const {
  std::string how = signal != 0 ? std::string("killed by SIG") + sigabbrev_np(signal)
                                : "exited with status " + std::to_string(status);
  return rejected.empty() ? how : rejected + " (" + how + ")";
}

WorkerProcess::WorkerProcess(uv_loop_t* loop, WorkerConfig config, const std::vector<BoundListener>& listeners,
                             WorkerEvents& events)
    : config_(std::move(config)),
      listeners_(listeners),
      events_(events),
      started_at_(std::chrono::steady_clock::now()),
      deadline_(loop) {}

Result<std::unique_ptr<WorkerProcess>> WorkerProcess::spawn(uv_loop_t* loop, WorkerConfig config,
                                                            const std::vector<BoundListener>& listeners,
                                                            OutputRelays& relays, WorkerEvents& events,
                                                            const WorkerIdentity* identity) {
  auto executable = config.executable.empty() ? resolve_executable(config.command[0])
                                               : Result<std::string>(config.executable);
  if (!executable) return executable.status().with_hint(exec_error_hint(executable.status().error_number()));
  auto ends = Channel::make_pair();
  if (!ends) return ends.status();
  auto out = relays.create();
  if (!out) return out.status();
  auto err = relays.create();
  if (!err) {
    relays.discard(*out);
    return err.status();
  }
  std::unique_ptr<WorkerProcess> w(new WorkerProcess(loop, std::move(config), listeners, events));
  const WorkerConfig& c = w->config_;
  Channel worker_end = std::move(ends->second);
  w->channel_ = std::move(ends->first);
  if (int rc = w->exec(loop, *executable, worker_end.fd(), **out, **err, identity); rc != 0) {
    relays.discard(*out);
    relays.discard(*err);
    return Status::from_errno(-rc, "start worker " + c.command[0]).with_hint(exec_error_hint(-rc));
  }
  // worker_end closes as it goes out of scope: the child holds the only copy,
  // so its exit shows up as EOF on our end.
  w->pid_ = w->process_.get()->pid;
  w->name_ = "worker " + std::to_string(c.generation) + "." + std::to_string(c.index) + " (pid " +
             std::to_string(w->pid_) + ")";
  (*out)->start(w->name_, "stdout");
  (*err)->start(w->name_, "stderr");

  if (Status st = w->start_watching(loop); !st) return st.with_context(w->name_ + ": watching its channel");
  return w;
}

int WorkerProcess::exec(uv_loop_t* loop, const std::string& executable, int channel_fd, OutputRelay& out,
                        OutputRelay& err, const WorkerIdentity* identity) {
  std::vector<std::string> argv_storage =
      identity ? exec_as_argv(*identity, executable, config_.command) : config_.command;
  std::vector<std::string> env_storage = worker_environment(config_);
  auto argv = c_strings(argv_storage);
  auto env = c_strings(env_storage);
  uv_stdio_container_t stdio[4];
  stdio[0].flags = UV_INHERIT_FD;
  stdio[0].data.fd = 0;
  // stdout and stderr are pipes baton reads (output_relay.h).
  for (auto [i, relay] : {std::pair{1, &out}, std::pair{2, &err}}) {
    stdio[i].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
    stdio[i].data.stream = relay->stream();
  }
  // libuv dup2()s this onto fd 3 in the child and clears its close-on-exec
  // flag; every other fd of ours is close-on-exec and stays behind.
  stdio[3].flags = UV_INHERIT_FD;
  stdio[3].data.fd = channel_fd;

  uv_process_options_t opts{};
  opts.exit_cb = &WorkerProcess::on_process_exit;
  // argv[0] stays as given; with --user, baton itself runs first and execs the worker in place.
  opts.file = identity ? "/proc/self/exe" : executable.c_str();
  opts.args = argv.data();
  opts.env = env.data();
  opts.stdio_count = 4;
  opts.stdio = stdio;
  // setsid(): the worker leads a process group of its own, so what it leaves
  // behind can be ended by group at stop (left_behind.h), and a terminal's
  // Ctrl-C reaches baton alone, which drains its workers.
  opts.flags = UV_PROCESS_DETACHED;
  process_.get()->data = this;
  int rc = uv_spawn(loop, process_.get(), &opts);
  process_.mark_initialized();  // even a failed uv_spawn wants uv_close()
  return rc;
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
  // Normal flow destroys a worker only after libuv reaped it. Anything else is
  // a bug or a shutdown path: make sure no child outlives us unreaped.
  if (pid_ > 0 && state_ != State::kExited) {
    ::kill(pid_, SIGKILL);
    int status;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

void WorkerProcess::on_process_exit(uv_process_t* process, std::int64_t status, int signal) {
  if (auto* self = static_cast<WorkerProcess*>(process->data)) self->exited(status, signal);
}

void WorkerProcess::exited(std::int64_t status, int signal) {
  state_ = State::kExited;
  deadline_.stop();
  poll_.close();
  process_.close();
  exit_poll_.close();
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
    return events_.on_standby(*this);
  }
  auto ready = m.as<Ready>();
  if (!ready) return reject("protocol error: " + ready.status().message());
  state_ = State::kReady;
  deadline_.stop();
  events_.on_ready(*this);
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
  // An adopted worker is still our child, unreaped: its pid cannot be reused.
  int rc = pidfd_ ? (::kill(pid_, signal) == 0 ? 0 : -errno) : uv_process_kill(process_.get(), signal);
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

}  // namespace baton
