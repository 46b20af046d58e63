#include "kv_fill.h"

#include <algorithm>
#include <mutex>
#include <thread>

#include "baton/unique_fd.h"
#include "http_client.h"

namespace testing_support {
namespace {

// The workers still to fill, shared by the filling threads.
struct Claims {
  std::mutex mu;
  std::vector<pid_t> unfilled;
  std::string error;
  bool take(pid_t pid) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = std::find(unfilled.begin(), unfilled.end(), pid);
    if (it == unfilled.end()) return false;
    unfilled.erase(it);
    return true;
  }
  bool done() {
    std::lock_guard<std::mutex> lock(mu);
    return unfilled.empty() || !error.empty();
  }
  void fail(const std::string& why) {
    std::lock_guard<std::mutex> lock(mu);
    if (error.empty()) error = why;
  }
};

// Connects until a connection lands on a worker nobody fills yet, then fills
// it. The idle workers win the next accepts while the others are busy.
void fill_one(std::uint16_t port, std::uint64_t mib, Claims& claims) {
  std::vector<baton::UniqueFd> kept;  // open, so that the next connection may go to another worker
  const std::string value(1024 * 1024, 'v');
  for (int attempt = 0; attempt < 200 && !claims.done(); ++attempt) {
    auto conn = connect_local(port);
    if (!conn) return claims.fail(conn.status().message());
    auto stats = exchange(conn->get(), "GET", "/stats");
    if (!stats || stats->status != 200) return claims.fail("GET /stats failed");
    const auto at = stats->body.find("\"pid\":");
    if (at == std::string::npos) return claims.fail("no pid in /stats: " + stats->body);
    const auto pid = static_cast<pid_t>(std::stol(stats->body.substr(at + 6)));
    if (claims.take(pid)) {
      for (std::uint64_t i = 0; i < mib; ++i) {
        auto r = exchange(conn->get(), "PUT", "/kv/big-" + std::to_string(pid) + "-" + std::to_string(i), value);
        if (!r || r->status != 200)
          return claims.fail("PUT " + std::to_string(i) + ": " + (r ? r->body : r.status().message()));
      }
      return;
    }
    kept.push_back(std::move(conn.value()));
  }
}

}  // namespace

std::string fill_each_worker(std::uint16_t port, std::vector<pid_t> pids, std::uint64_t mib) {
  Claims claims{.unfilled = pids};
  std::vector<std::thread> fillers;
  for (std::size_t i = 0; i < pids.size(); ++i) fillers.emplace_back([&] { fill_one(port, mib, claims); });
  for (auto& t : fillers) t.join();
  if (!claims.error.empty()) return claims.error;
  return claims.unfilled.empty() ? "" : "200 connections never reached worker " + std::to_string(claims.unfilled.front());
}

}  // namespace testing_support
