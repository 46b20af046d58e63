// baton's Prometheus metrics. Counters and histograms are fed by the
// supervisor's events (SupervisorObserver); gauges are read from a fresh
// report at each scrape. Built on prometheus-cpp's core library (registry,
// metric types, text exposition format); baton serves the text itself
// (metrics_server.h), on its own loop, without the library's HTTP thread.
//
//   baton_upgrades_total{result="committed"|"failed"}       counter
//   baton_upgrade_duration_seconds                          histogram
//   baton_drain_duration_seconds                            histogram: told to go -> last worker gone
//   baton_handoff_pause_seconds                             histogram: HANDOFF -> every new worker RESTORED
//   baton_handoff_state_bytes_total, baton_handoff_connections_total   counters
//   baton_worker_restarts_total                             counter
//   baton_rollbacks_total                                   counter
//   baton_worker_hangs_total                                counter
//   baton_hung_worker_connections_kept_total                counter
//   baton_worker_replacements_total{cause="crash"|"hang"|"upgrade"|"rollback"|"recycle-age"|"recycle-memory"}  counter
//   baton_workers{generation="3",state="ready"}             gauge
//   baton_serving_generation, baton_upgrade_in_progress     gauges
//   process_open_fds, process_resident_memory_bytes,
//   process_start_time_seconds                              gauges, of baton itself
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>
#include <vector>

#include "status_report.h"
#include "supervisor_observer.h"

namespace baton {

class Metrics final : public SupervisorObserver {
 public:
  Metrics();

  void upgrade_finished(const UpgradeRecord& u) override;
  void worker_restarting(std::uint64_t generation, std::uint32_t index) override;
  void rolled_back(const RollbackRecord& rollback) override;
  void worker_hung(const HangRecord& hang) override;
  void workers_replaced(ReplacementCause cause, std::uint64_t count) override;
  void generation_retired(std::uint64_t generation, std::chrono::duration<double> took) override;

  // The text exposition format, gauges as of `report`.
  std::string scrape(const SupervisorReport& report);

 private:
  void set_gauges(const SupervisorReport& report);

  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
  prometheus::Family<prometheus::Counter>& upgrades_;
  prometheus::Counter& committed_;
  prometheus::Counter& failed_;
  prometheus::Histogram& upgrade_duration_;
  prometheus::Histogram& drain_duration_;
  prometheus::Histogram& handoff_pause_;
  prometheus::Counter& state_bytes_;
  prometheus::Counter& connections_;
  prometheus::Counter& restarts_;
  prometheus::Counter& rollbacks_;
  prometheus::Counter& hangs_;
  prometheus::Counter& hung_clients_;
  prometheus::Family<prometheus::Counter>& replacements_;
  prometheus::Family<prometheus::Gauge>& workers_;
  std::vector<prometheus::Gauge*> worker_gauges_;  // this scrape's; replaced at the next
  prometheus::Gauge& serving_;
  prometheus::Gauge& upgrading_;
  prometheus::Gauge& open_fds_;
  prometheus::Gauge& rss_;
  prometheus::Gauge& start_time_;
};

}  // namespace baton
