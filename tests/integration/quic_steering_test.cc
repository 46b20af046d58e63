// A real QUIC server under baton keeps its connections through upgrades:
// quicecho (ngtcp2 + GnuTLS) writes its flow tag into its connection ids,
// and UDP flow steering brings each packet to the worker holding its
// connection. The client is ngtcp2's too (support/quic_echo_client.h).
// Drain mode only: a QUIC connection's TLS state cannot be saved, so it
// stays with the worker that made it until it closes.
#include <gtest/gtest.h>

#include "integration/fixture.h"
#include "integration/udp_fixture.h"
#include "support/flow_load.h"
#include "support/quic_echo_client.h"

namespace testing_support {
namespace {

// One connection of 40 streams 25 ms apart (about 1 s: each lives through an upgrade).
OneFlow quic_connection(std::uint16_t port) {
  return [port]() -> baton::Result<FlowOpening> {
    auto r = run_quic_echo({.port = port, .streams = 40, .gap = std::chrono::milliseconds(25)});
    if (!r) return r.status();
    return FlowOpening{r->started, r->generation, r->round_trips.size()};
  };
}

class QuicSteering : public ::testing::TestWithParam<bool> {};

// -w 2: a sibling reads a connection's packets too, not only the next generation.
TEST_P(QuicSteering, ConnectionsLiveThroughUpgradesEverySecond) {
  const bool steering = GetParam();
  BatonProcess baton(udp_args(QUICECHO_BIN, {"-w", "2", "--drain-timeout", "20s", "--udp-steering", steering ? "on" : "off"}));
  const std::uint16_t port = udp_port(baton);
  ASSERT_TRUE(wait_serving(baton, 1)) << baton.log();
  FlowLoad flows(6, quic_connection(port));
  ASSERT_TRUE(flows_end(flows, 6, !steering)) << baton.log();
  const int upgrades = steering ? 20 : 5;
  const auto served = upgrade_every_second(baton, upgrades);
  const FlowStats stats = flows.stop();
  std::printf("[ figures ] QUIC%s: %llu connections during %d upgrades, %llu completed, %llu broken; %llu streams "
              "answered\n",
              steering ? "" : " (steering off)", static_cast<unsigned long long>(stats.completed + stats.broken),
              upgrades, static_cast<unsigned long long>(stats.completed), static_cast<unsigned long long>(stats.broken),
              static_cast<unsigned long long>(stats.answered));
  if (!steering) {
    EXPECT_GT(stats.broken, 0u) << "without steering, a connection's packets read by another worker are lost";
    return;
  }
  EXPECT_EQ(stats.broken, 0u) << (stats.first_errors.empty() ? "" : stats.first_errors[0]);
  EXPECT_GT(stats.completed, 60u);
  EXPECT_EQ(opened_on_older_generation(stats.openings, served), 0u)
      << "connections opened on an older generation than the newest serving one";
}

INSTANTIATE_TEST_SUITE_P(Steering, QuicSteering, ::testing::Values(true, false),
                         [](const auto& info) { return std::string(info.param ? "On" : "Off"); });

}  // namespace
}  // namespace testing_support
