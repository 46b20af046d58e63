#include "worker_process.h"

#include <spdlog/spdlog.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
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
                             const OutputRelays& relays, FlowInboxes& steering, WorkerEvents& events)
    : loop_(loop),
      config_(std::move(config)),
      listeners_(listeners),
      relays_(relays),
      steering_(steering),
      events_(events),
      started_at_(std::chrono::steady_clock::now()),
      deadline_(loop),
      low_start_(loop),
      heartbeat_(loop) {
  stage_.standby = config_.standby;
}

Result<std::unique_ptr<WorkerProcess>> WorkerProcess::spawn(uv_loop_t* loop, WorkerConfig config,
                                                            const std::vector<BoundListener>& listeners,
                                                            OutputRelays& relays, FlowInboxes& steering,
                                                            WorkerEvents& events,
                                                            const WorkerIdentity* identity) {
  auto executable = config.executable.empty() ? resolve_executable(config.command[0])
                                               : Result<std::string>(config.executable);
  if (!executable) return executable.status().with_hint(exec_error_hint(executable.status().error_number()));
  auto ends = Channel::make_pair();
  if (!ends) return ends.status();
  auto out = output_pipe(), err = output_pipe();
  if (!out || !err) return (out ? err : out).status().with_context("pipe for a worker's output");
  std::unique_ptr<WorkerProcess> w(new WorkerProcess(loop, std::move(config), listeners, relays, steering, events));
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
  if (pid_ > 0 && stage_.state != State::kExited) ChildExit::kill_and_reap(pid_);
  steering_.leave(*this);
}

