// WorkerProcess: one worker child, its end of the channel, and where it stands
// in the protocol (shared/PROTOCOL.md, "Message order"):
//
//   kStarting --HELLO/WELCOME--> kWelcomed --READY--> kReady --drain()--> kDraining
//
// and in handoff mode (worker_process_handoff.cc):
//
//   new: kWelcomed --STANDBY--> kStandby --HANDOFF--> kHandingOff --RESTORED--> kRestored --COMMIT--> kReady
//   old: kReady --HANDOFF--> kHandingOff --SENT--> kSent --COMMIT--> kDraining (exits)
//                  kHandingOff or kSent --RESUME (after a failure, or its own ERROR)--> kReady
//   old, --probation: kSent --PARK--> kParking --PARKED--> kParked --COMMIT--> kDraining (exits)
//                                                             kParked --RESUME (a rollback)--> kReady
//                            (kParking --RESUME: a rollback before PARKED came; PARKED crosses it)
//   serving, --hang-timeout: PING --> PONG (worker_process_heartbeat.cc); no PONG for the whole
//     timeout: hung, its stacks kept (stack_capture.h), then --hang-signal and SIGKILL
//
//   any state --process exit--> kExited
//
// What each message and command does where the worker stands is decided by
// worker_protocol.h, a pure table; this class carries it out (the channel,
// the pidfd, the timers, kill()).
//
// A worker that breaks the protocol, reports ERROR or misses its ready
// deadline is rejected: SIGKILL, and the reason is handed to on_exit. Every
// wait has a deadline: ready_timeout; drain_timeout then SIGTERM; kill_timeout
// then SIGKILL. The process is always reaped (its pidfd's watch, or the
// destructor as a last resort).
//
// Lives on the supervisor's loop thread. The owner may destroy it from
// on_exit (it is the last thing that callback touches).
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "baton/channel.h"
#include "baton/listener_socket.h"
#include "baton/status.h"
#include "baton/uv_handle.h"
#include "child_exit.h"
#include "left_behind.h"
#include "handover_table.h"
#include "output_relay.h"
#include "cgroup_memory.h"
#include "flow_inboxes.h"
#include "private_memory.h"
#include "stack_capture.h"
#include "start_priority.h"
#include "worker_handle.h"
#include "worker_identity.h"
#include "worker_protocol.h"

namespace baton {

class WorkerProcess final : public WorkerHandle, private SteerTarget {
 public:
  // Starts the worker. Fails (and nothing is left behind) when it cannot be
  // executed: missing, not executable, fork failure.
  // `identity`: run it as that user (--user), through `baton __exec-as`.
  static Result<std::unique_ptr<WorkerProcess>> spawn(uv_loop_t* loop, WorkerConfig config,
                                                      const std::vector<BoundListener>& listeners,
                                                      OutputRelays& relays, FlowInboxes& steering,
                                                      WorkerEvents& events, const WorkerIdentity* identity = nullptr);
  // A worker a previous baton started, taken over after `baton upgrade
  // --self` (worker_process_adopt.cc): its exit is watched through a pidfd.
  static Result<std::unique_ptr<WorkerProcess>> adopt(uv_loop_t* loop, WorkerConfig config,
                                                      const HandoverWorker& worker,
                                                      const std::vector<BoundListener>& listeners,
                                                      OutputRelays& relays, FlowInboxes& steering,
                                                      WorkerEvents& events);
  ~WorkerProcess() override;
  // What the next baton needs to adopt this worker; only ready, draining and parked ones can be.
  Result<HandoverWorker> handover() const override;
  std::optional<PendingSignal> pending_signal() const override;

  pid_t pid() const override { return pid_; }
  bool owns(pid_t p) const override { return p == pid_ || (capture_ && capture_->pid() == p); }
  WorkerState state() const override { return stage_.state; }
  std::chrono::steady_clock::time_point started_at() const override { return started_at_; }
  const std::string& name() const override { return name_; }
  std::uint64_t generation() const override { return config_.generation; }
  std::uint32_t index() const override { return config_.index; }

