// WorkerProcess across `baton upgrade --self`: what the old baton writes
// about a worker into the handover table, and how the new one takes it over.
// The worker never notices: its channel, its output pipes and its parent
// (the same PID) stay; only the deadline timers start again from what was
// left of them.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>

#include "worker_executable.h"
#include "worker_process.h"

namespace baton {
namespace {

Result<WorkerState> adoptable_state(const std::string& name) {
  for (WorkerState s : {WorkerState::kReady, WorkerState::kDraining, WorkerState::kParked})
    if (name == state_name(s)) return s;
  return Status::error("a worker in state \"" + name + "\" cannot be taken over");
}

void set_cloexec(int fd) { ::fcntl(fd, F_SETFD, FD_CLOEXEC); }

// A pending escalation's word in the handover table.
constexpr const char* kDueSigterm = "sigterm";
constexpr const char* kDueSigkill = "sigkill";

}  // namespace

Result<HandoverWorker> WorkerProcess::handover() const {
  HandoverWorker h{.pid = pid_,
                   .channel_fd = channel_.fd(),
                   .out_fd = relays_.fd_of(name_, "stdout"),
                   .err_fd = relays_.fd_of(name_, "stderr"),
                   .state = state_name(stage_.state),
                   .uptime_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_at_).count(),
                   .handoff_sender = stage_.sender,
                   .state_versions = state_versions_,
                   .features = features_};
  if (deadline_.active() && due_ != Due::kNothing) {
    h.deadline = due_ == Due::kSigterm ? kDueSigterm : kDueSigkill;
    h.deadline_ms = deadline_.due_in().count();
  }
  return h;
}

Result<std::unique_ptr<WorkerProcess>> WorkerProcess::adopt(uv_loop_t* loop, WorkerConfig config,
                                                            const HandoverWorker& h,
                                                            const std::vector<BoundListener>& listeners,
                                                            OutputRelays& relays, FlowInboxes& steering,
                                                            WorkerEvents& events) {
  for (int fd : {h.channel_fd, h.out_fd, h.err_fd})
    if (fd >= 0) set_cloexec(fd);
  std::unique_ptr<WorkerProcess> w(new WorkerProcess(loop, std::move(config), listeners, relays, steering, events));
  // From here on, any failure below ends it: the destructor kills and reaps the pid.
  w->pid_ = h.pid;
  w->channel_ = Channel(UniqueFd(h.channel_fd));
  w->name_ = "worker " + std::to_string(w->config_.generation) + "." + std::to_string(w->config_.index) + " (pid " +
             std::to_string(h.pid) + ")";
  auto state = adoptable_state(h.state);
  if (!state) return state.status();
  w->stage_.state = *state;
  w->started_at_ = std::chrono::steady_clock::now() -
                   std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                       std::chrono::duration<double>(h.uptime_seconds));
  w->stage_.sender = h.handoff_sender;
  w->features_ = h.features;
  w->stage_.features_said = h.features != 0;
  w->stage_.heartbeat = (h.features & kFeatureAnswersPing) != 0;
  w->stage_.serves_inherited = (h.features & kFeatureServesInherited) != 0;
  w->state_versions_ = h.state_versions;
  for (auto [fd, stream] : {std::pair{h.out_fd, "stdout"}, std::pair{h.err_fd, "stderr"}}) {
    if (fd < 0) continue;  // its pipe had reached EOF
    if (auto relay = relays.adopt(fd)) (*relay)->start(w->name_, stream);
  }
  if (Status st = w->watch_exit_by_pidfd(loop); !st) return st.with_context(w->name_);
  if (Status st = w->poll_.init(loop, uv_poll_init, w.get(), w->channel_.fd()); !st) return st;
  uv_poll_start(w->poll_.get(), UV_READABLE | UV_DISCONNECT, &WorkerProcess::on_readable);
  w->start_heartbeat();
  const std::chrono::milliseconds left(h.deadline_ms);
  if (h.deadline == kDueSigterm) w->terminate_after(left, "its drain deadline");
  else if (h.deadline == kDueSigkill) w->set_due(left, Due::kSigkill, [p = w.get()] { p->send_signal(SIGKILL); });
  return w;
}

std::shared_ptr<const HeldFile> ProcessLauncher::adopt_held(UniqueFd fd, std::string path) {
  return HeldExecutable::adopt(std::move(fd), std::move(path));
}

Result<std::unique_ptr<WorkerHandle>> ProcessLauncher::adopt(WorkerConfig config, const HandoverWorker& worker,
                                                             WorkerEvents& events) {
  auto w = WorkerProcess::adopt(loop_, std::move(config), worker, listeners_, relays_, steering_, events);
  if (!w) return w.status();
  left_behind_.add_group(worker.pid);
  return std::unique_ptr<WorkerHandle>(std::move(w.value()));
}

}  // namespace baton
