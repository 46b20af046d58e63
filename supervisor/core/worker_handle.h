// The seam between the supervisor's decisions and real processes.
//
// Supervisor only talks to workers through WorkerHandle and starts them
// through WorkerLauncher. In production these are WorkerProcess and
// ProcessLauncher (a fork+exec'd child and its channel); the unit tests pass
// fakes, so every decision (coalescing, rollback, restart, stop) is tested
// without a process or a socket.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "baton/connection.h"
#include "baton/handoff_stream.h"
#include "baton/status.h"
#include "baton/unique_fd.h"
#include "handover_table.h"
#include "memory_admission.h"

namespace baton {

// Where a worker stands in the protocol (shared/PROTOCOL.md, "Message order").
enum class WorkerState {
  kStarting,   // spawned; HELLO not seen yet
  kWelcomed,   // WELCOME sent; waiting for READY (or STANDBY)
  kStandby,    // handoff mode, new worker: listeners in hand, not accepting
  kHandingOff, // handoff mode: HANDOFF sent (old: quiescing and sending; new: restoring)
  kSent,       // old worker: its state and connections are on the link
  kRestored,   // new worker: state loaded, connections adopted; waiting for COMMIT
  kParking,    // old worker, --probation: PARK sent instead of COMMIT; waiting for PARKED
  kParked,     // old worker: keeps its state, serves nothing; waits for COMMIT or RESUME
  kReady,      // serving
  kDraining,   // told to finish (DRAIN, COMMIT to an old worker, SIGTERM)
  kExited,
};

const char* state_name(WorkerState state);  // "ready", "standing by", ...

// Client connections baton took from a hung worker before ending it
// (client_takeover.h), for the next worker of its slot to serve. The core
// only passes them on; they close with the last owner.
using KeptConnections = std::vector<InheritedConnection>;

struct WorkerConfig {
  std::vector<std::string> command;  // argv; argv[0] is looked up at this spawn...
  std::string executable;            // ...unless this names the file to exec (a held one)
  std::uint64_t generation = 0;
  std::uint32_t index = 0;
  std::chrono::milliseconds ready_timeout{10'000};  // for READY, or STANDBY in handoff mode
  std::chrono::milliseconds kill_timeout{5'000};
  bool standby = false;  // handoff mode: a previous generation's state is coming
  int start_nice = 0;    // its nice value until READY/STANDBY (start_priority.h); 0: none
  // --hang-timeout: a serving worker that said it answers PING and has not
  // answered for this long is hung (0: never asked).
  std::chrono::milliseconds hang_timeout{0};
  std::string hang_stacks;  // the directory for a hung worker's stacks
  int hang_signal = 15;     // what ends a hung worker (SIGKILL follows after kill_timeout)
  // A hung predecessor's clients: sent with INHERIT once it is READY, if it
  // said it serves them (FEATURES), else closed.
  std::shared_ptr<KeptConnections> inherited;
};


struct WorkerExit {
  std::int64_t status = 0;  // exit status, when not killed by a signal
  int signal = 0;           // terminating signal, 0 if it exited
  std::string rejected;     // why baton killed it, empty if it did not
  std::string hang;         // it hung: what was kept of it (where its stacks are, or why none)
  std::shared_ptr<KeptConnections> kept;  // it hung: the client connections taken from it
  std::string describe() const;  // "exited with status 3", "reported an error: x (killed by SIGKILL)"
};

class WorkerHandle;

// What a worker tells its owner (the Supervisor). Each call names the worker
// it is about, so events flow one way: the owner never looks a worker up again.
class WorkerEvents {
 public:
  virtual void on_ready(WorkerHandle& w) = 0;
  // Handoff mode.
  virtual void on_standby(WorkerHandle& w) = 0;
  virtual void on_sent(WorkerHandle& w, const HandoffTotals& totals) = 0;
  virtual void on_restored(WorkerHandle& w, const HandoffTotals& totals) = 0;
  // An old worker pre-copied its state while serving (PRECOPIED): its pause starts now.
  virtual void on_precopied(WorkerHandle& w, const Precopied& what) = 0;
  // The old worker answered HANDOFF with ERROR; it still holds everything and waits for RESUME.
  virtual void on_refused(WorkerHandle& w, const std::string& why) = 0;
  // A serving worker says it cannot serve well (UNHEALTHY).
  virtual void on_unhealthy(WorkerHandle& w, const std::string& reason) = 0;
  // Last call for this worker: the owner may destroy it from here.
  virtual void on_exit(WorkerHandle& w, const WorkerExit& info) = 0;

 protected:
  ~WorkerEvents() = default;
};

// A worker's part in a handoff: the old one sends, the new one receives.
enum class HandoffRole { kSender, kReceiver };

// What an old worker learns of its successor with HANDOFF.
struct Successor {
  std::vector<std::uint32_t> state_versions;  // what it loads
  std::uint32_t features = 0;                 // what it said in FEATURES (kFeatureLoadsPrecopy, ...)
};

class WorkerHandle {
 public:
  virtual ~WorkerHandle() = default;
  virtual pid_t pid() const = 0;
  // `p` is this worker, or a child baton started for it (a stack capture):
  // the orphan reaper leaves those to their owner.
  virtual bool owns(pid_t p) const { return p == pid(); }
  virtual WorkerState state() const = 0;
  virtual std::chrono::steady_clock::time_point started_at() const = 0;
  virtual const std::string& name() const = 0;  // "worker 3.0 (pid 1234)"
  virtual std::uint64_t generation() const = 0;
  virtual std::uint32_t index() const = 0;  // BATON_WORKER_INDEX: its slot in the generation

  // DRAIN, then SIGTERM after drain_timeout, then SIGKILL after kill_timeout.
  // A worker that is not READY yet has nothing to drain and gets terminate();
  // an old worker in the middle of a handoff is RESUMEd first.
  virtual void drain(std::chrono::milliseconds drain_timeout) = 0;
  // SIGTERM now, SIGKILL after kill_timeout.
  virtual void terminate() = 0;
  // A worker started at --start-nice gets normal priority now. A READY one
  // already has it; a standby one keeps its low priority while it loads a
  // pre-copy beside the serving worker, and gets this when its pause begins.
  virtual void end_low_start() = 0;
  // Passes on a signal baton does not act on itself (--forward-signal).
  virtual void forward(int signum) = 0;
  // Kills the worker now; `reason` comes back in WorkerExit::rejected.
  // reject() logs why (the worker's own fault); abandon() does not, because
  // its owner has already said why in one line for the whole generation.
  virtual void reject(const std::string& reason) = 0;
  virtual void abandon(const std::string& reason) = 0;

  // Handoff mode.
  // The state versions a standby worker said it loads.
  virtual const std::vector<std::uint32_t>& state_versions() const = 0;
  // The optional parts of the protocol it said it speaks (FEATURES); 0 if it said none.
  virtual std::uint32_t features() const = 0;
  // Sends HANDOFF with this worker's end of the link. `successor` matters
  // to the sender only: what it loads (and, if the sender said FEATURES
  // itself, what the successor said: a FEATURES goes first).
  virtual Status begin_handoff(HandoffRole role, const Successor& successor, std::chrono::milliseconds timeout,
                               int link_fd) = 0;
  // COMMIT. A restored (new) worker starts serving; an old one (handing off
  // or sent) exits, and meets the drain_timeout / kill_timeout escalation if
  // it does not.
  virtual void commit(std::chrono::milliseconds drain_timeout) = 0;
  // RESUME: the handoff is off; an old worker serves again as before. Also
  // brings a parked worker back (a rollback).
  virtual void resume() = 0;
  // PARK instead of COMMIT (--probation): an old worker keeps its state and
  // waits, serving nothing, for COMMIT (exit) or RESUME. One that cannot
  // park gets COMMIT at once, and `drain_timeout` to finish.
  virtual void park(std::chrono::milliseconds drain_timeout) = 0;

  // baton upgrade --self: what the handover table records of this worker.
  virtual Result<HandoverWorker> handover() const { return Status::error(name() + " cannot be handed over"); }
  // The signal its deadline will send, and when (a draining worker's SIGTERM,
  // then SIGKILL), for `baton status`; none while no deadline runs.
  struct PendingSignal {
    int signal = 0;
    std::chrono::milliseconds in{0};
  };
  virtual std::optional<PendingSignal> pending_signal() const { return std::nullopt; }
  // Its private memory (Private_Clean + Private_Dirty of /proc/PID/smaps_rollup),
  // for --recycle-memory; none when it cannot be read.
  virtual std::optional<std::uint64_t> private_memory() const { return std::nullopt; }
  // The client connections it says it still holds (CLIENTS, once told to go); none if it never said.
  virtual std::optional<std::uint32_t> reported_clients() const { return std::nullopt; }
};

// The file a generation was started from, held open by the launcher so that
// a rollback (--probation) starts that very file again even after a deploy
// replaced or deleted it. The core only passes it on and names it.
class HeldFile {
 public:
  virtual ~HeldFile() = default;
  virtual const std::string& path() const = 0;
  virtual bool on_disk() const = 0;           // path() still names this file
  virtual std::string exec_path() const = 0;  // what a launch of it execs (WorkerConfig::executable)
  virtual int fd() const = 0;                 // for the handover table
};

class WorkerLauncher {
 public:
  virtual ~WorkerLauncher() = default;
  // Starts a worker that reports to `events` (which must outlive it). Fails
  // when it cannot be executed at all.
  virtual Result<std::unique_ptr<WorkerHandle>> launch(WorkerConfig config, WorkerEvents& events) = 0;
  // Whether a worker may start at a low priority (--start-nice): only where
  // it can be raised again, else the low priority would last its whole life.
  // Decided once, when the launcher is made.
  virtual bool may_start_low() const { return false; }
  // The memory limit where workers start (baton's cgroup), and what it holds
  // now; none where no limit applies. Memory admission reads it.
  virtual std::optional<MemoryBudget> memory_budget() const { return std::nullopt; }
  // Holds the worker's executable (`command`, found as a launch finds it)
  // open, and one held already by the previous baton (upgrade --self).
  virtual Result<std::shared_ptr<const HeldFile>> hold(const std::string& command) {
    return Status::error("this launcher cannot hold " + command);
  }
  virtual std::shared_ptr<const HeldFile> adopt_held(UniqueFd fd, std::string path) {
    (void)fd, (void)path;
    return nullptr;
  }
  // baton upgrade --self: the worker taken over from its record
  // (WorkerHandle::handover()) by the next baton.
  virtual Result<std::unique_ptr<WorkerHandle>> adopt(WorkerConfig /*config*/, const HandoverWorker& /*worker*/,
                                                      WorkerEvents& /*events*/) {
    return Status::error("this launcher cannot take workers over");
  }
};

}  // namespace baton