  void drain(std::chrono::milliseconds drain_timeout) override;
  void terminate() override;
  void end_low_start() override;
  void forward(int signum) override { send_signal(signum); }
  void reject(const std::string& reason) override;
  void abandon(const std::string& reason) override;

  const std::vector<std::uint32_t>& state_versions() const override { return state_versions_; }
  std::uint32_t features() const override { return features_; }
  Status begin_handoff(HandoffRole role, const Successor& successor, std::chrono::milliseconds timeout,
                       int link_fd) override;
  void commit(std::chrono::milliseconds drain_timeout) override;
  void resume() override;
  void park(std::chrono::milliseconds drain_timeout) override;
  std::optional<std::uint64_t> private_memory() const override { return private_memory_bytes(pid_); }
  std::optional<std::uint32_t> reported_clients() const override { return reported_clients_; }

 private:
  using State = WorkerState;
  WorkerProcess(uv_loop_t* loop, WorkerConfig config, const std::vector<BoundListener>& listeners,
                const OutputRelays& relays, FlowInboxes& steering, WorkerEvents& events);
  // Spawns the process with fds 0-3 in place (process_spawn.h); sets pid_.
  Status exec(const std::string& executable, int channel_fd, int out_fd, int err_fd, const WorkerIdentity* identity);
  Status start_watching(uv_loop_t* loop);
  void exited(std::int64_t status, int signal);
  Status watch_exit_by_pidfd(uv_loop_t* loop);
  static void on_readable(uv_poll_t* poll, int status, int events);
  void read_channel();
  // One message from the worker: worker_protocol::on_message() says what it means here.
  void handle(const Envelope& message);
  void on_hello(const Envelope& message, const worker_protocol::Stage& next);
  void on_features(const Envelope& message, const worker_protocol::Stage& next);
  // FEATURES_STEERS_FLOWS: the first STEER answers it (with no tag if baton cannot steer).
  void join_steering();
  void send_steer(const Steer& message, std::span<const int> fds) override;
  // READY or STANDBY.
  void on_started(const Envelope& message, const worker_protocol::Reply& reply);
  // READY (full CPU priority again) or STANDBY; the debug log gets its start-up timeline.
  void log_start_up(const char* said);
  void start_low();  // --start-nice
  void on_handoff_reply(const Envelope& message, const worker_protocol::Reply& reply);  // worker_process_handoff.cc
  void on_park_reply(const Envelope& message, const worker_protocol::Reply& reply);     // worker_process_handoff.cc

  // What a command's messages carry (worker_process_handoff.cc).
  struct Outgoing {
    std::chrono::milliseconds grace{0};  // DRAIN's deadline; for COMMIT to an old worker, its exit's
    const Successor* successor = nullptr;
    std::chrono::milliseconds handoff_timeout{0};
    int link_fd = -1;
    std::uint64_t ping = 0;  // PING's sequence
    KeptConnections* inherited = nullptr;  // INHERIT's connections
  };
  // Carries out a command as worker_protocol::on_command() orders it. An
  // error means a message could not be sent, and nothing changed.
  Status carry_out(worker_protocol::Command command, const Outgoing& out);
  Status send_message(MessageType type, const Outgoing& out);
  // --hang-timeout (worker_process_heartbeat.cc): PING every quarter of it
  // while serving; no PONG for the whole of it, and the worker is hung.
  void start_heartbeat();
  void beat();
  void declare_hung(std::chrono::steady_clock::duration silent);
  void end_hung(const std::string& evidence);  // after its stacks are kept (or could not be)
  void take_clients();  // a hung worker's, for its replacement (client_takeover.h)
  void pass_inherited();  // a hung predecessor's clients, once READY
  Status send_inherit(KeptConnections& connections);
  void send_signal(int signal);
  // After `grace` past `what` ("DRAIN", "COMMIT"): SIGTERM, then SIGKILL after kill_timeout.
  void terminate_after(std::chrono::milliseconds grace, const char* what);
  void escalate_to_kill();
  // What deadline_ does when it fires, remembered for a handover.
  enum class Due { kNothing, kSigterm, kSigkill };
  void set_due(std::chrono::milliseconds in, Due action, std::function<void()> fire);
  void kill_now(const std::string& reason);

