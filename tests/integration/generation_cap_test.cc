// --max-generations: old workers that hold connections open cannot pile up
// generations. Every old generation here keeps an idle keep-alive
// connection, so it drains only when the test closes that connection.
#include <gtest/gtest.h>

#include <deque>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "integration/fixture.h"
#include "support/child_process.h"
#include "support/command.h"

namespace testing_support {
namespace {

// The most generations alive at once, replaying baton's log: a generation is
// alive from its first worker's start to "generation G retired".
std::size_t most_generations_alive(const std::string& log) {
  const std::regex started(R"(worker ([0-9]+)\.[0-9]+ \(pid [0-9]+\) started)"), retired(R"(generation ([0-9]+) retired)");
  std::set<std::string> alive;
  std::size_t most = 0;
  std::istringstream lines(log);
  std::smatch m;
  for (std::string line; std::getline(lines, line);) {
    if (std::regex_search(line, m, started)) alive.insert(m[1]);
    else if (std::regex_search(line, m, retired)) alive.erase(m[1]);
    most = std::max(most, alive.size());
  }
  return most;
}

// An idle keep-alive connection to the generation that serves now. Right
// after an upgrade the old generation may still accept for a moment (until
// it reads its DRAIN), so a connection that lands there is closed and
// another one tried.
baton::UniqueFd hold_connection(std::uint16_t port, long serving) {
  baton::UniqueFd held;
  EXPECT_TRUE(eventually([&] {
    auto c = connect_local(port);
    if (!c) return false;
    auto r = exchange(c->get(), "GET", "/stats");
    if (!r || json_field(r->body, "generation") != serving || r->connection_close) return false;
    held = std::move(c.value());
    return true;
  })) << "no connection reached generation " << serving;
  return held;
}

TEST(GenerationCap, TwentyUpgradesWhileOldWorkersHoldConnectionsNeverExceedIt) {
  WorkerDir dir;
  BatonProcess baton(baton_args(dir, {"--max-generations", "3", "--drain-timeout", "5m"}));
  const auto port = serving_port(baton);
  LoadClient load({.port = port, .keepalive_connections = 2, .close_connections = 2});
  std::deque<baton::UniqueFd> held;  // oldest generation first
  int waited = 0;
  for (int g = 2; g <= 21; ++g) {
    held.push_back(hold_connection(port, g - 1));
    const auto mark = baton.mark();
    auto r = run_baton({"upgrade", "--control", baton.control_path()});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    if (r.out.find("queued") != std::string::npos) {
      ++waited;
      ASSERT_TRUE(baton.wait_for("queued: 3 generations are alive \\(--max-generations 3\\)", mark)) << baton.log();
      auto status = nlohmann::json::parse(run_baton({"status", "--json", "--control", baton.control_path()}).out);
      EXPECT_EQ(status["generations"].size(), 3u);
      EXPECT_NE(status.value("upgrade_pending_reason", "").find("has finished draining"), std::string::npos);
      held.pop_front();  // its generation drains now, and the upgrade may start
    }
    ASSERT_TRUE(wait_serving(baton, g, mark)) << baton.log();
  }
  ASSERT_TRUE(traffic_flows(load, 200));
  const LoadStats stats = load.stop();
  EXPECT_EQ(stats.failed, 0u) << (stats.first_errors.empty() ? "" : stats.first_errors.front());
  EXPECT_GT(waited, 10) << "the cap should have held most upgrades back";
  EXPECT_LE(most_generations_alive(baton.log()), 3u) << baton.log();
}

TEST(GenerationCap, OutOfRangeIsAUsageError) {
  auto r = run_baton({"run", "--max-generations", "1", "--listen", "http=tcp://127.0.0.1:0", "--", "/bin/true"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--max-generations"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace testing_support
