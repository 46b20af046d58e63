// Supervisor, handoff mode (--mode handoff): pairing old and new workers over
// links, and COMMIT once every new worker has RESTORED. Rolling back lives in
// fail_upgrade() (supervisor.cc), shared with drain mode.
#include <spdlog/spdlog.h>

#include "baton/channel.h"
#include "duration.h"
#include "supervisor.h"

namespace baton {
void Supervisor::on_worker_standby(std::uint64_t g, std::uint32_t index) {
  Generation& gen = generations_.at(g);
  WorkerHandle& w = *gen.slots[index].worker;
  std::string versions;
  for (auto v : w.state_versions()) versions += (versions.empty() ? "" : ", ") + std::to_string(v);
  spdlog::info("{} standing by; loads state versions [{}]", w.name(), versions);
  if (gen.role == Generation::Role::kCandidate && gen.all_in(WorkerState::kStandby)) start_handoff(gen);
  collect_finished();
}

void Supervisor::on_worker_sent(std::uint64_t g, std::uint32_t index, const HandoffTotals& t) {
  spdlog::info("{} sent {} bytes of state and {} connections", generations_.at(g).slots[index].worker->name(),
               t.state_bytes, t.connections);
}

void Supervisor::on_worker_restored(std::uint64_t g, std::uint32_t index, const HandoffTotals& t) {
  Generation& gen = generations_.at(g);
  spdlog::info("{} restored {} bytes of state and {} connections", gen.slots[index].worker->name(), t.state_bytes,
               t.connections);
  handoff_totals_.state_bytes += t.state_bytes;
  handoff_totals_.connections += t.connections;
  if (gen.role == Generation::Role::kCandidate && gen.all_in(WorkerState::kRestored)) commit_handoff(gen);
  collect_finished();
}

void Supervisor::on_worker_refused(std::uint64_t g, std::uint32_t index, const std::string& why) {
  const std::string who = generations_.at(g).slots[index].worker->name();
  if (auto it = generations_.find(candidate_); it != generations_.end())
    fail_upgrade(it->second, who + " refused the handoff: " + why);
  collect_finished();
}

void Supervisor::start_handoff(Generation& candidate) {
  Generation& old = generations_.at(active_);
  for (std::uint32_t i = 0; i < candidate.slots.size(); ++i) {
    const auto& from = old.slots[i].worker;
    if (!from || from->state() != WorkerState::kReady)
      return fail_upgrade(candidate, "worker " + std::to_string(old.number) + "." + std::to_string(i) +
                                         " is not serving (restarting?); a handoff needs every old worker");
  }
  spdlog::info("handoff from {} to {}: {} worker pair(s)", gen_name(old.number), gen_name(candidate.number),
               candidate.slots.size());
  handoff_started_ = std::chrono::steady_clock::now();
  handoff_totals_ = {};
  const std::uint64_t g = candidate.number;
  handoff_deadline_ = std::make_unique<Timer>(loop_);
  handoff_deadline_->start(options_.handoff_timeout, [this, g] {
    fail_upgrade(generations_.at(g), "handoff not done within " + format_duration(options_.handoff_timeout));
    collect_finished();
  });
  for (std::uint32_t i = 0; i < candidate.slots.size(); ++i) {
    WorkerHandle& from = *old.slots[i].worker;
    WorkerHandle& to = *candidate.slots[i].worker;
    // The link is theirs: each end goes to one worker and ours close here, so
    // the state flows worker to worker and never through the supervisor.
    auto link = Channel::make_pair();
    Status st = link ? to.begin_handoff(false, {}, options_.handoff_timeout, link->second.fd()) : link.status();
    if (st) st = from.begin_handoff(true, to.state_versions(), options_.handoff_timeout, link->first.fd());
    if (!st) return fail_upgrade(candidate, st.message());
  }
}

void Supervisor::commit_handoff(Generation& candidate) {
  const double pause_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - handoff_started_).count();
  Generation& old = generations_.at(active_);
  // New workers first: by the time an old one exits, its successor serves.
  candidate.for_each_worker([&](WorkerHandle& w) { w.commit(options_.drain_timeout); });
  old.for_each_worker([&](WorkerHandle& w) { w.commit(options_.drain_timeout); });
  old.role = Generation::Role::kRetiring;
  old.cancel_restarts();
  const HandoffTotals totals = handoff_totals_;
  end_handoff();
  promote(candidate, "handed over " + std::to_string(totals.state_bytes) + " bytes of state and " +
                         std::to_string(totals.connections) + " connections; paused " + fmt::format("{:.1f}", pause_ms) +
                         " ms");
}

void Supervisor::end_handoff() { handoff_deadline_.reset(); }

}  // namespace baton
