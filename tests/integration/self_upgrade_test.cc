// baton upgrade --self: baton re-executes its own binary in place. Each test
// runs baton from a copy in a directory of its own, so that it can replace
// that copy as a deploy would (rename a new file over it).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include <csignal>

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
  // wait_exit() may return before the pipe's last lines are read: the last one says all are.
  ASSERT_TRUE(baton.wait_for("stopped: every worker has exited")) << baton.log();
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


// ---- hardening, round 3 -----------------------------------------------------

// A SIGHUP that lands while baton execs itself used to end it by the default
// action (exit 129) with every worker. Blocked across the exec, it stays
// pending and becomes the upgrade it asks for once the new image listens.
TEST(SelfUpgradeSignals, ASighupDuringTheExecBecomesAnUpgradeNotAnExit) {
  for (int attempt = 1; attempt <= 3; ++attempt) {
    SelfDir self;
    WorkerDir dir;
    BatonProcess baton(baton_args(dir), std::nullopt, BatonProcess::Output::kCaptured, {}, self.baton());
    serving_port(baton);
    const auto mark = baton.mark();
    CommandResult result;
    std::thread client([&] { result = upgrade_self(self, baton); });
    const bool handing_over = baton.wait_for("self-upgrade: .* takes over in place", mark).has_value();
    // A burst of SIGHUPs over the exec and the new image's start-up.
    for (int i = 0; handing_over && i < 200; ++i) {
      baton.signal(SIGHUP);
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    client.join();
    ASSERT_TRUE(handing_over) << baton.log();
    ASSERT_EQ(result.exit_code, 0) << result.describe() << baton.log();
    ASSERT_TRUE(baton.wait_for("took over in place", mark)) << baton.log();
    ASSERT_TRUE(baton.wait_for("upgrade to generation [0-9]+ complete", mark)) << "attempt " << attempt << ": "
                                                                                << baton.log();
    ASSERT_FALSE(baton.wait_exit(std::chrono::milliseconds(1))) << "baton lives on: " << baton.log();
  }
}

// The check of a new binary that hangs no longer stops baton's loop: a worker
// that crashes meanwhile is restarted at once, and `baton status` answers.
TEST(SelfUpgradeCheck, AHangingCheckLeavesBatonServingRestartingAndAnswering) {
  SelfDir self;
  WorkerDir dir;
  BatonProcess baton(baton_args(dir), std::nullopt, BatonProcess::Output::kCaptured, {}, self.baton());
  serving_port(baton);
  const pid_t first = ready_pid(baton, 1);
  self.deploy_script("exec sleep 60");
  const auto mark = baton.mark();
  CommandResult result;
  std::thread client([&] { result = run_command({BATON_BIN, "upgrade", "--self", "--control", baton.control_path()}); });
  ASSERT_TRUE(baton.wait_for("self-upgrade: checking that", mark)) << baton.log();
  const auto crashed_at = std::chrono::steady_clock::now();
  ::kill(first, SIGKILL);
  const bool restarted = baton.wait_for("worker 1\\.0 \\(pid [0-9]+\\) ready", mark, 8s).has_value();
  const double restart_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - crashed_at).count();
  const auto status_during = run_baton({"status", "--json", "--control", baton.control_path()});
  const auto second = run_command({BATON_BIN, "upgrade", "--self", "--control", baton.control_path()});
  client.join();
  EXPECT_EQ(second.exit_code, 1) << second.describe();
  EXPECT_NE(second.err.find("a self-upgrade is being checked already"), std::string::npos) << second.describe();
  std::cout << "[ figures  ] a worker crashed during a hanging self-upgrade check was serving again after "
            << restart_ms << " ms\n";
  EXPECT_TRUE(restarted) << "restarted while the check hangs: " << baton.log();
  EXPECT_EQ(status_during.exit_code, 0) << status_during.describe();
  EXPECT_EQ(result.exit_code, 1) << result.describe();
  EXPECT_NE(result.err.find("did not answer the handover check within 10s"), std::string::npos) << result.describe();
  EXPECT_EQ(status(baton)["self_upgrades"], 0);
}

// The new image starts from the configuration the first one read: a config
// file deleted or moved since cannot end the service.
TEST(SelfUpgradeConfig, AConfigFileDeletedSinceStartIsCarriedAcross) {
  SelfDir self;
  WorkerDir dir;
  TempDir etc("baton-etc");
  const std::string config = etc.path() + "/baton.toml";
  const std::string control = etc.path() + "/control.sock";
  std::ofstream(config) << "listen = [\"http=tcp://127.0.0.1:0\"]\nname = \"carried\"\ncontrol = \"" << control
                        << "\"\ncommand = [\"" << dir.worker() << "\"]\n";
  BatonProcess baton({"--config", config}, std::nullopt, BatonProcess::Output::kCaptured, {}, self.baton());
  const auto port = serving_port(baton);
  std::filesystem::remove(config);
  auto r = run_command({self.baton(), "upgrade", "--self", "--control", control});
  ASSERT_EQ(r.exit_code, 0) << r.describe() << baton.log();
  ASSERT_TRUE(baton.wait_for("took over in place")) << baton.log();
  auto s = run_baton({"status", "--json", "--control", control});
  ASSERT_EQ(s.exit_code, 0) << s.describe() << baton.log();
  const auto j = nlohmann::json::parse(s.out, nullptr, false);
  EXPECT_EQ(j["self_upgrades"], 1);
  EXPECT_EQ(j["name"], "carried") << s.out;
  EXPECT_EQ(get_stats(port).generation, 1);
}

// A change --watch was settling when baton re-executed itself is deployed by
// the new image.
TEST(SelfUpgradeWatch, AnUpgradePendingFromWatchSurvivesTheExec) {
  SelfDir self;
  WorkerDir dir;
  BatonProcess baton(baton_args(dir, {"--watch", "--watch-settle", "2s"}), std::nullopt,
                     BatonProcess::Output::kCaptured, {}, self.baton());
  const auto port = serving_port(baton);
  ASSERT_TRUE(baton.wait_for("watching "));
  dir.use_kvstore();  // a new build renamed into place
  ASSERT_EQ(upgrade_self(self, baton).exit_code, 0) << baton.log();
  ASSERT_TRUE(baton.wait_for("took over in place")) << baton.log();
  EXPECT_TRUE(wait_serving(baton, 2)) << baton.log();
  EXPECT_EQ(get_stats(port).generation, 2);
}

}  // namespace
}  // namespace testing_support
