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
//   any state --SIGTERM/SIGINT--> kStopping --all workers gone--> exit
//
// Upgrades never overlap: a SIGHUP while starting or upgrading is remembered
// (any number of them as one) and runs when the current upgrade ends.
#pragma once

#include <uv.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "baton/status.h"
#include "baton/uv_handle.h"
#include "generation.h"
#include "worker_handle.h"
#include "options.h"
#include "orphan_reaper.h"

namespace baton {

class Supervisor {
 public:
  enum class State { kStarting, kServing, kUpgrading, kStopping };

  // Workers are started through `launcher` (which holds the listeners); both
  // must outlive the supervisor.
  Supervisor(uv_loop_t* loop, Options options, WorkerLauncher& launcher);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Installs the signal handlers and starts generation 1. An error means the
  // worker could not be executed at all; nothing is left running.
  Status start();
  // Valid once the loop has stopped.
  int exit_code() const { return exit_code_; }
  State state() const { return state_; }
  // True if `pid` is one of this supervisor's live workers.
  bool is_worker(pid_t pid) const;

  // Events. Signals arrive through the handlers start() installs; tests call
  // handle_signal() directly.
  void handle_signal(int signum);

 private:
  void on_worker_ready(std::uint64_t gen, std::uint32_t index);
  void on_worker_exit(std::uint64_t gen, std::uint32_t index, const WorkerExit& info);
  // Handoff mode.
  void on_worker_standby(std::uint64_t gen, std::uint32_t index);
  void on_worker_sent(std::uint64_t gen, std::uint32_t index, const HandoffTotals& totals);
  void on_worker_restored(std::uint64_t gen, std::uint32_t index, const HandoffTotals& totals);
  void on_worker_refused(std::uint64_t gen, std::uint32_t index, const std::string& why);

  // Actions.
  Status spawn_generation(std::uint64_t number, Generation::Role role);
  Status spawn_slot(Generation& gen, std::uint32_t index);
  void schedule_restart(Generation& gen, std::uint32_t index, const std::string& why);
  void begin_upgrade();
  void promote(Generation& candidate, const std::string& how);
  void start_handoff(Generation& candidate);
  void commit_handoff(Generation& candidate);
  void end_handoff();
  void fail_upgrade(Generation& candidate, const std::string& why);
  void retire(Generation& gen, bool drain);
  void begin_stop(int code, const std::string& why);
  void stop_fast();
  void run_pending_upgrade();
  // Forgets retired generations whose workers are all gone; once stopping
  // and nothing is left, ends the loop. Every handler ends with it, and no
  // Generation& may be used after it.
  void collect_finished();

  uv_loop_t* loop_;
  Options options_;
  WorkerLauncher& launcher_;
  State state_ = State::kStarting;
  std::map<std::uint64_t, Generation> generations_;  // node-stable: workers point into it
  std::uint64_t next_generation_ = 1;
  std::uint64_t active_ = 0;     // 0 while none is serving
  std::uint64_t candidate_ = 0;  // the upgrade's new generation, 0 when none

  // The handoff in flight (handoff mode), from HANDOFF sent to COMMIT.
  std::unique_ptr<Timer> handoff_deadline_;
  std::chrono::steady_clock::time_point handoff_started_;
  HandoffTotals handoff_totals_;
  bool upgrade_pending_ = false;
  bool loop_stopped_ = false;
  int exit_code_ = exit_code::kOk;
  std::vector<std::unique_ptr<UvHandle<uv_signal_t>>> signals_;
  std::unique_ptr<OrphanReaper> reaper_;
};

}  // namespace baton
