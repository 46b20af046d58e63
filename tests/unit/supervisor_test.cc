// The supervisor's decisions, with fake workers: no process, no socket. A
// real libuv loop runs the timers (restart backoff).
#include "supervisor_fixture.h"

#include <gtest/gtest.h>

#include <fcntl.h>

#include <csignal>
#include <map>

namespace baton {
namespace {

TEST_F(SupervisorTest, StartsOneGenerationAndServesWhenAllAreReady) {
  Supervisor& s = start();
  EXPECT_EQ(launcher_.launches, 2);
  EXPECT_EQ(launcher_.worker(1, 0)->config.command[0], "/srv/app");
  launcher_.worker(1, 0)->become_ready();
  EXPECT_EQ(s.state(), Supervisor::State::kStarting) << "one of two is not a generation";
  launcher_.worker(1, 1)->become_ready();
  EXPECT_EQ(s.state(), Supervisor::State::kServing);
}

TEST_F(SupervisorTest, UpgradeDrainsTheOldGenerationOnlyWhenTheNewIsReady) {
  Supervisor& s = serving();
  s.handle_signal(SIGHUP);
  EXPECT_EQ(s.state(), Supervisor::State::kUpgrading);
  ASSERT_NE(launcher_.worker(2, 1), nullptr);
  launcher_.worker(2, 0)->become_ready();
  EXPECT_EQ(launcher_.worker(1, 0)->drains, 0) << "half a generation is not ready";
  launcher_.worker(2, 1)->become_ready();
  EXPECT_EQ(s.state(), Supervisor::State::kServing);
  EXPECT_EQ(launcher_.worker(1, 0)->drains, 1);
  EXPECT_EQ(launcher_.worker(1, 1)->drains, 1);
  launcher_.worker(1, 0)->exit();
  launcher_.worker(1, 1)->exit();
  EXPECT_EQ(launcher_.live_count(), 2u);
  EXPECT_EQ(launcher_.launches, 4) << "a drained worker that exits is not restarted";
}

TEST_F(SupervisorTest, SighupsDuringAnUpgradeBecomeOneFollowUp) {
  Supervisor& s = serving();
  s.handle_signal(SIGHUP);
  for (int i = 0; i < 100; ++i) s.handle_signal(SIGHUP);
  EXPECT_EQ(launcher_.launches, 4) << "never two upgrades at once";
  ready_generation(2);
  EXPECT_EQ(launcher_.launches, 6) << "the follow-up starts when the upgrade ends";
  EXPECT_EQ(s.state(), Supervisor::State::kUpgrading);
  ready_generation(3);
  EXPECT_EQ(launcher_.launches, 6) << "100 SIGHUPs, one follow-up";
  EXPECT_EQ(s.state(), Supervisor::State::kServing);
}

TEST_F(SupervisorTest, FailedCandidateDrainsWhatItAcceptedAndTheOldGenerationIsUntouched) {
  Supervisor& s = serving();
  s.handle_signal(SIGHUP);
  launcher_.worker(2, 0)->become_ready();
  launcher_.worker(2, 1)->exit(3);  // one new worker dies before READY
  EXPECT_EQ(s.state(), Supervisor::State::kServing);
  // 2.0 already accepts: killing it would reset the clients it accepted.
  EXPECT_EQ(launcher_.worker(2, 0)->rejected, "");
  EXPECT_EQ(launcher_.worker(2, 0)->drains, 1);
  FakeWorker* old0 = launcher_.worker(1, 0);
  EXPECT_EQ(old0->drains + old0->terminates, 0);
  EXPECT_EQ(old0->rejected, "");
  launcher_.worker(2, 0)->exit(0);
  EXPECT_EQ(launcher_.live_count(), 2u);
  // The next SIGHUP is a fresh upgrade.
  s.handle_signal(SIGHUP);
  EXPECT_NE(launcher_.worker(3, 0), nullptr);
}

TEST_F(SupervisorTest, UnlaunchableUpgradeKeepsServing) {
  Supervisor& s = serving();
  launcher_.fail_next = true;
  s.handle_signal(SIGHUP);
  EXPECT_EQ(s.state(), Supervisor::State::kServing);
  EXPECT_EQ(launcher_.worker(1, 0)->drains, 0);
  s.handle_signal(SIGHUP);
  EXPECT_EQ(s.state(), Supervisor::State::kUpgrading);
}

TEST_F(SupervisorTest, CrashedActiveWorkerIsRestartedAfterBackoff) {
  Supervisor& s = serving();
  launcher_.worker(1, 1)->exit(0, SIGSEGV);
  EXPECT_EQ(launcher_.worker(1, 1), nullptr) << "restarted after a delay, not at once";
  ASSERT_TRUE(run_until([&] { return launcher_.worker(1, 1) != nullptr; }));
  EXPECT_EQ(launcher_.worker(1, 1)->config.generation, 1u) << "same generation, same slot";
  EXPECT_EQ(s.state(), Supervisor::State::kServing);
  EXPECT_EQ(launcher_.worker(1, 0)->terminates, 0);
}

// The client connections taken from a hung worker go to the next worker of
// its slot, and only to it.
TEST_F(SupervisorTest, AHungWorkersClientsGoToItsSlotsReplacement) {
  Supervisor& s = serving();
  auto kept = std::make_shared<KeptConnections>();
  kept->push_back({UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC)), false});
  launcher_.worker(1, 1)->on_exit_with(WorkerExit{0, SIGKILL, "hung: ...", "stacks in /tmp/x", kept});
  ASSERT_TRUE(run_until([&] { return launcher_.worker(1, 1) != nullptr; }));
  EXPECT_EQ(launcher_.worker(1, 1)->config.inherited, kept);
  EXPECT_EQ(s.report().last_hang->connections_kept, 1u);
  launcher_.worker(1, 1)->exit(0, SIGSEGV);  // its replacement crashes too: nothing is left to pass on
  ASSERT_TRUE(run_until([&] { return launcher_.worker(1, 1) != nullptr; }));
  EXPECT_EQ(launcher_.worker(1, 1)->config.inherited, nullptr);
}

