// Start, crash, stop, and the supervisor's own death.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "baton/listener_socket.h"
#include "integration/fixture.h"
#include "support/proc.h"

namespace testing_support {
namespace {

TEST(Lifecycle, WorkerThatIgnoresDrainIsTerminatedThenKilled) {
  WorkerDir dir;
  dir.use_helper("ignore-drain");
  BatonProcess baton(baton_args(dir, {"--drain-timeout", "1s", "--kill-timeout", "1s"}));
  ASSERT_TRUE(wait_serving(baton, 1));
  const pid_t stubborn = ready_pid(baton, 1);
  dir.use_kvstore();
  baton.signal(SIGHUP);
  ASSERT_TRUE(wait_serving(baton, 2));
  const pid_t fresh = ready_pid(baton, 2);
  std::string who = "worker 1\\.0 \\(pid " + std::to_string(stubborn) + "\\)";
  EXPECT_TRUE(baton.wait_for(who + " still running 1s after DRAIN; sending SIGTERM")) << baton.log();
  EXPECT_TRUE(baton.wait_for(who + " still running 1s after SIGTERM; sending SIGKILL")) << baton.log();
  EXPECT_TRUE(baton.wait_for(who + " killed by SIGKILL")) << baton.log();
  ASSERT_TRUE(baton.wait_for("generation 1 retired")) << baton.log();
  EXPECT_FALSE(process_exists(stubborn)) << "reaped: not even a zombie";
  EXPECT_EQ(children_of(baton.pid()), std::vector<pid_t>{fresh});
}

TEST(Lifecycle, CrashedWorkerIsRestartedWhileClientsQueue) {
  WorkerDir dir;
  BatonProcess baton(baton_args(dir));
  const auto port = serving_port(baton);
  const pid_t first = ready_pid(baton, 1);
  auto mark = baton.mark();
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  ASSERT_TRUE(wait_process_gone(first));
  // No worker is running now; the listener stays open, so this request waits
  // in the accept queue and is answered by the restarted worker.
  Stats s = get_stats(port);
  EXPECT_NE(s.pid, first);
  EXPECT_EQ(s.generation, 1);
  EXPECT_TRUE(baton.wait_for("worker 1\\.0 \\(pid " + std::to_string(first) +
                             "\\) killed by SIGKILL; restarting it in 100ms \\(crash 1 in a row\\)", mark))
      << baton.log();
  EXPECT_EQ(ready_pid(baton, 1, 0, mark), s.pid);
}

TEST(Lifecycle, SigtermDrainsEveryWorkerAndExitsZero) {
  WorkerDir dir;
  BatonProcess baton(baton_args(dir, {"--workers", "3"}));
  ASSERT_TRUE(wait_serving(baton, 1));
  std::vector<pid_t> workers = children_of(baton.pid());
  ASSERT_EQ(workers.size(), 3u);
  baton.signal(SIGTERM);
  EXPECT_EQ(baton.wait_exit(), 0) << baton.log();
  for (pid_t w : workers) EXPECT_TRUE(wait_process_gone(w)) << "worker " << w << " outlived baton";
  EXPECT_TRUE(baton.wait_for("stopped: every worker has exited"));
}

TEST(Lifecycle, CtrlCReachingWorkerAndBatonStillDrainsGracefully) {
  // A terminal's Ctrl-C signals the whole foreground group: worker and baton.
  WorkerDir dir;
  BatonProcess baton(baton_args(dir));
  const auto port = serving_port(baton);
  const pid_t worker = ready_pid(baton, 1);
  auto conn = connect_local(port);
  ASSERT_TRUE(conn && exchange(conn->get(), "GET", "/healthz"));
  ASSERT_EQ(::kill(worker, SIGINT), 0);
  ASSERT_TRUE(baton.wait_for("kvstore\\[" + std::to_string(worker) + "\\]: draining \\(SIGINT\\)")) << baton.log();
  baton.signal(SIGINT);
  ASSERT_TRUE(baton.wait_for("stopping \\(SIGINT\\)")) << baton.log();
  // The idle connection is still answered, politely, then closed.
  auto r = exchange(conn->get(), "GET", "/healthz");
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_TRUE(r->connection_close);
  conn->reset();
  EXPECT_EQ(baton.wait_exit(), 0);
  EXPECT_EQ(baton.count("stopping now"), 0u) << "DRAIN during a drain is not a second Ctrl-C";
}

TEST(Lifecycle, WorkersExitWhenTheSupervisorIsKilled) {
  WorkerDir dir;
  BatonProcess baton(baton_args(dir, {"--workers", "2"}));
  ASSERT_TRUE(wait_serving(baton, 1));
  std::vector<pid_t> workers = children_of(baton.pid());
  ASSERT_EQ(workers.size(), 2u);
  auto open = connect_local(baton.port());
  ASSERT_TRUE(open);
  ASSERT_TRUE(exchange(open->get(), "GET", "/healthz"));
  baton.signal(SIGKILL);
  EXPECT_EQ(baton.wait_exit(), 128 + SIGKILL);
  // The orphan finishes what is on its way (its log went with baton, who
  // read its stderr): a request on a connection it holds is still answered,
  // whether or not the worker has seen its channel close yet (on a busy
  // machine the request can come first).
  auto answer = exchange(open->get(), "GET", "/stats");
  ASSERT_TRUE(answer) << answer.status().message();
  EXPECT_EQ(answer->status, 200);
  // No orphan keeps serving without a supervisor.
  for (pid_t w : workers) EXPECT_TRUE(wait_process_gone(w)) << "orphan worker " << w << " still running";
}

TEST(Lifecycle, UnderSocketActivationARestartedSupervisorRefusesNothing) {
  // This test plays systemd: it binds the socket, keeps it, and passes it to
  // each baton it starts.
  auto spec = baton::parse_listener_spec("http=tcp://127.0.0.1:0");
  ASSERT_TRUE(spec);
  auto socket = baton::bind_listener(*spec, SOMAXCONN);
  ASSERT_TRUE(socket) << socket.status().message();
  const auto port = socket->spec().port;
  const BatonProcess::Activation activation{socket->fd(), "http"};

  BatonProcess first({"--", KVSTORE_BIN}, activation);
  ASSERT_TRUE(first.wait_for("listening http=tcp://127.0.0.1:" + std::to_string(port) + " \\(from systemd\\)"))
      << first.log();
  ASSERT_TRUE(wait_serving(first, 1));
  const pid_t orphan = ready_pid(first, 1);
  LoadClient load({.port = port, .keepalive_connections = 2, .close_connections = 2});
  ASSERT_TRUE(traffic_flows(load, 300));

  first.signal(SIGKILL);
  ASSERT_EQ(first.wait_exit(), 128 + SIGKILL);
  // Its worker sees the channel close, finishes what it has, and leaves:
  // no worker serves without a supervisor.
  EXPECT_TRUE(wait_process_gone(orphan));
  BatonProcess second({"--", KVSTORE_BIN}, activation);
  ASSERT_TRUE(wait_serving(second, 1));
  ASSERT_TRUE(traffic_flows(load, 300));
  LoadStats stats = load.stop();
  EXPECT_EQ(stats.failed, 0u) << "connections waited in the socket's queue: "
                              << (stats.first_errors.empty() ? "" : stats.first_errors[0]);
  EXPECT_EQ(get_stats(port).pid, ready_pid(second, 1));
}

TEST(Lifecycle, WorkerInheritsOnlyStdioAndItsChannel) {
  WorkerDir dir;
  dir.use_helper("report-fds");
  BatonProcess baton(baton_args(dir, {"--listen", "b=tcp://127.0.0.1:0"}));
  auto m = baton.wait_for("helper fds at exec: (.*)$");
  ASSERT_TRUE(m) << baton.log();
  EXPECT_EQ(m->groups[1], "0 1 2 3") << "every other fd of baton must be close-on-exec";
}

TEST(Lifecycle, OrphansOfWorkersAreReaped) {
  WorkerDir dir;
  dir.use_helper("orphan-maker");
  BatonProcess baton(baton_args(dir));
  auto m = baton.wait_for("helper orphan pid ([0-9]+)");
  ASSERT_TRUE(m) << baton.log();
  const pid_t orphan = static_cast<pid_t>(std::stol(m->groups[1]));
  // baton is a child subreaper: the orphan becomes its child, and its zombie is reaped.
  EXPECT_TRUE(baton.wait_for("reaped orphan pid " + std::to_string(orphan) + " \\(exit status 7\\)")) << baton.log();
  EXPECT_FALSE(process_exists(orphan));
  ASSERT_TRUE(wait_serving(baton, 1));
}

TEST(Lifecycle, FdLimitFailsTheUpgradeCleanlyAndLeaksNothing) {
  WorkerDir dir;
  BatonProcess baton(baton_args(dir, {"--workers", "3"}));
  const auto port = serving_port(baton);
  const int fds = open_fd_count(baton.pid());
  // Room for a few more fds: the first new worker starts, a later one's
  // channel or output pipe cannot be made.
  rlimit saved{};
  ASSERT_EQ(::prlimit(baton.pid(), RLIMIT_NOFILE, nullptr, &saved), 0) << std::strerror(errno);
  rlimit tight{static_cast<rlim_t>(fds + 4), saved.rlim_max};  // the soft limit: it can go back up
  ASSERT_EQ(::prlimit(baton.pid(), RLIMIT_NOFILE, &tight, nullptr), 0) << std::strerror(errno);
  auto mark = baton.mark();
  baton.signal(SIGHUP);
  EXPECT_TRUE(baton.wait_for("upgrade to generation 2 failed: .*Too many open files", mark)) << baton.log();
  EXPECT_EQ(baton.count("rejected", mark), 0u) << "one line with the cause, not one per started worker";
  ASSERT_TRUE(baton.wait_for("generation 2 retired", mark)) << baton.log();
  EXPECT_EQ(settled_fd_count(baton.pid(), fds), fds) << "nothing leaked:\n" << fd_listing(baton.pid());
  EXPECT_EQ(get_stats(port).generation, 1) << "the old generation serves on";
  ASSERT_EQ(::prlimit(baton.pid(), RLIMIT_NOFILE, &saved, nullptr), 0);
  mark = baton.mark();
  baton.signal(SIGHUP);
  EXPECT_TRUE(wait_serving(baton, 3, mark)) << "with room again, the next upgrade goes through";
}

TEST(Lifecycle, FirstGenerationThatDiesPassesItsExitCodeOn) {
  WorkerDir dir;
  dir.use_helper("exit-now");
  BatonProcess baton(baton_args(dir));
  EXPECT_EQ(baton.wait_exit(), 3) << baton.log();
  EXPECT_TRUE(baton.wait_for("exited with status 3 before generation 1 was ready"));
}

TEST(Lifecycle, FirstGenerationThatBatonEndsMeansExitFour) {
  WorkerDir dir;
  dir.use_helper("never-ready");
  BatonProcess baton(baton_args(dir, {"--ready-timeout", "200ms"}));
  EXPECT_EQ(baton.wait_exit(), 4) << baton.log();
}

TEST(Lifecycle, FirstGenerationKilledBySignalMeans128PlusN) {
  WorkerDir dir;
  dir.use_script("kill -SEGV $$");
  BatonProcess baton(baton_args(dir));
  EXPECT_EQ(baton.wait_exit(), 128 + SIGSEGV) << baton.log();
}

TEST(Lifecycle, MissingWorkerMeansExit127) {
  BatonProcess baton({"--listen", "http=tcp://127.0.0.1:0", "--", "/nonexistent/worker"});
  EXPECT_EQ(baton.wait_exit(), 127);
  EXPECT_TRUE(baton.wait_for("start worker /nonexistent/worker: No such file or directory; check the path"))
      << baton.log();
}

TEST(CommandLine, BadListenerIsAUsageError) {
  BatonProcess baton({"--listen", "http=tcp://127.0.0.1:99999", "--", "/bin/true"});
  EXPECT_EQ(baton.wait_exit(), 2);
  EXPECT_TRUE(baton.wait_for("port 99999 is out of range 0-65535")) << baton.log();
}

TEST(CommandLine, DuplicateListenerNamesAreRefused) {
  BatonProcess baton({"--listen", "tcp://127.0.0.1:0", "--listen", "tcp://127.0.0.1:0", "--", "/bin/true"});
  EXPECT_EQ(baton.wait_exit(), 2);
  EXPECT_TRUE(baton.wait_for("two listeners are named \"default\"")) << baton.log();
}

TEST(CommandLine, BadDurationIsAUsageError) {
  BatonProcess baton({"--listen", "tcp://127.0.0.1:0", "--drain-timeout", "soon", "--", "/bin/true"});
  EXPECT_EQ(baton.wait_exit(), 2);
  EXPECT_TRUE(baton.wait_for("write it like 500ms, 10s, 2m or 1h")) << baton.log();
}

TEST(CommandLine, PortInUseMeansExitThree) {
  BatonProcess first({"--listen", "http=tcp://127.0.0.1:0", "--", KVSTORE_BIN});
  const auto port = first.port();
  BatonProcess second({"--listen", "http=tcp://127.0.0.1:" + std::to_string(port), "--", KVSTORE_BIN});
  EXPECT_EQ(second.wait_exit(), 3);
  EXPECT_TRUE(second.wait_for("Address already in use; another process is listening there")) << second.log();
}

TEST(CommandLine, HelpListsExitCodes) {
  BatonProcess baton({"--help"});
  EXPECT_EQ(baton.wait_exit(), 0);
  EXPECT_TRUE(baton.wait_for("Exit codes:"));
  EXPECT_TRUE(baton.wait_for("--drain-timeout"));
}

TEST(Lifecycle, SignalsBatonDoesNotActOnReachTheServingWorkers) {
  WorkerDir dir;
  dir.use_helper("records-signals");
  BatonProcess baton(baton_args(dir, {"--workers", "2", "--forward-signal", "ALRM"}));
  ASSERT_TRUE(wait_serving(baton, 1));
  for (int s : {SIGUSR1, SIGUSR2, SIGWINCH, SIGALRM}) {
    const auto mark = baton.mark();
    baton.signal(s);
    const std::string name = sigabbrev_np(s);
    ASSERT_TRUE(baton.wait_for("SIG" + name + " forwarded to generation 1 \\(2 workers\\)", mark)) << baton.log();
    EXPECT_TRUE(baton.wait_for("worker 1.0 \\(pid [0-9]+\\): got SIG" + name, mark)) << baton.log();
    EXPECT_TRUE(baton.wait_for("worker 1.1 \\(pid [0-9]+\\): got SIG" + name, mark)) << baton.log();
  }
  baton.signal(SIGTERM);
  EXPECT_EQ(baton.wait_exit(), 0) << "baton itself ignored them all";
}

TEST(Lifecycle, SignalsBatonActsOnCannotBeForwarded) {
  for (const char* s : {"HUP", "SIGTERM", "KILL", "CHLD", "NOPE"}) {
    BatonProcess baton({"--forward-signal", s, "--listen", "http=tcp://127.0.0.1:0", "--", KVSTORE_BIN});
    EXPECT_EQ(baton.wait_exit(), 2) << s;
    EXPECT_TRUE(baton.wait_for("--forward-signal: ")) << baton.log();
  }
}

}  // namespace
}  // namespace testing_support
