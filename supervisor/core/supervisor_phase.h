// Where the supervisor stands, and what only that phase holds: the serving
// generation exists only while serving or upgrading, a candidate and a
// handoff only while upgrading, a probation only while serving, the
// --stop-delay timer only while stopping. One std::variant, so that an
// impossible combination (a handoff while serving, a candidate while
// stopping) cannot be written. Entering a phase drops the previous one's data.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <variant>
#include <vector>

#include "baton/uv_handle.h"
#include "replacement_cause.h"
#include "worker_handle.h"

namespace baton::phase {

// A handoff in flight (handoff mode): from HANDOFF sent to COMMIT or rollback.
struct HandoffInFlight {
  explicit HandoffInFlight(uv_loop_t* loop) : deadline(loop) {}
  Timer deadline;  // --handoff-timeout
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  HandoffTotals totals;  // what the new workers restored so far
  // Pre-copy: old workers that sent PRECOPIED, what they sent while serving,
  // and when the first of them paused.
  std::uint32_t precopied = 0;
  std::uint64_t precopy_bytes = 0;
  std::uint64_t connections_ahead = 0;
  std::optional<std::chrono::steady_clock::time_point> first_paused;
};

// --probation: the generation that took over last, until it has served
// that long without a crash.
struct Probation {
  Probation(uv_loop_t* loop, std::uint64_t generation, std::uint64_t previous,
            std::shared_ptr<const HeldFile> previous_executable)
      : generation(generation), previous(previous), previous_executable(std::move(previous_executable)), timer(loop) {}
  std::uint64_t generation;  // on probation
  std::uint64_t previous;    // the one it replaced: parked (handoff mode) or draining
  std::shared_ptr<const HeldFile> previous_executable;
  std::chrono::steady_clock::time_point since = std::chrono::steady_clock::now();
  Timer timer;
};

// A recycle in flight (--recycle-after, --recycle-memory): one serving
// worker replaced by a fresh process of the same file, in its slot, from the
// successor's start to the swap. Handoff mode pairs the two over a link.
struct Recycle {
  Recycle(uv_loop_t* loop, std::uint32_t index, ReplacementCause cause)
      : index(index), cause(cause), deadline(loop) {}
  std::uint32_t index;  // the slot, in the serving generation
  ReplacementCause cause;
  std::unique_ptr<WorkerHandle> successor;
  bool linked = false;  // handoff mode: both have HANDOFF (the old worker must RESUME if it fails)
  bool sent = false, restored = false;  // handoff mode: the old worker's SENT, the successor's RESTORED
  Timer deadline;  // handoff mode: --handoff-timeout from HANDOFF
};

// A rolling upgrade (--rolling N, supervisor_rolling.cc): slot by slot, a
// batch at a time, each slot's worker replaced as a recycle replaces one.
// Forward, the candidate's workers replace the serving generation's; after a
// failure, back: the serving generation's held file replaces the candidate's
// workers in the slots already done.
struct Rolling {
  // One slot's replacement in the batch running.
  struct Swap {
    std::uint32_t index;
    bool linked = false, sent = false, restored = false;  // handoff mode
    bool done = false;  // the new worker serves in the slot; the old one is leaving
  };
  Rolling(uv_loop_t* loop, unsigned batch_size, std::uint32_t slots)
      : batch_size(batch_size), tries(slots, 0), deadline(loop) {}
  unsigned batch_size;
  std::vector<std::uint32_t> waiting;   // slots still to replace, next first
  std::vector<Swap> swaps;              // the batch running
  std::vector<std::uint32_t> replaced;  // slots whose new worker serves
  bool back = false;                    // rolling back after a failed batch
  std::vector<unsigned> tries;          // back: failed attempts per slot
  HandoffTotals moved;                  // forward: state and connections moved
  bool starting = false;                // a batch's workers are being started
  Timer deadline;                       // the batch's
};

// Generation 1 is starting; nothing serves yet.
struct Starting {};

struct Serving {
  explicit Serving(std::uint64_t generation) : generation(generation) {}
  std::uint64_t generation;            // the one serving
  std::optional<Probation> probation;  // since the last upgrade, if --probation
  std::optional<Recycle> recycle;      // never on probation
};

struct Upgrading {
  Upgrading(std::uint64_t serving, std::uint64_t candidate) : serving(serving), candidate(candidate) {}
  std::uint64_t serving;    // serves on until the candidate takes over
  std::uint64_t candidate;  // the upgrade's new generation
  std::optional<HandoffInFlight> handoff;  // handoff mode, from HANDOFF to COMMIT
  std::optional<Rolling> rolling;          // --rolling: in batches (no `handoff` then)
};

// Nothing serves any more (readiness says so), though workers may still be
// finishing, or serving out a --stop-delay.
struct Stopping {
  explicit Stopping(uv_loop_t* loop) : delay(loop) {}
  Timer delay;  // --stop-delay: serving on, not ready, before the drain
};

// In the order of Supervisor::State.
using Phase = std::variant<Starting, Serving, Upgrading, Stopping>;

}  // namespace baton::phase