TEST_F(SupervisorTest, WorkerThatKeepsCrashingAtStartUpIsRetriedForEver) {
  // Each restart dies before READY (a stderr that killed it, a missing
  // file): the slot is tried again and again, backing off, and nothing stops.
  Supervisor& s = serving();
  const int launches = launcher_.launches;
  launcher_.worker(1, 1)->exit(0, SIGSEGV);
  for (int crash = 1; crash <= 4; ++crash) {
    ASSERT_TRUE(run_until([&] { return launcher_.worker(1, 1) != nullptr; })) << "restart " << crash;
    launcher_.worker(1, 1)->exit(0, SIGPIPE);  // dies at start-up
  }
  ASSERT_TRUE(run_until([&] { return launcher_.worker(1, 1) != nullptr; }));
  EXPECT_EQ(launcher_.launches - launches, 5);
  EXPECT_EQ(s.state(), Supervisor::State::kServing) << "the other worker serves on";
}

TEST_F(SupervisorTest, StopDrainsTheActiveGenerationAndTerminatesTheCandidate) {
  Supervisor& s = serving();
  s.handle_signal(SIGHUP);
  s.handle_signal(SIGTERM);
  EXPECT_EQ(s.state(), Supervisor::State::kStopping);
  EXPECT_EQ(launcher_.worker(1, 0)->drains, 1);
  EXPECT_EQ(launcher_.worker(2, 0)->terminates, 1);
  s.handle_signal(SIGHUP);
  EXPECT_EQ(launcher_.launches, 4) << "no upgrade while stopping";
  for (auto g : {1, 2})
    for (auto i : {0, 1}) launcher_.worker(g, i)->exit();
  EXPECT_EQ(launcher_.live_count(), 0u);
  EXPECT_EQ(s.exit_code(), exit_code::kOk);
}

TEST_F(SupervisorTest, SecondSigtermTerminatesDrainingWorkers) {
  Supervisor& s = serving();
  s.handle_signal(SIGTERM);
  s.handle_signal(SIGTERM);
  EXPECT_EQ(launcher_.worker(1, 0)->terminates, 1);
}

TEST_F(SupervisorTest, SigquitTerminatesEveryWorkerAndStops) {
  Supervisor& s = serving();
  s.handle_signal(SIGHUP);  // a candidate too
  s.handle_signal(SIGQUIT);
  EXPECT_EQ(s.state(), Supervisor::State::kStopping);
  for (auto [g, i] : {std::pair{1u, 0u}, std::pair{1u, 1u}, std::pair{2u, 0u}, std::pair{2u, 1u}}) {
    EXPECT_EQ(launcher_.worker(g, i)->terminates, 1) << g << "." << i;
    EXPECT_EQ(launcher_.worker(g, i)->drains, 0) << "SIGQUIT does not drain";
  }
  for (auto [g, i] : {std::pair{1u, 0u}, std::pair{1u, 1u}, std::pair{2u, 0u}, std::pair{2u, 1u}})
    launcher_.worker(g, i)->exit(0, SIGTERM);
  EXPECT_EQ(launcher_.launches, 4) << "nothing restarted while stopping";
  EXPECT_EQ(s.exit_code(), 0);
}

// Records what the supervisor tells its observer, one line per event.
struct RecordingObserver final : SupervisorObserver {
  void serving(std::uint64_t g) override { events.push_back("serving " + std::to_string(g)); }
  void upgrade_started(const UpgradeRecord& u) override {
    events.push_back("upgrade " + std::to_string(u.candidate));
  }
  void upgrade_finished(const UpgradeRecord& u) override {
    events.push_back((u.committed() ? "committed " : "failed ") + std::to_string(u.candidate) + ", serving " +
                     std::to_string(u.serving));
  }
  void worker_restarting(std::uint64_t g, std::uint32_t i) override {
    events.push_back("restarting " + std::to_string(g) + "." + std::to_string(i));
  }
  void generation_retired(std::uint64_t g, std::chrono::duration<double>) override {
    events.push_back("retired " + std::to_string(g));
  }
  void stopping() override { events.push_back("stopping"); }
  std::vector<std::string> events;
};

