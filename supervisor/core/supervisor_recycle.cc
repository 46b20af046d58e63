// Recycling (--recycle-after, --recycle-jitter, --recycle-memory): a serving
// worker that is old enough, or has grown too large, is replaced in its slot
// by a fresh process of the same file, without a cold start:
//
//   drain mode:    successor READY  -> the old worker drains
//   handoff mode:  successor STANDBY -> HANDOFF to both -> SENT + RESTORED
//                  -> COMMIT successor, then COMMIT old (it exits)
//
// One at a time, only while serving (never during an upgrade, nor on
// probation). A recycle that fails (the successor dies, refuses, or is too
// slow) ends the successor, RESUMEs the old worker, which serves on as if
// nothing happened, and is tried again later, backing off. An upgrade asked
// for meanwhile waits for the recycle; a stop ends it.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

#include "baton/protocol.h"
#include "byte_size.h"
#include "duration.h"
#include "supervisor.h"

namespace baton {
namespace {

constexpr std::chrono::milliseconds kRecycleTick{1'000};
// A failed recycle of a slot is tried again after 10 s, doubling to 5 min.
constexpr std::chrono::milliseconds kFirstRetry{10'000};
constexpr std::chrono::milliseconds kLongestRetry{300'000};

}  // namespace

bool Supervisor::recycling_enabled() const {
  return options_.recycle_after.count() > 0 || options_.recycle_memory > 0;
}

phase::Recycle* Supervisor::recycle() {
  auto* serving = std::get_if<phase::Serving>(&phase_);
  return serving && serving->recycle ? &*serving->recycle : nullptr;
}

void Supervisor::arm_recycle_tick() {
  if (!recycling_enabled()) return;
  recycle_timer_.start(kRecycleTick, [this] {
    dispatch([this] { recycle_tick(); });
    arm_recycle_tick();
  });
  recycle_timer_.let_loop_end();
}

// When a slot's worker is due by age: its start, the limit, and its own
// share of the jitter, so that workers started together leave apart.
std::chrono::steady_clock::time_point Supervisor::recycle_due(const WorkerHandle& w) {
  if (options_.recycle_after.count() == 0) return std::chrono::steady_clock::time_point::max();
  std::uniform_int_distribution<std::int64_t> share(0, options_.recycle_jitter.count());
  return w.started_at() + options_.recycle_after + std::chrono::milliseconds(share(jitter_));
}

void Supervisor::recycle_tick() {
  auto* serving = std::get_if<phase::Serving>(&phase_);
  if (!serving || serving->probation || serving->recycle || upgrade_pending_) return;
  Generation* gen = find(serving->generation);
  if (gen == nullptr || !gen->all_ready()) return;  // a slot restarting: later
  const auto now = std::chrono::steady_clock::now();
  std::optional<std::uint32_t> oldest;
  for (std::uint32_t i = 0; i < gen->slots.size(); ++i) {
    auto& slot = gen->slots[i];
    if (slot.recycle_at == std::chrono::steady_clock::time_point::max()) slot.recycle_at = recycle_due(*slot.worker);
    if (now < slot.recycle_not_before) continue;
    if (options_.recycle_memory > 0) {
      const auto bytes = slot.worker->private_memory();
      if (bytes && *bytes > options_.recycle_memory)
        return start_recycle(*gen, i, ReplacementCause::kRecycleMemory,
                             "its private memory is " + format_byte_size(*bytes) + " (--recycle-memory " +
                                 format_byte_size(options_.recycle_memory) + ")");
    }
    if (slot.recycle_at <= now && (!oldest || slot.recycle_at < gen->slots[*oldest].recycle_at)) oldest = i;
  }
  if (!oldest) return;
  const auto age = std::chrono::duration_cast<std::chrono::milliseconds>(now - gen->slots[*oldest].worker->started_at());
  start_recycle(*gen, *oldest, ReplacementCause::kRecycleAge,
                "it has served for " + format_duration(age) + " (--recycle-after " +
                    format_duration(options_.recycle_after) + ")");
}

void Supervisor::start_recycle(Generation& gen, std::uint32_t index, ReplacementCause cause, const std::string& why) {
  auto& serving = std::get<phase::Serving>(phase_);
  WorkerHandle& old = *gen.slots[index].worker;
  const bool handoff = options_.mode == UpgradeMode::kHandoff;
  spdlog::info("recycling {}: {}; a fresh process of the same file takes its place{}", old.name(), why,
               handoff ? " with its state and connections" : ", then it drains");
  // Only a handoff's successor is as large as its predecessor from the start.
  if (auto shortfall = handoff ? memory_shortfall(old.private_memory().value_or(0)) : std::nullopt)
    return recycle_failed(gen, index, "its successor would not fit in memory: " + shortfall->describe());
  WorkerConfig config = slot_config(gen, index);
  config.standby = handoff;
  auto successor = launcher_.launch(std::move(config), *this);
  if (!successor) return recycle_failed(gen, index, "its successor could not start: " + successor.status().message());
  serving.recycle.emplace(loop_, index, cause);
  serving.recycle->successor = std::move(successor.value());
  spdlog::info("{} started to replace {}", serving.recycle->successor->name(), old.name());
}

// The slot is tried again later, backing off; the old worker serves on.
void Supervisor::recycle_failed(Generation& gen, std::uint32_t index, const std::string& why) {
  auto& slot = gen.slots[index];
  const auto backoff = std::min(kLongestRetry, kFirstRetry * (1u << std::min(slot.recycle_failures, 5u)));
  ++slot.recycle_failures;
  slot.recycle_not_before = std::chrono::steady_clock::now() + backoff;
  last_recycle_failure_ = "worker " + std::to_string(gen.number) + "." + std::to_string(index) + ": " + why +
                         "; it serves on, next try in " + format_duration(backoff);
  spdlog::warn("recycle of {}", last_recycle_failure_);
}

// Ends the recycle in flight: the successor is ended (unless it is gone
// already), an old worker in the middle of a handoff RESUMEs. The slot backs
// off, unless baton is stopping.
void Supervisor::abort_recycle(const std::string& why, OldWorker old, Retry retry) {
  phase::Recycle* r = recycle();
  if (r == nullptr) return;
  Generation& gen = generations_.at(serving_generation());
  auto successor = std::move(r->successor);
  const std::uint32_t index = r->index;
  const bool linked = r->linked;
  std::get<phase::Serving>(phase_).recycle.reset();
  if (linked && old == OldWorker::kResume) gen.slots[index].worker->resume();
  if (successor && successor->state() != WorkerState::kExited) {
    successor->abandon("its recycle was abandoned: " + why);
    gen.leaving.push_back(std::move(successor));  // until it has exited
  }
  if (retry == Retry::kNever) return;
  recycle_failed(gen, index, why);
  run_pending_upgrade();
}

// ---- the recycle's events -------------------------------------------------
// Each returns false for a worker that is not the recycle's, whose event
// then takes its usual path.

bool Supervisor::is_successor(const WorkerHandle& w) {
  phase::Recycle* r = recycle();
  return r != nullptr && r->successor.get() == &w;
}

// The old worker of a recycle in handoff mode, once linked to its successor.
bool Supervisor::is_recycled_sender(const WorkerHandle& w) {
  phase::Recycle* r = recycle();
  if (r == nullptr || !r->linked) return false;
  Generation* gen = find(serving_generation());
  return gen != nullptr && gen->slots[r->index].worker.get() == &w;
}

// Drain mode: the successor serves beside the old worker, which drains.
bool Supervisor::recycle_ready(WorkerHandle& w) {
  if (!is_successor(w)) return false;
  spdlog::info("{} ready", w.name());
  generations_.at(serving_generation()).slots[recycle()->index].worker->drain(options_.drain_timeout);
  finish_recycle();
  return true;
}

// Handoff mode: the pair is linked, as an upgrade's pairs are.
bool Supervisor::recycle_standing_by(WorkerHandle& w) {
  if (!is_successor(w)) return false;
  phase::Recycle& r = *recycle();
  WorkerHandle& old = *generations_.at(serving_generation()).slots[r.index].worker;
  spdlog::info("{} standing by; loads state versions {}", w.name(), versions_text(w.state_versions()));
  if (Status st = link_pair(old, w); !st) {
    abort_recycle("linking " + old.name() + " to its successor: " + st.message(), OldWorker::kServing);
    return true;
  }
  r.linked = true;
  r.deadline.start(options_.handoff_timeout, [this] {
    dispatch([this] { abort_recycle("no handoff within --handoff-timeout " + format_duration(options_.handoff_timeout)); });
  });
  return true;
}

bool Supervisor::recycle_sent(WorkerHandle& w) {
  if (!is_recycled_sender(w)) return false;
  recycle()->sent = true;
  commit_recycle_if_done();
  return true;
}

bool Supervisor::recycle_restored(WorkerHandle& w) {
  if (!is_successor(w)) return false;
  recycle()->restored = true;
  commit_recycle_if_done();
  return true;
}

// COMMIT the successor first: by the time the old worker exits, it serves.
void Supervisor::commit_recycle_if_done() {
  phase::Recycle& r = *recycle();
  if (!r.sent || !r.restored) return;
  r.deadline.stop();
  r.successor->commit(options_.drain_timeout);
  generations_.at(serving_generation()).slots[r.index].worker->commit(options_.drain_timeout);
  finish_recycle();
}

// A pre-copying old worker pauses now: its successor loads the rest at full priority.
bool Supervisor::recycle_precopied(WorkerHandle& w) {
  if (!is_recycled_sender(w)) return false;
  recycle()->successor->end_low_start();
  return true;
}

bool Supervisor::recycle_refused(WorkerHandle& w, const std::string& why) {
  if (!is_recycled_sender(w)) return false;
  abort_recycle(w.name() + " refused the handoff: " + why);
  return true;
}

// The successor died: the recycle failed. The old worker died: the recycle
// ends, and its slot restarts as after any crash (false: the usual path).
bool Supervisor::recycle_exited(WorkerHandle& w, const WorkerExit& info) {
  if (is_successor(w)) {
    abort_recycle(w.name() + " " + info.describe());
    return true;
  }
  phase::Recycle* r = recycle();
  Generation* gen = find(serving_generation());
  if (r != nullptr && gen != nullptr && gen->slots[r->index].worker.get() == &w)
    abort_recycle(w.name() + " " + info.describe() + " while being recycled", OldWorker::kGone);
  return false;
}

// A worker replaced in its slot (by a recycle, or a rolling upgrade) has finished.
bool Supervisor::leaving_exited(WorkerHandle& w, const WorkerExit& info) {
  Generation* gen = find(w.generation());
  if (gen == nullptr) return false;
  auto it = std::find_if(gen->leaving.begin(), gen->leaving.end(), [&](const auto& l) { return l.get() == &w; });
  if (it == gen->leaving.end()) return false;
  spdlog::info("{} {}", w.name(), info.describe());
  gen->leaving.erase(it);  // `w` is gone
  advance_rolling();  // a rolling upgrade's next batch waits for the last one's old workers
  return true;
}

// The swap: the successor serves in the slot; the old worker is leaving.
void Supervisor::finish_recycle() {
  phase::Recycle& r = *recycle();
  Generation& gen = generations_.at(serving_generation());
  auto& slot = gen.slots[r.index];
  const ReplacementCause cause = r.cause;
  std::unique_ptr<WorkerHandle> old = std::exchange(slot.worker, std::move(r.successor));
  std::get<phase::Serving>(phase_).recycle.reset();
  spdlog::info("{} recycled: {} serves in its place", old->name(), slot.worker->name());
  slot.recycle_at = std::chrono::steady_clock::time_point::max();  // due again from the successor's start
  slot.recycle_failures = 0;
  gen.leaving.push_back(std::move(old));
  count_replacements(cause, 1);
  run_pending_upgrade();
}

void Supervisor::count_replacements(ReplacementCause cause, std::uint64_t n) {
  replacements_[static_cast<std::size_t>(cause)] += n;
  if (observer_) observer_->workers_replaced(cause, n);
}

}  // namespace baton