void WorkerProcess::exited(std::int64_t status, int signal) {
  stage_.state = State::kExited;
  deadline_.stop();
  low_start_.stop();
  heartbeat_.stop();
  poll_.close();
  exit_.stop();
  steering_.leave(*this);
  // The owner may destroy *this here: nothing touches it afterwards.
  events_.on_exit(*this, WorkerExit{status, signal, rejected_, hang_, std::move(kept_)});
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
  while (stage_.state != State::kExited && rejected_.empty()) {
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
  using worker_protocol::Reaction;
  if (!m.fds.empty() || m.fds_lost)
    return reject("protocol error: " + message_type_name(static_cast<std::uint16_t>(m.type)) + " carried " +
                  (m.fds_lost ? "more" : std::to_string(m.fds.size())) +
                  " fds; workers never send fds (they were closed)");
  const auto reply = worker_protocol::on_message(stage_, m.type);
  switch (reply.reaction) {
    case Reaction::kIgnored:
      stage_ = reply.next;
      return spdlog::debug("{}: {}; ignored", name_, reply.why);
    case Reaction::kProtocolError: return reject(reply.why);
    case Reaction::kFailed: {
      auto e = m.as<Error>();
      return reject(e ? "reported an error: " + printable(e->message) : "protocol error: " + e.status().message());
    }
    case Reaction::kWelcome: return on_hello(m, reply.next);
    case Reaction::kFeatures: return on_features(m, reply.next);
    case Reaction::kUnhealthy: {
      auto u = m.as<Unhealthy>();
      if (!u) return reject("protocol error: " + u.status().message());
      return events_.on_unhealthy(*this, printable(u->reason));
    }
    case Reaction::kClients: {
      auto c = m.as<Clients>();
      if (!c) return reject("protocol error: " + c.status().message());
      reported_clients_ = c->count;
      return;
    }
    case Reaction::kAlive: {
      auto pong = m.as<Pong>();
      if (!pong) return reject("protocol error: " + pong.status().message());
      if (last_pong_ == 0) spdlog::debug("{} answers heartbeats (--hang-timeout {})", name_,
                                         format_duration(config_.hang_timeout));
      last_pong_ = pong->sequence;
      last_alive_ = std::chrono::steady_clock::now();
      return;
    }
    case Reaction::kStandingBy:
    case Reaction::kReady: return on_started(m, reply);
    case Reaction::kParked:
    case Reaction::kCannotPark: return on_park_reply(m, reply);
    case Reaction::kPrecopied:
    case Reaction::kSent:
    case Reaction::kRestored:
    case Reaction::kRefused: return on_handoff_reply(m, reply);
  }
}

void WorkerProcess::on_hello(const Envelope& m, const worker_protocol::Stage& next) {
  hello_at_ = std::chrono::steady_clock::now();
  auto hello = m.as<Hello>();
  if (!hello) return reject("protocol error: " + hello.status().message() + " (first message must be HELLO)");
  if (hello->protocol_version != kProtocolVersion)
    return reject("speaks protocol " + std::to_string(hello->protocol_version) + ", baton speaks " +
                  std::to_string(kProtocolVersion) + "; rebuild it against this libbaton");
  if (hello->pid != static_cast<std::uint32_t>(pid_))
    spdlog::warn("{}: HELLO says pid {}; signals go to {} (a wrapper script should exec the worker)", name_,
                 hello->pid, pid_);
  Welcome welcome{config_.generation, config_.index, {},
                  kWelcomeFeatures | kWelcomeTakesClients | (config_.standby ? kWelcomeStandby : 0u) |
                      (steering_.enabled() ? kWelcomeSteers : 0u)};
  std::vector<int> fds;
  for (const auto& l : listeners_) {
    welcome.listeners.push_back({l.spec().name, l.spec().url()});
    fds.push_back(l.fd());
  }
  if (Status st = channel_.send(welcome, fds); !st) return reject("sending WELCOME: " + st.message());
  stage_ = next;
  spdlog::debug("{}: HELLO from \"{}\", sent WELCOME with {} listener(s)", name_, hello->worker_name, fds.size());
}

// READY, or in a handoff upgrade STANDBY with the state versions it loads.
void WorkerProcess::on_started(const Envelope& m, const worker_protocol::Reply& reply) {
  const bool standby = reply.reaction == worker_protocol::Reaction::kStandingBy;
  if (standby) {
    auto body = m.as<Standby>();
    if (!body) return reject("protocol error: " + body.status().message());
    state_versions_ = std::move(body->state_versions);
  } else if (auto body = m.as<Ready>(); !body) {
    return reject("protocol error: " + body.status().message());
  }
  stage_ = reply.next;
  deadline_.stop();
  log_start_up(standby ? "STANDBY" : "READY");
  start_heartbeat();
  if (standby) return events_.on_standby(*this);
  pass_inherited();
  events_.on_ready(*this);
}

// Started: back to full priority if READY; where the start-up's time went, on baton's clock (reload_cost reads it).
void WorkerProcess::log_start_up(const char* said) {
  if (stage_.state == State::kReady) end_low_start();  // a standby one waits for its pause (worker_handle.h)
  auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  spdlog::debug("{}: fork+exec {:.3f} ms, HELLO {:.3f} ms after exec, {} {:.3f} ms after HELLO", name_,
                ms(exec_done_at_ - started_at_), ms(hello_at_ - exec_done_at_), said,
                ms(std::chrono::steady_clock::now() - hello_at_));
}

void WorkerProcess::on_features(const Envelope& m, const worker_protocol::Stage& next) {
  auto f = m.as<Features>();
  if (!f) return reject("protocol error: " + f.status().message());
  features_ = f->flags;
  stage_ = next;
  stage_.heartbeat = (f->flags & kFeatureAnswersPing) != 0;
  stage_.serves_inherited = (f->flags & kFeatureServesInherited) != 0;
  spdlog::debug("{}: FEATURES {:#x}", name_, f->flags);
  if (f->flags & kFeatureSteersFlows) join_steering();
}

void WorkerProcess::join_steering() {
  Status st = steering_.enabled() ? steering_.join(*this, config_.generation, config_.index, config_.standby)
                                  : Status::error("--udp-steering is off, or there is no UDP listener");
  if (st) return spdlog::debug("{}: steers UDP flows ({} inboxes)", name_, steering_.inboxes());
  spdlog::warn("{}: its UDP flows are not steered: {}", name_, st.message());
  send_steer(Steer{}, {});  // no tag: the worker serves whatever it reads, as without steering
}

void WorkerProcess::send_steer(const Steer& message, std::span<const int> fds) {
  if (stage_.state == State::kExited) return;
  // A worker told to go may no longer read: its channel's buffer holds what it misses.
  if (Status st = channel_.send(message, fds); !st) spdlog::debug("{}: STEER not sent: {}", name_, st.message());
}

void WorkerProcess::send_signal(int signal) {
  if (stage_.state == State::kExited) return;
  // Still our child, unreaped (the pidfd's watch reaps it): its pid cannot be reused.
  int rc = ::kill(pid_, signal) == 0 ? 0 : -errno;
  if (rc != 0 && rc != UV_ESRCH) spdlog::error("{}: kill(SIG{}): {}", name_, sigabbrev_np(signal), uv_strerror(rc));
}

void WorkerProcess::set_due(std::chrono::milliseconds in, Due action, std::function<void()> fire) {
  due_ = action;
  deadline_.start(in, [this, fire = std::move(fire)] {
    due_ = Due::kNothing;
    fire();
  });
}

std::optional<WorkerHandle::PendingSignal> WorkerProcess::pending_signal() const {
  if (!deadline_.active() || due_ == Due::kNothing) return std::nullopt;
  return PendingSignal{due_ == Due::kSigterm ? SIGTERM : SIGKILL, deadline_.due_in()};
}

void WorkerProcess::terminate_after(std::chrono::milliseconds grace, const char* what) {
  set_due(grace, Due::kSigterm, [this, grace, what] {
    spdlog::warn("{} still running {} after {}; sending SIGTERM", name_, format_duration(grace), what);
    send_signal(SIGTERM);
    escalate_to_kill();
  });
}

void WorkerProcess::escalate_to_kill() {
  set_due(config_.kill_timeout, Due::kSigkill, [this] {
    spdlog::warn("{} still running {} after SIGTERM; sending SIGKILL", name_, format_duration(config_.kill_timeout));
    send_signal(SIGKILL);
  });
}

void WorkerProcess::drain(std::chrono::milliseconds drain_timeout) {
  if (Status st = carry_out(worker_protocol::Command::kDrain, {.grace = drain_timeout}); !st) {
    spdlog::warn("{}: could not send DRAIN ({}); sending SIGTERM", name_, st.message());
    terminate();
  }
}

void WorkerProcess::terminate() { (void)carry_out(worker_protocol::Command::kTerminate, {}); }

void WorkerProcess::reject(const std::string& reason) {
  if (stage_.state == State::kExited || !rejected_.empty()) return;
  spdlog::error("{} rejected: {}; killing it", name_, reason);
  kill_now(reason);
}

void WorkerProcess::abandon(const std::string& reason) {
  if (stage_.state == State::kExited || !rejected_.empty()) return;
  spdlog::debug("{}: {}; killing it", name_, reason);
  kill_now(reason);
}

void WorkerProcess::kill_now(const std::string& reason) {
  rejected_ = reason;
  uv_poll_stop(poll_.get());
  deadline_.stop();
  heartbeat_.stop();
  send_signal(SIGKILL);
}

namespace {
bool has_udp_listener(const std::vector<BoundListener>& listeners) {
  return std::any_of(listeners.begin(), listeners.end(),
                     [](const BoundListener& l) { return l.spec().kind == ListenerKind::kUdp; });
}
}  // namespace

ProcessLauncher::ProcessLauncher(uv_loop_t* loop, const std::vector<BoundListener>& listeners,
                                 std::optional<WorkerIdentity> identity, bool udp_steering)
    : loop_(loop),
      listeners_(listeners),
      identity_(std::move(identity)),
      may_start_low_(can_restore_priority()),
      relays_(loop),
      steering_(udp_steering && has_udp_listener(listeners)) {}

Result<std::unique_ptr<WorkerHandle>> ProcessLauncher::launch(WorkerConfig config, WorkerEvents& events) {
  auto w = WorkerProcess::spawn(loop_, std::move(config), listeners_, relays_, steering_, events,
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