TEST_F(SupervisorTest, ObserverHearsServingEachUpgradeAndTheStop) {
  RecordingObserver observer;
  supervisor_ = std::make_unique<Supervisor>(&loop_, options_, launcher_, &observer);
  ASSERT_TRUE(supervisor_->start());
  ready_generation(1);
  supervisor_->handle_signal(SIGHUP);
  ready_generation(2);
  for (auto i : {0, 1}) launcher_.worker(1, i)->exit();
  launcher_.worker(2, 0)->exit(0, SIGSEGV);
  supervisor_->handle_signal(SIGHUP);
  launcher_.worker(3, 0)->exit(3);
  supervisor_->handle_signal(SIGTERM);
  EXPECT_EQ(observer.events,
            (std::vector<std::string>{"serving 1", "upgrade 2", "committed 2, serving 2", "retired 1",
                                      "restarting 2.0", "upgrade 3", "failed 3, serving 2", "stopping"}));
}

TEST_F(SupervisorTest, ForwardsOtherSignalsToTheServingWorkersOnly) {
  Supervisor& s = serving();
  s.handle_signal(SIGHUP);  // generation 2 starts: a candidate, not serving yet
  s.handle_signal(SIGUSR1);
  s.handle_signal(SIGWINCH);
  for (std::uint32_t i : {0u, 1u}) {
    EXPECT_EQ(launcher_.worker(1, i)->forwarded, (std::vector<int>{SIGUSR1, SIGWINCH}));
    EXPECT_TRUE(launcher_.worker(2, i)->forwarded.empty());
  }
  EXPECT_EQ(s.state(), Supervisor::State::kUpgrading) << "a forwarded signal changes nothing in baton";
}

TEST_F(SupervisorTest, UpgradeRequestsStartQueueOrAreRefused) {
  Supervisor& s = start();
  EXPECT_EQ(s.request_upgrade("test"), Supervisor::UpgradeRequest::kQueued) << "during start-up";
  ready_generation(1);
  EXPECT_EQ(s.state(), Supervisor::State::kUpgrading) << "the queued upgrade runs once generation 1 serves";
  EXPECT_EQ(s.request_upgrade("test"), Supervisor::UpgradeRequest::kQueued);
  EXPECT_EQ(s.request_upgrade("test"), Supervisor::UpgradeRequest::kQueued);
  ready_generation(2);
  EXPECT_TRUE(s.report().upgrade_pending == false && s.state() == Supervisor::State::kUpgrading)
      << "two requests during an upgrade are one follow-up";
  ready_generation(3);
  exit_generation(1);  // else --max-generations (3) holds the next upgrade back
  EXPECT_EQ(s.request_upgrade("test"), Supervisor::UpgradeRequest::kStarted);
  s.request_stop(false, "test");
  EXPECT_EQ(s.request_upgrade("test"), Supervisor::UpgradeRequest::kRefused);
}

TEST_F(SupervisorTest, AnUpgradePastTheGenerationCapWaitsForTheOldestToFinish) {
  options_.max_generations = 2;
  Supervisor& s = serving();
  EXPECT_EQ(s.request_upgrade("test"), Supervisor::UpgradeRequest::kStarted);
  ready_generation(2);  // generation 1 drains, and stays while it does
  EXPECT_EQ(s.request_upgrade("test"), Supervisor::UpgradeRequest::kQueued);
  EXPECT_EQ(s.state(), Supervisor::State::kServing);
  EXPECT_EQ(s.report().pending_reason,
            "2 generations are alive (--max-generations 2); it starts when generation 1 has finished draining");
  exit_generation(1);
  EXPECT_EQ(s.state(), Supervisor::State::kUpgrading) << "the queued upgrade starts once generation 1 is gone";
  EXPECT_NE(launcher_.worker(3, 0), nullptr);
  EXPECT_FALSE(s.report().upgrade_pending);
}

