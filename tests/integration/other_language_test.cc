// Workers in other languages, under the real baton: ckv (C, against
// libbaton's C API) and pykv (Python, standard library only, from
// shared/PROTOCOL.md alone). Each is upgraded five times under load, in
// drain mode and in handoff mode; no request fails, and in handoff mode
// every acknowledged write and every keep-alive connection moves along.
// pykv and kvstore also hand their store and connections to each other.
#include <gtest/gtest.h>

#include <string>

#include "integration/fixture.h"
#include "support/command.h"

namespace testing_support {
namespace {

struct Case {
  std::string worker;  // the binary
  std::string mode;    // drain or handoff
};

std::string label(const Case& c) { return std::string(c.worker == CKV_BIN ? "C" : "Python") + "_" + c.mode; }
std::string case_name(const ::testing::TestParamInfo<Case>& info) { return label(info.param); }

// How GoogleTest (and so CTest's test list) shows a Case.
void PrintTo(const Case& c, std::ostream* os) { *os << c.worker << " --mode " << c.mode; }

class OtherLanguage : public ::testing::TestWithParam<Case> {};

TEST_P(OtherLanguage, FiveUpgradesUnderLoadLoseNothing) {
  const Case& c = GetParam();
  BatonProcess baton({"--mode", c.mode, "--listen", "http=tcp://127.0.0.1:0", "--", c.worker});
  const auto port = serving_port(baton);
  LoadClient load({.port = port, .keepalive_connections = 4, .close_connections = 2, .writes = true,
                   .max_duration = std::chrono::seconds(120)});
  for (int g = 2; g <= 6; ++g) {
    ASSERT_TRUE(traffic_flows(load, 300));
    auto r = run_baton({"upgrade", "--wait", "--control", baton.control_path()});
    ASSERT_EQ(r.exit_code, 0) << r.describe() << baton.log();
  }
  ASSERT_TRUE(traffic_flows(load, 300));
  const LoadStats stats = load.stop();
  EXPECT_EQ(stats.failed, 0u) << (stats.first_errors.empty() ? "" : stats.first_errors.front());
  EXPECT_EQ(get_stats(port).generation, 6);
  std::printf("[ figures  ] %s, %s mode: 5 upgrades, %llu requests ok, %llu failed, %llu reconnects\n",
              label(c).c_str(), c.mode.c_str(), static_cast<unsigned long long>(stats.ok),
              static_cast<unsigned long long>(stats.failed), static_cast<unsigned long long>(stats.reconnects));
  if (c.mode == "handoff") {
    expect_all_acknowledged_writes(port, stats);
    EXPECT_EQ(stats.reconnects, 0u) << "keep-alive connections move with the state";
  }
}

INSTANTIATE_TEST_SUITE_P(Workers, OtherLanguage,
                         ::testing::Values(Case{CKV_BIN, "drain"}, Case{CKV_BIN, "handoff"}, Case{PYKV_BIN, "drain"},
                                           Case{PYKV_BIN, "handoff"}),
                         case_name);

// C++ to Python to C++: the store and the open connections cross languages
// both ways, because pykv reads and writes kvstore's state layout.
TEST(OtherLanguage, KvstoreAndPykvHandTheirStoreAndConnectionsToEachOther) {
  WorkerDir dir;
  BatonProcess baton(baton_args(dir, {"--mode", "handoff"}));
  const auto port = serving_port(baton);
  LoadClient load({.port = port, .keepalive_connections = 4, .close_connections = 2, .writes = true});
  for (const std::string worker : {PYKV_BIN, KVSTORE_BIN}) {
    ASSERT_TRUE(traffic_flows(load, 300));
    dir.use_script("exec " + worker + " \"$@\"");
    auto r = run_baton({"upgrade", "--wait", "--control", baton.control_path()});
    ASSERT_EQ(r.exit_code, 0) << r.describe() << baton.log();
  }
  ASSERT_TRUE(traffic_flows(load, 300));
  const LoadStats stats = load.stop();
  EXPECT_EQ(stats.failed, 0u) << (stats.first_errors.empty() ? "" : stats.first_errors.front());
  EXPECT_EQ(stats.reconnects, 0u) << "keep-alive connections move between the languages";
  expect_all_acknowledged_writes(port, stats);
  EXPECT_TRUE(baton.wait_for("pykv\\[[0-9]+\\]: committed: serving [0-9]+ keys")) << baton.log();
}

}  // namespace
}  // namespace testing_support
