// --probation: a build that crashes one second after taking over, deployed
// by renaming it over the old file, is rolled back by baton on its own. In
// handoff mode the parked old workers resume with their state; in drain mode
// the old file, deleted from disk by then, starts again from baton's fd.
// Requests in flight on the crashing worker may fail: the test counts them
// and prints them with the time from the crash to serving again.
#include <gtest/gtest.h>

#include <iostream>
#include <string>
#include <vector>
#include <nlohmann/json.hpp>

#include "integration/fixture.h"
#include "support/command.h"

namespace testing_support {
namespace {

const std::string kCrashingBuild = std::string("exec ") + KVSTORE_BIN + " --crash-after 1000 \"$@\"";
constexpr int kKeys = 100;

void write_keys(std::uint16_t port) {
  for (int i = 0; i < kKeys; ++i) {
    auto r = http_request(port, "PUT", "/kv/before-" + std::to_string(i), "value-" + std::to_string(i));
    ASSERT_TRUE(r && r->status == 200) << (r ? r->body : r.status().message());
  }
}

void expect_keys(std::uint16_t port) {
  for (int i = 0; i < kKeys; ++i) {
    auto r = http_request(port, "GET", "/kv/before-" + std::to_string(i));
    ASSERT_TRUE(r) << r.status().message();
    EXPECT_EQ(r->body, "value-" + std::to_string(i)) << "key before-" << i << " lost in the rollback";
  }
}

nlohmann::json status(const BatonProcess& baton) {
  auto r = run_baton({"status", "--json", "--control", baton.control_path()});
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  return nlohmann::json::parse(r.out, nullptr, false);
}

// Deploys the crashing build and upgrades to it; returns the log mark before the upgrade.
std::size_t deploy_crashing_build(WorkerDir& dir, const BatonProcess& baton) {
  dir.use_script(kCrashingBuild);
  const auto mark = baton.mark();
  auto r = run_baton({"upgrade", "--wait", "--control", baton.control_path()});
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_TRUE(baton.wait_for("generation 2 on probation for 30s: if it crashes, baton rolls back to generation 1",
                             mark))
      << baton.log();
  return mark;
}

void report(const char* mode, const LoadStats& stats, const nlohmann::json& rollback) {
  std::cout << "[ figures  ] probation, " << mode << " mode: " << stats.failed << " failed of "
            << stats.ok + stats.failed << " requests; crash to serving again "
            << rollback.value("serving_after_seconds", -1.0) * 1000 << " ms\n";
}

TEST(Probation, HandoffModeResumesTheParkedWorkersWithTheirState) {
  WorkerDir dir;
  BatonProcess baton(
      baton_args(dir, {"--mode", "handoff", "--probation", "30s", "--metrics", "tcp://127.0.0.1:0"}));
  const auto port = serving_port(baton);
  const auto metrics = metrics_port(baton);
  write_keys(port);
  LoadClient load({.port = port, .keepalive_connections = 2, .close_connections = 2});
  ASSERT_TRUE(traffic_flows(load, 100));

  const auto mark = deploy_crashing_build(dir, baton);
  ASSERT_TRUE(baton.wait_for("rolled back: generation 1 serves again with the state it held at the handoff", mark))
      << baton.log();
  ASSERT_TRUE(traffic_flows(load, 200));
  const LoadStats stats = load.stop();

  expect_keys(port);
  EXPECT_EQ(get_stats(port).generation, 1);
  const auto s = status(baton);
  EXPECT_EQ(s["rollbacks"], 1);
  EXPECT_EQ(s["last_rollback"]["from_generation"], 2);
  EXPECT_EQ(s["last_rollback"]["resumed"], true);
  EXPECT_NE(s["last_rollback"].value("reason", "").find("exited with status 70"), std::string::npos) << s.dump();
  auto scrape = http_request(metrics, "GET", "/metrics");
  ASSERT_TRUE(scrape) << scrape.status().message();
  EXPECT_EQ(metric_sample(scrape->body, "baton_rollbacks_total"), 1) << scrape->body;
  report("handoff", stats, s["last_rollback"]);
}

// A new build that serves, but is found unhealthy within its probation
// (handoff mode, under load): baton logs `said` (each pattern in turn) and
// rolls back as for a crash; the parked workers resume with their state,
// nothing fails, and the status's reason holds `reason`.
void expect_unhealthy_build_rolled_back(std::vector<std::string> flags, const std::string& build,
                                        const std::vector<std::string>& said, const std::string& reason,
                                        const char* label) {
  WorkerDir dir;
  flags.insert(flags.begin(), {"--mode", "handoff", "--probation", "30s"});
  BatonProcess baton(baton_args(dir, flags));
  const auto port = serving_port(baton);
  write_keys(port);
  LoadClient load({.port = port, .keepalive_connections = 2, .close_connections = 2});
  ASSERT_TRUE(traffic_flows(load, 100));

  dir.use_script(build);
  const auto mark = baton.mark();
  auto r = run_baton({"upgrade", "--wait", "--control", baton.control_path()});
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  for (const auto& line : said) ASSERT_TRUE(baton.wait_for(line, mark)) << baton.log();
  ASSERT_TRUE(baton.wait_for("rolled back: generation 1 serves again with the state it held at the handoff", mark))
      << baton.log();
  ASSERT_TRUE(traffic_flows(load, 200));
  const LoadStats stats = load.stop();
  EXPECT_EQ(stats.failed, 0u) << (stats.first_errors.empty() ? "" : stats.first_errors.front());

  expect_keys(port);
  EXPECT_EQ(get_stats(port).generation, 1);
  const auto s = status(baton);
  EXPECT_EQ(s["rollbacks"], 1);
  EXPECT_NE(s["last_rollback"].value("reason", "").find(reason), std::string::npos) << s.dump();
  report(label, stats, s["last_rollback"]);
}

// The worker says so itself (report_unhealthy: here libbaton's test fault,
// once COMMIT made it serve).
TEST(Probation, ABuildThatReportsItselfUnhealthyIsRolledBackWithItsState) {
  expect_unhealthy_build_rolled_back(
      {}, std::string("LIBBATON_FAULT=report-unhealthy exec ") + KVSTORE_FAULTY_BIN + " \"$@\"",
      {"rolling back from generation 2: worker 2\\.0 \\(pid [0-9]+\\) reported itself unhealthy \\(its health "
       "check fails"},
      "reported itself unhealthy", "handoff, unhealthy");
}

// --probation-check: its /healthz answers 500; three checks in a row roll back.
TEST(Probation, ABuildWhoseHealthCheckFailsIsRolledBackWithItsState) {
  expect_unhealthy_build_rolled_back(
      {"--probation-check", "/healthz"}, std::string("exec ") + KVSTORE_BIN + " --unhealthy \"$@\"",
      {"probation check of generation 2: GET http://127\\.0\\.0\\.1:[0-9]+/healthz: 500 Internal Server Error "
       "\\(1 of 3 in a row\\)",
       "rolling back from generation 2: its health check failed 3 times in a row"},
      "500 Internal Server Error", "handoff, failing health check");
}

// The other side: a healthy build is checked all through its probation, and kept.
TEST(Probation, AHealthyBuildPassesItsProbationWithTheCheckOn) {
  WorkerDir dir;
  BatonProcess baton(baton_args(dir, {"--mode", "handoff", "--probation", "4s", "--probation-check", "/healthz"}));
  const auto port = serving_port(baton);
  write_keys(port);
  const auto mark = baton.mark();
  auto r = run_baton({"upgrade", "--wait", "--control", baton.control_path()});
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  auto checks = baton.wait_for("probation checks of generation 2: ([0-9]+) of ([0-9]+) answers were 2xx", mark);
  ASSERT_TRUE(checks) << baton.log();
  EXPECT_GE(std::stoi(checks->groups[2]), 3) << "one a second for 4 s";
  EXPECT_EQ(checks->groups[1], checks->groups[2]) << baton.log();
  ASSERT_TRUE(baton.wait_for("generation 2 passed its probation", mark)) << baton.log();
  EXPECT_EQ(baton.count("probation check of generation 2:", mark), 0u) << baton.log();
  expect_keys(port);
  EXPECT_EQ(get_stats(port).generation, 2);
  EXPECT_EQ(status(baton)["rollbacks"], 0);
}

TEST(Probation, DrainModeStartsTheOldFileAgainAfterTheDeployDeletedIt) {
  WorkerDir dir;
  BatonProcess baton(baton_args(dir, {"--probation", "30s"}));
  const auto port = serving_port(baton);
  LoadClient load({.port = port, .keepalive_connections = 2, .close_connections = 2});
  ASSERT_TRUE(traffic_flows(load, 100));

  const auto mark = deploy_crashing_build(dir, baton);
  dir.remove_worker();  // nothing left on disk to roll back to: only baton's fd
  ASSERT_TRUE(baton.wait_for("rollback to generation 3 started: .* \\(replaced on disk since", mark)) << baton.log();
  ASSERT_TRUE(baton.wait_for("rollback to generation 3 complete", mark)) << baton.log();
  ASSERT_TRUE(traffic_flows(load, 200));
  const LoadStats stats = load.stop();

  EXPECT_EQ(get_stats(port).generation, 3);
  const auto s = status(baton);
  EXPECT_EQ(s["rollbacks"], 1);
  EXPECT_EQ(s["last_rollback"]["to_generation"], 3);
  EXPECT_EQ(s["last_rollback"]["resumed"], false);
  EXPECT_TRUE(s["probation"].is_null()) << "a rollback is not itself on probation";
  report("drain", stats, s["last_rollback"]);
}

}  // namespace
}  // namespace testing_support