TEST_F(SupervisorTest, ReportShowsGenerationsWorkersAndTheLastUpgrade) {
  Supervisor& s = serving();
  launcher_.worker(1, 1)->exit(0, SIGSEGV);
  s.handle_signal(SIGHUP);
  SupervisorReport r = s.report();
  EXPECT_EQ(r.state, "upgrading");
  EXPECT_EQ(r.mode, "drain");
  EXPECT_EQ(r.serving, 1u);
  ASSERT_EQ(r.generations.size(), 2u);
  EXPECT_EQ(r.generations[0].role, "serving");
  EXPECT_EQ(r.generations[0].workers[0].state, "ready");
  EXPECT_EQ(r.generations[0].workers[0].pid, launcher_.worker(1, 0)->pid());
  EXPECT_EQ(r.generations[0].workers[1].state, "restarting");
  EXPECT_EQ(r.generations[0].workers[1].restarts, 1u);
  EXPECT_EQ(r.generations[1].role, "candidate");
  ASSERT_TRUE(r.last_upgrade);
  EXPECT_EQ(r.last_upgrade->result, UpgradeRecord::Result::kRunning);
  EXPECT_EQ(r.last_upgrade->candidate, 2u);
  launcher_.worker(2, 0)->exit(7);
  r = s.report();
  EXPECT_EQ(r.last_upgrade->result, UpgradeRecord::Result::kFailed);
  EXPECT_NE(r.last_upgrade->reason.find("exited with status 7"), std::string::npos) << r.last_upgrade->reason;
  EXPECT_EQ(r.upgrades_failed, 1u);
  EXPECT_EQ(r.worker_restarts, 1u);
}

TEST_F(SupervisorTest, StopDuringAnUpgradeEndsItAsFailed) {
  RecordingObserver observer;
  supervisor_ = std::make_unique<Supervisor>(&loop_, options_, launcher_, &observer);
  ASSERT_TRUE(supervisor_->start());
  ready_generation(1);
  supervisor_->handle_signal(SIGHUP);
  supervisor_->request_stop(true, "test");
  EXPECT_EQ(observer.events, (std::vector<std::string>{"serving 1", "upgrade 2", "failed 2, serving 1", "stopping"}));
  EXPECT_NE(supervisor_->report().last_upgrade->reason.find("baton is stopping"), std::string::npos);
}

TEST_F(SupervisorTest, FirstGenerationThatDiesStopsWithItsExitCode) {
  Supervisor& s = start();
  launcher_.worker(1, 0)->exit(7);
  EXPECT_EQ(s.state(), Supervisor::State::kStopping);
  EXPECT_EQ(launcher_.worker(1, 1)->terminates, 1);
  launcher_.worker(1, 1)->exit();
  EXPECT_EQ(s.exit_code(), 7) << "the worker's own status, as tini passes it on";
}

TEST(FirstGenerationExitCode, SaysHowTheServiceEnded) {
  EXPECT_EQ(first_generation_exit_code({.status = 3}), 3);
  EXPECT_EQ(first_generation_exit_code({.signal = SIGSEGV}), 128 + SIGSEGV);
  EXPECT_EQ(first_generation_exit_code({.status = 0}), exit_code::kWorkerFailed) << "exited 0 before READY";
  EXPECT_EQ(first_generation_exit_code({.signal = SIGKILL, .rejected = "not READY within 10s"}),
            exit_code::kWorkerFailed)
      << "baton ended it";
}

TEST_F(SupervisorTest, StartFailsWhenTheWorkerCannotBeLaunched) {
  launcher_.fail_next = true;
  Supervisor s(&loop_, options_, launcher_);
  Status st = s.start();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error_number(), ENOENT);
  EXPECT_EQ(launcher_.live_count(), 0u);
}

// ---- recycling (--recycle-after, --recycle-memory) -------------------------

class RecycleTest : public SupervisorTest {
 protected:
  RecycleTest() { options_.recycle_after = 1ms; }
  // Serving, and the first recycle tick has started slot 0's successor.
  FakeWorker* recycling(Supervisor& s) {
    FakeWorker* old = launcher_.worker(1, 0);
    EXPECT_TRUE(run_until([&] { return launcher_.worker(1, 0) != old; }));
    EXPECT_TRUE(s.report().recycling);
    return launcher_.worker(1, 0);
  }
};

TEST_F(RecycleTest, DrainModeStartsASuccessorOfTheSameFileAndDrainsTheOldOnceItIsReady) {
  Supervisor& s = serving();
  FakeWorker* old = launcher_.worker(1, 0);
  FakeWorker* successor = recycling(s);
  EXPECT_EQ(launcher_.launches, 3) << "one at a time";
  EXPECT_EQ(successor->config.generation, 1u);
  EXPECT_FALSE(successor->config.standby);
  EXPECT_EQ(successor->config.executable, "/srv/app") << "the generation's held file, not the path as it is now";
  successor->become_ready();
  EXPECT_EQ(old->drains, 1);
  EXPECT_FALSE(s.report().recycling);
  EXPECT_EQ(s.report().replacements[static_cast<std::size_t>(ReplacementCause::kRecycleAge)], 1u);
  const int launches = launcher_.launches;
  old->exit();
  EXPECT_EQ(launcher_.launches, launches) << "a recycled worker's exit is not a crash";
  EXPECT_EQ(s.state(), Supervisor::State::kServing);
}

