// What one upgrade did: kept by the supervisor for `baton status`, handed to
// observers (systemd, the control socket's waiters, metrics) as it starts
// and ends. And what a rollback after cutover did.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "baton/handoff_stream.h"
#include "memory_admission.h"

namespace baton {

// A rolling upgrade's progress (--rolling): which batch runs, and once one
// failed, the batches that put the previous file back in the replaced slots.
struct RollingProgress {
  unsigned batch_size = 0;     // workers replaced at a time
  std::uint32_t batches = 0;   // of the upgrade
  std::uint32_t batch = 0;     // the one running (1-based), or the last to run
  std::uint32_t failed_batch = 0;  // 0: none failed
  std::uint32_t back_batches = 0;  // rolling back: batches that restore the previous file
  std::uint32_t back_batch = 0;
};

struct UpgradeRecord {
  enum class Result { kRunning, kCommitted, kFailed };

  std::uint64_t sequence = 0;   // 1 for the first upgrade since baton started, then 2, ...
  std::uint64_t candidate = 0;  // the generation it starts
  std::uint64_t serving = 0;    // once finished: the generation serving after it (0: none)
  Result result = Result::kRunning;
  std::string reason;  // how it committed, or why it failed: the words of the log line
  std::chrono::system_clock::time_point started_wall = std::chrono::system_clock::now();
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point finished{};
  // Handoff mode, once committed: HANDOFF sent to every new worker RESTORED,
  // and what moved in that time.
  std::optional<std::chrono::duration<double>> pause;
  HandoffTotals moved;
  // Refused before anything started: it would not fit in the memory limit.
  std::optional<MemoryShortfall> memory;
  std::optional<RollingProgress> rolling;  // --rolling, when it ran in batches

  bool committed() const { return result == Result::kCommitted; }
  // Until now while running.
  std::chrono::duration<double> duration() const {
    return (result == Result::kRunning ? std::chrono::steady_clock::now() : finished) - started;
  }
};

// A rollback after cutover (--probation): the generation that took over
// crashed, and baton went back to the one before it.
struct RollbackRecord {
  std::uint64_t from = 0;  // the generation on probation that crashed
  std::uint64_t to = 0;    // the generation serving again: the previous one resumed, or its executable restarted
  bool resumed = false;    // handoff mode: the previous workers were parked, with their state, and serve again
  std::string reason;      // the crash, in the log's words
  std::chrono::system_clock::time_point at_wall = std::chrono::system_clock::now();
  std::chrono::steady_clock::time_point crashed = std::chrono::steady_clock::now();
  std::optional<std::chrono::duration<double>> serving_after;  // crash to serving again, once it does
};

// A serving worker declared hung (--hang-timeout), once it is gone.
struct HangRecord {
  std::string worker;    // "worker 1.0 (pid 1234)"
  std::string reason;    // how long it was silent
  std::string evidence;  // where its stacks are, or why there are none
  std::size_t connections_kept = 0;  // client connections taken from it for its replacement
  std::chrono::system_clock::time_point at_wall = std::chrono::system_clock::now();
};

inline const char* result_name(UpgradeRecord::Result r) {
  switch (r) {
    case UpgradeRecord::Result::kRunning: return "running";
    case UpgradeRecord::Result::kCommitted: return "committed";
    case UpgradeRecord::Result::kFailed: return "failed";
  }
  return "?";
}

}  // namespace baton