  uv_loop_t* loop_;
  WorkerConfig config_;
  const std::vector<BoundListener>& listeners_;  // owned by the launcher, outlives workers
  const OutputRelays& relays_;                   // likewise: where its output pipes are read
  FlowInboxes& steering_;                       // likewise: the UDP flow inboxes
  WorkerEvents& events_;
  worker_protocol::Stage stage_;  // where it stands in the protocol
  pid_t pid_ = 0;
  std::string name_;
  std::string rejected_;
  std::chrono::steady_clock::time_point started_at_;  // spawn began
  // Its start-up on baton's clock, for the debug log's timeline: fork+exec
  // returned, HELLO arrived.
  std::chrono::steady_clock::time_point exec_done_at_, hello_at_;
  std::vector<std::uint32_t> state_versions_;  // from STANDBY
  std::uint32_t features_ = 0;                 // from FEATURES, if it said one
  std::chrono::milliseconds park_grace_{0};  // drain timeout for a worker that cannot park

  // Declared in this order so that on destruction the poll handle stops
  // watching before the channel fd closes.
  Channel channel_;
  UvHandle<uv_poll_t> poll_;
  Timer deadline_;  // ready deadline, then drain / kill escalation
  Timer low_start_;  // armed while it starts at --start-nice: when to raise it anyway
  Timer heartbeat_;  // --hang-timeout: the next PING, and the judgement
  std::uint64_t pings_sent_ = 0;
  std::uint64_t last_pong_ = 0;  // the sequence it answered last (0: none yet)
  std::optional<std::uint32_t> reported_clients_;  // CLIENTS: what it said it still holds
  std::chrono::steady_clock::time_point last_alive_;  // its last PONG, or when it was last not judged
  std::unique_ptr<StackCapture> capture_;  // a hung worker's stacks, being written
  std::string hang_;  // it hung: what was kept of it
  std::shared_ptr<KeptConnections> kept_;  // it hung: its clients, taken for its replacement
  Due due_ = Due::kNothing;
  // Its exit shows on a pidfd (spawned or adopted alike); that watch reaps it.
  ChildExit exit_;
};

// Starts WorkerProcesses on one loop, handing each the same listeners.
class ProcessLauncher final : public WorkerLauncher {
 public:
  // `listeners` must outlive the launcher and every worker it starts.
  // `identity`: who the workers run as (--user), if not as baton.
  // `udp_steering`: --udp-steering (it steers only when there is a UDP listener).
  ProcessLauncher(uv_loop_t* loop, const std::vector<BoundListener>& listeners,
                  std::optional<WorkerIdentity> identity = std::nullopt, bool udp_steering = true);
  Result<std::unique_ptr<WorkerHandle>> launch(WorkerConfig config, WorkerEvents& events) override;
  Result<std::unique_ptr<WorkerHandle>> adopt(WorkerConfig config, const HandoverWorker& worker,
                                              WorkerEvents& events) override;
  bool may_start_low() const override { return may_start_low_; }
  std::optional<MemoryBudget> memory_budget() const override { return read_memory_budget(); }
  Result<std::shared_ptr<const HeldFile>> hold(const std::string& command) override;
  std::shared_ptr<const HeldFile> adopt_held(UniqueFd fd, std::string path) override;
  OutputRelays& relays() { return relays_; }
  LeftBehind& left_behind() { return left_behind_; }

 private:
  uv_loop_t* loop_;
  const std::vector<BoundListener>& listeners_;
  std::optional<WorkerIdentity> identity_;
  bool may_start_low_;
  OutputRelays relays_;  // every worker's stdout and stderr, until EOF or baton stops
  FlowInboxes steering_;  // before left_behind_, after nothing a worker outlives
  LeftBehind left_behind_;  // every worker's process group, ended at stop
};

}  // namespace baton