TEST_F(RecycleTest, HandoffModePairsTheOldWorkerWithItsSuccessorAndCommitsBoth) {
  options_.mode = UpgradeMode::kHandoff;
  Supervisor& s = serving();
  FakeWorker* old = launcher_.worker(1, 0);
  FakeWorker* successor = recycling(s);
  EXPECT_TRUE(successor->config.standby) << "its predecessor's state is coming";
  successor->stand_by({1});
  EXPECT_EQ(old->handoff_role, "sender");
  EXPECT_EQ(successor->handoff_role, "receiver");
  successor->restored();
  EXPECT_EQ(successor->commits, 0) << "not before the old worker has sent everything";
  old->sent();
  EXPECT_EQ(successor->commits, 1);
  EXPECT_EQ(old->commits, 1);
  EXPECT_EQ(successor->state(), WorkerState::kReady);
  EXPECT_EQ(s.report().replacements[static_cast<std::size_t>(ReplacementCause::kRecycleAge)], 1u);
}

TEST_F(RecycleTest, ASuccessorThatDiesMidHandoffLeavesTheOldWorkerServingAndTheSlotBacksOff) {
  options_.mode = UpgradeMode::kHandoff;
  Supervisor& s = serving();
  FakeWorker* old = launcher_.worker(1, 0);
  FakeWorker* successor = recycling(s);
  successor->stand_by({1});
  successor->exit(0, SIGSEGV);
  EXPECT_EQ(old->resumes, 1);
  EXPECT_EQ(launcher_.worker(1, 0), nullptr) << "the fakes' map lost the slot's newest; the old one serves on";
  EXPECT_FALSE(s.report().recycling);
  EXPECT_EQ(s.report().replacements[static_cast<std::size_t>(ReplacementCause::kRecycleAge)], 0u);
  EXPECT_EQ(s.state(), Supervisor::State::kServing);
}

TEST_F(RecycleTest, AnUpgradeAskedForDuringARecycleWaitsForIt) {
  Supervisor& s = serving();
  FakeWorker* successor = recycling(s);
  s.handle_signal(SIGHUP);
  EXPECT_EQ(s.state(), Supervisor::State::kServing);
  EXPECT_TRUE(s.report().upgrade_pending);
  EXPECT_NE(s.report().pending_reason.find("recycle of worker 1.0"), std::string::npos) << s.report().pending_reason;
  successor->become_ready();
  EXPECT_EQ(s.state(), Supervisor::State::kUpgrading);
}

TEST_F(RecycleTest, AWorkerPastTheMemoryLimitIsRecycledForIt) {
  options_.recycle_after = 0ms;
  options_.recycle_memory = 100;
  Supervisor& s = serving();
  launcher_.worker(1, 1)->memory = 101;
  FakeWorker* old = launcher_.worker(1, 1);
  ASSERT_TRUE(run_until([&] { return launcher_.worker(1, 1) != old; }));
  EXPECT_EQ(s.report().recycling->cause, "recycle-memory");
  EXPECT_EQ(s.report().recycling->index, 1u);
}

TEST_F(RecycleTest, AStopEndsTheRecycle) {
  Supervisor& s = serving();
  FakeWorker* successor = recycling(s);
  s.handle_signal(SIGTERM);
  EXPECT_FALSE(successor->rejected.empty()) << "the successor is ended";
  EXPECT_EQ(s.report().last_recycle_failure, "") << "a stop is no failed recycle";
  EXPECT_EQ(s.state(), Supervisor::State::kStopping);
}

// ---- memory admission (--memory-headroom) -----------------------------------

class AdmissionTest : public SupervisorTest {
 protected:
  // Two workers of 100 bytes each serve; the cgroup holds 500 of `limit`.
  Supervisor& serving_under(std::uint64_t limit) {
    options_.workers = 2;
    Supervisor& s = serving();
    launcher_.worker(1, 0)->memory = 100;
    launcher_.worker(1, 1)->memory = 100;
    launcher_.budget = MemoryBudget{.limit = limit, .in_use = 500, .where = "memory.max"};
    return s;
  }
};

TEST_F(AdmissionTest, AnUpgradeThatWouldNotFitIsRefusedBeforeAnythingStarts) {
  Supervisor& s = serving_under(750);  // 10% kept free: 675 usable, 500 + 200 is past it
  const int launches = launcher_.launches;
  s.handle_signal(SIGHUP);
  EXPECT_EQ(launcher_.launches, launches) << "nothing started";
  EXPECT_EQ(s.state(), Supervisor::State::kServing);
  const SupervisorReport r = s.report();
  ASSERT_TRUE(r.last_upgrade);
  EXPECT_EQ(r.last_upgrade->result, UpgradeRecord::Result::kFailed);
  ASSERT_TRUE(r.last_upgrade->memory);
  EXPECT_EQ(r.last_upgrade->memory->needed, 200u);
  EXPECT_EQ(r.last_upgrade->memory->limit, 750u);
  EXPECT_NE(r.last_upgrade->reason.find("memory.max"), std::string::npos) << r.last_upgrade->reason;
  EXPECT_EQ(launcher_.worker(1, 0)->drains, 0) << "the old workers serve on";
}

