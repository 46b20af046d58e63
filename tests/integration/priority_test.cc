// CPU priority: --start-nice holds a starting worker low until it is ready.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

#include "integration/fixture.h"

namespace testing_support {
namespace {

int nice_of(pid_t pid) {
  errno = 0;
  return ::getpriority(PRIO_PROCESS, static_cast<id_t>(pid));
}

pid_t started_pid(const BatonProcess& baton, std::uint64_t g, std::size_t from) {
  auto m = baton.wait_for("worker " + std::to_string(g) + "\\.0 \\(pid ([0-9]+)\\) started", from);
  return m ? static_cast<pid_t>(std::stol(m->groups[1])) : -1;
}

TEST(Priority, StartNiceHoldsAStartingWorkerLowUntilItIsReady) {
  if (::geteuid() != 0) GTEST_SKIP() << "raising a worker back to nice 0 needs CAP_SYS_NICE: run as root";
  WorkerDir dir;
  BatonProcess baton(baton_args(dir, {"--ready-timeout", "60s"}));  // 19 is the default
  ASSERT_TRUE(wait_serving(baton, 1));
  EXPECT_EQ(nice_of(ready_pid(baton, 1)), 0) << "READY: back to normal priority";
  dir.use_helper("never-ready");
  const auto mark = baton.mark();
  baton.signal(SIGHUP);
  const pid_t starting = started_pid(baton, 2, mark);
  ASSERT_GT(starting, 0) << baton.log();
  EXPECT_EQ(nice_of(starting), 19) << "not READY yet";
  std::ifstream autogroup("/proc/" + std::to_string(starting) + "/autogroup");
  std::string group;
  if (std::getline(autogroup, group)) {  // absent without CONFIG_SCHED_AUTOGROUP
    EXPECT_NE(group.find("nice 19"), std::string::npos) << group;
  }
  // Not forever: a start-up that slow gets the CPU back (the limit is 1s).
  ASSERT_TRUE(baton.wait_for("worker 2\\.0 \\(pid " + std::to_string(starting) +
                             "\\): still starting after 1s at nice 19; back to normal priority", mark))
      << baton.log();
  EXPECT_EQ(nice_of(starting), 0);
}

TEST(Priority, StartNiceZeroLeavesWorkersAlone) {
  WorkerDir dir;
  dir.use_helper("never-ready");
  BatonProcess baton(baton_args(dir, {"--start-nice", "0", "--ready-timeout", "60s"}));
  const pid_t starting = started_pid(baton, 1, 0);
  ASSERT_GT(starting, 0) << baton.log();
  EXPECT_EQ(nice_of(starting), 0);
}

}  // namespace
}  // namespace testing_support
