#include "metrics.h"

#include <prometheus/text_serializer.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

namespace baton {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

// Upgrades take from a fraction of a second (drain, small state) to minutes
// (long drains); handoff pauses from under a millisecond to seconds.
const prometheus::Histogram::BucketBoundaries kUpgradeBuckets{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
const prometheus::Histogram::BucketBoundaries kPauseBuckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                            0.05,   0.1,   0.25,   0.5,   1,    2.5};

prometheus::Histogram& histogram(prometheus::Registry& r, const std::string& name, const std::string& help,
                                 const prometheus::Histogram::BucketBoundaries& buckets) {
  return BuildHistogram().Name(name).Help(help).Register(r).Add({}, buckets);
}

prometheus::Counter& counter(prometheus::Registry& r, const std::string& name, const std::string& help) {
  return BuildCounter().Name(name).Help(help).Register(r).Add({});
}

prometheus::Gauge& gauge(prometheus::Registry& r, const std::string& name, const std::string& help) {
  return BuildGauge().Name(name).Help(help).Register(r).Add({});
}

std::size_t open_fd_count() {
  std::error_code ec;
  std::size_t n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec); !ec && it != decltype(it){}; it.increment(ec))
    ++n;
  return n > 0 ? n - 1 : 0;  // the directory iterator's own fd
}

double resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  long pages_total = 0, pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return static_cast<double>(pages_resident) * static_cast<double>(::sysconf(_SC_PAGESIZE));
}

}  // namespace

Metrics::Metrics()
    : upgrades_(BuildCounter().Name("baton_upgrades_total").Help("Upgrades that ended, by result").Register(*registry_)),
      committed_(upgrades_.Add({{"result", "committed"}})),
      failed_(upgrades_.Add({{"result", "failed"}})),
      upgrade_duration_(histogram(*registry_, "baton_upgrade_duration_seconds",
                                  "From an upgrade's start to its commit or rollback", kUpgradeBuckets)),
      drain_duration_(histogram(*registry_, "baton_drain_duration_seconds",
                                "From telling a served generation to go to its last worker's exit", kUpgradeBuckets)),
      handoff_pause_(histogram(*registry_, "baton_handoff_pause_seconds",
                               "Handoff mode: from HANDOFF to every new worker RESTORED", kPauseBuckets)),
      state_bytes_(counter(*registry_, "baton_handoff_state_bytes_total", "Bytes of state handed over")),
      connections_(counter(*registry_, "baton_handoff_connections_total", "Open connections handed over")),
      restarts_(counter(*registry_, "baton_worker_restarts_total", "Serving workers restarted after a crash")),
      rollbacks_(counter(*registry_, "baton_rollbacks_total",
                         "Generations on probation that crashed and were rolled back (--probation)")),
      hangs_(counter(*registry_, "baton_worker_hangs_total",
                     "Serving workers declared hung (--hang-timeout): their stacks kept, then ended")),
      hung_clients_(counter(*registry_, "baton_hung_worker_connections_kept_total",
                            "Client connections taken from hung workers for their replacements")),
      replacements_(BuildCounter()
                        .Name("baton_worker_replacements_total")
                        .Help("Workers replaced by another process in their slot, by cause: crash, hang, upgrade, "
                              "rollback, recycle-age, recycle-memory")
                        .Register(*registry_)),
      workers_(BuildGauge().Name("baton_workers").Help("Worker processes by generation and state").Register(*registry_)),
      serving_(gauge(*registry_, "baton_serving_generation", "The generation serving now, 0 if none")),
      upgrading_(gauge(*registry_, "baton_upgrade_in_progress", "1 while an upgrade runs")),
      open_fds_(gauge(*registry_, "process_open_fds", "Open file descriptors of baton itself")),
      rss_(gauge(*registry_, "process_resident_memory_bytes", "Resident memory of baton itself")),
      start_time_(gauge(*registry_, "process_start_time_seconds", "When baton started, seconds since the epoch")) {
  // Every cause from the start, at 0: a rate() needs the series before the first event.
  for (std::size_t c = 0; c < kReplacementCauses; ++c)
    replacements_.Add({{"cause", cause_name(static_cast<ReplacementCause>(c))}});
  start_time_.Set(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
}

void Metrics::upgrade_finished(const UpgradeRecord& u) {
  (u.committed() ? committed_ : failed_).Increment();
  upgrade_duration_.Observe(u.duration().count());
  if (u.pause) handoff_pause_.Observe(u.pause->count());
  state_bytes_.Increment(static_cast<double>(u.moved.state_bytes));
  connections_.Increment(static_cast<double>(u.moved.connections));
}

void Metrics::worker_restarting(std::uint64_t, std::uint32_t) { restarts_.Increment(); }

void Metrics::rolled_back(const RollbackRecord&) { rollbacks_.Increment(); }

void Metrics::workers_replaced(ReplacementCause cause, std::uint64_t count) {
  replacements_.Add({{"cause", cause_name(cause)}}).Increment(static_cast<double>(count));
}

void Metrics::worker_hung(const HangRecord& h) {
  hangs_.Increment();
  hung_clients_.Increment(static_cast<double>(h.connections_kept));
}

void Metrics::generation_retired(std::uint64_t, std::chrono::duration<double> took) {
  drain_duration_.Observe(took.count());
}

void Metrics::set_gauges(const SupervisorReport& report) {
  for (auto* g : worker_gauges_) workers_.Remove(g);
  worker_gauges_.clear();
  std::map<std::pair<std::uint64_t, std::string>, int> counts;
  for (const auto& gen : report.generations)
    for (const auto& w : gen.workers) ++counts[{gen.number, w.state}];
  for (const auto& [key, n] : counts) {
    auto& g = workers_.Add({{"generation", std::to_string(key.first)}, {"state", key.second}});
    g.Set(n);
    worker_gauges_.push_back(&g);
  }
  serving_.Set(static_cast<double>(report.serving));
  upgrading_.Set(report.state == "upgrading" ? 1 : 0);
  open_fds_.Set(static_cast<double>(open_fd_count()));
  rss_.Set(resident_bytes());
}

std::string Metrics::scrape(const SupervisorReport& report) {
  set_gauges(report);
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace baton
