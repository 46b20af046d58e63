// Supervisor across `baton upgrade --self`: the old baton writes its table of
// generations into the handover table; the new one, the same process after
// exec, rebuilds it and takes every worker over. Only a quiet supervisor
// hands over: serving, no upgrade or handoff in flight, no probation, and
// every worker ready, draining or parked.
#include <spdlog/spdlog.h>

#include "supervisor.h"

namespace baton {
namespace {

// Only a generation that has served can be taken over.
Result<Generation::Role> role_of(const std::string& word) {
  for (auto r : {Generation::Role::kActive, Generation::Role::kRetiring, Generation::Role::kParked})
    if (word == role_name(r)) return r;
  return Status::error("a generation in role \"" + word + "\" cannot be taken over");
}

bool adoptable(WorkerState s) {
  return s == WorkerState::kReady || s == WorkerState::kDraining || s == WorkerState::kParked;
}

}  // namespace

std::string Supervisor::cannot_hand_over() const {
  if (state() == State::kStarting) return "baton is starting; try again once generation 1 serves";
  if (state() == State::kUpgrading) return "an upgrade is running; try again when it has finished";
  if (state() == State::kStopping) return "baton is stopping";
  if (upgrade_pending_) return "an upgrade is queued; try again when it has run";
  if (const auto* serving = std::get_if<phase::Serving>(&phase_); serving && serving->recycle)
    return "a worker is being recycled; try again in a moment";
  if (probation())
    return gen_name(probation()->generation) + " is on probation; try again when it has passed (baton status says when)";
  for (const auto& [n, gen] : generations_) {
    for (const auto& slot : gen.slots)
      if (slot.worker && !adoptable(slot.worker->state()))
        return slot.worker->name() + " is " + state_name(slot.worker->state()) + "; try again in a moment";
    if (!gen.leaving.empty()) return gen.leaving.front()->name() + " is finishing after a recycle; try again in a moment";
  }
  return "";
}

Result<HandoverTable> Supervisor::handover_table() const {
  HandoverTable t{.next_generation = next_generation_,
                  .serving = serving_generation(),
                  .upgrades_committed = upgrades_committed_,
                  .upgrades_failed = upgrades_failed_,
                  .worker_restarts = worker_restarts_,
                  .rollbacks = rollbacks_};
  const auto now = std::chrono::steady_clock::now();
  for (const auto& [number, gen] : generations_) {
    HandoverGeneration g{.number = number, .role = role_name(gen.role), .served = gen.served,
                         .rollback = gen.rollback,
                         .retiring_for_seconds = std::chrono::duration<double>(now - gen.retiring_since).count()};
    if (gen.executable) {
      g.executable_path = gen.executable->path();
      g.executable_fd = gen.executable->fd();
    }
    for (const auto& slot : gen.slots) {
      HandoverSlot s{.restarts = slot.restarts, .restart_in_ms = slot.restart ? slot.restart->due_in().count() : 0};
      if (slot.worker) {
        auto w = slot.worker->handover();
        if (!w) return w.status();
        s.worker = std::move(w.value());
      }
      g.slots.push_back(std::move(s));
    }
    t.generations.push_back(std::move(g));
  }
  return t;
}

Status Supervisor::adopt(const HandoverTable& t) {
  if (Status st = install_handlers(); !st) return st;
  next_generation_ = t.next_generation;
  upgrades_committed_ = t.upgrades_committed;
  upgrades_failed_ = t.upgrades_failed;
  worker_restarts_ = t.worker_restarts;
  rollbacks_ = t.rollbacks;
  phase_.emplace<phase::Serving>(t.serving);
  for (const auto& g : t.generations) {
    auto role = role_of(g.role);
    if (!role) return role.status();
    Generation& gen = generations_[g.number];
    gen.number = g.number;
    gen.role = *role;
    adopt_generation(g);
  }
  return Status::ok();
}

// One generation's workers; a worker that cannot be taken over has been
// killed and reaped by then (its parent is this process: nobody else could).
void Supervisor::adopt_generation(const HandoverGeneration& g) {
  Generation& gen = generations_.at(g.number);
  gen.served = g.served;
  gen.rollback = g.rollback;
  gen.retiring_since = std::chrono::steady_clock::now() -
                       std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                           std::chrono::duration<double>(g.retiring_for_seconds));
  if (g.executable_fd >= 0) gen.executable = launcher_.adopt_held(UniqueFd(g.executable_fd), g.executable_path);
  gen.slots.resize(g.slots.size());
  for (std::uint32_t i = 0; i < g.slots.size(); ++i) {
    const HandoverSlot& s = g.slots[i];
    gen.slots[i].restarts = s.restarts;
    if (!s.worker) {
      if (gen.role == Generation::Role::kActive) restart_later(gen, i, std::chrono::milliseconds(s.restart_in_ms));
      continue;
    }
    WorkerConfig config{options_.command, gen.executable ? gen.executable->exec_path() : "", gen.number, i,
                        options_.ready_timeout, options_.kill_timeout, false, 0, options_.hang_timeout,
                        options_.hang_stacks, options_.hang_signal};
    auto w = launcher_.adopt(std::move(config), *s.worker, *this);
    if (w) {
      gen.slots[i].worker = std::move(w.value());
      continue;
    }
    spdlog::error("worker {}.{} (pid {}) could not be taken over, and was killed: {}", gen.number, i,
                  s.worker->pid, w.status().message());
    if (gen.role == Generation::Role::kActive) restart_later(gen, i, std::chrono::milliseconds(0));
  }
}

}  // namespace baton
