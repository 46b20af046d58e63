// A snapshot of what the supervisor runs, for `baton status` and the metrics.
// Plain data, taken on the loop's thread; status_json.h turns it into JSON.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "replacement_cause.h"
#include "upgrade_record.h"

namespace baton {

struct WorkerReport {
  std::uint32_t index = 0;
  pid_t pid = 0;          // 0 while its slot waits to restart
  std::string state;      // "ready", "draining", ..., "restarting"
  std::chrono::duration<double> uptime{};
  unsigned restarts = 0;  // restarts of this slot after crashes
  // What its deadline sends, and when: SIGTERM after a drain's grace, then SIGKILL.
  std::optional<int> deadline_signal;
  std::chrono::duration<double> deadline_in{};
  // Client connections it still holds, for generations that are leaving: as
  // the worker reports them (CLIENTS), else counted on baton's TCP listeners
  // from /proc (process/client_connections.h); none when neither says.
  std::optional<std::size_t> client_connections;
  std::optional<std::uint32_t> reported_clients;  // what the worker said, if it did
  const char* clients_source = nullptr;           // "worker" or "proc", with client_connections
};

struct GenerationReport {
  std::uint64_t number = 0;
  std::string role;  // "starting", "candidate", "serving", "retiring", "parked"
  // Retiring or parked: how long since it was told to go.
  std::optional<std::chrono::duration<double>> leaving_for;
  std::vector<WorkerReport> workers;
};

struct SupervisorReport {
  std::string state;  // "starting", "serving", "upgrading", "stopping"
  std::string mode;   // "drain" or "handoff"
  std::uint64_t serving = 0;  // the serving generation, 0 if none
  std::string not_ready;      // why a load balancer should look elsewhere; empty: ready
  bool upgrade_pending = false;
  std::string pending_reason;  // why the queued upgrade waits, if one is queued
  std::vector<GenerationReport> generations;  // oldest first
  std::optional<UpgradeRecord> last_upgrade;  // the running one, or the last to finish
  std::uint64_t upgrades_committed = 0;
  std::uint64_t upgrades_failed = 0;
  std::uint64_t worker_restarts = 0;
  // --probation: the generation on probation, how long it has left, and where a crash would go back to.
  struct ProbationReport {
    std::uint64_t generation = 0, previous = 0;
    std::chrono::duration<double> remaining{};
  };
  std::optional<ProbationReport> probation;
  std::uint64_t rollbacks = 0;
  std::optional<RollbackRecord> last_rollback;
  std::uint64_t hangs = 0;  // workers declared hung (--hang-timeout)
  std::optional<HangRecord> last_hang;
  ReplacementCounts replacements{};  // workers replaced, by why (replacement_cause.h)
  // A recycle in flight: the slot, why, and its successor's pid (0 before it runs).
  struct RecycleReport {
    std::uint32_t index = 0;
    std::string cause;
    pid_t successor = 0;
  };
  std::optional<RecycleReport> recycling;
  std::string last_recycle_failure;  // why the last recycle failed, and when it is tried again; empty: none
  // The cgroup's memory limit and use now (admission's); none: no limit.
  // Filled by `baton status` only (operate/status_json.h, add_os_facts).
  std::optional<MemoryBudget> memory;
};

}  // namespace baton
