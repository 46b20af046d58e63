// Findings of the hostile test (issue "Hardening"), one test each: what a
// careless operator or a hostile user did, and what baton must do instead.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "integration/fixture.h"
#include "support/proc.h"

namespace testing_support {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// ---- the command line (findings 13, 14) -------------------------------------

TEST(CommandLine, WorkerFlagsAfterDashDashBelongToTheWorker) {
  // --listen last before `--` used to swallow the worker's own --port.
  BatonProcess baton({"--listen", "http=tcp://127.0.0.1:0", "--", "/bin/echo", "--port", "3"});
  EXPECT_TRUE(baton.wait_for("^--port 3$")) << baton.log();
  EXPECT_EQ(baton.wait_exit(), 4) << "echo is no worker; but it ran with its flags. " << baton.log();
}

TEST(CommandLine, UnknownFlagIsNamedAsItIs) {
  BatonProcess baton({"--bogus", "--", "/bin/true"});
  EXPECT_EQ(baton.wait_exit(), 2);
  EXPECT_TRUE(baton.wait_for("not expected: --bogus$")) << baton.log();
}

TEST(CommandLine, WorkerCountThatIsNotANumberSaysSo) {
  BatonProcess baton({"-w", "abc", "--listen", "http=tcp://127.0.0.1:0", "--", "/bin/true"});
  EXPECT_EQ(baton.wait_exit(), 2);
  EXPECT_TRUE(baton.wait_for("\"abc\" is not a number; give a worker count from 1 to 256")) << baton.log();
}

TEST(CommandLine, TimeoutsThatCannotWorkAreRefused) {
  for (const char* flag : {"--drain-timeout", "--ready-timeout", "--handoff-timeout"}) {
    BatonProcess baton({"--listen", "http=tcp://127.0.0.1:0", flag, "0", "--", "/bin/true"});
    EXPECT_EQ(baton.wait_exit(), 2) << flag;
    EXPECT_TRUE(baton.wait_for(std::string(flag) + ": 0 is too short to work; use at least 100ms")) << baton.log();
  }
}

TEST(CommandLine, MissingListenIsAUsageError) {
  BatonProcess baton({"--", "/bin/true"});
  EXPECT_EQ(baton.wait_exit(), 2);
  EXPECT_TRUE(baton.wait_for("no listeners; pass --listen NAME=URL")) << baton.log();
}

TEST(CommandLine, MissingWorkerIsAUsageError) {
  BatonProcess baton({"--listen", "http=tcp://127.0.0.1:0"});
  EXPECT_EQ(baton.wait_exit(), 2);
  EXPECT_TRUE(baton.wait_for("no worker command; end baton's options with -- WORKER")) << baton.log();
}

// ---- start-up (finding 9) ----------------------------------------------------

TEST(Startup, SighupWhileStartingIsQueuedNotFatal) {
  // `systemctl reload` right after start: the SIGHUP lands while baton binds
  // its listeners, before its handlers exist. It must become the upgrade
  // README promises, never kill baton (exit 129).
  for (int attempt = 0; attempt < 5; ++attempt) {
    WorkerDir dir;
    BatonProcess baton(baton_args(dir));
    ASSERT_TRUE(baton.wait_for("listening http=")) << baton.log();
    baton.signal(SIGHUP);
    ASSERT_TRUE(wait_serving(baton, 2)) << "attempt " << attempt << ":\n" << baton.log();
    baton.signal(SIGTERM);
    EXPECT_EQ(baton.wait_exit(), 0) << baton.log();
  }
}

// ---- the pid file (finding 8) -----------------------------------------------

TEST(PidFile, PlantedSymlinkIsNotFollowed) {
  WorkerDir dir;
  const auto base = std::filesystem::temp_directory_path() / ("baton-pid-" + std::to_string(::getpid()));
  std::filesystem::create_directories(base);
  const std::string victim = (base / "victim").string(), pid_file = (base / "baton.pid").string();
  std::ofstream(victim) << "precious\n";
  // What the old code opened with O_CREAT|O_TRUNC, following links.
  std::filesystem::create_symlink(victim, pid_file + ".tmp");
  BatonProcess baton(baton_args(dir, {"--pid-file", pid_file}));
  ASSERT_TRUE(wait_serving(baton, 1)) << baton.log();
  EXPECT_EQ(read_file(victim), "precious\n");
  EXPECT_EQ(read_file(pid_file), std::to_string(baton.pid()) + "\n");
  baton.signal(SIGTERM);
  EXPECT_EQ(baton.wait_exit(), 0);
  EXPECT_FALSE(std::filesystem::exists(pid_file)) << "removed at exit";
  std::filesystem::remove_all(base);
}

// ---- the supervisor's death (finding 11) --------------------------------------

TEST(Lifecycle, RestartAfterSupervisorKilledBindsAtOnce) {
  // No socket activation: the restarted baton binds the port itself, while
  // the orphaned worker still finishes an idle connection.
  WorkerDir dir;
  BatonProcess first(baton_args(dir));
  const auto port = serving_port(first);
  auto idle = connect_local(port);  // keeps the orphan busy until its deadline
  ASSERT_TRUE(idle);
  ASSERT_TRUE(exchange(idle->get(), "GET", "/healthz")) << "the connection works";
  const pid_t orphan = ready_pid(first, 1);
  first.signal(SIGKILL);
  ASSERT_EQ(first.wait_exit(), 128 + SIGKILL);
  ASSERT_TRUE(first.wait_for("draining \\(baton is gone\\): listeners closed")) << first.log();
  ASSERT_TRUE(process_exists(orphan)) << "the orphan still finishes its connection";
  BatonProcess second({"--listen", "http=tcp://127.0.0.1:" + std::to_string(port), "--", dir.worker()});
  ASSERT_TRUE(wait_serving(second, 1)) << second.log();
  EXPECT_EQ(get_stats(port).pid, ready_pid(second, 1));
}

}  // namespace
}  // namespace testing_support
