// Supervisor, rollback after cutover (--probation): for that long after an
// upgrade, a crash of the new generation sends baton back to the previous
// one. In handoff mode the previous workers were PARKed, not COMMITted: they
// still hold their state, and RESUME brings them back at once. Otherwise
// (drain mode, or workers that cannot park) the previous generation's file,
// held open since it started, starts again as a new generation.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "duration.h"
#include "supervisor.h"

namespace baton {

void Supervisor::start_probation(Generation& gen, std::uint64_t previous) {
  Generation* before = find(previous);
  auto& probation = std::get<phase::Serving>(phase_).probation.emplace(loop_, gen.number, previous,
                                                                       before ? before->executable : nullptr);
  spdlog::info("{} on probation for {}: if it crashes, baton rolls back to {}", gen_name(gen.number),
               format_duration(options_.probation), gen_name(previous));
  probation.timer.start(options_.probation, [this] { dispatch([&] { end_probation(""); }); });
  if (observer_) observer_->probation_started(gen.number);
}

// `why` is empty when the probation ran its course.
void Supervisor::end_probation(const std::string& why) {
  auto* serving = std::get_if<phase::Serving>(&phase_);
  if (!serving || !serving->probation) return;
  const std::uint64_t gen = serving->probation->generation;
  const std::uint64_t previous = serving->probation->previous;
  serving->probation.reset();
  if (observer_) observer_->probation_ended(gen);
  Generation* parked = find(previous);
  const bool was_parked = parked != nullptr && parked->role == Generation::Role::kParked;
  if (was_parked) retire(*parked, [&](WorkerHandle& w) { w.commit(options_.drain_timeout); });
  if (why.empty())
    spdlog::info("{} passed its probation{}", gen_name(gen),
                 was_parked ? "; " + gen_name(previous) + "'s parked workers exit" : "");
  else
    spdlog::info("probation of {} ends early: {}", gen_name(gen), why);
}

bool Supervisor::on_probation(const Generation& gen) const {
  return probation() && probation()->generation == gen.number;
}

// A worker that says it cannot serve well is as bad as one that crashed,
// while its generation is on probation; afterwards it is the application's
// own business (its load balancer checks say the same).
void Supervisor::report_unhealthy(std::uint64_t generation, const std::string& reason) {
  dispatch([&] {
    if (Generation* gen = find(generation); gen != nullptr && on_probation(*gen)) roll_back(*gen, reason);
  });
}

void Supervisor::worker_unhealthy(WorkerHandle& w, const std::string& reason) {
  if (rolling_unhealthy(w, reason)) return;
  Generation& gen = generations_.at(w.generation());
  if (on_probation(gen)) return roll_back(gen, w.name() + " reported itself unhealthy (" + reason + ")");
  spdlog::warn("{} reports itself unhealthy: {}; it serves on (a generation is rolled back for it only on "
               "--probation)",
               w.name(), reason);
}

// Handed off, but kept: COMMIT after the probation, RESUME on a rollback.
void Supervisor::park_generation(Generation& gen) {
  gen.role = Generation::Role::kParked;
  gen.retiring_since = std::chrono::steady_clock::now();
  gen.cancel_restarts();
  gen.for_each_worker([&](WorkerHandle& w) { w.park(options_.drain_timeout); });
}

// A worker of the generation on probation crashed: go back to the previous one.
void Supervisor::roll_back(Generation& failing, const std::string& crash) {
  // Only a serving supervisor has a generation on probation.
  auto& probation = std::get<phase::Serving>(phase_).probation;
  const auto after = std::chrono::steady_clock::now() - probation->since;
  const std::uint64_t previous = probation->previous;
  auto executable = probation->previous_executable;
  probation.reset();
  if (observer_) observer_->probation_ended(failing.number);
  RollbackRecord& rollback = last_rollback_.emplace();
  rollback.from = failing.number;
  rollback.reason = crash + " " + format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(after)) +
                    " after taking over (--probation " + format_duration(options_.probation) + ")";
  ++rollbacks_;
  spdlog::warn("rolling back from {}: {}", gen_name(failing.number), rollback.reason);
  Generation* parked = find(previous);
  // A worker still parking has everything too: it reads RESUME after its PARK.
  const bool all_parked = parked != nullptr && std::all_of(parked->slots.begin(), parked->slots.end(), [](auto& s) {
    return s.worker && (s.worker->state() == WorkerState::kParked || s.worker->state() == WorkerState::kParking);
  });
  if (parked != nullptr && parked->role == Generation::Role::kParked && all_parked) {
    resume_parked(*parked, failing);
  } else {
    // Workers that could not park, or some that died: the file starts afresh, empty.
    if (parked != nullptr && parked->role == Generation::Role::kParked)
      retire(*parked, [&](WorkerHandle& w) { w.commit(options_.drain_timeout); });
    rollback.to = next_generation_;
    begin_upgrade(std::move(executable));
  }
  if (observer_) observer_->rolled_back(rollback);
}

void Supervisor::resume_parked(Generation& parked, Generation& failing) {
  parked.role = Generation::Role::kActive;
  parked.for_each_worker([](WorkerHandle& w) { w.resume(); });
  count_replacements(ReplacementCause::kRollback, parked.slots.size());
  std::get<phase::Serving>(phase_).generation = parked.number;
  drain_generation(failing);
  last_rollback_->to = parked.number;
  last_rollback_->resumed = true;
  last_rollback_->serving_after = std::chrono::steady_clock::now() - last_rollback_->crashed;
  spdlog::warn("rolled back: {} serves again with the state it held at the handoff (writes made to {} since then "
               "are lost); {} drains",
               gen_name(parked.number), gen_name(failing.number), gen_name(failing.number));
}

}  // namespace baton
