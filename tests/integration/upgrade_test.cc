// Drain-mode upgrades of a real kvstore under real load.
#include <gtest/gtest.h>
#include <signal.h>

#include <set>
#include <sstream>
#include <thread>

#include "integration/fixture.h"
#include "support/load_client.h"
#include "support/proc.h"

namespace testing_support {
namespace {

TEST(Upgrade, TwentyUpgradesUnderLoadFailNoRequest) {
  WorkerDir dir;
  BatonProcess baton(baton_args(dir, {"--drain-timeout", "20s"}));
  const auto port = serving_port(baton);

  LoadClient load({.port = port, .keepalive_connections = 8, .close_connections = 4});
  ASSERT_TRUE(traffic_flows(load, 1000));
  std::set<long> pids{get_stats(port).pid};
  constexpr int kUpgrades = 20;
  for (int g = 2; g <= kUpgrades + 1; ++g) {
    auto mark = baton.mark();
    baton.signal(SIGHUP);
    ASSERT_TRUE(wait_serving(baton, g, mark));
    pid_t pid = ready_pid(baton, g, 0, mark);
    ASSERT_TRUE(baton.wait_for("generation " + std::to_string(g - 1) + " retired", mark)) << baton.log();
    // The old generation is gone, so this new connection can only reach the new one.
    Stats s = get_stats(port);
    EXPECT_EQ(s.generation, g);
    EXPECT_EQ(s.pid, pid);
    EXPECT_TRUE(pids.insert(s.pid).second) << "pid " << s.pid << " served before";
    ASSERT_TRUE(traffic_flows(load, 1000));
  }
  LoadStats stats = load.stop();
  std::string errors;
  for (const auto& e : stats.first_errors) errors += "  " + e + "\n";
  EXPECT_EQ(stats.failed, 0u) << "first errors:\n" << errors;
  EXPECT_GT(stats.ok, 20'000u);
  std::printf("[ figures  ] %d upgrades under load: %llu requests ok, %llu failed\n", kUpgrades,
              static_cast<unsigned long long>(stats.ok), static_cast<unsigned long long>(stats.failed));
  EXPECT_EQ(children_of(baton.pid()).size(), 1u) << "only the current worker is left";
}

TEST(Upgrade, FiftyUpgradesLeakNoFd) {
  WorkerDir dir;
  BatonProcess baton(baton_args(dir));
  ASSERT_TRUE(wait_serving(baton, 1));
  const int before = open_fd_count(baton.pid());
  const std::string before_list = fd_listing(baton.pid());
  for (int g = 2; g <= 51; ++g) {
    auto mark = baton.mark();
    baton.signal(SIGHUP);
    ASSERT_TRUE(wait_serving(baton, g, mark));
    ASSERT_TRUE(baton.wait_for("generation " + std::to_string(g - 1) + " retired", mark)) << baton.log();
  }
  EXPECT_EQ(settled_fd_count(baton.pid(), before), before) << "before:\n" << before_list << "after:\n" << fd_listing(baton.pid());
  EXPECT_EQ(children_of(baton.pid()).size(), 1u);
}

TEST(Upgrade, SighupStormNeverOverlapsUpgrades) {
  WorkerDir dir;
  BatonProcess baton(baton_args(dir));
  ASSERT_TRUE(wait_serving(baton, 1));
  baton.signal(SIGHUP);
  ASSERT_TRUE(baton.wait_for("upgrade to generation 2 started"));
  for (int i = 0; i < 99; ++i) baton.signal(SIGHUP);
  // At least one of the 99 lands during or after generation 2's upgrade, so a
  // generation 3 follows; however many land, they never overlap.
  ASSERT_TRUE(wait_serving(baton, 3));
  baton.signal(SIGTERM);
  ASSERT_EQ(baton.wait_exit(), 0);

  std::string log = baton.log();
  std::size_t started = baton.count("upgrade to generation [0-9]+ started");
  std::size_t ended = baton.count("upgrade to generation [0-9]+ (complete|failed)");
  EXPECT_EQ(started, ended) << log;
  EXPECT_LE(started, 100u);
  // Walk the log: never a second "started" before the previous one ended.
  bool in_flight = false;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("upgrade to generation") == std::string::npos) continue;
    if (line.find(" started") != std::string::npos) {
      EXPECT_FALSE(in_flight) << "overlapping upgrade: " << line;
      in_flight = true;
    } else if (line.find(" complete") != std::string::npos || line.find(" failed") != std::string::npos) {
      in_flight = false;
    }
  }
}

}  // namespace
}  // namespace testing_support