TEST_F(AdmissionTest, AnUpgradeThatFitsStarts) {
  Supervisor& s = serving_under(800);  // 720 usable: 500 + 200 fits
  s.handle_signal(SIGHUP);
  EXPECT_EQ(s.state(), Supervisor::State::kUpgrading);
  EXPECT_FALSE(s.report().last_upgrade->memory);
}

TEST_F(AdmissionTest, WithoutALimitOrFiguresNothingIsChecked) {
  Supervisor& s = serving_under(750);
  launcher_.budget.reset();
  s.handle_signal(SIGHUP);
  EXPECT_EQ(s.state(), Supervisor::State::kUpgrading) << "no limit";
}

TEST_F(AdmissionTest, AHandoffRecycleThatWouldNotFitWaitsAndTheWorkerServesOn) {
  options_.mode = UpgradeMode::kHandoff;
  options_.recycle_after = 1ms;
  Supervisor& s = serving_under(650);  // 585 usable: 500 + 100 is past it
  const int launches = launcher_.launches;
  ASSERT_TRUE(run_until([&] { return !s.report().last_recycle_failure.empty(); }));
  EXPECT_EQ(launcher_.launches, launches) << "no successor started";
  EXPECT_NE(s.report().last_recycle_failure.find("would not fit in memory"), std::string::npos)
      << s.report().last_recycle_failure;
  EXPECT_FALSE(s.report().recycling);
  EXPECT_EQ(s.state(), Supervisor::State::kServing);
}

class HandoffSupervisorTest : public SupervisorTest {
 protected:
  HandoffSupervisorTest() { options_.mode = UpgradeMode::kHandoff; }
  // Serving generation 1, upgrade to 2 started, both new workers standing by.
  Supervisor& standing_by() {
    Supervisor& s = serving();
    s.handle_signal(SIGHUP);
    EXPECT_TRUE(launcher_.worker(2, 0)->config.standby);
    launcher_.worker(2, 0)->stand_by({1, 2});
    EXPECT_EQ(launcher_.worker(1, 0)->handoff_role, "") << "no handoff before every new worker stands by";
    launcher_.worker(2, 1)->stand_by({1, 2});
    return s;
  }
};

TEST_F(HandoffSupervisorTest, FirstGenerationDoesNotWaitForState) {
  start();
  EXPECT_FALSE(launcher_.worker(1, 0)->config.standby);
}

TEST_F(HandoffSupervisorTest, PairsOldAndNewWorkersOverALink) {
  standing_by();
  for (std::uint32_t i : {0u, 1u}) {
    EXPECT_EQ(launcher_.worker(1, i)->handoff_role, "sender");
    EXPECT_EQ(launcher_.worker(1, i)->handoff_accepted, (std::vector<std::uint32_t>{1, 2}))
        << "the old worker learns which versions its successor loads";
    EXPECT_EQ(launcher_.worker(2, i)->handoff_role, "receiver");
    EXPECT_TRUE(launcher_.worker(1, i)->link_was_valid);
  }
}

TEST_F(HandoffSupervisorTest, ReceiverGetsFullPriorityAtHandoffWhenNothingIsPrecopied) {
  standing_by();
  for (std::uint32_t i : {0u, 1u}) EXPECT_EQ(launcher_.worker(2, i)->low_start_ended, 1) << "its pause starts now";
}

TEST_F(HandoffSupervisorTest, ReceiverLoadingAPrecopyStaysLowUntilItsPairsPauseBegins) {
  Supervisor& s = serving();
  for (std::uint32_t i : {0u, 1u}) launcher_.worker(1, i)->features_said = kFeatureSendsPrecopy;
  s.handle_signal(SIGHUP);
  for (std::uint32_t i : {0u, 1u}) {
    launcher_.worker(2, i)->features_said = kFeatureLoadsPrecopy;
    launcher_.worker(2, i)->stand_by({1});
  }
  EXPECT_EQ(launcher_.worker(2, 0)->low_start_ended, 0) << "pre-copy loads beside the serving worker";
  launcher_.worker(1, 0)->precopied();
  EXPECT_EQ(launcher_.worker(2, 0)->low_start_ended, 1) << "PRECOPIED: this pair pauses";
  EXPECT_EQ(launcher_.worker(2, 1)->low_start_ended, 0) << "the other pair still pre-copies";
  launcher_.worker(1, 1)->sent();
  EXPECT_EQ(launcher_.worker(2, 1)->low_start_ended, 1) << "SENT without PRECOPIED ends it too";
}

