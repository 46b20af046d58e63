#include "status_json.h"

#include <csignal>
#include <cstring>

#include <unistd.h>

#include "cgroup_memory.h"
#include "client_connections.h"
#include "duration.h"

namespace baton {
namespace {

double seconds(std::chrono::duration<double> d) { return d.count(); }

nlohmann::json deadline_json(const WorkerReport& w) {
  if (!w.deadline_signal) return nullptr;
  return {{"signal", std::string("SIG") + sigabbrev_np(*w.deadline_signal)}, {"in_seconds", seconds(w.deadline_in)}};
}

nlohmann::json workers_json(const std::vector<WorkerReport>& workers) {
  auto out = nlohmann::json::array();
  for (const auto& w : workers)
    out.push_back({{"index", w.index},
                   {"pid", w.pid},
                   {"state", w.state},
                   {"uptime_seconds", seconds(w.uptime)},
                   {"restarts", w.restarts},
                   {"deadline", deadline_json(w)},
                   {"client_connections",
                    w.client_connections ? nlohmann::json(*w.client_connections) : nlohmann::json(nullptr)},
                   {"client_connections_from", w.clients_source ? nlohmann::json(w.clients_source) : nlohmann::json(nullptr)}});
  return out;
}

}  // namespace

nlohmann::json upgrade_json(const UpgradeRecord& u) {
  nlohmann::json j = {{"sequence", u.sequence},
                      {"generation", u.candidate},
                      {"result", result_name(u.result)},
                      {"reason", u.reason},
                      {"started", utc_timestamp(u.started_wall)},
                      {"duration_seconds", seconds(u.duration())},
                      {"serving_generation", u.serving},
                      {"handoff_pause_seconds", nullptr},
                      {"state_bytes", u.moved.state_bytes},
                      {"connections", u.moved.connections},
                      {"memory", nullptr},
                      {"rolling", nullptr}};
  if (u.rolling)
    j["rolling"] = {{"batch_size", u.rolling->batch_size},     {"batch", u.rolling->batch},
                    {"batches", u.rolling->batches},           {"failed_batch", u.rolling->failed_batch},
                    {"back_batch", u.rolling->back_batch},     {"back_batches", u.rolling->back_batches}};
  if (u.pause) j["handoff_pause_seconds"] = seconds(*u.pause);
  if (u.memory)
    j["memory"] = {{"limit_bytes", u.memory->limit},
                   {"in_use_bytes", u.memory->in_use},
                   {"needed_bytes", u.memory->needed},
                   {"headroom_percent", u.memory->headroom_percent},
                   {"limit_file", u.memory->where}};
  return j;
}

nlohmann::json rollback_json(const RollbackRecord& r) {
  return {{"from_generation", r.from},
          {"to_generation", r.to},
          {"resumed", r.resumed},
          {"reason", r.reason},
          {"at", utc_timestamp(r.at_wall)},
          {"serving_after_seconds", r.serving_after ? nlohmann::json(seconds(*r.serving_after)) : nullptr}};
}

nlohmann::json hang_json(const HangRecord& h) {
  return {{"worker", h.worker},
          {"reason", h.reason},
          {"stacks", h.evidence},
          {"connections_kept", h.connections_kept},
          {"at", utc_timestamp(h.at_wall)}};
}

// {"crash": 2, "hang": 0, "upgrade": 4, ...}: every cause, counted or not.
nlohmann::json replacements_json(const ReplacementCounts& counts) {
  nlohmann::json j = nlohmann::json::object();
  for (std::size_t c = 0; c < kReplacementCauses; ++c) j[cause_name(static_cast<ReplacementCause>(c))] = counts[c];
  return j;
}

nlohmann::json probation_json(const std::optional<SupervisorReport::ProbationReport>& p) {
  if (!p) return nullptr;
  return {{"generation", p->generation},
          {"previous_generation", p->previous},
          {"remaining_seconds", seconds(p->remaining)}};
}

nlohmann::json status_json(const SupervisorReport& r, const ServiceFacts& facts) {
  auto listeners = nlohmann::json::array();
  for (const auto& l : facts.listeners) listeners.push_back({{"name", l.name}, {"url", l.url()}});
  auto generations = nlohmann::json::array();
  for (const auto& g : r.generations)
    generations.push_back({{"number", g.number},
                           {"role", g.role},
                           {"leaving_seconds", g.leaving_for ? nlohmann::json(seconds(*g.leaving_for)) : nullptr},
                           {"workers", workers_json(g.workers)}});
  return {{"name", facts.name},
          {"pid", ::getpid()},
          {"version", BATON_VERSION},
          {"uptime_seconds", seconds(std::chrono::steady_clock::now() - facts.started)},
          {"self_upgrades", facts.self_upgrades},
          {"control_socket", facts.control_socket},
          {"metrics", facts.metrics.empty() ? nlohmann::json(nullptr) : nlohmann::json(facts.metrics)},
          {"state", r.state},
          {"mode", r.mode},
          {"serving_generation", r.serving},
          {"ready", r.not_ready.empty()},
          {"not_ready_reason", r.not_ready.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.not_ready)},
          {"upgrade_pending", r.upgrade_pending},
          {"upgrade_pending_reason",
           r.pending_reason.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.pending_reason)},
          {"listeners", std::move(listeners)},
          {"generations", std::move(generations)},
          {"last_upgrade", r.last_upgrade ? upgrade_json(*r.last_upgrade) : nlohmann::json(nullptr)},
          {"upgrades", {{"committed", r.upgrades_committed}, {"failed", r.upgrades_failed}}},
          {"worker_restarts", r.worker_restarts},
          {"probation", probation_json(r.probation)},
          {"rollbacks", r.rollbacks},
          {"last_rollback", r.last_rollback ? rollback_json(*r.last_rollback) : nlohmann::json(nullptr)},
          {"hangs", r.hangs},
          {"last_hang", r.last_hang ? hang_json(*r.last_hang) : nlohmann::json(nullptr)},
          {"replacements", replacements_json(r.replacements)},
          {"recycling", r.recycling ? nlohmann::json{{"worker", r.recycling->index},
                                                     {"cause", r.recycling->cause},
                                                     {"successor_pid", r.recycling->successor}}
                                    : nlohmann::json(nullptr)},
          {"last_recycle_failure",
           r.last_recycle_failure.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.last_recycle_failure)},
          {"memory", r.memory ? nlohmann::json{{"limit_bytes", r.memory->limit},
                                               {"in_use_bytes", r.memory->in_use},
                                               {"limit_file", r.memory->where}}
                              : nlohmann::json(nullptr)}};
}

void add_os_facts(SupervisorReport& report, const std::vector<ListenerSpec>& listeners) {
  report.memory = read_memory_budget();
  std::vector<std::uint16_t> ports;
  for (const auto& l : listeners)
    if (l.kind == ListenerKind::kTcp) ports.push_back(l.port);
  for (auto& g : report.generations) {
    if (!g.leaving_for) continue;
    for (auto& w : g.workers) {
      if (w.reported_clients) w.client_connections = *w.reported_clients;
      else if (w.pid > 0) w.client_connections = count_client_connections(w.pid, ports);
      if (w.client_connections) w.clients_source = w.reported_clients ? "worker" : "proc";
    }
  }
}

}  // namespace baton
