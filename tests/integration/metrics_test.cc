// --metrics: the exposition passes `promtool check metrics`, and a real
// Prometheus (Debian's package) scraping baton every second counts the
// upgrades done, read back through its HTTP query API.
#include <gtest/gtest.h>

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "integration/fixture.h"
#include "support/child_process.h"
#include "support/command.h"
#include "support/files.h"

namespace testing_support {
namespace {

void upgrade(const BatonProcess& baton, int expected_exit) {
  auto r = run_baton({"upgrade", "--wait", "--control", baton.control_path()});
  ASSERT_EQ(r.exit_code, expected_exit) << r.describe();
}

TEST(Metrics, ExpositionCountsUpgradesAndPassesPromtool) {
  WorkerDir dir;
  BatonProcess baton(baton_args(dir, {"--mode", "handoff", "--metrics", "tcp://127.0.0.1:0"}));
  const auto port = metrics_port(baton);
  ASSERT_NE(port, 0) << baton.log();
  ASSERT_TRUE(wait_serving(baton, 1));
  upgrade(baton, 0);
  dir.use_helper("exit-now");
  upgrade(baton, 1);

  auto r = http_request(port, "GET", "/metrics");
  ASSERT_TRUE(r && r->status == 200);
  const std::string& text = r->body;
  EXPECT_EQ(metric_sample(text, "baton_upgrades_total{result=\"committed\"}"), 1) << text;
  EXPECT_EQ(metric_sample(text, "baton_upgrades_total{result=\"failed\"}"), 1) << text;
  EXPECT_EQ(metric_sample(text, "baton_handoff_pause_seconds_count"), 1) << text;
  EXPECT_EQ(metric_sample(text, "baton_upgrade_duration_seconds_count"), 2) << text;
  EXPECT_EQ(metric_sample(text, "baton_workers{generation=\"2\",state=\"ready\"}"), 1) << text;
  EXPECT_EQ(metric_sample(text, "baton_serving_generation"), 2) << text;
  EXPECT_GT(metric_sample(text, "process_open_fds"), 3) << text;
  EXPECT_GT(metric_sample(text, "process_resident_memory_bytes"), 0) << text;
  EXPECT_EQ(http_request(port, "GET", "/other")->status, 404);

  if (!have_program("promtool")) GTEST_SKIP() << "promtool not found: install the Debian package prometheus";
  TempDir tmp("baton-metrics");
  std::ofstream(tmp.path() + "/metrics.txt") << text;
  auto check = run_command({"sh", "-c", "promtool check metrics < " + tmp.path() + "/metrics.txt"});
  EXPECT_EQ(check.exit_code, 0) << check.describe();
}

std::string fmt_percent(unsigned char c) {
  char buf[4];
  std::snprintf(buf, sizeof buf, "%%%02X", c);
  return buf;
}

TEST(Metrics, ReadyzTurnsUnavailableTheMomentAStopBegins) {
  WorkerDir dir;
  dir.use_helper("ignore-drain");  // holds baton in "stopping" until the drain timeout
  BatonProcess baton(baton_args(
      dir, {"--metrics", "tcp://127.0.0.1:0", "--drain-timeout", "60s", "--kill-timeout", "0"}));
  const auto port = metrics_port(baton);
  ASSERT_TRUE(wait_serving(baton, 1));
  EXPECT_EQ(http_request(port, "GET", "/healthz")->body, "ok\n");
  auto ready = http_request(port, "GET", "/readyz");
  EXPECT_EQ(ready->status, 200);
  EXPECT_EQ(ready->body, "ready\n");

  const auto mark = baton.mark();
  baton.signal(SIGTERM);
  ASSERT_TRUE(baton.wait_for("stopping \\(SIGTERM\\)", mark)) << baton.log();
  ready = http_request(port, "GET", "/readyz");
  EXPECT_EQ(ready->status, 503) << "out of rotation before the workers finish draining";
  EXPECT_EQ(ready->body, "not ready: stopping\n");
  EXPECT_EQ(http_request(port, "GET", "/healthz")->status, 200) << "still alive while it drains";
  baton.signal(SIGQUIT);
  EXPECT_EQ(baton.wait_exit(), 0);
}

// --stop-delay: out of rotation at once, still serving, and the drain comes
// by itself once the delay is over.
TEST(Metrics, StopDelayKeepsServingWhileNotReady) {
  WorkerDir dir;
  BatonProcess baton(baton_args(dir, {"--metrics", "tcp://127.0.0.1:0", "--stop-delay", "10m"}));
  const auto metrics = metrics_port(baton);
  const auto port = serving_port(baton);
  auto ready = run_baton({"status", "--ready", "--control", baton.control_path()});
  EXPECT_EQ(ready.exit_code, 0) << ready.describe();
  EXPECT_EQ(ready.out, "ready: generation 1 serving\n");
  auto mark = baton.mark();
  baton.signal(SIGTERM);
  ASSERT_TRUE(baton.wait_for("not ready from now on; serving [0-9]+s more", mark)) << baton.log();
  EXPECT_EQ(http_request(metrics, "GET", "/readyz")->status, 503);
  ready = run_baton({"status", "--ready", "--control", baton.control_path()});
  EXPECT_EQ(ready.exit_code, 1) << "status --ready says what /readyz says: " << ready.describe();
  EXPECT_EQ(ready.out, "not ready: stopping\n");
  auto served = http_request(port, "GET", "/healthz");
  ASSERT_TRUE(served) << "the worker must still accept during the delay";
  EXPECT_EQ(served->status, 200) << "and it is not draining yet";
  EXPECT_EQ(baton.count("draining every worker", mark), 0u);
  baton.signal(SIGTERM);  // a second stop cuts the delay short
  EXPECT_EQ(baton.wait_exit(), 0) << baton.log();
}

TEST(Metrics, StopDelayEndsInAGracefulDrain) {
  WorkerDir dir;
  BatonProcess baton(baton_args(dir, {"--stop-delay", "1s"}));
  serving_port(baton);
  const auto mark = baton.mark();
  auto r = run_baton({"stop", "--wait", "--control", baton.control_path()});
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(baton.wait_exit(), 0) << baton.log();
  auto delay = baton.wait_for("serving 1s more", mark);
  auto drain = baton.wait_for("draining every worker", mark);
  ASSERT_TRUE(delay && drain) << baton.log();
  EXPECT_LT(delay->line, drain->line);
  EXPECT_EQ(baton.count("drained; exiting", mark), 1u) << "kvstore drained, not killed:\n" << baton.log();
}

// Prometheus' answer to an instant query, as a number; nullopt until it has one.
std::optional<double> query(std::uint16_t prometheus_port, const std::string& promql) {
  std::string encoded;
  for (unsigned char c : promql) {
    if (std::isalnum(c) || c == '_') encoded += static_cast<char>(c);
    else encoded += fmt_percent(c);
  }
  auto r = http_request(prometheus_port, "GET", "/api/v1/query?query=" + encoded);
  if (!r || r->status != 200) return std::nullopt;
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (j.is_discarded() || j["data"]["result"].empty()) return std::nullopt;
  return std::stod(j["data"]["result"][0]["value"][1].get<std::string>());
}

TEST(Metrics, RealPrometheusScrapesTheUpgradeCount) {
  if (!have_program("prometheus")) GTEST_SKIP() << "prometheus not found: install the Debian package prometheus";
  WorkerDir dir;
  BatonProcess baton(baton_args(dir, {"--metrics", "tcp://127.0.0.1:0"}));
  const auto port = metrics_port(baton);
  ASSERT_TRUE(wait_serving(baton, 1));
  TempDir tmp("baton-metrics");
  std::ofstream(tmp.path() + "/prometheus.yml")
      << "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: baton\n    static_configs:\n"
      << "      - targets: ['127.0.0.1:" << port << "']\n";
  const auto web = free_local_port();
  ChildProcess prometheus({"prometheus", "--config.file=" + tmp.path() + "/prometheus.yml",
                           "--storage.tsdb.path=" + tmp.path() + "/data",
                           "--web.listen-address=127.0.0.1:" + std::to_string(web)},
                          tmp.path() + "/prometheus.log");
  ASSERT_TRUE(eventually([&] {
    auto r = http_request(web, "GET", "/-/ready");
    return r && r->status == 200;
  })) << prometheus.log();

  constexpr int kUpgrades = 3;
  for (int i = 0; i < kUpgrades; ++i) upgrade(baton, 0);
  const std::string promql = "baton_upgrades_total{result=\"committed\"}";
  std::optional<double> seen;
  EXPECT_TRUE(eventually([&] { return (seen = query(web, promql)) && *seen == kUpgrades; }))
      << "Prometheus saw " << (seen ? std::to_string(*seen) : "nothing") << "\n" << prometheus.log();
  EXPECT_EQ(query(web, "up{job=\"baton\"}"), 1.0);
}

}  // namespace
}  // namespace testing_support
