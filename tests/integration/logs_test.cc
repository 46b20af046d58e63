// --log-format json: one JSON object per line, with generation, worker and
// worker_pid on every line about a worker, and each worker's own output as
// structured lines that say which stream it came from.
#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "integration/fixture.h"
#include "logging.h"

namespace testing_support {
namespace {

TEST(Logs, JsonLinesCarryTheWorkerAndItsOutputIsStructured) {
  WorkerDir dir;
  BatonProcess baton(baton_args(dir, {"--log-format", "json"}));
  ASSERT_TRUE(baton.wait_for("\"msg\":\"generation 1 serving"));
  baton.signal(SIGHUP);
  ASSERT_TRUE(baton.wait_for("upgrade to generation 2 complete"));
  baton.signal(SIGTERM);
  ASSERT_EQ(baton.wait_exit(), 0);

  std::istringstream lines(baton.log());
  int output_lines = 0;
  std::set<std::uint64_t> started;  // generations whose worker's "started" line carried its fields
  for (std::string line; std::getline(lines, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "not JSON: " << line;
    ASSERT_TRUE(j.contains("time") && j.contains("level") && j.contains("msg")) << line;
    const std::string msg = j["msg"];
    if (j.contains("stream")) {
      ++output_lines;
      EXPECT_EQ(j["stream"], "stderr") << line;
      EXPECT_EQ(msg.rfind("kvstore[" + std::to_string(j["worker_pid"].get<long>()) + "]", 0), 0u)
          << "the worker's own words, without baton's prefix: " << line;
    } else if (auto ref = baton::find_worker_ref(msg)) {
      if (msg.find(") started: ") != std::string::npos) started.insert(j["generation"].get<std::uint64_t>());
      EXPECT_EQ(j["generation"], ref->generation) << line;
      EXPECT_EQ(j["worker"], ref->index) << line;
      EXPECT_EQ(j["worker_pid"], ref->pid) << line;
    }
  }
  EXPECT_EQ(started, (std::set<std::uint64_t>{1, 2}));
  EXPECT_GE(output_lines, 2) << "each kvstore says where it serves";
}

TEST(Logs, FindsTheWorkerInALine) {
  auto ref = baton::find_worker_ref("upgrade failed: worker 12.3 (pid 4567) exited with status 3");
  ASSERT_TRUE(ref);
  EXPECT_EQ(ref->generation, 12u);
  EXPECT_EQ(ref->index, 3u);
  EXPECT_EQ(ref->pid, 4567);
  EXPECT_FALSE(baton::find_worker_ref("worker 1.x (pid 5)"));
  EXPECT_FALSE(baton::find_worker_ref("a worker (pid 5)"));
}

}  // namespace
}  // namespace testing_support