TEST_F(HandoffSupervisorTest, CommitsOnlyWhenEveryNewWorkerRestored) {
  Supervisor& s = standing_by();
  launcher_.worker(1, 0)->sent();
  launcher_.worker(1, 1)->sent();
  launcher_.worker(2, 0)->restored();
  EXPECT_EQ(launcher_.worker(2, 0)->commits, 0);
  launcher_.worker(2, 1)->restored();
  EXPECT_EQ(s.state(), Supervisor::State::kServing);
  for (std::uint32_t i : {0u, 1u}) {
    EXPECT_EQ(launcher_.worker(2, i)->commits, 1);
    EXPECT_EQ(launcher_.worker(2, i)->state(), WorkerState::kReady);
    EXPECT_EQ(launcher_.worker(1, i)->commits, 1) << "old workers exit on COMMIT";
    EXPECT_EQ(launcher_.worker(1, i)->drains, 0) << "a handoff is not a drain";
  }
  launcher_.worker(1, 0)->exit();
  launcher_.worker(1, 1)->exit();
  EXPECT_EQ(launcher_.launches, 4) << "old workers that exit after COMMIT are not restarted";
}

// A slot of a generation that took over by handoff starts again serving:
// no state is on its way to it, so it must not stand by (it would forever).
TEST_F(HandoffSupervisorTest, ACrashedWorkerOfAHandedOverGenerationRestartsWithoutStandingBy) {
  Supervisor& s = standing_by();
  for (std::uint32_t i : {0u, 1u}) launcher_.worker(1, i)->sent(), launcher_.worker(2, i)->restored();
  ASSERT_EQ(s.state(), Supervisor::State::kServing);
  launcher_.worker(2, 1)->exit(0, SIGSEGV);
  ASSERT_TRUE(run_until([&] { return launcher_.worker(2, 1) != nullptr; }));
  EXPECT_FALSE(launcher_.worker(2, 1)->config.standby);
}

TEST_F(HandoffSupervisorTest, RestoredBeforeSentStillCommitsTheOld) {
  Supervisor& s = standing_by();
  // The new workers' RESTORED can overtake the old workers' SENT.
  launcher_.worker(2, 0)->restored();
  launcher_.worker(2, 1)->restored();
  EXPECT_EQ(s.state(), Supervisor::State::kServing);
  EXPECT_EQ(launcher_.worker(1, 0)->commits, 1);
  EXPECT_EQ(launcher_.worker(1, 1)->commits, 1);
}

TEST_F(HandoffSupervisorTest, NewWorkerDyingMidRestoreResumesTheOld) {
  Supervisor& s = standing_by();
  launcher_.worker(1, 0)->sent();
  launcher_.worker(2, 0)->exit(0, SIGSEGV);
  EXPECT_EQ(s.state(), Supervisor::State::kServing);
  EXPECT_EQ(launcher_.worker(1, 0)->resumes, 1);
  EXPECT_EQ(launcher_.worker(1, 1)->resumes, 1);
  EXPECT_EQ(launcher_.worker(1, 0)->state(), WorkerState::kReady);
  EXPECT_EQ(launcher_.worker(2, 1)->rejected, "generation 2 abandoned");
  EXPECT_EQ(launcher_.worker(1, 0)->commits, 0);
}

TEST_F(HandoffSupervisorTest, RefusalResumesTheOldWithoutKillingIt) {
  Supervisor& s = standing_by();
  launcher_.worker(1, 1)->refuse("state version 3 is not one this worker loads [1, 2]");
  EXPECT_EQ(s.state(), Supervisor::State::kServing);
  EXPECT_EQ(launcher_.worker(1, 1)->rejected, "");
  EXPECT_EQ(launcher_.worker(1, 0)->resumes, 1);
  EXPECT_EQ(launcher_.worker(2, 0)->rejected, "generation 2 abandoned");
}

TEST_F(HandoffSupervisorTest, OldWorkerDyingMidSendFailsTheUpgradeAndRestartsThatSlot) {
  Supervisor& s = standing_by();
  launcher_.worker(1, 0)->exit(0, SIGKILL);
  EXPECT_EQ(s.state(), Supervisor::State::kServing);
  EXPECT_EQ(launcher_.worker(1, 1)->resumes, 1) << "the other old worker lost nothing";
  ASSERT_TRUE(run_until([&] { return launcher_.worker(1, 0) != nullptr; }));
  EXPECT_FALSE(launcher_.worker(1, 0)->config.standby) << "the crashed slot starts over, empty";
}

TEST_F(HandoffSupervisorTest, TimeoutRollsBack) {
  options_.handoff_timeout = std::chrono::milliseconds(50);
  Supervisor& s = standing_by();
  ASSERT_TRUE(run_until([&] { return s.state() == Supervisor::State::kServing; }));
  EXPECT_EQ(launcher_.worker(1, 0)->resumes, 1);
  EXPECT_EQ(launcher_.worker(2, 0)->rejected, "generation 2 abandoned");
}

TEST_F(HandoffSupervisorTest, StopDuringHandoffResumesThenDrainsTheOld) {
  Supervisor& s = standing_by();
  s.handle_signal(SIGTERM);
  EXPECT_EQ(launcher_.worker(1, 0)->drains, 1);
  EXPECT_EQ(launcher_.worker(2, 0)->terminates, 1);
}

