// CPU priorities: --start-nice for a starting worker, --cpu-slice for baton
// itself and never for its workers.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <fstream>

#include "integration/fixture.h"

namespace testing_support {
namespace {

// A process's slice in ns as sched_getattr reports it (Linux 6.12+: the
// custom one or the default), 0 where the kernel has no such field.
std::uint64_t slice_ns(pid_t pid) {
  struct {
    std::uint32_t size = 56, policy = 0;
    std::uint64_t flags = 0;
    std::int32_t nice = 0;
    std::uint32_t priority = 0;
    std::uint64_t runtime = 0, deadline = 0, period = 0;
    std::uint32_t util_min = 0, util_max = 0;
  } attr;
  if (::syscall(SYS_sched_getattr, pid, &attr, sizeof attr, 0) != 0) return 0;
  return attr.runtime;
}

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
  BatonProcess baton(baton_args(dir, {"--start-nice", "19", "--ready-timeout", "60s"}));
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
}

TEST(Priority, CpuSliceIsBatonsAndNotItsWorkers) {
  const std::uint64_t default_slice = slice_ns(::getpid());
  if (default_slice == 0) GTEST_SKIP() << "this kernel has no per-task slice (Linux 6.12+)";
  WorkerDir dir;
  BatonProcess baton(baton_args(dir, {"--cpu-slice", "250"}));
  ASSERT_TRUE(wait_serving(baton, 1));
  EXPECT_EQ(slice_ns(baton.pid()), 250'000u);
  EXPECT_EQ(slice_ns(ready_pid(baton, 1)), default_slice) << "the first worker";
  const auto mark = baton.mark();
  baton.signal(SIGHUP);
  ASSERT_TRUE(wait_serving(baton, 2, mark));
  EXPECT_EQ(slice_ns(ready_pid(baton, 2, 0, mark)), default_slice) << "an upgrade's worker";
}

}  // namespace
}  // namespace testing_support
