// What the supervisor tells the world about its own life: systemd's notify
// socket (systemd_notify.h), the control socket's waiting clients
// (control_server.h) and the metrics (metrics.h) each hear when a generation
// serves, an upgrade starts and ends, a worker restarts, an old generation is
// gone, and baton stops. Called on the loop's thread, after the supervisor's
// state has changed. Observers override what they need.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "replacement_cause.h"
#include "upgrade_record.h"

namespace baton {

class SupervisorObserver {
 public:
  // The first generation is ready: baton serves.
  virtual void serving(std::uint64_t /*generation*/) {}
  // An upgrade begins (SIGHUP, `baton upgrade`, or a queued one).
  virtual void upgrade_started(const UpgradeRecord& /*upgrade*/) {}
  // Every worker of the upgrade's new generation said READY (or STANDBY,
  // in handoff mode): its start-up is over.
  virtual void candidate_started(const UpgradeRecord& /*upgrade*/, const std::vector<pid_t>& /*workers*/) {}
  // It ended: committed (the candidate serves) or failed (the reason says why).
  virtual void upgrade_finished(const UpgradeRecord& /*upgrade*/) {}
  // A generation on probation crashed and baton rolls back (--probation).
  virtual void rolled_back(const RollbackRecord& /*rollback*/) {}
  // --probation: `generation` is on probation from now, or no longer.
  virtual void probation_started(std::uint64_t /*generation*/) {}
  virtual void probation_ended(std::uint64_t /*generation*/) {}
  // A serving worker was declared hung, and has been ended (its slot restarts).
  virtual void worker_hung(const HangRecord& /*hang*/) {}
  // A serving worker that crashed is being started again.
  virtual void worker_restarting(std::uint64_t /*generation*/, std::uint32_t /*index*/) {}
  // `count` workers were replaced by others in their slots, for `cause`.
  virtual void workers_replaced(ReplacementCause /*cause*/, std::uint64_t /*count*/) {}
  // A generation that served is gone: `took` from being told to go (DRAIN,
  // COMMIT, a stop) to its last worker's exit.
  virtual void generation_retired(std::uint64_t /*generation*/, std::chrono::duration<double> /*took*/) {}
  // A stop began: graceful or fast.
  virtual void stopping() {}

 protected:
  ~SupervisorObserver() = default;
};

// Passes every event to each observer in turn, in the order they were added.
class ObserverList final : public SupervisorObserver {
 public:
  void add(SupervisorObserver* o) {
    if (o) observers_.push_back(o);
  }
  void serving(std::uint64_t g) override { each([&](auto* o) { o->serving(g); }); }
  void upgrade_started(const UpgradeRecord& u) override { each([&](auto* o) { o->upgrade_started(u); }); }
  void candidate_started(const UpgradeRecord& u, const std::vector<pid_t>& w) override {
    each([&](auto* o) { o->candidate_started(u, w); });
  }
  void upgrade_finished(const UpgradeRecord& u) override { each([&](auto* o) { o->upgrade_finished(u); }); }
  void rolled_back(const RollbackRecord& r) override { each([&](auto* o) { o->rolled_back(r); }); }
  void worker_hung(const HangRecord& h) override { each([&](auto* o) { o->worker_hung(h); }); }
  void probation_started(std::uint64_t g) override { each([&](auto* o) { o->probation_started(g); }); }
  void probation_ended(std::uint64_t g) override { each([&](auto* o) { o->probation_ended(g); }); }
  void worker_restarting(std::uint64_t g, std::uint32_t i) override {
    each([&](auto* o) { o->worker_restarting(g, i); });
  }
  void workers_replaced(ReplacementCause c, std::uint64_t n) override {
    each([&](auto* o) { o->workers_replaced(c, n); });
  }
  void generation_retired(std::uint64_t g, std::chrono::duration<double> took) override {
    each([&](auto* o) { o->generation_retired(g, took); });
  }
  void stopping() override { each([&](auto* o) { o->stopping(); }); }

 private:
  template <class F> void each(F&& f) {
    for (auto* o : observers_) f(o);
  }
  std::vector<SupervisorObserver*> observers_;
};

}  // namespace baton
