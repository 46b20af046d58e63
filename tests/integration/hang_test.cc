// --hang-timeout: a serving worker whose event loop stops answering baton's
// heartbeat is declared hung, killed and replaced; a worker that never said
// it answers is never asked, nor judged. Real baton, real workers: kvstore
// and the helpers (libbaton answers), pykv (PROTOCOL.md alone) and ckv (the C API).
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdio>

#include "integration/fixture.h"
#include "helper_worker.h"

namespace testing_support {
namespace {

using std::chrono::steady_clock;

double ms_since(steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(steady_clock::now() - t).count();
}

// A worker stopped with SIGSTOP keeps its pid, its listeners and its place in
// the accept queue: only the heartbeat can tell.
TEST(Hang, AStoppedWorkerIsDeclaredHungKilledAndReplaced) {
  WorkerDir dir;
  BatonProcess baton(baton_args(dir, {"-w", "2", "--hang-timeout", "2s", "--log-level", "debug"}));
  const auto port = serving_port(baton);
  const pid_t stopped = ready_pid(baton, 1, 0);
  ASSERT_TRUE(baton.wait_for("worker 1\\.0 \\(pid [0-9]+\\) answers heartbeats")) << baton.log();
  const auto mark = baton.mark();
  const auto stopped_at = steady_clock::now();
  ASSERT_EQ(::kill(stopped, SIGSTOP), 0);
  auto hung = baton.wait_for("worker 1\\.0 \\(pid " + std::to_string(stopped) +
                                 "\\) rejected: hung: its event loop has not answered a heartbeat for ([0-9]+)ms",
                             mark);
  ASSERT_TRUE(hung) << baton.log();
  const double declared_ms = ms_since(stopped_at);
  EXPECT_GE(std::stol(hung->groups[1]), 2000) << "silent for the whole --hang-timeout first";
  const pid_t replacement = ready_pid(baton, 1, 0, mark);
  ASSERT_GT(replacement, 0) << baton.log();
  EXPECT_NE(replacement, stopped);
  std::printf("hang -> declared hung %.0f ms, -> replacement ready %.0f ms (--hang-timeout 2s)\n", declared_ms,
              ms_since(stopped_at));
  EXPECT_TRUE(baton.wait_for("worker 1\\.0 \\(pid " + std::to_string(stopped) + "\\) .*killed by SIGKILL", mark));
  for (int i = 0; i < 20; ++i) get_stats(port);  // fresh connections: served by the live workers
  baton.signal(SIGTERM);
  EXPECT_EQ(baton.wait_exit(), 0);
}

// Worker 0 speaks the protocol by hand and never says FEATURES; worker 1
// stops itself once ready. Each time worker 1 is declared hung (at least
// --hang-timeout after it was ready), worker 0 has been silent as long, and
// is still serving, unjudged.
TEST(Hang, AWorkerThatNeverSaidItAnswersIsNeverAskedNorJudged) {
  WorkerDir dir;
  dir.use_script("if [ \"$BATON_WORKER_INDEX\" = 0 ]; then exec " + self_exe() + " --helper ready-raw; fi\nexec " +
                 self_exe() + " --helper stops-itself");
  BatonProcess baton(baton_args(dir, {"-w", "2", "--hang-timeout", "1s", "--kill-timeout", "0"}));
  const pid_t raw = ready_pid(baton, 1, 0);
  ASSERT_GT(raw, 0) << baton.log();
  std::size_t from = 0;
  for (int round = 0; round < 2; ++round) {
    auto hung = baton.wait_for("worker 1\\.1 \\(pid [0-9]+\\) rejected: hung", from);
    ASSERT_TRUE(hung) << baton.log();
    from = hung->line + 1;
  }
  EXPECT_EQ(baton.count("worker 1\\.0 .*hung"), 0u) << baton.log();
  EXPECT_EQ(::kill(raw, 0), 0) << "worker 1.0 serves on";
  baton.signal(SIGQUIT);
  EXPECT_EQ(baton.wait_exit(), 0);
}

// A worker written from PROTOCOL.md alone (pykv) and one on the C API (ckv)
// say they answer, and do: baton logs their first PONG, and a stopped one is
// declared hung.
class HangOtherLanguage : public ::testing::TestWithParam<const char*> {};

TEST_P(HangOtherLanguage, AnswersTheHeartbeatAndIsJudgedWhenStopped) {
  WorkerDir dir;
  dir.use_script(std::string("exec ") + GetParam() + " \"$@\"");
  BatonProcess baton(baton_args(dir, {"--hang-timeout", "1s", "--log-level", "debug"}));
  const pid_t worker = ready_pid(baton, 1, 0);
  ASSERT_TRUE(baton.wait_for("worker 1\\.0 \\(pid [0-9]+\\) answers heartbeats")) << baton.log();
  const auto mark = baton.mark();
  ASSERT_EQ(::kill(worker, SIGSTOP), 0);
  EXPECT_TRUE(baton.wait_for("worker 1\\.0 \\(pid " + std::to_string(worker) + "\\) rejected: hung", mark))
      << baton.log();
  EXPECT_GT(ready_pid(baton, 1, 0, mark), 0) << baton.log();
  baton.signal(SIGTERM);
  EXPECT_EQ(baton.wait_exit(), 0);
}

INSTANTIATE_TEST_SUITE_P(Workers, HangOtherLanguage, ::testing::Values(PYKV_BIN, CKV_BIN),
                         [](const auto& info) { return std::string(info.param == std::string(CKV_BIN) ? "C" : "Python"); });

}  // namespace
}  // namespace testing_support
