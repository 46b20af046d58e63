// Supervisor: owns the listeners for its whole life and the generations of
// workers that serve them. Runs on one libuv loop; every event (signal,
// worker READY, worker exit, timer) is a handler below, and what a handler
// may do depends on the supervisor's state:
//
//   kStarting  --gen 1 READY-->  kServing  --SIGHUP-->  kUpgrading
//                                   ^                       |
//                                   +-- new gen READY: DRAIN old gen                 (drain mode)
//                                   +-- new gen STANDBY -> HANDOFF -> all RESTORED:  (handoff mode)
//                                   |     COMMIT new, then COMMIT old
//                                   +-- new gen fails: kill it; old untouched, or RESUMEd
//   --probation: a new generation that crashes within it of taking over is
//     rolled back: the parked old workers RESUME (handoff mode), or the old
//     executable, held open, starts again as a new generation (drain mode)
//   any state --SIGTERM/SIGINT--> kStopping [--stop-delay: serve on, not ready] --DRAIN--> all workers gone --> exit
//
// The phase and what only it holds (a candidate, a handoff, a probation) are
// one variant: supervisor_phase.h. Upgrades never overlap: a SIGHUP while starting or upgrading is remembered
// (any number of them as one) and runs when the current upgrade ends.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "baton/status.h"
#include "baton/uv_handle.h"
#include "generation.h"
#include "handover_table.h"
#include "worker_handle.h"
#include "options.h"
#include "status_report.h"
#include "supervisor_observer.h"
#include "supervisor_phase.h"
#include "upgrade_record.h"

namespace baton {

int first_generation_exit_code(const WorkerExit& e);

class Supervisor final : private WorkerEvents {
 public:
  enum class State { kStarting, kServing, kUpgrading, kStopping };

  // Workers are started through `launcher` (which holds the listeners);
  // `observer`, if any, hears of each change of state. Both must outlive the
  // supervisor.
  Supervisor(uv_loop_t* loop, Options options, WorkerLauncher& launcher, SupervisorObserver* observer = nullptr);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Installs the signal handlers and starts generation 1. An error means the
  // worker could not be executed at all; nothing is left running.
  Status start();
  // baton upgrade --self (supervisor_handover.cc). Why baton cannot hand
  // over right now (empty: it can); the supervisor's part of the table; and,
  // in the new baton, taking it all over instead of start().
  std::string cannot_hand_over() const;
  Result<HandoverTable> handover_table() const;
  Status adopt(const HandoverTable& table);
  // Valid once the loop has stopped.
  int exit_code() const { return exit_code_; }
  State state() const { return static_cast<State>(phase_.index()); }
  // True if `pid` is one of this supervisor's live workers (the orphan
  // reaper leaves those to their WorkerHandle).
  bool is_worker(pid_t pid) const;

  // Events. Signals arrive through the handlers start() installs; tests call
  // handle_signal() directly.
  void handle_signal(int signum);

  // Requests from the control socket; the same as SIGHUP, SIGTERM and SIGQUIT.
  enum class UpgradeRequest {
    kStarted,  // an upgrade began now
    kQueued,   // one runs (or is queued) already: it becomes the follow-up upgrade
    kRefused,  // baton is stopping
  };
  UpgradeRequest request_upgrade(const std::string& from);
  void request_stop(bool fast, const std::string& from);
  // A check from outside (--probation-check) found `generation` unhealthy:
  // rolled back if it is still on probation, else nothing.
  void report_unhealthy(std::uint64_t generation, const std::string& reason);

  // What runs now, for `baton status` and the metrics.
  SupervisorReport report() const;
  // Why a load balancer should not send traffic here (/readyz); empty when it may.
  std::string not_ready_reason() const;

 private:
  enum class StopPace { kDrain, kFast };

  // Every event (worker, signal, timer) runs through here: the handler, then
  // collect_finished(). No Generation& may be held across it.
  void dispatch(const std::function<void()>& handler);

  // WorkerEvents, each dispatched to the handler of the same name below.
  void on_ready(WorkerHandle& w) override;
  void on_standby(WorkerHandle& w) override;
  void on_sent(WorkerHandle& w, const HandoffTotals& totals) override;
  void on_restored(WorkerHandle& w, const HandoffTotals& totals) override;
  void on_precopied(WorkerHandle& w, const Precopied& what) override;
  void on_refused(WorkerHandle& w, const std::string& why) override;
  void on_unhealthy(WorkerHandle& w, const std::string& reason) override;
  void on_exit(WorkerHandle& w, const WorkerExit& info) override;

