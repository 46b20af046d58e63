// Rolling upgrades (--rolling N): the candidate generation replaces the
// serving one N slots at a time, each slot as a recycle replaces a worker:
//
//   drain mode:    new worker READY  -> the old one drains
//   handoff mode:  new worker STANDBY -> HANDOFF to both -> SENT + RESTORED
//                  -> COMMIT the new one, then the old one (it exits)
//
// The next batch starts once the last batch's old workers have exited, so at
// most workers + N processes are alive and at least workers - N serve. Both
// generations serve while it runs; the candidate is promoted after the last
// batch. A batch that fails (a new worker dies, refuses, reports itself
// unhealthy, or is too slow) turns the upgrade round: the batch's new workers
// go, and the slots already replaced are replaced again, in batches too, by
// the serving generation's file, held since it started (their state moves
// back in handoff mode). A slot that cannot go back after kBackTries starts
// afresh, as after a crash.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "baton/protocol.h"
#include "duration.h"
#include "supervisor.h"

namespace baton {
namespace {

constexpr unsigned kBackTries = 3;

std::uint32_t batches_for(std::size_t slots, unsigned batch_size) {
  return static_cast<std::uint32_t>((slots + batch_size - 1) / batch_size);
}

std::string slot_name(std::uint64_t generation, std::uint32_t index) {
  return "worker " + std::to_string(generation) + "." + std::to_string(index);
}

}  // namespace

phase::Rolling* Supervisor::rolling() {
  auto* u = upgrading();
  return u && u->rolling ? &*u->rolling : nullptr;
}

Generation& Supervisor::rolling_from() {
  const auto& u = *upgrading();
  return generations_.at(u.rolling->back ? u.candidate : u.serving);
}

Generation& Supervisor::rolling_to() {
  const auto& u = *upgrading();
  return generations_.at(u.rolling->back ? u.serving : u.candidate);
}

void Supervisor::begin_rolling(std::uint64_t candidate, unsigned batch_size) {
  const std::uint64_t serving = serving_generation();
  if (Status st = create_generation(candidate, Generation::Role::kCandidate, nullptr); !st) {
    spdlog::error("upgrade to {} failed: {}; {}", gen_name(candidate), st.message(), who_serves());
    return finish_upgrade(UpgradeRecord::Result::kFailed, st.message());
  }
  const auto slots = static_cast<std::uint32_t>(options_.workers);
  auto& r = phase_.emplace<phase::Upgrading>(serving, candidate).rolling.emplace(loop_, batch_size, slots);
  for (std::uint32_t i = 0; i < slots; ++i) r.waiting.push_back(i);
  last_upgrade_->rolling = RollingProgress{.batch_size = batch_size, .batches = batches_for(slots, batch_size)};
  spdlog::info("upgrade to {} rolls {} of {} workers at a time: {} batches", gen_name(candidate), batch_size, slots,
               last_upgrade_->rolling->batches);
  advance_rolling();
}

// The next batch starts once every swap of the last one is done and the
// workers it replaced have exited (their memory is free again).
void Supervisor::advance_rolling() {
  phase::Rolling* r = rolling();
  if (r == nullptr || r->starting) return;
  if (!std::all_of(r->swaps.begin(), r->swaps.end(), [](const auto& s) { return s.done; })) return;
  if (!rolling_from().leaving.empty() || !rolling_to().leaving.empty()) return;
  r->swaps.clear();
  r->deadline.stop();
  if (r->waiting.empty()) return r->back ? finish_rolling_back() : finish_rolling();
  RollingProgress& progress = *last_upgrade_->rolling;
  ++(r->back ? progress.back_batch : progress.batch);
  note_progress();
  const std::size_t n = std::min<std::size_t>(r->batch_size, r->waiting.size());
  const std::vector<std::uint32_t> batch(r->waiting.begin(), r->waiting.begin() + n);
  r->waiting.erase(r->waiting.begin(), r->waiting.begin() + n);
  const auto limit = options_.ready_timeout + (options_.mode == UpgradeMode::kHandoff ? options_.handoff_timeout
                                                                                       : std::chrono::milliseconds(0));
  r->deadline.start(limit, [this, limit] {
    dispatch([&] {
      phase::Rolling* late = rolling();
      if (late == nullptr) return;
      std::vector<std::uint32_t> unfinished;
      for (const auto& s : late->swaps)
        if (!s.done) unfinished.push_back(s.index);
      for (std::uint32_t i : unfinished)
        if (rolling()) swap_failed(i, "its batch was not done within " + format_duration(limit));
    });
  });
  // A start that fails calls back in here (swap_failed): the batch is
  // started whole first, then looked at once.
  const bool back = r->back;
  r->starting = true;
  for (std::uint32_t i : batch) {
    if (r->back != back) break;  // a start failed and turned the upgrade round: the rest stay as they are
    start_swap(i);
  }
  r->starting = false;
  advance_rolling();
}

void Supervisor::note_progress() {
  const RollingProgress& p = *last_upgrade_->rolling;
  if (p.back_batch > 0)
    spdlog::info("rolling back {}: batch {} of {}", gen_name(upgrading()->candidate), p.back_batch, p.back_batches);
  else
    spdlog::info("upgrade to {}: batch {} of {}", gen_name(upgrading()->candidate), p.batch, p.batches);
}

// A new worker in slot `index` of rolling_to(); in handoff mode it waits for
// the state of the old one, if that one serves.
void Supervisor::start_swap(std::uint32_t index) {
  phase::Rolling& r = *rolling();
  Generation& from = rolling_from();
  Generation& to = rolling_to();
  const auto& old = from.slots[index].worker;
  const bool state_moves = options_.mode == UpgradeMode::kHandoff && old && old->state() == WorkerState::kReady;
  r.swaps.push_back({index});
  if (Status st = spawn_slot(to, index, state_moves); !st)
    return swap_failed(index, slot_name(to.number, index) + " could not start: " + st.message());
  if (old) spdlog::info("{} started to replace {}", to.slots[index].worker->name(), old->name());
}

// The swap whose new or old worker `w` is, if it is not done.
phase::Rolling::Swap* Supervisor::swap_of(const WorkerHandle& w, bool* is_new) {
  phase::Rolling* r = rolling();
  if (r == nullptr) return nullptr;
  for (auto& s : r->swaps) {
    if (s.done) continue;
    const bool new_one = rolling_to().slots[s.index].worker.get() == &w;
    if (!new_one && rolling_from().slots[s.index].worker.get() != &w) continue;
    if (is_new) *is_new = new_one;
    return &s;
  }
  return nullptr;
}

// The new worker serves in the slot; the old one (if any) is leaving: told
// to drain (drain mode) or COMMITted already (handoff mode).
void Supervisor::swap_done(phase::Rolling::Swap& swap) {
  phase::Rolling& r = *rolling();
  Generation& from = rolling_from();
  auto& slot = from.slots[swap.index];
  slot.restart.reset();  // a crashed old worker is not started again: its successor serves
  if (slot.worker) {
    if (!swap.linked) slot.worker->drain(options_.drain_timeout);
    spdlog::info("{} replaced by {}", slot.worker->name(), rolling_to().slots[swap.index].worker->name());
    from.leaving.push_back(std::move(slot.worker));
  }
  swap.done = true;
  r.replaced.push_back(swap.index);
  advance_rolling();
}

// Forward, any failure turns the whole upgrade round. Back, the slot tries
// again (its old worker, if linked, RESUMEs and serves on meanwhile).
void Supervisor::swap_failed(std::uint32_t index, const std::string& why) {
  phase::Rolling& r = *rolling();
  if (!r.back) return rolling_failed(why);
  Generation& from = rolling_from();
  Generation& to = rolling_to();
  auto it = std::find_if(r.swaps.begin(), r.swaps.end(), [&](const auto& s) { return s.index == index; });
  if (it == r.swaps.end() || it->done) return;
  if (it->linked && from.slots[index].worker) from.slots[index].worker->resume();
  if (auto& w = to.slots[index].worker) {
    w->abandon("its rollback step failed: " + why);
    to.leaving.push_back(std::move(w));
  }
  r.swaps.erase(it);
  if (++r.tries[index] < kBackTries) {
    spdlog::warn("rolling back {}: {}; trying again ({} of {})", slot_name(from.number, index), why,
                 r.tries[index] + 1, kBackTries);
    r.waiting.insert(r.waiting.begin(), index);
    RollingProgress& progress = *last_upgrade_->rolling;
    progress.back_batches = progress.back_batch + batches_for(r.waiting.size(), r.batch_size);
  } else {
    give_up_slot(index, why);
  }
  advance_rolling();
}

// The previous file would not take the slot's state back: the candidate's
// worker drains, and the slot starts afresh as after a crash.
void Supervisor::give_up_slot(std::uint32_t index, const std::string& why) {
  Generation& from = rolling_from();
  Generation& to = rolling_to();
  spdlog::error("rolling back slot {}: {} ({} tries); its state is lost, and {} starts again empty", index, why,
                kBackTries, slot_name(to.number, index));
  if (auto& w = from.slots[index].worker) {
    w->drain(options_.drain_timeout);
    from.leaving.push_back(std::move(w));
  }
  rolling()->replaced.push_back(index);
  restart_later(to, index, to.slots[index].backoff.on_failed_start());
}

void Supervisor::rolling_failed(const std::string& why) {
  phase::Rolling& r = *rolling();
  Generation& old = rolling_from();
  Generation& candidate = rolling_to();
  RollingProgress& progress = *last_upgrade_->rolling;
  progress.failed_batch = progress.batch;
  for (const auto& s : r.swaps) {
    if (s.done) continue;
    if (s.linked && old.slots[s.index].worker) old.slots[s.index].worker->resume();
    if (auto& w = candidate.slots[s.index].worker) {
      w->abandon(gen_name(candidate.number) + " is rolled back");
      candidate.leaving.push_back(std::move(w));
    }
  }
  r.swaps.clear();
  r.deadline.stop();
  r.back = true;
  r.waiting.assign(r.replaced.rbegin(), r.replaced.rend());
  r.replaced.clear();
  progress.back_batches = batches_for(r.waiting.size(), r.batch_size);
  last_upgrade_->reason = "batch " + std::to_string(progress.batch) + " of " + std::to_string(progress.batches) +
                          " failed: " + why;
  spdlog::error("upgrade to {} failed: {}; {} worker(s) already replaced go back to {}'s file{}",
                gen_name(candidate.number), last_upgrade_->reason, r.waiting.size(), gen_name(old.number),
                options_.mode == UpgradeMode::kHandoff ? " with their state" : "");
  advance_rolling();  // once the batch's new workers have exited
}

// Forward, done: the candidate serves in every slot.
void Supervisor::finish_rolling() {
  Generation& old = rolling_from();
  Generation& candidate = rolling_to();
  const RollingProgress progress = *last_upgrade_->rolling;
  last_upgrade_->moved = rolling()->moved;
  retire(old, [](WorkerHandle&) {});  // every slot is empty; collect_finished() forgets it
  std::string how = "replaced " + std::to_string(candidate.slots.size()) + " workers in " +
                    std::to_string(progress.batches) + " batches of " + std::to_string(progress.batch_size);
  if (options_.mode == UpgradeMode::kHandoff)
    how += "; handed over " + std::to_string(last_upgrade_->moved.state_bytes) + " bytes of state and " +
           std::to_string(last_upgrade_->moved.connections) + " connections";
  promote(candidate, how);
}

// Back, done: the previous generation serves in every slot again.
void Supervisor::finish_rolling_back() {
  Generation& candidate = rolling_from();  // back: the candidate's workers are the ones replaced
  const std::uint64_t serving = upgrading()->serving;
  const std::size_t back = rolling()->replaced.size();
  retire(candidate, [](WorkerHandle&) {});
  phase_.emplace<phase::Serving>(serving);
  count_replacements(ReplacementCause::kRollback, back);
  const std::string why = last_upgrade_->reason + "; rolled back: " + std::to_string(back) +
                          " worker(s) replaced again by " + gen_name(serving) + "'s file";
  spdlog::warn("upgrade to {} failed: {}; {}", gen_name(candidate.number), why, who_serves());
  finish_upgrade(UpgradeRecord::Result::kFailed, why);
  run_pending_upgrade();
}

// ---- the swaps' events ----------------------------------------------------
// Each returns false for a worker that is not a swap's, whose event then
// takes its usual path.

bool Supervisor::rolling_ready(WorkerHandle& w) {
  bool is_new = false;
  phase::Rolling::Swap* s = swap_of(w, &is_new);
  if (s == nullptr || !is_new) return false;
  spdlog::info("{} ready", w.name());
  swap_done(*s);
  return true;
}

bool Supervisor::rolling_standing_by(WorkerHandle& w) {
  bool is_new = false;
  phase::Rolling::Swap* s = swap_of(w, &is_new);
  if (s == nullptr || !is_new) return false;
  spdlog::info("{} standing by; loads state versions {}", w.name(), versions_text(w.state_versions()));
  auto& old = rolling_from().slots[s->index].worker;
  if (!old || old->state() != WorkerState::kReady) {
    swap_failed(s->index, slot_name(rolling_from().number, s->index) + " is not serving (restarting?); its state cannot move");
    return true;
  }
  if (Status st = link_pair(*old, w); !st) {
    swap_failed(s->index, "linking " + old->name() + " to its successor: " + st.message());
    return true;
  }
  s->linked = true;
  return true;
}

bool Supervisor::rolling_sent(WorkerHandle& w) {
  bool is_new = true;
  phase::Rolling::Swap* s = swap_of(w, &is_new);
  if (s == nullptr || is_new) return false;
  s->sent = true;
  commit_swap_if_done(*s);
  return true;
}

bool Supervisor::rolling_restored(WorkerHandle& w, const HandoffTotals& totals) {
  bool is_new = false;
  phase::Rolling::Swap* s = swap_of(w, &is_new);
  if (s == nullptr || !is_new) return false;
  if (!rolling()->back) {
    rolling()->moved.state_bytes += totals.state_bytes;
    rolling()->moved.connections += totals.connections;
  }
  s->restored = true;
  commit_swap_if_done(*s);
  return true;
}

// COMMIT the new worker first: by the time the old one exits, it serves.
void Supervisor::commit_swap_if_done(phase::Rolling::Swap& swap) {
  if (!swap.sent || !swap.restored) return;
  rolling_to().slots[swap.index].worker->commit(options_.drain_timeout);
  rolling_from().slots[swap.index].worker->commit(options_.drain_timeout);
  swap_done(swap);
}

// A pre-copying old worker pauses now: its successor loads the rest at full priority.
bool Supervisor::rolling_precopied(WorkerHandle& w) {
  bool is_new = true;
  phase::Rolling::Swap* s = swap_of(w, &is_new);
  if (s == nullptr || is_new) return false;
  rolling_to().slots[s->index].worker->end_low_start();
  return true;
}

bool Supervisor::rolling_refused(WorkerHandle& w, const std::string& why) {
  phase::Rolling::Swap* s = swap_of(w);
  if (s == nullptr) return false;
  swap_failed(s->index, w.name() + " refused the handoff: " + why);
  return true;
}

// A new worker of the upgrade that says it cannot serve well fails it, as a crash would.
bool Supervisor::rolling_unhealthy(WorkerHandle& w, const std::string& reason) {
  phase::Rolling* r = rolling();
  if (r == nullptr || r->back || w.generation() != upgrading()->candidate) return false;
  rolling_failed(w.name() + " reported itself unhealthy (" + reason + ")");
  return true;
}

// The candidate's workers are the rolling upgrade's wherever they are; the
// serving generation's only while they are a swap's (else a crash restarts
// the slot as usual).
bool Supervisor::rolling_exited(WorkerHandle& w, const WorkerExit& info) {
  phase::Rolling* r = rolling();
  if (r == nullptr) return false;
  const std::string what = w.name() + " " + info.describe();
  const std::uint32_t index = w.index();
  phase::Rolling::Swap* s = swap_of(w);
  if (w.generation() == upgrading()->candidate) {
    generations_.at(w.generation()).slots[index].worker.reset();  // `w` is gone
    if (!r->back) rolling_failed(what);
    else if (s != nullptr) swap_failed(index, what);
    return true;
  }
  if (s == nullptr) return false;
  if (!r->back) {
    // The old worker: its slot restarts as after any crash (nothing to RESUME).
    if (s->linked) {
      s->linked = false;
      rolling_failed(what + " during its handoff; its state is lost");
    }
    return false;
  }
  generations_.at(w.generation()).slots[index].worker.reset();  // a new worker of the rollback
  swap_failed(index, what);
  return true;
}

}  // namespace baton
