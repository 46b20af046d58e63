// A generation: the workers started from one resolution of the worker binary.
// Generation numbers only grow; each upgrade creates the next one.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "restart_backoff.h"
#include "baton/uv_handle.h"
#include "worker_handle.h"

namespace baton {

inline std::string gen_name(std::uint64_t number) { return "generation " + std::to_string(number); }

struct Generation {
  enum class Role {
    kStarting,   // the first generation, not yet READY
    kCandidate,  // an upgrade's new generation, not yet READY
    kActive,     // serving traffic; crashed workers are restarted
    kRetiring,   // drained, abandoned or stopping: waiting for its workers to exit
    kParked,     // handed off under --probation: keeps its state for a rollback, serves nothing
  };

  // One worker position (BATON_WORKER_INDEX). `worker` is empty between a
  // crash and its restart.
  struct Slot {
    std::unique_ptr<WorkerHandle> worker;
    RestartBackoff backoff;
    std::unique_ptr<Timer> restart;  // pending restart after a crash
    unsigned restarts = 0;           // how often this slot was started again after a crash
    std::shared_ptr<KeptConnections> kept;  // a hung worker's clients, for the slot's next worker
    // --recycle-after: when its worker is due (its start, the limit and its
    // share of the jitter); max until the next recycle tick works it out.
    std::chrono::steady_clock::time_point recycle_at = std::chrono::steady_clock::time_point::max();
    unsigned recycle_failures = 0;  // in a row, for the backoff
    std::chrono::steady_clock::time_point recycle_not_before{};  // after a failed recycle
  };

  std::uint64_t number = 0;
  Role role = Role::kStarting;
  bool standby = false;  // handoff mode: its workers wait for the previous generation's state
  bool served = false;   // it was the serving generation at some point
  bool rollback = false;  // started again from a previous generation's file (--probation)
  // The file its workers run, held open under --probation (restarts run it too).
  std::shared_ptr<const HeldFile> executable;
  std::chrono::steady_clock::time_point retiring_since{};  // when it was told to go
  std::vector<Slot> slots;
  // Workers replaced in their slot by a recycle, finishing (draining, or
  // exiting after handing off); not restarted, not counted as serving.
  std::vector<std::unique_ptr<WorkerHandle>> leaving;

  bool all_in(WorkerState state) const {
    for (const auto& s : slots)
      if (!s.worker || s.worker->state() != state) return false;
    return true;
  }
  bool all_ready() const { return all_in(WorkerState::kReady); }
  // No process left and none waiting to be restarted.
  bool finished() const {
    if (!leaving.empty()) return false;
    for (const auto& s : slots)
      if (s.worker || (s.restart && s.restart->active())) return false;
    return true;
  }
  template <class F> void for_each_worker(F&& f) {
    for (auto& s : slots)
      if (s.worker) f(*s.worker);
  }
  void cancel_restarts() {
    for (auto& s : slots) s.restart.reset();
  }
};

// The role's word in `baton status` and the handover table: "serving", "parked", ...
inline const char* role_name(Generation::Role r) {
  switch (r) {
    case Generation::Role::kStarting: return "starting";
    case Generation::Role::kCandidate: return "candidate";
    case Generation::Role::kActive: return "serving";
    case Generation::Role::kRetiring: return "retiring";
    case Generation::Role::kParked: return "parked";
  }
  return "?";
}

}  // namespace baton
