// Rolling upgrades (--rolling N) with real baton, real kvstore workers and
// real sockets: four workers replaced one at a time under load, in both
// modes, with capacity and process counts watched through `baton status`;
// a new build that fails in batch 2 sends batch 1's slot back to the old
// file, with its state in handoff mode.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <optional>
#include <nlohmann/json.hpp>
#include <thread>

#include "integration/fixture.h"
#include "support/command.h"
#include "support/load_client.h"

namespace testing_support {
namespace {

nlohmann::json status_of(const BatonProcess& baton) {
  auto status = run_baton({"status", "--json", "--control", baton.control_path()});
  return nlohmann::json::parse(status.out, nullptr, false);
}

// Samples `baton status` back to back until stopped: the most worker
// processes alive and the fewest serving at any sample, and how many samples
// saw a rolling upgrade running.
class CapacityWatch {
 public:
  explicit CapacityWatch(const BatonProcess& baton) : thread_([this, &baton] { run(baton); }) {}
  ~CapacityWatch() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int most_alive = 0, fewest_serving = 1 << 20, samples_rolling = 0;

 private:
  void run(const BatonProcess& baton) {
    while (!stop_) {
      const auto j = status_of(baton);
      if (j.is_discarded() || !j.contains("generations")) continue;
      int alive = 0, serving = 0;
      for (const auto& g : j["generations"])
        for (const auto& w : g["workers"]) {
          alive += w["pid"].get<int>() != 0;
          serving += w["state"] == "ready";
        }
      const auto& u = j["last_upgrade"];
      if (u.is_null() || u["result"] != "running" || u["rolling"].is_null()) continue;
      ++samples_rolling;
      most_alive = std::max(most_alive, alive);
      fewest_serving = std::min(fewest_serving, serving);
    }
  }
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

CommandResult upgrade_wait(const BatonProcess& baton) {
  return run_baton({"upgrade", "--wait", "--control", baton.control_path()}, std::chrono::seconds(120));
}

// baton with `workers` kvstore workers, --rolling 1, in the test's mode,
// under load: in handoff mode a writer that reads every write back at the end.
class RollingModes : public ::testing::TestWithParam<const char*> {
 protected:
  bool handoff() const { return std::string(GetParam()) == "handoff"; }
  void start(const char* workers) {
    baton.emplace(baton_args(dir, {"-w", workers, "--rolling", "1", "--mode", GetParam()}));
    const auto port = serving_port(*baton);
    load.emplace(LoadClient::Options{.port = port, .keepalive_connections = 4, .close_connections = 1,
                                     .writes = handoff(), .read_back = handoff(),
                                     .close_pause = std::chrono::milliseconds(2)});
    ASSERT_TRUE(traffic_flows(*load, 200));
  }
  WorkerDir dir;
  std::optional<BatonProcess> baton;
  std::optional<LoadClient> load;
};

TEST_P(RollingModes, FourWorkersOneAtATimeNeverMoreThanFiveAliveNorFewerThanThreeServing) {
  constexpr int kUpgrades = 5;  // enough for status to catch them running many times
  start("4");
  ASSERT_FALSE(HasFatalFailure());
  BatonProcess& baton = *this->baton;
  CapacityWatch watch(baton);
  for (int upgrade = 0; upgrade < kUpgrades; ++upgrade) {
    const CommandResult done = upgrade_wait(baton);
    ASSERT_EQ(done.exit_code, 0) << done.describe() << baton.log();
    ASSERT_TRUE(traffic_flows(*load, 200));
  }
  watch.stop();
  const LoadStats stats = load->stop();
  EXPECT_EQ(stats.failed, 0u) << (stats.first_errors.empty() ? "" : stats.first_errors[0]);
  EXPECT_EQ(baton.count("upgrade to generation [2-6]: batch [1-4] of 4"), 4u * kUpgrades) << baton.log();
  EXPECT_GT(watch.samples_rolling, 0) << "status never caught a rolling upgrade running";
  EXPECT_LE(watch.most_alive, 5);
  EXPECT_GE(watch.fewest_serving, 3);
  if (handoff()) {
    EXPECT_EQ(stats.reconnects, 0u) << "connections move with their worker's state";
    EXPECT_GT(stats.read_back, 0u);
    EXPECT_EQ(stats.lost, 0u) << "of " << stats.read_back << " writes read back on the connection that made them";
  }
  const auto j = status_of(baton);
  EXPECT_EQ(j["last_upgrade"]["rolling"]["batches"], 4) << j.dump();
  EXPECT_EQ(j["replacements"]["upgrade"], 4 * kUpgrades) << j.dump();
  std::printf("[ figures  ] %s mode, -w 4 --rolling 1, %d upgrades: %llu requests, %llu failed, %llu reconnects, "
              "%llu writes read back, %llu lost; sampled %d times while rolling: at most %d workers alive, at "
              "least %d serving\n",
              GetParam(), kUpgrades, static_cast<unsigned long long>(stats.ok),
              static_cast<unsigned long long>(stats.failed), static_cast<unsigned long long>(stats.reconnects),
              static_cast<unsigned long long>(stats.read_back),
              static_cast<unsigned long long>(stats.lost), watch.samples_rolling, watch.most_alive,
              watch.fewest_serving);
  baton.signal(SIGTERM);
  EXPECT_EQ(baton.wait_exit(), 0);
}

// The new build starts in slot 0 (batch 1) and fails in slot 1 (batch 2).
// It marks itself with an extra flag, so /proc tells which file a worker runs.
const std::string kFailsInSlot1 = std::string("if [ \"$BATON_WORKER_INDEX\" = 1 ]; then\n"
                                              "  echo 'this build cannot start in slot 1' >&2; exit 3\n"
                                              "fi\n"
                                              "exec ") +
                                  KVSTORE_BIN + " --accept-state-version 7 \"$@\"";

std::string cmdline_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::replace(s.begin(), s.end(), '\0', ' ');
  return s;
}

pid_t pid_in_slot(const nlohmann::json& status, std::uint64_t generation, std::uint32_t index) {
  for (const auto& g : status["generations"])
    if (g["number"] == generation)
      for (const auto& w : g["workers"])
        if (w["index"] == index) return w["pid"].get<pid_t>();
  return 0;
}

TEST_P(RollingModes, ABuildThatFailsInBatchTwoSendsBatchOnesSlotBackToTheOldFile) {
  start("2");
  ASSERT_FALSE(HasFatalFailure());
  BatonProcess& baton = *this->baton;
  dir.use_script(kFailsInSlot1);
  const CommandResult failed = upgrade_wait(baton);
  EXPECT_NE(failed.exit_code, 0) << failed.describe();
  ASSERT_TRUE(traffic_flows(*load, 200));
  const LoadStats stats = load->stop();
  EXPECT_EQ(stats.failed, 0u) << (stats.first_errors.empty() ? "" : stats.first_errors[0]);
  const auto j = status_of(baton);
  EXPECT_EQ(j["serving_generation"], 1) << j.dump();
  EXPECT_EQ(j["last_upgrade"]["result"], "failed");
  EXPECT_EQ(j["last_upgrade"]["rolling"]["failed_batch"], 2) << j.dump();
  EXPECT_NE(j["last_upgrade"]["reason"].get<std::string>().find("batch 2 of 2 failed"), std::string::npos);
  EXPECT_EQ(j["replacements"]["rollback"], 1) << j.dump();
  const pid_t back = pid_in_slot(j, 1, 0);
  ASSERT_NE(back, 0) << j.dump();
  EXPECT_NE(back, ready_pid(baton, 1, 0)) << "slot 0 runs a new process of the old file";
  EXPECT_EQ(cmdline_of(back).find("--accept-state-version"), std::string::npos) << cmdline_of(back);
  EXPECT_EQ(baton.count("worker 2\\.0 \\(pid [0-9]+\\) started: "), 1u) << "batch 1 had run";
  if (handoff()) {
    EXPECT_EQ(stats.reconnects, 0u) << "the connections went to the new build and back";
    EXPECT_GT(stats.read_back, 0u);
    EXPECT_EQ(stats.lost, 0u) << "of " << stats.read_back << " writes: the state came back too";
  }
  std::printf("[ figures  ] %s mode, batch 2 of 2 failed: rolled back; %llu requests, %llu failed, %llu writes "
              "read back, %llu lost\n",
              GetParam(), static_cast<unsigned long long>(stats.ok), static_cast<unsigned long long>(stats.failed),
              static_cast<unsigned long long>(stats.read_back), static_cast<unsigned long long>(stats.lost));
  baton.signal(SIGTERM);
  EXPECT_EQ(baton.wait_exit(), 0);
}

INSTANTIATE_TEST_SUITE_P(Modes, RollingModes, ::testing::Values("drain", "handoff"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace testing_support
