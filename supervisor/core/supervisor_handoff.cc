// Supervisor, handoff mode (--mode handoff): pairing old and new workers over
// links, and COMMIT once every new worker has RESTORED. Rolling back lives in
// fail_upgrade() (supervisor.cc), shared with drain mode.
#include <spdlog/spdlog.h>

#include "baton/channel.h"
#include "baton/protocol.h"
#include "duration.h"
#include "supervisor.h"

namespace baton {

void Supervisor::worker_standing_by(WorkerHandle& w) {
  if (recycle_standing_by(w) || rolling_standing_by(w)) return;
  Generation& gen = generations_.at(w.generation());
  spdlog::info("{} standing by; loads state versions {}", w.name(), versions_text(w.state_versions()));
  if (gen.role != Generation::Role::kCandidate || !gen.all_in(WorkerState::kStandby)) return;
  candidate_started(gen);
  start_handoff(gen);
}

// The pause of `sender`'s pair has begun: its receiver loads the rest at
// full priority. (Also at SENT, for a sender that said it pre-copies and did not.)
void Supervisor::raise_receiver_of(const WorkerHandle& sender) {
  Generation* candidate = upgrading() ? find(upgrading()->candidate) : nullptr;
  if (!candidate || sender.index() >= candidate->slots.size()) return;
  if (auto& to = candidate->slots[sender.index()].worker) to->end_low_start();
}

void Supervisor::worker_sent(WorkerHandle& w, const HandoffTotals& t) {
  spdlog::info("{} sent {} bytes of state and {} connections", w.name(), t.state_bytes, t.connections);
  if (recycle_sent(w) || rolling_sent(w)) return;
  raise_receiver_of(w);
}

void Supervisor::worker_precopied(WorkerHandle& w, const Precopied& p) {
  if (recycle_precopied(w) || rolling_precopied(w)) return;
  phase::HandoffInFlight* handoff = this->handoff();
  if (!handoff) return;
  raise_receiver_of(w);
  const auto now = std::chrono::steady_clock::now();
  spdlog::info("{} pre-copied {} bytes of state and lent {} connections ahead while serving ({} round(s) of changes, "
               "{:.1f} ms); pausing for the rest",
               w.name(), p.state_bytes, p.connections_ahead, p.rounds,
               std::chrono::duration<double, std::milli>(now - handoff->started).count());
  ++handoff->precopied;
  handoff->precopy_bytes += p.state_bytes;
  handoff->connections_ahead += p.connections_ahead;
  if (!handoff->first_paused) handoff->first_paused = now;
}

void Supervisor::worker_restored(WorkerHandle& w, const HandoffTotals& t) {
  Generation& gen = generations_.at(w.generation());
  spdlog::info("{} restored {} bytes of state and {} connections", w.name(), t.state_bytes, t.connections);
  if (recycle_restored(w) || rolling_restored(w, t)) return;
  phase::HandoffInFlight* handoff = this->handoff();
  if (!handoff || gen.role != Generation::Role::kCandidate) return;
  handoff->totals.state_bytes += t.state_bytes;
  handoff->totals.connections += t.connections;
  if (gen.all_in(WorkerState::kRestored)) commit_handoff(gen);
}

void Supervisor::worker_refused(WorkerHandle& w, const std::string& why) {
  if (recycle_refused(w, why) || rolling_refused(w, why)) return;
  if (Generation* candidate = upgrading() ? find(upgrading()->candidate) : nullptr) fail_upgrade(*candidate, w.name() + " refused the handoff: " + why);
}

void Supervisor::start_handoff(Generation& candidate) {
  Generation& old = generations_.at(serving_generation());
  for (std::uint32_t i = 0; i < candidate.slots.size(); ++i) {
    const auto& from = old.slots[i].worker;
    if (!from || from->state() != WorkerState::kReady)
      return fail_upgrade(candidate, "worker " + std::to_string(old.number) + "." + std::to_string(i) +
                                         " is not serving (restarting?); a handoff needs every old worker");
  }
  spdlog::info("handoff from {} to {}: {} worker pair(s)", gen_name(old.number), gen_name(candidate.number),
               candidate.slots.size());
  upgrading()->handoff.emplace(loop_).deadline.start(options_.handoff_timeout, [this, &candidate] {
    // The candidate outlives the handoff: only fail_upgrade() and a stop retire it, and both end the handoff.
    dispatch([&] {
      fail_upgrade(candidate, "handoff not done within " + format_duration(options_.handoff_timeout));
    });
  });
  for (std::uint32_t i = 0; i < candidate.slots.size(); ++i) {
    if (Status st = link_pair(*old.slots[i].worker, *candidate.slots[i].worker); !st)
      return fail_upgrade(candidate, st.message());
  }
}

// Gives one old/new pair a link of their own. Each end goes to one worker and
// ours close here, so the state flows worker to worker, never through baton.
Status Supervisor::link_pair(WorkerHandle& from, WorkerHandle& to) {
  auto link = Channel::make_pair();
  if (!link) return link.status();
  if (Status st = to.begin_handoff(HandoffRole::kReceiver, {}, options_.handoff_timeout, link->second.fd()); !st)
    return st;
  // Without pre-copy the pause starts now, and the receiver's speed is the pause's.
  const bool precopy = (from.features() & kFeatureSendsPrecopy) && (to.features() & kFeatureLoadsPrecopy);
  if (!precopy) to.end_low_start();
  return from.begin_handoff(HandoffRole::kSender, {to.state_versions(), to.features()}, options_.handoff_timeout,
                            link->first.fd());
}

// The pause: from HANDOFF, or when every old worker pre-copied, from the
// first one's PRECOPIED (each paused only then).
void Supervisor::commit_handoff(Generation& candidate) {
  const auto now = std::chrono::steady_clock::now();
  auto& handoff = upgrading()->handoff;
  const bool precopied = handoff->precopied == candidate.slots.size() && handoff->first_paused;
  const auto paused_since = precopied ? *handoff->first_paused : handoff->started;
  const double pause_ms = std::chrono::duration<double, std::milli>(now - paused_since).count();
  std::string precopy;
  if (precopied)
    precopy = fmt::format(" after pre-copying {} bytes and lending {} connections ahead while serving for {:.1f} ms",
                          handoff->precopy_bytes, handoff->connections_ahead,
                          std::chrono::duration<double, std::milli>(paused_since - handoff->started).count());
  const HandoffTotals totals = handoff->totals;
  handoff.reset();
  last_upgrade_->pause = std::chrono::duration<double, std::milli>(pause_ms);
  last_upgrade_->moved = totals;
  // New workers first: by the time an old one exits, its successor serves.
  candidate.for_each_worker([&](WorkerHandle& w) { w.commit(options_.drain_timeout); });
  Generation& old = generations_.at(serving_generation());
  // Under --probation the old workers keep their state until the new ones have proven themselves.
  if (options_.probation.count() > 0) park_generation(old);
  else retire(old, [&](WorkerHandle& w) { w.commit(options_.drain_timeout); });
  promote(candidate, "handed over " + std::to_string(totals.state_bytes) + " bytes of state and " +
                         std::to_string(totals.connections) + " connections; paused " +
                         fmt::format("{:.1f}", pause_ms) + " ms" + precopy);
}

}  // namespace baton