  // Handlers.
  void signal_received(int signum);
  void forward_signal(int signum);
  UpgradeRequest upgrade_requested(const std::string& from);
  void stop_requested(StopPace pace, const std::string& from);
  void worker_ready(WorkerHandle& w);
  void worker_exited(WorkerHandle& w, const WorkerExit& info);
  void active_worker_exited(Generation& gen, std::uint32_t index, const std::string& who,
                            std::chrono::steady_clock::time_point started, const WorkerExit& info);
  // Handoff mode (supervisor_handoff.cc).
  void worker_standing_by(WorkerHandle& w);
  void worker_sent(WorkerHandle& w, const HandoffTotals& totals);
  void worker_precopied(WorkerHandle& w, const Precopied& what);
  void raise_receiver_of(const WorkerHandle& sender);
  void worker_restored(WorkerHandle& w, const HandoffTotals& totals);
  void worker_refused(WorkerHandle& w, const std::string& why);
  void worker_unhealthy(WorkerHandle& w, const std::string& reason);  // supervisor_probation.cc

  Status install_handlers();
  void adopt_generation(const HandoverGeneration& record);

  // Actions.
  // `rollback_to`: start that held file (a rollback), not the command's file as it is now.
  Status spawn_generation(std::uint64_t number, Generation::Role role,
                          std::shared_ptr<const HeldFile> rollback_to = nullptr);
  // The generation's record (its file held where it may run again), no worker started.
  Status create_generation(std::uint64_t number, Generation::Role role, std::shared_ptr<const HeldFile> rollback_to);
  // `standby`: whether state comes to it, if not as slot_config() says.
  Status spawn_slot(Generation& gen, std::uint32_t index, std::optional<bool> standby = std::nullopt);
  // Starts slot `index` of `gen` again after `delay`; a failed start tries again, backing off.
  void restart_later(Generation& gen, std::uint32_t index, std::chrono::milliseconds delay);
  void begin_upgrade(std::shared_ptr<const HeldFile> rollback_to = nullptr);
  // Memory admission: a shortfall if `needed` more bytes would not fit under
  // the launcher's memory limit with --memory-headroom kept free.
  std::optional<MemoryShortfall> memory_shortfall(std::uint64_t needed) const;
  // The upgrade's batch size (0: the whole generation at once), by --rolling
  // and what fits in memory; none: refused, and said so.
  std::optional<unsigned> admit_upgrade(UpgradeRecord& upgrade);
  void refuse_for_memory(UpgradeRecord& upgrade);
  void promote(Generation& candidate, const std::string& how);
  void candidate_started(Generation& candidate);  // tells the observer
  void start_handoff(Generation& candidate);
  Status link_pair(WorkerHandle& from, WorkerHandle& to);
  void commit_handoff(Generation& candidate);
  void fail_upgrade(Generation& candidate, const std::string& why);
  // --probation (supervisor_probation.cc).
  void start_probation(Generation& gen, std::uint64_t previous);
  void end_probation(const std::string& why);
  bool on_probation(const Generation& gen) const;
  void park_generation(Generation& gen);
  void roll_back(Generation& failing, const std::string& crash);
  void resume_parked(Generation& parked, Generation& failing);
  // Records how the upgrade ended and tells the observer.
  void finish_upgrade(UpgradeRecord::Result result, const std::string& reason);
  std::string who_serves();
  // Retiring: the generation serves no more, its workers are not restarted,
  // and collect_finished() forgets it once they are gone.
  void drain_generation(Generation& gen);      // DRAIN: finish what is in flight
  void terminate_generation(Generation& gen);  // SIGTERM: it never served
  void retire(Generation& gen, const std::function<void(WorkerHandle&)>& each_worker);
  void begin_stop(int code, const std::string& why, StopPace pace);
  void drain_everything(const std::string& why);  // the stop proper, after any --stop-delay
  void stop_fast();  // a second stop signal: SIGTERM what is still draining
  void terminate_everything();
  void run_pending_upgrade();  // if one is queued and may start now
  bool at_generation_cap() const;
  std::string pending_reason() const;  // why a queued upgrade waits
  Generation* find(std::uint64_t number);
  // The phase's data (supervisor_phase.h); null when not in that phase.
  std::uint64_t serving_generation() const;  // 0 while starting or stopping
  phase::Upgrading* upgrading() { return std::get_if<phase::Upgrading>(&phase_); }
  phase::HandoffInFlight* handoff();
  const phase::Probation* probation() const;
  // --rolling (supervisor_rolling.cc).
  phase::Rolling* rolling();  // the rolling upgrade running, if any
  Generation& rolling_from();  // whose workers the batches replace
  Generation& rolling_to();    // whose workers replace them
  void begin_rolling(std::uint64_t candidate, unsigned batch_size);
  void advance_rolling();  // the next batch, once the last has finished
  void start_swap(std::uint32_t index);
  phase::Rolling::Swap* swap_of(const WorkerHandle& w, bool* is_new = nullptr);
  void swap_done(phase::Rolling::Swap& swap);
  void swap_failed(std::uint32_t index, const std::string& why);
  void rolling_failed(const std::string& why);  // forward: turns the upgrade round
  void give_up_slot(std::uint32_t index, const std::string& why);
  void finish_rolling();
  void finish_rolling_back();
  void note_progress();
  // The rolling upgrade's events; false when `w` is not one of its swaps' (the usual path follows).
  bool rolling_ready(WorkerHandle& w);
  bool rolling_standing_by(WorkerHandle& w);
  bool rolling_sent(WorkerHandle& w);
  bool rolling_restored(WorkerHandle& w, const HandoffTotals& totals);
  bool rolling_precopied(WorkerHandle& w);
  bool rolling_refused(WorkerHandle& w, const std::string& why);
  bool rolling_exited(WorkerHandle& w, const WorkerExit& info);
  bool rolling_unhealthy(WorkerHandle& w, const std::string& reason);
  void commit_swap_if_done(phase::Rolling::Swap& swap);
  // --recycle-after, --recycle-memory (supervisor_recycle.cc).
  bool recycling_enabled() const;
  phase::Recycle* recycle();  // the one in flight, if any
  void arm_recycle_tick();
  std::chrono::steady_clock::time_point recycle_due(const WorkerHandle& w);
  void recycle_tick();  // starts the recycle of a slot that is due, if one may start
  void start_recycle(Generation& gen, std::uint32_t index, ReplacementCause cause, const std::string& why);
  void recycle_failed(Generation& gen, std::uint32_t index, const std::string& why);
  enum class OldWorker { kResume, kServing, kGone };  // what abort_recycle() finds of it
  enum class Retry { kLater, kNever };  // a failure backs the slot off; a stop is no failure
  void abort_recycle(const std::string& why, OldWorker old = OldWorker::kResume, Retry retry = Retry::kLater);
  void commit_recycle_if_done();
  void finish_recycle();
  bool is_successor(const WorkerHandle& w);
  bool is_recycled_sender(const WorkerHandle& w);
  // The recycle's events; false when `w` is not its (the usual path follows).
  bool recycle_ready(WorkerHandle& w);
  bool recycle_standing_by(WorkerHandle& w);
  bool recycle_sent(WorkerHandle& w);
  bool recycle_restored(WorkerHandle& w);
  bool recycle_precopied(WorkerHandle& w);
  bool recycle_refused(WorkerHandle& w, const std::string& why);
  bool recycle_exited(WorkerHandle& w, const WorkerExit& info);
  bool leaving_exited(WorkerHandle& w, const WorkerExit& info);  // a worker replaced in its slot
  void count_replacements(ReplacementCause cause, std::uint64_t n);
  WorkerConfig slot_config(const Generation& gen, std::uint32_t index) const;
  // Forgets retired generations whose workers are all gone; once stopping
  // and nothing is left, ends the loop. Only dispatch() calls it.
  void collect_finished();

