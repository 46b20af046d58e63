// Recycling (--recycle-after, --recycle-jitter, --recycle-memory): serving
// workers are replaced by fresh processes of the same file, one at a time,
// under load, without a failed request; in handoff mode without a lost
// write or a reconnect. Real baton, real kvstore workers, real sockets.
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "helper_worker.h"
#include "integration/fixture.h"
#include "support/command.h"
#include "support/http_client.h"
#include "support/load_client.h"

namespace testing_support {
namespace {

// "recycling worker 1.0 (pid 12): ..." and "worker 1.0 (pid 12) recycled: ..."
const std::regex kStarts(R"(recycling worker 1\.([0-9]+) \(pid [0-9]+\): )");
const std::regex kEnds(R"(worker 1\.([0-9]+) \(pid [0-9]+\) recycled: |recycle of worker 1\.([0-9]+) failed)");

// Each recycle's start is followed by its own end before the next starts;
// returns the recycles done per slot.
std::map<int, int> recycles_one_at_a_time(const std::string& log) {
  std::map<int, int> done;
  std::istringstream lines(log);
  int in_flight = -1;
  std::smatch m;
  for (std::string line; std::getline(lines, line);) {
    if (std::regex_search(line, m, kStarts)) {
      EXPECT_EQ(in_flight, -1) << "two recycles at once: " << line;
      in_flight = std::stoi(m[1]);
    } else if (std::regex_search(line, m, kEnds)) {
      const int slot = std::stoi(m[1].matched ? m[1].str() : m[2].str());
      EXPECT_EQ(slot, in_flight) << line;
      if (m[1].matched) ++done[slot];
      in_flight = -1;
    }
  }
  return done;
}

nlohmann::json status_of(const BatonProcess& baton) {
  auto status = run_baton({"status", "--json", "--control", baton.control_path()});
  auto j = nlohmann::json::parse(status.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << status.describe();
  return j;
}

class RecycleModes : public ::testing::TestWithParam<const char*> {};

TEST_P(RecycleModes, EachWorkerIsReplacedAgainAndAgainOneAtATimeWithoutAFailedRequest) {
  const bool handoff = std::string(GetParam()) == "handoff";
  WorkerDir dir;
  BatonProcess baton(
      baton_args(dir, {"-w", "2", "--mode", GetParam(), "--recycle-after", "2s", "--recycle-jitter", "1s"}));
  const auto port = serving_port(baton);
  LoadClient load({.port = port, .keepalive_connections = 4, .close_connections = 1,
                   .close_pause = std::chrono::milliseconds(2)});
  ASSERT_TRUE(traffic_flows(load, 200));
  std::size_t from = 0;
  for (int i = 0; i < 5; ++i) {  // each slot at least twice
    auto done = baton.wait_for("worker 1\\.[01] \\(pid [0-9]+\\) recycled: ", from);
    ASSERT_TRUE(done) << baton.log();
    from = done->line + 1;
  }
  ASSERT_TRUE(traffic_flows(load, 200));
  const LoadStats stats = load.stop();
  const auto per_slot = recycles_one_at_a_time(baton.log());
  EXPECT_GE(per_slot.count(0) ? per_slot.at(0) : 0, 2) << baton.log();
  EXPECT_GE(per_slot.count(1) ? per_slot.at(1) : 0, 2) << baton.log();
  EXPECT_EQ(stats.failed, 0u) << (stats.first_errors.empty() ? "" : stats.first_errors[0]);
  // In handoff mode the open connections move with the worker: none is closed.
  if (handoff) {
    EXPECT_EQ(stats.reconnects, 0u);
  }
  const auto j = status_of(baton);
  EXPECT_GE(j["replacements"]["recycle-age"].get<int>(), 5) << j.dump();
  EXPECT_EQ(j["replacements"]["crash"], 0) << j.dump();
  std::printf("[ figures  ] %s mode, -w 2, --recycle-after 2s --recycle-jitter 1s: %d recycles, %llu requests, "
              "%llu failed, %llu reconnects\n",
              GetParam(), j["replacements"]["recycle-age"].get<int>(), static_cast<unsigned long long>(stats.ok),
              static_cast<unsigned long long>(stats.failed), static_cast<unsigned long long>(stats.reconnects));
  baton.signal(SIGTERM);
  EXPECT_EQ(baton.wait_exit(), 0);
}

INSTANTIATE_TEST_SUITE_P(Modes, RecycleModes, ::testing::Values("drain", "handoff"),
                         [](const auto& info) { return std::string(info.param); });

// Handoff mode: the store moves to each successor, so every acknowledged
// write is still there after three recycles.
TEST(Recycle, HandoffModeKeepsEveryWriteAcrossRecycles) {
  WorkerDir dir;
  BatonProcess baton(baton_args(dir, {"--mode", "handoff", "--recycle-after", "1s"}));
  const auto port = serving_port(baton);
  LoadClient load({.port = port, .keepalive_connections = 3, .close_connections = 0, .writes = true});
  ASSERT_TRUE(traffic_flows(load, 200));
  std::size_t from = 0;
  for (int i = 0; i < 3; ++i) {
    auto done = baton.wait_for("worker 1\\.0 \\(pid [0-9]+\\) recycled: ", from);
    ASSERT_TRUE(done) << baton.log();
    from = done->line + 1;
  }
  ASSERT_TRUE(traffic_flows(load, 200));
  const LoadStats stats = load.stop();
  EXPECT_EQ(stats.failed, 0u) << (stats.first_errors.empty() ? "" : stats.first_errors[0]);
  EXPECT_EQ(stats.reconnects, 0u);
  expect_all_acknowledged_writes(port, stats);
  std::printf("[ figures  ] 3 handoff recycles: %zu acknowledged writes, %llu failed requests\n",
              stats.acknowledged.size(), static_cast<unsigned long long>(stats.failed));
  baton.signal(SIGTERM);
  EXPECT_EQ(baton.wait_exit(), 0);
}

// A worker that grows (kvstore --debug-leak keeps memory of its own, not
// state) is recycled once its private memory passes the limit, and the
// cause shows in status and metrics.
TEST(Recycle, AWorkerThatGrowsPastTheMemoryLimitIsRecycledForIt) {
  WorkerDir dir;
  auto args = baton_args(dir, {"--recycle-memory", "64M", "--metrics", "tcp://127.0.0.1:0"});
  args.push_back("--debug-leak");
  BatonProcess baton(args);
  const auto port = serving_port(baton);
  const pid_t grown = ready_pid(baton, 1, 0);
  auto leak = http_request(port, "PUT", "/debug/leak", "100");
  ASSERT_TRUE(leak && leak->status == 200) << (leak ? leak->body : leak.status().message());
  ASSERT_TRUE(baton.wait_for("recycling worker 1\\.0 \\(pid " + std::to_string(grown) +
                             "\\): its private memory is [0-9.]+ MiB \\(--recycle-memory 64\\.0 MiB\\)"))
      << baton.log();
  ASSERT_TRUE(baton.wait_for("worker 1\\.0 \\(pid " + std::to_string(grown) + "\\) recycled: ")) << baton.log();
  const auto after = get_stats(port);
  EXPECT_NE(after.pid, grown);
  EXPECT_EQ(after.generation, 1) << "the same file, the same generation";
  const auto j = status_of(baton);
  EXPECT_EQ(j["replacements"]["recycle-memory"], 1) << j.dump();
  auto scrape = http_request(metrics_port(baton), "GET", "/metrics");
  ASSERT_TRUE(scrape);
  EXPECT_EQ(metric_sample(scrape->body, "baton_worker_replacements_total{cause=\"recycle-memory\"}"), 1)
      << scrape->body;
  baton.signal(SIGTERM);
  EXPECT_EQ(baton.wait_exit(), 0);
}

}  // namespace
}  // namespace testing_support
