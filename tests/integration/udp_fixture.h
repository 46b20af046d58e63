// What the UDP flow steering tests share (udp_steering_test.cc with
// udpsession, quic_steering_test.cc with quicecho): baton over a UDP
// listener, waiting for flows, upgrades at a steady pace.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "support/baton_process.h"
#include "support/flow_load.h"

namespace testing_support {

// `baton run --listen udp=udp://127.0.0.1:0 EXTRA... -- WORKER WORKER_ARGS...`
std::vector<std::string> udp_args(const std::string& worker, std::vector<std::string> extra,
                                  std::vector<std::string> worker_args = {});
std::uint16_t udp_port(const BatonProcess& baton);
// Waits until `more` flows have ended (completed, or also broken when `or_broken`).
::testing::AssertionResult flows_end(const FlowLoad& flows, std::uint64_t more, bool or_broken = false);
// SIGHUP once a second (the pace of the load, not a wait for an event), each
// upgrade waited for until its generation serves. [g-1]: when generation g served.
std::vector<std::chrono::steady_clock::time_point> upgrade_every_second(BatonProcess& baton, int upgrades);
// Flows that began once a newer generation served (with `margin`) but were
// held by an older one.
std::size_t opened_on_older_generation(const std::vector<FlowOpening>& openings,
                                       const std::vector<std::chrono::steady_clock::time_point>& served,
                                       std::chrono::milliseconds margin = std::chrono::milliseconds(100));

}  // namespace testing_support
