// UDP flow steering: udpsession's sessions live through upgrades. Every
// worker of every generation reads the same UDP socket; libbaton's steer()
// sends a datagram of another worker's session to that worker's inbox.
#include <gtest/gtest.h>

#include "integration/fixture.h"
#include "integration/udp_fixture.h"
#include "support/flow_load.h"
#include "support/udp_session.h"

namespace testing_support {
namespace {

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
  BatonProcess baton(udp_args(UDPSESSION_BIN, {"-w", "2", "--mode", c.mode, "--drain-timeout", "20s", "--udp-steering",
                               c.steering ? "on" : "off"},
                              {"--idle-ms", "2000"}));
  const std::uint16_t port = udp_port(baton);
  ASSERT_TRUE(wait_serving(baton, 1)) << baton.log();
  // Sessions of about 1 s (40 DATA 25 ms apart): each lives through an upgrade.
  FlowLoad flows(6, [port] { return run_session(port, 40, std::chrono::milliseconds(25)); });
  ASSERT_TRUE(flows_end(flows, 6, !c.steering));
  const int upgrades = c.steering ? 20 : 5;
  const auto served = upgrade_every_second(baton, upgrades);
  const FlowStats stats = flows.stop();
  const std::string errors = stats.first_errors.empty() ? "" : stats.first_errors[0];
  std::printf("[ figures ] %s%s: %llu sessions during %d upgrades, %llu completed, %llu broken; "
              "%llu DATA answered\n",
              c.mode, c.steering ? "" : " (steering off)",
              static_cast<unsigned long long>(stats.completed + stats.broken), upgrades,
              static_cast<unsigned long long>(stats.completed), static_cast<unsigned long long>(stats.broken),
              static_cast<unsigned long long>(stats.answered));
  if (!c.steering) {
    EXPECT_GT(stats.broken, 0u) << "without steering, a session's datagram read by another worker is lost";
    return;
  }
  EXPECT_EQ(stats.broken, 0u) << stats.broken << " of " << stats.completed + stats.broken << " sessions broke: " << errors;
  EXPECT_GT(stats.completed, 60u);
  // A session opened once generation g served (and the old one was told to drain) is held by g or later.
  const std::size_t late = opened_on_older_generation(stats.openings, served);
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
  BatonProcess baton(udp_args(UDPSESSION_BIN, {"--log-level", "debug"}, {"--no-steering"}));
  const std::uint16_t port = udp_port(baton);
  ASSERT_TRUE(wait_serving(baton, 1)) << baton.log();
  FlowLoad flows(2, [port] { return run_session(port, 5, std::chrono::milliseconds(1)); });
  ASSERT_TRUE(flows_end(flows, 10));
  const FlowStats stats = flows.stop();
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
    BatonProcess baton(udp_args(UDPSESSION_BIN, {"--udp-steering", setting, "--log-level", "debug"}));
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