  uv_loop_t* loop_;
  Options options_;
  WorkerLauncher& launcher_;
  SupervisorObserver* observer_;
  phase::Phase phase_;
  std::map<std::uint64_t, Generation> generations_;  // node-stable: timers point into it
  std::uint64_t next_generation_ = 1;
  bool upgrade_pending_ = false;  // never while stopping
  bool cap_logged_ = false;  // "upgrade waits" said for this wait
  std::optional<UpgradeRecord> last_upgrade_;  // the one running, or the last to end
  std::uint64_t upgrades_committed_ = 0;
  std::uint64_t upgrades_failed_ = 0;
  std::uint64_t worker_restarts_ = 0;
  bool loop_stopped_ = false;
  int dispatch_depth_ = 0;  // collect_finished() only when the outermost handler is done
  int exit_code_ = exit_code::kOk;
  std::vector<std::unique_ptr<UvHandle<uv_signal_t>>> signals_;
  std::optional<RollbackRecord> last_rollback_;
  std::uint64_t rollbacks_ = 0;
  std::optional<HangRecord> last_hang_;
  std::uint64_t hangs_ = 0;
  ReplacementCounts replacements_{};
  std::string last_recycle_failure_;  // for status; empty until a recycle fails
  Timer recycle_timer_{loop_};
  std::minstd_rand jitter_{std::random_device{}()};  // --recycle-jitter's shares
};

}  // namespace baton
