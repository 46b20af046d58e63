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
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "baton/status.h"

namespace baton {

// Where a worker stands in the protocol (shared/PROTOCOL.md, "Message order").
enum class WorkerState { kStarting, kWelcomed, kReady, kDraining, kExited };

struct WorkerConfig {
  std::vector<std::string> command;  // argv; argv[0] is looked up at this spawn
  std::uint64_t generation = 0;
  std::uint32_t index = 0;
  std::chrono::milliseconds ready_timeout{10'000};
  std::chrono::milliseconds kill_timeout{5'000};
};

struct WorkerExit {
  std::int64_t status = 0;  // exit status, when not killed by a signal
  int signal = 0;           // terminating signal, 0 if it exited
  std::string rejected;     // why baton killed it, empty if it did not
  std::string describe() const;  // "exited with status 3", "reported an error: x (killed by SIGKILL)"
};

class WorkerHandle;

struct WorkerCallbacks {
  std::function<void(WorkerHandle&)> on_ready;
  // Last call for this worker: the owner may destroy it from here.
  std::function<void(WorkerHandle&, const WorkerExit&)> on_exit;
};

class WorkerHandle {
 public:
  virtual ~WorkerHandle() = default;
  virtual pid_t pid() const = 0;
  virtual WorkerState state() const = 0;
  virtual std::chrono::steady_clock::time_point started_at() const = 0;
  virtual const std::string& name() const = 0;  // "worker 3.0 (pid 1234)"

  // DRAIN, then SIGTERM after drain_timeout, then SIGKILL after kill_timeout.
  // A worker that is not READY yet has nothing to drain and gets terminate().
  virtual void drain(std::chrono::milliseconds drain_timeout) = 0;
  // SIGTERM now, SIGKILL after kill_timeout.
  virtual void terminate() = 0;
  // Kills the worker now; `reason` comes back in WorkerExit::rejected.
  virtual void reject(const std::string& reason) = 0;
};

class WorkerLauncher {
 public:
  virtual ~WorkerLauncher() = default;
  // Starts a worker. Fails when it cannot be executed at all.
  virtual Result<std::unique_ptr<WorkerHandle>> launch(WorkerConfig config, WorkerCallbacks callbacks) = 0;
};

}  // namespace baton
