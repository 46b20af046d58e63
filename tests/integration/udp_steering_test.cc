// UDP flow steering: udpsession's sessions live through upgrades. Every
// worker of every generation reads the same UDP socket; libbaton's steer()
// sends a datagram of another worker's session to that worker's inbox.
#include <gtest/gtest.h>

#include <thread>

#include "integration/fixture.h"
#include "support/udp_flows.h"

namespace testing_support {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::string> udp_args(std::vector<std::string> extra, std::vector<std::string> worker_args = {}) {
  std::vector<std::string> args{"--listen", "udp=udp://127.0.0.1:0"};
  args.insert(args.end(), extra.begin(), extra.end());
  args.push_back("--");
  args.push_back(UDPSESSION_BIN);
  args.insert(args.end(), worker_args.begin(), worker_args.end());
  return args;
}

std::uint16_t udp_port(const BatonProcess& baton) {
  auto m = baton.wait_for("listening udp=udp://127\\.0\\.0\\.1:([0-9]+)");
  return m ? static_cast<std::uint16_t>(std::stoi(m->groups[1])) : 0;
}

// Waits until `more` sessions have ended (completed, or also broken when `or_broken`).
::testing::AssertionResult sessions_flow(const UdpFlows& flows, std::uint64_t more, bool or_broken = false) {
  auto ended = [&] { return or_broken ? flows.finished() : flows.completed(); };
  const auto base = ended();
  for (const auto until = Clock::now() + std::chrono::seconds(30); ended() < base + more;) {
    if (Clock::now() > until) return ::testing::AssertionFailure() << "sessions stuck: none ended in 30 s";
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling a counter
  }
  return ::testing::AssertionSuccess();
}

// SIGHUP once a second (the cadence of the load, not a wait for an event),
// each upgrade waited for until its generation serves. When each served.
std::vector<Clock::time_point> upgrade_every_second(BatonProcess& baton, int upgrades) {
  std::vector<Clock::time_point> served{Clock::now()};  // [0]: generation 1, before the first upgrade
  auto next = Clock::now();
  for (int g = 2; g <= upgrades + 1; ++g) {
    std::this_thread::sleep_until(next);
    next += std::chrono::seconds(1);
    const auto mark = baton.mark();
    baton.signal(SIGHUP);
    EXPECT_TRUE(wait_serving(baton, g, mark));
    served.push_back(Clock::now());
  }
  return served;
}

struct Case {
  const char* mode;
  bool steering;
  friend void PrintTo(const Case& c, std::ostream* os) { *os << c.mode << (c.steering ? "" : "_SteeringOff"); }
};

class UdpSteering : public ::testing::TestWithParam<Case> {};

// -w 2: a sibling may read a session's datagram too, not only the next generation.
TEST_P(UdpSteering, SessionsLiveThroughUpgradesEverySecond) {
  const Case c = GetParam();
  // --idle-ms: a session its client gave up on (steering off) does not hold its worker for long.
  BatonProcess baton(udp_args({"-w", "2", "--mode", c.mode, "--drain-timeout", "20s", "--udp-steering",
                               c.steering ? "on" : "off"},
                              {"--idle-ms", "2000"}));
  const std::uint16_t port = udp_port(baton);
  ASSERT_TRUE(wait_serving(baton, 1)) << baton.log();
  // Sessions of about 1 s (40 DATA 25 ms apart): each lives through an upgrade.
  UdpFlows flows({.port = port, .threads = 6, .data_per_flow = 40, .gap = std::chrono::milliseconds(25)});
  ASSERT_TRUE(sessions_flow(flows, 6, !c.steering));
  const int upgrades = c.steering ? 20 : 5;
  const auto served = upgrade_every_second(baton, upgrades);
  const UdpFlowStats stats = flows.stop();
  const std::string errors = stats.first_errors.empty() ? "" : stats.first_errors[0];
  std::printf("[ figures ] %s%s: %llu sessions opened during %d upgrades, %llu completed, %llu broken; "
              "%llu DATA answered\n",
              c.mode, c.steering ? "" : " (steering off)", static_cast<unsigned long long>(stats.opened), upgrades,
              static_cast<unsigned long long>(stats.completed), static_cast<unsigned long long>(stats.broken),
              static_cast<unsigned long long>(stats.answered));
  if (!c.steering) {
    EXPECT_GT(stats.broken, 0u) << "without steering, a session's datagram read by another worker is lost";
    return;
  }
  EXPECT_EQ(stats.broken, 0u) << stats.broken << " of " << stats.opened << " sessions broke: " << errors;
  EXPECT_GT(stats.completed, 60u);
  // A session opened once generation g served (and the old one was told to drain) is held by g or later.
  std::size_t late = 0;
  for (const auto& o : stats.openings)
    for (std::size_t g = served.size(); g-- > 1;)
      if (o.at > served[g] + std::chrono::milliseconds(100)) {
        if (o.generation < g + 1) ++late;
        break;
      }
  EXPECT_EQ(late, 0u) << "sessions opened on an older generation than the newest serving one";
}

INSTANTIATE_TEST_SUITE_P(Modes, UdpSteering,
                         ::testing::Values(Case{"drain", true}, Case{"handoff", true}, Case{"drain", false},
                                           Case{"handoff", false}),
                         [](const auto& info) {
                           return std::string(info.param.mode) + (info.param.steering ? "" : "_SteeringOff");
                         });

// A worker that does not take part (no on_flows) is given no inbox and
// serves whatever it reads, as before steering existed.
TEST(UdpSteeringOptional, AWorkerThatDoesNotSteerServesAsBefore) {
  BatonProcess baton(udp_args({"--log-level", "debug"}, {"--no-steering"}));
  const std::uint16_t port = udp_port(baton);
  ASSERT_TRUE(wait_serving(baton, 1)) << baton.log();
  UdpFlows flows({.port = port, .threads = 2, .data_per_flow = 5, .gap = std::chrono::milliseconds(1)});
  ASSERT_TRUE(sessions_flow(flows, 10));
  const UdpFlowStats stats = flows.stop();
  EXPECT_EQ(stats.broken, 0u) << (stats.first_errors.empty() ? "" : stats.first_errors[0]);
  auto s = session_stats(port);
  ASSERT_TRUE(s);
  EXPECT_EQ(stats_field(*s, "tag"), 0) << *s;
  EXPECT_EQ(baton.log().find("steers UDP flows"), std::string::npos);
}

// --udp-steering off: WELCOME does not offer it, so a steering worker does
// not ask, and serves what it reads; with it on, the same worker steers.
TEST(UdpSteeringOptional, OffIsNotOfferedToWorkers) {
  for (const char* setting : {"off", "on"}) {
    BatonProcess baton(udp_args({"--udp-steering", setting, "--log-level", "debug"}));
    const std::uint16_t port = udp_port(baton);
    ASSERT_TRUE(wait_serving(baton, 1)) << baton.log();
    auto s = session_stats(port);
    ASSERT_TRUE(s);
    const bool on = std::string(setting) == "on";
    EXPECT_EQ(stats_field(*s, "tag"), on ? 1 : 0) << *s;
    EXPECT_EQ(baton.log().find("worker 1.0 (pid") != std::string::npos &&
                  baton.log().find("steers UDP flows") != std::string::npos,
              on)
        << baton.log();
  }
}

}  // namespace
}  // namespace testing_support
