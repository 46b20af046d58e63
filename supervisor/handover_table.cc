#include "handover_table.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>
#include <set>

namespace baton {
namespace {

using nlohmann::json;

json socket_json(const HandoverSocket& s) { return {{"spec", s.spec}, {"fd", s.fd}, {"owns_path", s.owns_path}}; }
HandoverSocket socket_of(const json& j) { return {j.at("spec"), j.at("fd"), j.at("owns_path")}; }

json worker_json(const HandoverWorker& w) {
  return {{"pid", w.pid},
          {"channel_fd", w.channel_fd},
          {"out_fd", w.out_fd},
          {"err_fd", w.err_fd},
          {"state", w.state},
          {"uptime_seconds", w.uptime_seconds},
          {"handoff_sender", w.handoff_sender},
          {"state_versions", w.state_versions},
          {"deadline", w.deadline},
          {"deadline_ms", w.deadline_ms}};
}

HandoverWorker worker_of(const json& j) {
  return {j.at("pid"),          j.at("channel_fd"),     j.at("out_fd"),   j.at("err_fd"),     j.at("state"),
          j.at("uptime_seconds"), j.at("handoff_sender"), j.at("state_versions"), j.at("deadline"), j.at("deadline_ms")};
}

json generation_json(const HandoverGeneration& g) {
  json slots = json::array();
  for (const auto& s : g.slots)
    slots.push_back({{"restarts", s.restarts},
                     {"worker", s.worker ? worker_json(*s.worker) : json(nullptr)},
                     {"restart_in_ms", s.restart_in_ms}});
  return {{"number", g.number},         {"role", g.role},
          {"served", g.served},         {"rollback", g.rollback},
          {"retiring_for_seconds", g.retiring_for_seconds},
          {"executable_path", g.executable_path}, {"executable_fd", g.executable_fd},
          {"slots", std::move(slots)}};
}

HandoverGeneration generation_of(const json& j) {
  HandoverGeneration g{j.at("number"), j.at("role"),           j.at("served"), j.at("rollback"),
                       j.at("retiring_for_seconds"), j.at("executable_path"), j.at("executable_fd"), {}};
  for (const auto& s : j.at("slots")) {
    HandoverSlot slot{s.at("restarts"), std::nullopt, s.at("restart_in_ms")};
    if (!s.at("worker").is_null()) slot.worker = worker_of(s.at("worker"));
    g.slots.push_back(std::move(slot));
  }
  return g;
}

json table_json(const HandoverTable& t) {
  json listeners = json::array(), generations = json::array();
  for (const auto& l : t.listeners) listeners.push_back(socket_json(l));
  for (const auto& g : t.generations) generations.push_back(generation_json(g));
  return {{"version", t.version},
          {"written_by", t.written_by},
          {"self_upgrades", t.self_upgrades},
          {"uptime_seconds", t.uptime_seconds},
          {"exec_at_ms", t.exec_at_ms},
          {"listeners", std::move(listeners)},
          {"control", socket_json(t.control)},
          {"metrics", t.metrics ? socket_json(*t.metrics) : json(nullptr)},
          {"notify_socket", t.notify_socket},
          {"next_generation", t.next_generation},
          {"serving", t.serving},
          {"upgrades_committed", t.upgrades_committed},
          {"upgrades_failed", t.upgrades_failed},
          {"worker_restarts", t.worker_restarts},
          {"rollbacks", t.rollbacks},
          {"generations", std::move(generations)}};
}

HandoverTable table_of(const json& j) {
  HandoverTable t;
  t.version = j.at("version");
  t.written_by = j.at("written_by");
  t.self_upgrades = j.at("self_upgrades");
  t.uptime_seconds = j.at("uptime_seconds");
  t.exec_at_ms = j.at("exec_at_ms");
  for (const auto& l : j.at("listeners")) t.listeners.push_back(socket_of(l));
  t.control = socket_of(j.at("control"));
  if (!j.at("metrics").is_null()) t.metrics = socket_of(j.at("metrics"));
  t.notify_socket = j.at("notify_socket");
  t.next_generation = j.at("next_generation");
  t.serving = j.at("serving");
  t.upgrades_committed = j.at("upgrades_committed");
  t.upgrades_failed = j.at("upgrades_failed");
  t.worker_restarts = j.at("worker_restarts");
  t.rollbacks = j.at("rollbacks");
  for (const auto& g : j.at("generations")) t.generations.push_back(generation_of(g));
  return t;
}

Result<std::string> read_all(int fd) {
  std::string text;
  char buffer[65536];
  for (off_t at = 0;;) {
    const ssize_t n = ::pread(fd, buffer, sizeof buffer, at);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::from_errno(errno, "read the handover table");
    if (n == 0) return text;
    text.append(buffer, static_cast<std::size_t>(n));
    at += n;
  }
}

}  // namespace

std::vector<int> HandoverTable::fds() const {
  std::set<int> all;
  for (const auto& l : listeners) all.insert(l.fd);
  all.insert(control.fd);
  if (metrics) all.insert(metrics->fd);
  for (const auto& g : generations) {
    if (g.executable_fd >= 0) all.insert(g.executable_fd);
    for (const auto& s : g.slots)
      if (s.worker) all.insert({s.worker->channel_fd, s.worker->out_fd, s.worker->err_fd});
  }
  return {all.begin(), all.end()};
}

Result<UniqueFd> write_handover(const HandoverTable& table) {
  UniqueFd fd(::memfd_create("baton-handover", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) return Status::from_errno(errno, "memfd_create for the handover table");
  const std::string text = table_json(table).dump();
  for (std::size_t at = 0; at < text.size();) {
    const ssize_t n = ::write(fd.get(), text.data() + at, text.size() - at);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::from_errno(errno, "write the handover table");
    at += static_cast<std::size_t>(n);
  }
  // Sealed: the reader sees exactly what was written, and nobody changes it after the check.
  if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0)
    return Status::from_errno(errno, "seal the handover table");
  return fd;
}

Result<HandoverTable> read_handover(int fd) {
  auto text = read_all(fd);
  if (!text) return text.status();
  const json j = json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::error("the handover table is not JSON");
  const unsigned version = j.value("version", 0u);
  if (version != kHandoverVersion)
    return Status::error("handover table version " + std::to_string(version) + " (written by baton " +
                         j.value("written_by", std::string("?")) + "); this baton reads version " +
                         std::to_string(kHandoverVersion));
  try {
    return table_of(j);
  } catch (const json::exception& e) {
    return Status::error(std::string("the handover table is incomplete: ") + e.what());
  }
}

}  // namespace baton
