#include "status_text.h"

#include <fmt/format.h>

namespace baton {
namespace {

// A JSON value as text, "-" when absent or null.
std::string text_of(const nlohmann::json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return "-";
  return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
}

std::string header(const nlohmann::json& s) {
  // "kvstore: serving generation 2", "kvstore: upgrading, generation 2 serving"
  const std::string state = text_of(s, "state");
  const std::string serving = text_of(s, "serving_generation");
  std::string out = fmt::format("baton {} (pid {}) {}: ", text_of(s, "version"), text_of(s, "pid"), text_of(s, "name"));
  if (state == "serving") out += "serving generation " + serving;
  else if (serving != "0") out += state + ", generation " + serving + " serving";
  else out += state;
  out += fmt::format(", {} mode, up {}", text_of(s, "mode"), human_duration(s.value("uptime_seconds", 0.0)));
  if (const auto n = s.value("self_upgrades", 0u); n > 0) out += fmt::format(", re-executed in place {}x", n);
  out += "\n";
  for (const auto& l : s.value("listeners", nlohmann::json::array()))
    out += fmt::format("  listener {:<10} {}\n", text_of(l, "name"), text_of(l, "url"));
  out += fmt::format("  control   {}\n", text_of(s, "control_socket"));
  if (!s["metrics"].is_null()) out += fmt::format("  metrics   {}/metrics\n", text_of(s, "metrics"));
  if (const auto& m = s.value("memory", nlohmann::json()); !m.is_null())
    out += fmt::format("  memory    {:.1f} of {:.1f} MiB in use ({})\n", m.value("in_use_bytes", 0.0) / 1048576.0,
                       m.value("limit_bytes", 0.0) / 1048576.0, text_of(m, "limit_file"));
  return out;
}

std::string upgrades(const nlohmann::json& s) {
  const auto& counts = s["upgrades"];
  std::string queued;
  if (s.value("upgrade_pending", false))
    queued = s["upgrade_pending_reason"].is_string() ? ", one more queued: " + text_of(s, "upgrade_pending_reason")
                                                     : ", one more queued";
  std::string out = fmt::format("upgrades: {} committed, {} failed{}; worker restarts: {}\n",
                                text_of(counts, "committed"), text_of(counts, "failed"), queued,
                                text_of(s, "worker_restarts"));
  if (!s["last_upgrade"].is_null()) out += "last " + upgrade_text(s["last_upgrade"]) + "\n";
  if (const auto& p = s.value("probation", nlohmann::json()); !p.is_null())
    out += fmt::format("generation {} on probation for {} more: a crash rolls back to generation {}\n",
                       text_of(p, "generation"), human_duration(p.value("remaining_seconds", 0.0)),
                       text_of(p, "previous_generation"));
  if (const auto& r = s.value("last_rollback", nlohmann::json()); !r.is_null())
    out += fmt::format("rollbacks: {}; last from generation {} to {} ({}): {}\n", text_of(s, "rollbacks"),
                       text_of(r, "from_generation"), text_of(r, "to_generation"),
                       r.value("resumed", false) ? "resumed with its state" : "its file started afresh",
                       text_of(r, "reason"));
  return out;
}

// Workers replaced (crashes, hangs, recycles), and what replaces one now.
std::string replacements(const nlohmann::json& s) {
  std::string out, replaced;
  const auto counts = s.value("replacements", nlohmann::json::object());
  for (const auto& [cause, n] : counts.items())
    if (n.get<std::uint64_t>() > 0) replaced += fmt::format("{}{} {}", replaced.empty() ? "" : ", ", cause, n.dump());
  if (!replaced.empty()) out += "workers replaced: " + replaced + "\n";
  if (const auto& r = s.value("recycling", nlohmann::json()); !r.is_null())
    out += fmt::format("recycling worker {} ({}): its successor is pid {}\n", text_of(r, "worker"), text_of(r, "cause"),
                       text_of(r, "successor_pid"));
  if (const auto& f = s.value("last_recycle_failure", nlohmann::json()); !f.is_null())
    out += "last recycle failed: " + f.get<std::string>() + "\n";
  if (const auto& h = s.value("last_hang", nlohmann::json()); !h.is_null())
    out += fmt::format("hung workers: {}; last {} at {}: {}; {}; {} client connections kept for its replacement\n",
                       text_of(s, "hangs"), text_of(h, "worker"), text_of(h, "at"), text_of(h, "reason"),
                       text_of(h, "stacks"), text_of(h, "connections_kept"));
  return out;
}

std::string workers_table(const nlohmann::json& s) {
  std::string out = fmt::format("\n{:<11}{:<11}{:<8}{:<9}{:<14}{:<9}{}\n", "GENERATION", "ROLE", "WORKER", "PID",
                                "STATE", "UPTIME", "RESTARTS");
  for (const auto& g : s.value("generations", nlohmann::json::array()))
    for (const auto& w : g.value("workers", nlohmann::json::array()))
      out += fmt::format("{:<11}{:<11}{:<8}{:<9}{:<14}{:<9}{}\n", text_of(g, "number"), text_of(g, "role"),
                         text_of(w, "index"), w.value("pid", 0) ? text_of(w, "pid") : "-", text_of(w, "state"),
                         w.value("pid", 0) ? human_duration(w.value("uptime_seconds", 0.0)) : "-",
                         text_of(w, "restarts"));
  return out;
}

// Why an old generation is still alive: how long it has been leaving, what
// each worker still holds, and when its deadline strikes.
std::string leaving(const nlohmann::json& s) {
  std::string out;
  for (const auto& g : s.value("generations", nlohmann::json::array())) {
    if (!g.contains("leaving_seconds") || g["leaving_seconds"].is_null()) continue;
    out += fmt::format("generation {} {} for {}:\n", text_of(g, "number"), text_of(g, "role"),
                       human_duration(g.value("leaving_seconds", 0.0)));
    for (const auto& w : g.value("workers", nlohmann::json::array())) {
      if (w.value("pid", 0) == 0) continue;
      const auto& clients = w.value("client_connections", nlohmann::json());
      out += fmt::format("  worker {} (pid {}): {}", text_of(w, "index"), text_of(w, "pid"),
                         clients.is_null() ? "client connections unknown" : clients.dump() + " client connection(s)");
      if (const auto& d = w.value("deadline", nlohmann::json()); !d.is_null())
        out += fmt::format("; {} in {}", text_of(d, "signal"), human_duration(d.value("in_seconds", 0.0)));
      out += "\n";
    }
  }
  return out.empty() ? out : "\n" + out;
}

}  // namespace

std::string human_duration(double seconds) {
  if (seconds < 1) return fmt::format("{:.0f}ms", seconds * 1000);
  if (seconds < 60) return fmt::format("{:.1f}s", seconds);
  const auto s = static_cast<long long>(seconds);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  if (s < 86400) return fmt::format("{}h{:02}m", s / 3600, s % 3600 / 60);
  return fmt::format("{}d{:02}h", s / 86400, s % 86400 / 3600);
}

// "batch 2 of 4, 1 at a time" or "batch 2 of 4 failed; rolling back: batch 1 of 1"
std::string rolling_text(const nlohmann::json& r) {
  std::string out = fmt::format("batch {} of {}", r.value("batch", 0u), r.value("batches", 0u));
  if (r.value("failed_batch", 0u) == 0) return out + fmt::format(", {} at a time", r.value("batch_size", 0u));
  return out + fmt::format(" failed; rolling back: batch {} of {}", r.value("back_batch", 0u),
                           r.value("back_batches", 0u));
}

std::string upgrade_text(const nlohmann::json& u) {
  const std::string result = text_of(u, "result");
  const std::string took = human_duration(u.value("duration_seconds", 0.0));
  std::string out = "upgrade to generation " + text_of(u, "generation") + " " + result;
  if (result == "running") {
    const std::string rolling = u.contains("rolling") && u["rolling"].is_object() ? rolling_text(u["rolling"]) + ", " : "";
    return out + " for " + took + " (" + rolling + "started " + text_of(u, "started") + ")";
  }
  if (u.value("reason", "") != "") out += ": " + text_of(u, "reason");
  return out + " (took " + took + ", started " + text_of(u, "started") + ")";
}

std::string status_text(const nlohmann::json& s) {
  return header(s) + upgrades(s) + replacements(s) + workers_table(s) + leaving(s);
}

}  // namespace baton