// --probation: the launcher holds the command's file for a rollback.
class ProbationTest : public HandoffSupervisorTest {
 protected:
  ProbationTest() {
    options_.command = {"/srv/app/worker"};
    options_.probation = std::chrono::milliseconds(60'000);
  }
  // Generation 2 took over from generation 1 by handoff.
  Supervisor& handed_over() {
    Supervisor& s = standing_by();
    launcher_.worker(2, 0)->restored();
    launcher_.worker(2, 1)->restored();
    EXPECT_EQ(s.state(), Supervisor::State::kServing);
    return s;
  }
};

TEST_F(ProbationTest, OldWorkersParkInsteadOfExiting) {
  Supervisor& s = handed_over();
  for (std::uint32_t i : {0u, 1u}) {
    EXPECT_EQ(launcher_.worker(1, i)->parks, 1);
    EXPECT_EQ(launcher_.worker(1, i)->commits, 0) << "kept, with their state, until the probation ends";
  }
  const SupervisorReport r = s.report();
  ASSERT_TRUE(r.probation.has_value());
  EXPECT_EQ(r.probation->generation, 2u);
  EXPECT_EQ(r.probation->previous, 1u);
  EXPECT_EQ(r.generations.front().role, "parked");
}

TEST_F(ProbationTest, ACrashOnProbationResumesTheParkedGeneration) {
  Supervisor& s = handed_over();
  launcher_.worker(2, 1)->exit(1);
  EXPECT_EQ(launcher_.worker(1, 0)->resumes, 1);
  EXPECT_EQ(launcher_.worker(1, 1)->resumes, 1);
  EXPECT_EQ(launcher_.worker(2, 0)->drains, 1) << "the survivor of the bad generation drains";
  const SupervisorReport r = s.report();
  EXPECT_EQ(r.serving, 1u);
  EXPECT_EQ(r.rollbacks, 1u);
  ASSERT_TRUE(r.last_rollback.has_value());
  EXPECT_TRUE(r.last_rollback->resumed);
  EXPECT_EQ(r.last_rollback->to, 1u);
  EXPECT_FALSE(r.probation.has_value());
  launcher_.worker(2, 0)->exit();
  EXPECT_EQ(launcher_.launches, 4) << "nothing restarts: the parked workers serve again";
}

TEST_F(ProbationTest, ProbationEndsWithCommitToTheParkedWorkers) {
  options_.probation = std::chrono::milliseconds(20);
  Supervisor& s = handed_over();
  ASSERT_TRUE(run_until([&] { return launcher_.worker(1, 0)->commits == 1; }));
  EXPECT_EQ(launcher_.worker(1, 1)->commits, 1);
  EXPECT_FALSE(s.report().probation.has_value());
  launcher_.worker(2, 0)->exit(1);
  EXPECT_EQ(launcher_.worker(1, 0)->resumes, 0) << "after the probation a crash is an ordinary restart";
}

TEST_F(ProbationTest, ANewerUpgradeEndsTheProbation) {
  Supervisor& s = handed_over();
  s.handle_signal(SIGHUP);
  EXPECT_EQ(launcher_.worker(1, 0)->commits, 1);
  EXPECT_FALSE(s.report().probation.has_value());
}

TEST_F(ProbationTest, InDrainModeTheHeldFileStartsAgain) {
  options_.mode = UpgradeMode::kDrain;
  Supervisor& s = serving();
  s.handle_signal(SIGHUP);
  ready_generation(2);
  exit_generation(1);
  launcher_.worker(2, 0)->exit(0, SIGSEGV);
  EXPECT_EQ(s.state(), Supervisor::State::kUpgrading) << "the rollback is an upgrade to the old file";
  ASSERT_NE(launcher_.worker(3, 0), nullptr);
  EXPECT_EQ(launcher_.worker(3, 0)->config.executable, "/srv/app/worker") << "the held file's exec path";
  EXPECT_FALSE(launcher_.worker(3, 0)->config.standby);
  ready_generation(3);
  EXPECT_EQ(s.report().serving, 3u);
  EXPECT_EQ(launcher_.worker(2, 1)->drains, 1);
  ASSERT_TRUE(s.report().last_rollback.has_value());
  EXPECT_FALSE(s.report().last_rollback->resumed);
  EXPECT_TRUE(s.report().last_rollback->serving_after.has_value());
  EXPECT_FALSE(s.report().probation.has_value()) << "a rollback is not itself on probation";
}

TEST_F(ProbationTest, StopEndsTheProbation) {
  Supervisor& s = handed_over();
  s.handle_signal(SIGTERM);
  EXPECT_EQ(launcher_.worker(1, 0)->commits, 1);
  EXPECT_EQ(launcher_.worker(2, 0)->drains, 1);
}

}  // namespace
}  // namespace baton
