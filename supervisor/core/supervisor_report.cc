// Supervisor::report(): the snapshot behind `baton status` and the metrics.
#include "supervisor.h"

namespace baton {
namespace {

const char* state_text(Supervisor::State s) {
  switch (s) {
    case Supervisor::State::kStarting: return "starting";
    case Supervisor::State::kServing: return "serving";
    case Supervisor::State::kUpgrading: return "upgrading";
    case Supervisor::State::kStopping: return "stopping";
  }
  return "?";
}

WorkerReport report_worker(const WorkerHandle& worker, unsigned restarts) {
  WorkerReport w{.index = worker.index(), .restarts = restarts};
  w.pid = worker.pid();
  w.state = state_name(worker.state());
  w.uptime = std::chrono::steady_clock::now() - worker.started_at();
  w.reported_clients = worker.reported_clients();
  if (auto due = worker.pending_signal()) {
    w.deadline_signal = due->signal;
    w.deadline_in = due->in;
  }
  return w;
}

// An empty slot waits to restart after a crash, or (a rolling upgrade) for
// its batch, or has been handed to the other generation.
WorkerReport report_slot(const Generation& gen, std::uint32_t index) {
  const auto& slot = gen.slots[index];
  if (slot.worker) return report_worker(*slot.worker, slot.restarts);
  const char* state = slot.restart && slot.restart->active() ? "restarting"
                      : gen.role == Generation::Role::kCandidate ? "waiting"
                                                                 : "replaced";
  return WorkerReport{.index = index, .state = state, .restarts = slot.restarts};
}

}  // namespace

std::string Supervisor::not_ready_reason() const {
  // From the first moment of a stop: the workers drain after this, so the
  // load balancer must already look elsewhere.
  if (state() == State::kStopping) return "stopping";
  if (serving_generation() == 0) return "no generation serves yet";
  return "";
}

SupervisorReport Supervisor::report() const {
  SupervisorReport r{.state = state_text(state()),
                     .mode = options_.mode == UpgradeMode::kHandoff ? "handoff" : "drain",
                     .serving = serving_generation(),
                     .not_ready = not_ready_reason(),
                     .upgrade_pending = upgrade_pending_,
                     .pending_reason = upgrade_pending_ ? pending_reason() : "",
                     .last_upgrade = last_upgrade_,
                     .upgrades_committed = upgrades_committed_,
                     .upgrades_failed = upgrades_failed_,
                     .worker_restarts = worker_restarts_,
                     .rollbacks = rollbacks_,
                     .last_rollback = last_rollback_,
                     .hangs = hangs_,
                     .last_hang = last_hang_,
                     .replacements = replacements_,
                     .last_recycle_failure = last_recycle_failure_};
  if (const auto* serving = std::get_if<phase::Serving>(&phase_); serving && serving->recycle) {
    const phase::Recycle& rc = *serving->recycle;
    r.recycling = SupervisorReport::RecycleReport{rc.index, cause_name(rc.cause), rc.successor ? rc.successor->pid() : 0};
  }
  if (const phase::Probation* p = probation()) {
    const auto left = p->since + options_.probation - std::chrono::steady_clock::now();
    r.probation = SupervisorReport::ProbationReport{p->generation, p->previous, left};
  }
  for (const auto& [number, gen] : generations_) {
    GenerationReport g{.number = number, .role = role_name(gen.role)};
    if (gen.role == Generation::Role::kRetiring || gen.role == Generation::Role::kParked)
      g.leaving_for = std::chrono::steady_clock::now() - gen.retiring_since;
    for (std::uint32_t i = 0; i < gen.slots.size(); ++i) {
      const auto& slot = gen.slots[i];
      // A retiring generation's empty slots are gone for good, not restarting.
      if (slot.worker || gen.role != Generation::Role::kRetiring) g.workers.push_back(report_slot(gen, i));
    }
    for (const auto& w : gen.leaving) g.workers.push_back(report_worker(*w, 0));
    r.generations.push_back(std::move(g));
  }
  return r;
}

}  // namespace baton
