// baton as PID 1 of a pid namespace of its own (`unshare --pid --fork
// --mount-proc`), the way it runs as a container's entrypoint: orphans are
// reaped, signals it does not act on reach the workers, exit codes hold.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <memory>

#include "integration/fixture.h"
#include "support/child_process.h"
#include "support/command.h"
#include "support/proc.h"

namespace testing_support {
namespace {

const std::vector<std::string> kNamespace{"unshare", "--pid", "--fork", "--mount-proc"};

bool can_unshare() {
  return ::geteuid() == 0 && run_command({"unshare", "--pid", "--fork", "--mount-proc", "true"}).exit_code == 0;
}

// baton's pid as the host sees it: unshare's one child. Checks that baton
// is PID 1 inside.
pid_t host_pid_of_baton(const BatonProcess& unshare) {
  pid_t baton = 0;
  eventually([&] {
    auto kids = children_of(unshare.pid());
    baton = kids.size() == 1 ? kids[0] : 0;
    return baton != 0;
  });
  std::ifstream status("/proc/" + std::to_string(baton) + "/status");
  std::string line;
  while (std::getline(status, line) && line.rfind("NSpid:", 0) != 0) {
  }
  EXPECT_EQ(line.substr(line.find_last_of(" \t") + 1), "1") << "baton is PID 1 in its namespace: " << line;
  return baton;
}

// Each test: baton as PID 1 of a new pid namespace, running a helper worker.
class Pid1 : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!can_unshare()) GTEST_SKIP() << "needs root and unshare --pid (util-linux)";
  }
  BatonProcess& start(const std::string& helper_mode) {
    dir_.use_helper(helper_mode);
    baton_ = std::make_unique<BatonProcess>(baton_args(dir_), std::nullopt, BatonProcess::Output::kCaptured,
                                            kNamespace);
    return *baton_;
  }

 private:
  WorkerDir dir_;
  std::unique_ptr<BatonProcess> baton_;
};

TEST_F(Pid1, ReapsOrphansAndExitsZeroOnSigterm) {
  BatonProcess& baton = start("orphan-maker");
  auto m = baton.wait_for("helper orphan pid ([0-9]+)");
  ASSERT_TRUE(m) << baton.log();
  EXPECT_TRUE(baton.wait_for("reaped orphan pid " + m->groups[1] + " \\(exit status 7\\)")) << baton.log();
  ASSERT_TRUE(wait_serving(baton, 1));
  const pid_t host = host_pid_of_baton(baton);
  for (pid_t child : children_of(host)) EXPECT_FALSE(is_zombie(child)) << "zombie " << child;
  ::kill(host, SIGTERM);
  EXPECT_EQ(baton.wait_exit(), 0) << baton.log();
}

TEST_F(Pid1, ForwardsSignalsToTheWorkers) {
  BatonProcess& baton = start("records-signals");
  ASSERT_TRUE(wait_serving(baton, 1));
  const pid_t host = host_pid_of_baton(baton);
  ::kill(host, SIGUSR1);
  EXPECT_TRUE(baton.wait_for("worker 1.0 \\(pid [0-9]+\\): got SIGUSR1")) << baton.log();
  ::kill(host, SIGUSR2);
  EXPECT_TRUE(baton.wait_for("worker 1.0 \\(pid [0-9]+\\): got SIGUSR2")) << baton.log();
  ::kill(host, SIGQUIT);
  EXPECT_EQ(baton.wait_exit(), 0) << baton.log();
}

TEST_F(Pid1, FirstGenerationFailurePassesItsCodeOutOfTheNamespace) {
  BatonProcess& baton = start("exit-now");
  EXPECT_EQ(baton.wait_exit(), 3) << baton.log();
}

}  // namespace
}  // namespace testing_support
