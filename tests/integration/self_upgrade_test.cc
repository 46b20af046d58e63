// baton upgrade --self: baton re-executes its own binary in place. Each test
// runs baton from a copy in a directory of its own, so that it can replace
// that copy as a deploy would (rename a new file over it).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "integration/fixture.h"
#include "support/command.h"

namespace testing_support {
namespace {

class SelfDir {
 public:
  SelfDir() : dir_("baton-self") { deploy_copy(); }
  std::string baton() const { return dir_.path() + "/baton"; }
  // A fresh copy of the build's baton renamed over the running one's file.
  void deploy_copy() {
    std::filesystem::copy_file(BATON_BIN, staged(), std::filesystem::copy_options::overwrite_existing);
    std::filesystem::rename(staged(), baton());
  }
  // Something that is not a baton able to read the table.
  void deploy_script(const std::string& body) {
    {
      std::ofstream out(staged());
      out << "#!/bin/sh\n" << body << "\n";
    }
    std::filesystem::permissions(staged(), std::filesystem::perms::owner_all);
    std::filesystem::rename(staged(), baton());
  }

 private:
  std::string staged() const { return dir_.path() + "/baton.new"; }
  TempDir dir_;
};

nlohmann::json status(const BatonProcess& baton) {
  auto r = run_baton({"status", "--json", "--control", baton.control_path()});
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  return nlohmann::json::parse(r.out, nullptr, false);
}

// pid of each worker, in order.
std::vector<long> worker_pids(const nlohmann::json& s) {
  std::vector<long> pids;
  for (const auto& g : s["generations"])
    for (const auto& w : g["workers"]) pids.push_back(w.value("pid", 0L));
  return pids;
}

CommandResult upgrade_self(const SelfDir& self, const BatonProcess& baton) {
  return run_command({self.baton(), "upgrade", "--self", "--control", baton.control_path()});
}

class SelfUpgrade : public ::testing::TestWithParam<std::string> {};

TEST_P(SelfUpgrade, UnderLoadKeepsPidWorkersAndEveryRequestThenUpgradesAndStops) {
  const std::string mode = GetParam();
  SelfDir self;
  WorkerDir dir;
  // Handoff mode with one worker: with two, each keeps a store of its own, and reads would miss.
  BatonProcess baton(baton_args(dir, {"--mode", mode, "--workers", mode == "drain" ? "2" : "1"}), std::nullopt,
                     BatonProcess::Output::kCaptured, {}, self.baton());
  const auto port = serving_port(baton);
  LoadClient load({.port = port, .keepalive_connections = 4, .close_connections = 2, .writes = mode == "handoff"});
  ASSERT_TRUE(traffic_flows(load, 300));
  const auto before = status(baton);

  self.deploy_copy();
  const auto mark = baton.mark();
  auto r = upgrade_self(self, baton);
  ASSERT_EQ(r.exit_code, 0) << r.describe() << baton.log();
  auto took_over = baton.wait_for("took over in place from baton .* paused ([0-9]+) ms", mark);
  ASSERT_TRUE(took_over) << baton.log();
  ASSERT_TRUE(traffic_flows(load, 300));

  const auto after = status(baton);
  EXPECT_EQ(after["pid"], before["pid"]);
  EXPECT_EQ(baton.pid(), after.value("pid", 0L));
  EXPECT_EQ(worker_pids(after), worker_pids(before)) << "the same workers serve on";
  EXPECT_EQ(after["self_upgrades"], 1);

  // A worker upgrade, then a graceful stop, from the new baton.
  auto up = run_baton({"upgrade", "--wait", "--control", baton.control_path()});
  ASSERT_EQ(up.exit_code, 0) << up.describe() << baton.log();
  ASSERT_TRUE(traffic_flows(load, 300));
  const LoadStats stats = load.stop();
  EXPECT_EQ(stats.failed, 0u) << (stats.first_errors.empty() ? "" : stats.first_errors.front());
  if (mode == "handoff") expect_all_acknowledged_writes(port, stats);
  std::cout << "[ figures  ] self-upgrade, " << mode << " mode: " << stats.ok << " requests ok, " << stats.failed
            << " failed; baton's loop paused " << took_over->groups[1] << " ms\n";
  baton.signal(SIGTERM);
  EXPECT_EQ(baton.wait_exit(), 0) << baton.log();
  const std::size_t workers = mode == "drain" ? 4 : 2;
  EXPECT_EQ(baton.count("worker [0-9]+\\.[0-9]+ \\(pid [0-9]+\\) exited"), workers) << "every worker reaped, adopted or not";
}

INSTANTIATE_TEST_SUITE_P(Modes, SelfUpgrade, ::testing::Values("drain", "handoff"));

TEST(SelfUpgradeRefused, ABinaryThatCannotReadTheTableLeavesTheOldBatonServing) {
  SelfDir self;
  WorkerDir dir;
  BatonProcess baton(baton_args(dir), std::nullopt, BatonProcess::Output::kCaptured, {}, self.baton());
  const auto port = serving_port(baton);
  LoadClient load({.port = port, .keepalive_connections = 2, .close_connections = 2});
  const auto before = status(baton);
  // Reads its input and exits 0, like a careless check would: not the exact answer.
  self.deploy_script("cat >/dev/null; echo ok");
  auto r = run_command({BATON_BIN, "upgrade", "--self", "--control", baton.control_path()});
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_NE(r.err.find("cannot take over"), std::string::npos) << r.describe();
  ASSERT_TRUE(baton.wait_for("self-upgrade refused: .* cannot take over")) << baton.log();
  ASSERT_TRUE(traffic_flows(load, 300));
  const auto after = status(baton);
  EXPECT_EQ(after["self_upgrades"], 0);
  EXPECT_EQ(worker_pids(after), worker_pids(before));
  EXPECT_EQ(load.stop().failed, 0u);
}

TEST(SelfUpgradeRefused, DuringAnUpgradeItSaysWhyAndWhen) {
  SelfDir self;
  WorkerDir dir;
  BatonProcess baton(baton_args(dir, {"--probation", "10m"}), std::nullopt, BatonProcess::Output::kCaptured, {},
                     self.baton());
  serving_port(baton);
  ASSERT_EQ(run_baton({"upgrade", "--wait", "--control", baton.control_path()}).exit_code, 0);
  auto r = upgrade_self(self, baton);
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_NE(r.err.find("generation 2 is on probation; try again when it has passed"), std::string::npos)
      << r.describe();
}

// A draining generation's deadline survives the exec: it still gets its
// SIGTERM on time, from the new baton, which reaps it through its pidfd.
TEST(SelfUpgradeDeadlines, ADrainingGenerationStillMeetsItsDeadline) {
  SelfDir self;
  WorkerDir dir;
  dir.use_helper("ignore-drain");  // generation 1 never finishes on its own
  BatonProcess baton(baton_args(dir, {"--drain-timeout", "3s"}), std::nullopt, BatonProcess::Output::kCaptured, {},
                     self.baton());
  serving_port(baton);
  dir.use_kvstore();
  ASSERT_EQ(run_baton({"upgrade", "--wait", "--control", baton.control_path()}).exit_code, 0);
  const auto mark = baton.mark();
  ASSERT_EQ(upgrade_self(self, baton).exit_code, 0) << baton.log();
  ASSERT_TRUE(baton.wait_for("took over in place", mark)) << baton.log();
  EXPECT_TRUE(baton.wait_for("worker 1\\.0 \\(pid [0-9]+\\) still running .* sending SIGTERM", mark)) << baton.log();
  EXPECT_TRUE(baton.wait_for("generation 1 retired", mark)) << baton.log();
}

}  // namespace
}  // namespace testing_support
