// Rollback: every way a new generation can fail leaves the old one serving,
// untouched (its in-memory store survives), with the cause in one log line.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <functional>

#include "integration/fixture.h"
#include "support/load_client.h"
#include "support/proc.h"

namespace testing_support {
namespace {

struct FailureCase {
  const char* name;
  const char* helper_mode;  // nullptr: the worker binary is missing
  const char* log_says;     // regex the "upgrade ... failed" line must match
  friend void PrintTo(const FailureCase& c, std::ostream* os) { *os << c.name; }
};

class FailedUpgrade : public ::testing::TestWithParam<FailureCase> {};

TEST_P(FailedUpgrade, OldGenerationKeepsServing) {
  const FailureCase& c = GetParam();
  WorkerDir dir;
  // 5 s: a helper started at nice 19 on a loaded machine (ASan, tests side by side) can take 2.
  BatonProcess baton(baton_args(dir, {"--ready-timeout", "5s"}));
  const auto port = serving_port(baton);
  const pid_t old_pid = ready_pid(baton, 1);
  auto put = http_request(port, "PUT", "/kv/answer", "42");
  ASSERT_TRUE(put && put->status == 200);

  LoadClient load({.port = port, .keepalive_connections = 2, .close_connections = 1});
  // A missing binary fails within milliseconds: traffic must be flowing first.
  ASSERT_TRUE(traffic_flows(load, 10));
  if (c.helper_mode) dir.use_helper(c.helper_mode);
  else dir.remove_worker();
  auto mark = baton.mark();
  baton.signal(SIGHUP);
  auto failed = baton.wait_for("upgrade to generation 2 failed: .*" + std::string(c.log_says) +
                                   ".*; generation 1 keeps serving", mark);
  ASSERT_TRUE(failed) << baton.log();
  // Whatever was started for generation 2 is gone and reaped.
  ASSERT_TRUE(baton.wait_for("generation 2 retired", mark) || !c.helper_mode) << baton.log();
  EXPECT_EQ(children_of(baton.pid()), std::vector<pid_t>{old_pid});

  LoadStats stats = load.stop();
  EXPECT_EQ(stats.failed, 0u) << (stats.first_errors.empty() ? "" : stats.first_errors[0]);
  EXPECT_GT(stats.ok, 0u);
  Stats s = get_stats(port);
  EXPECT_EQ(s.pid, old_pid);
  EXPECT_EQ(s.generation, 1);
  auto get = http_request(port, "GET", "/kv/answer");
  ASSERT_TRUE(get);
  EXPECT_EQ(get->body, "42") << "the old worker's memory was never touched";

  // Fix the binary: the next upgrade goes through.
  dir.use_kvstore();
  mark = baton.mark();
  baton.signal(SIGHUP);
  EXPECT_TRUE(wait_serving(baton, 3, mark));
}

INSTANTIATE_TEST_SUITE_P(
    All, FailedUpgrade,
    ::testing::Values(FailureCase{"Missing", nullptr, "No such file or directory; check the path"},
                      FailureCase{"ExitsAtOnce", "exit-now", "exited with status 3"},
                      FailureCase{"NeverReady", "never-ready", "not READY within the ready timeout of 5s"},
                      FailureCase{"ReportsError", "report-error", "reported an error: cannot open /data/kv.db"},
                      FailureCase{"SendsGarbage", "garbage", "protocol error: bad magic"},
                      FailureCase{"SendsOversized", "oversized", "protocol error: message larger than the limit"},
                      FailureCase{"SendsFds", "hello-with-fd", "HELLO carried 1 fds"},
                      FailureCase{"WrongOrder", "ready-first", "expected HELLO, got READY"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(FailedUpgrade, NotExecutableSaysChmod) {
  WorkerDir dir;
  BatonProcess baton(baton_args(dir));
  ASSERT_TRUE(wait_serving(baton, 1));
  ASSERT_EQ(::chmod(dir.worker().c_str(), 0644), 0);
  baton.signal(SIGHUP);
  EXPECT_TRUE(baton.wait_for("upgrade to generation 2 failed: .*Permission denied; make it executable")) << baton.log();
}

}  // namespace
}  // namespace testing_support
