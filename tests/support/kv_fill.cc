#include "kv_fill.h"

#include <algorithm>

#include "baton/unique_fd.h"
#include "http_client.h"

namespace testing_support {

std::string fill_each_worker(std::uint16_t port, std::vector<pid_t> pids, std::uint64_t mib) {
  std::vector<baton::UniqueFd> kept;  // open, so that the next connection may go to another worker
  const std::string value(1024 * 1024, 'v');
  for (int attempt = 0; attempt < 200 && !pids.empty(); ++attempt) {
    auto conn = connect_local(port);
    if (!conn) return conn.status().message();
    auto stats = exchange(conn->get(), "GET", "/stats");
    if (!stats || stats->status != 200) return "GET /stats failed";
    const auto at = stats->body.find("\"pid\":");
    if (at == std::string::npos) return "no pid in /stats: " + stats->body;
    auto it = std::find(pids.begin(), pids.end(), static_cast<pid_t>(std::stol(stats->body.substr(at + 6))));
    if (it != pids.end()) {
      for (std::uint64_t i = 0; i < mib; ++i) {
        auto r = exchange(conn->get(), "PUT", "/kv/big-" + std::to_string(*it) + "-" + std::to_string(i), value);
        if (!r || r->status != 200) return "PUT " + std::to_string(i) + ": " + (r ? r->body : r.status().message());
      }
      pids.erase(it);
    }
    kept.push_back(std::move(conn.value()));
  }
  return pids.empty() ? "" : "200 connections never reached worker " + std::to_string(pids.front());
}

}  // namespace testing_support
