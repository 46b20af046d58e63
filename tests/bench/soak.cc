// soak: many upgrades under load, watching for slow leaks.
//
//   build/bin/soak [UPGRADES=1000] [drain|handoff]
//
// baton + kvstore on 127.0.0.1 with keep-alive and new-connection-per-request
// clients running throughout. Every 100 upgrades it prints baton's open fds
// and RSS; at the end, failed requests, zombies and what was left over.
// Exits non-zero if a request failed or a zombie/leak showed up.
#include <csignal>
#include <cstdio>
#include <string>

#include "support/baton_process.h"
#include "support/load_client.h"
#include "support/proc.h"

using namespace testing_support;

namespace {

int zombies_of(pid_t parent) {
  int n = 0;
  for (pid_t child : children_of(parent))
    if (is_zombie(child)) ++n;
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  const int upgrades = argc > 1 ? std::stoi(argv[1]) : 1000;
  const std::string mode = argc > 2 ? argv[2] : "drain";
  BatonProcess baton({"--mode", mode, "--listen", "http=tcp://127.0.0.1:0", "--", KVSTORE_BIN});
  const auto port = baton.port();
  if (!baton.wait_for("generation 1 serving")) {
    std::fprintf(stderr, "baton never served:\n%s", baton.log().c_str());
    return 1;
  }
  LoadClient load({.port = port, .keepalive_connections = 4, .close_connections = 2,
                   .max_duration = std::chrono::seconds(3600)});
  const int fds0 = open_fd_count(baton.pid());
  const long rss0 = rss_kib(baton.pid());
  std::printf("soak: %d %s upgrades under load; baton starts with %d fds, %ld KiB RSS\n", upgrades, mode.c_str(),
              fds0, rss0);
  int max_fds = fds0;
  long max_rss = rss0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int g = 2; g <= upgrades + 1; ++g) {
    auto mark = baton.mark();
    baton.signal(SIGHUP);
    if (!baton.wait_for("upgrade to generation " + std::to_string(g) + " complete", mark) ||
        !baton.wait_for("generation " + std::to_string(g - 1) + " retired", mark)) {
      std::fprintf(stderr, "upgrade %d did not finish:\n%s", g - 1, baton.log().c_str());
      return 1;
    }
    max_fds = std::max(max_fds, open_fd_count(baton.pid()));
    max_rss = std::max(max_rss, rss_kib(baton.pid()));
    if ((g - 1) % 100 == 0)
      std::printf("  %5d upgrades: %llu requests, %llu failed, baton %d fds, %ld KiB RSS\n", g - 1,
                  static_cast<unsigned long long>(load.completed()),
                  static_cast<unsigned long long>(load.failed()), open_fd_count(baton.pid()),
                  rss_kib(baton.pid()));
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  LoadStats stats = load.stop();
  const int fds1 = open_fd_count(baton.pid());
  const long rss1 = rss_kib(baton.pid());
  const int zombies = zombies_of(baton.pid());
  const auto children = children_of(baton.pid()).size();
  std::printf("done in %.1f s: %llu requests ok, %llu failed; baton fds %d -> %d (max %d), RSS %ld -> %ld KiB "
              "(max %ld); %d zombies; %zu worker(s) left, as expected 1\n",
              seconds, static_cast<unsigned long long>(stats.ok), static_cast<unsigned long long>(stats.failed), fds0,
              fds1, max_fds, rss0, rss1, max_rss, zombies, children);
  for (const auto& e : stats.first_errors) std::printf("  error: %s\n", e.c_str());
  const bool ok = stats.failed == 0 && fds1 == fds0 && zombies == 0 && children == 1;
  return ok ? 0 : 1;
}
