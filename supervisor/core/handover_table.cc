#include "handover_table.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>
#include <set>

// std::optional as null or the value: the pattern nlohmann/json documents
// for types it does not know (its 3.11 has no std::optional support).
namespace nlohmann {
template <class T> struct adl_serializer<std::optional<T>> {
  static void to_json(json& j, const std::optional<T>& o) { j = o ? json(*o) : json(nullptr); }
  static void from_json(const json& j, std::optional<T>& o) {
    o = j.is_null() ? std::nullopt : std::optional<T>(j.get<T>());
  }
};
}  // namespace nlohmann

namespace baton {

// Field by field, under the names the table is written with; a missing one
// is an error (json::exception) when read, but for those added later.
void to_json(nlohmann::json& j, const HandoverWorker& w) {
  j = {{"pid", w.pid},         {"channel_fd", w.channel_fd},   {"out_fd", w.out_fd},
       {"err_fd", w.err_fd},   {"state", w.state},             {"uptime_seconds", w.uptime_seconds},
       {"handoff_sender", w.handoff_sender}, {"state_versions", w.state_versions},
       {"deadline", w.deadline}, {"deadline_ms", w.deadline_ms}, {"features", w.features}};
}
void from_json(const nlohmann::json& j, HandoverWorker& w) {
  j.at("pid").get_to(w.pid);
  j.at("channel_fd").get_to(w.channel_fd);
  j.at("out_fd").get_to(w.out_fd);
  j.at("err_fd").get_to(w.err_fd);
  j.at("state").get_to(w.state);
  j.at("uptime_seconds").get_to(w.uptime_seconds);
  j.at("handoff_sender").get_to(w.handoff_sender);
  j.at("state_versions").get_to(w.state_versions);
  j.at("deadline").get_to(w.deadline);
  j.at("deadline_ms").get_to(w.deadline_ms);
  w.features = j.value("features", 0u);  // a version 1 table may lack it
}
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(HandoverSlot, restarts, worker, restart_in_ms)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(HandoverGeneration, number, role, served, rollback, retiring_for_seconds,
                                   executable_path, executable_fd, slots)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(HandoverSocket, spec, fd, owns_path)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(HandoverTable, version, written_by, self_upgrades, uptime_seconds, exec_at_ms,
                                   listeners, control, metrics, notify_socket, next_generation, serving,
                                   upgrades_committed, upgrades_failed, worker_restarts, rollbacks, generations)

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(HandoverWatch, upgraded_to_known, device, inode, size, mtime_ns, pending)

namespace {

using nlohmann::json;

// The fields a version 1 table may lack: read when present.
void read_later_fields(const json& j, HandoverTable& t) {
  if (j.contains("config_text")) t.config_text = j["config_text"].get<std::optional<std::string>>();
  if (j.contains("watch")) t.watch = j["watch"].get<std::optional<HandoverWatch>>();
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
  json j = table;
  j["config_text"] = table.config_text;
  j["watch"] = table.watch;
  const std::string text = j.dump();
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
    auto table = j.get<HandoverTable>();
    read_later_fields(j, table);
    return table;
  } catch (const json::exception& e) {
    return Status::error(std::string("the handover table is incomplete: ") + e.what());
  }
}

}  // namespace baton
