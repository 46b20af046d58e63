// Rolling upgrades (--rolling N), with fake workers: batches, capacity, a
// failed batch turning the upgrade round, memory admission's batch size.
#include <gtest/gtest.h>

#include <csignal>

#include "supervisor_fixture.h"

namespace baton {
namespace {

class RollingTest : public SupervisorTest {
 protected:
  RollingTest() {
    options_.workers = 4;
    options_.rolling = 1;
  }
  // Workers of generation g alive now.
  std::size_t alive(std::uint64_t g) {
    std::size_t n = 0;
    for (std::uint32_t i = 0; i < options_.workers; ++i) n += launcher_.worker(g, i) != nullptr;
    return n;
  }
  // Serving workers, old and new.
  std::size_t serving_count() {
    std::size_t n = 0;
    for (std::uint64_t g : {1u, 2u})
      for (std::uint32_t i = 0; i < options_.workers; ++i)
        if (FakeWorker* w = launcher_.worker(g, i); w && w->state() == WorkerState::kReady) ++n;
    return n;
  }
  // Handoff mode: slot i's pair does its handoff and both are committed.
  void hand_over(std::uint64_t from, std::uint64_t to, std::uint32_t i) {
    launcher_.worker(to, i)->stand_by({1});
    launcher_.worker(to, i)->restored();
    launcher_.worker(from, i)->sent();
  }
  RollingProgress progress(Supervisor& s) { return *s.report().last_upgrade->rolling; }
  // Handoff mode, two workers: batch 1 has moved slot 0 to 2.0 and 1.0 has
  // exited, so batch 2 has started 2.1.
  Supervisor& second_batch_started() {
    options_.mode = UpgradeMode::kHandoff;
    options_.workers = 2;
    Supervisor& s = serving();
    s.handle_signal(SIGHUP);
    hand_over(1, 2, 0);
    launcher_.worker(1, 0)->exit();
    EXPECT_NE(launcher_.worker(2, 1), nullptr);
    return s;
  }
};

TEST_F(RollingTest, DrainModeReplacesOneSlotAtATimeAndNeverRunsMoreThanOneExtraWorker) {
  Supervisor& s = serving();
  s.handle_signal(SIGHUP);
  for (std::uint32_t i = 0; i < 4; ++i) {
    ASSERT_NE(launcher_.worker(2, i), nullptr) << "batch " << i + 1;
    EXPECT_EQ(progress(s).batch, i + 1);
    EXPECT_EQ(progress(s).batches, 4u);
    EXPECT_EQ(alive(1) + alive(2), 5u) << "four serving, one starting";
    if (i + 1 < 4) {
      EXPECT_EQ(launcher_.worker(2, i + 1), nullptr) << "one batch at a time";
    }
    launcher_.worker(2, i)->become_ready();
    EXPECT_EQ(launcher_.worker(1, i)->drains, 1);
    EXPECT_GE(serving_count(), 4u) << "the new worker serves before the old one drains";
    if (i + 1 < 4) {
      EXPECT_EQ(launcher_.worker(2, i + 1), nullptr) << "not before the old worker has exited";
    }
    launcher_.worker(1, i)->exit();
  }
  EXPECT_EQ(s.state(), Supervisor::State::kServing);
  EXPECT_EQ(s.report().serving, 2u);
  EXPECT_EQ(s.report().last_upgrade->result, UpgradeRecord::Result::kCommitted);
  EXPECT_EQ(s.report().replacements[static_cast<std::size_t>(ReplacementCause::kUpgrade)], 4u);
  EXPECT_EQ(launcher_.launches, 8);
}

TEST_F(RollingTest, HandoffModeMovesEachSlotsStateInBatchesOfTwo) {
  options_.mode = UpgradeMode::kHandoff;
  options_.rolling = 2;
  Supervisor& s = serving();
  s.handle_signal(SIGHUP);
  for (std::uint32_t first : {0u, 2u}) {
    for (std::uint32_t i : {first, first + 1}) {
      ASSERT_NE(launcher_.worker(2, i), nullptr);
      EXPECT_TRUE(launcher_.worker(2, i)->config.standby);
    }
    hand_over(1, 2, first);
    EXPECT_EQ(launcher_.worker(2, first)->commits, 1);
    EXPECT_EQ(launcher_.worker(1, first)->commits, 1);
    EXPECT_GE(serving_count(), 2u) << "at least workers - N serve";
    hand_over(1, 2, first + 1);
    if (first == 0) {
      EXPECT_EQ(launcher_.worker(2, 2), nullptr) << "batch 2 waits for batch 1's old workers";
    }
    launcher_.worker(1, first)->exit();
    launcher_.worker(1, first + 1)->exit();
  }
  EXPECT_EQ(s.state(), Supervisor::State::kServing);
  EXPECT_EQ(s.report().last_upgrade->moved.state_bytes, 400u) << "four pairs of 100 bytes";
  EXPECT_NE(s.report().last_upgrade->reason.find("2 batches of 2"), std::string::npos) << s.report().last_upgrade->reason;
}

// The held previous file comes back in batch 1's slot, with its state.
TEST_F(RollingTest, AFailedSecondBatchBringsTheOldFileBackInTheFirstBatchsSlots) {
  Supervisor& s = second_batch_started();
  launcher_.worker(2, 1)->stand_by({1});  // batch 2: linked, then its new worker dies
  EXPECT_EQ(launcher_.worker(1, 1)->handoff_role, "sender");
  launcher_.worker(2, 1)->exit(0, SIGSEGV);
  EXPECT_EQ(launcher_.worker(1, 1)->resumes, 1) << "batch 2's old worker serves on";
  EXPECT_EQ(progress(s).failed_batch, 2u);
  EXPECT_EQ(progress(s).back_batch, 1u);
  FakeWorker* back = launcher_.worker(1, 0);
  ASSERT_NE(back, nullptr) << "slot 0 gets generation 1's file again";
  EXPECT_EQ(back->config.executable, "/srv/app") << "the held file";
  EXPECT_TRUE(back->config.standby) << "its state comes back from 2.0";
  EXPECT_EQ(s.state(), Supervisor::State::kUpgrading) << "until the rollback is done";
  hand_over(2, 1, 0);
  EXPECT_EQ(launcher_.worker(2, 0)->handoff_role, "sender");
  launcher_.worker(2, 0)->exit();
  EXPECT_EQ(s.state(), Supervisor::State::kServing);
  EXPECT_EQ(s.report().serving, 1u);
  const UpgradeRecord u = *s.report().last_upgrade;
  EXPECT_EQ(u.result, UpgradeRecord::Result::kFailed);
  EXPECT_NE(u.reason.find("batch 2 of 2 failed"), std::string::npos) << u.reason;
  EXPECT_NE(u.reason.find("rolled back: 1 worker(s)"), std::string::npos) << u.reason;
  EXPECT_EQ(s.report().replacements[static_cast<std::size_t>(ReplacementCause::kRollback)], 1u);
  EXPECT_EQ(launcher_.live_count(), 2u);
}

TEST_F(RollingTest, ANewWorkerThatReportsItselfUnhealthyFailsTheUpgrade) {
  Supervisor& s = serving();
  s.handle_signal(SIGHUP);
  launcher_.worker(2, 0)->become_ready();
  launcher_.worker(1, 0)->exit();
  launcher_.worker(2, 0)->report_unhealthy("database unreachable");
  EXPECT_EQ(progress(s).failed_batch, 2u) << "the batch running when it failed";
  EXPECT_EQ(launcher_.worker(2, 1)->rejected, "generation 2 is rolled back");
  launcher_.worker(2, 1)->exit(0, SIGTERM);
  FakeWorker* back = launcher_.worker(1, 0);
  ASSERT_NE(back, nullptr);
  EXPECT_FALSE(back->config.standby) << "drain mode: no state moves";
  back->become_ready();
  EXPECT_EQ(launcher_.worker(2, 0)->drains, 1);
  launcher_.worker(2, 0)->exit();
  EXPECT_EQ(s.report().last_upgrade->result, UpgradeRecord::Result::kFailed);
  EXPECT_EQ(alive(1), 4u);
}

TEST_F(RollingTest, ARollbackStepThatFailsIsTriedAgain) {
  Supervisor& s = second_batch_started();
  launcher_.worker(2, 1)->refuse("no");  // batch 2 fails before it is linked
  launcher_.worker(2, 1)->exit();
  launcher_.worker(1, 0)->stand_by({1});
  launcher_.worker(1, 0)->exit(0, SIGSEGV);  // the way back fails once
  EXPECT_EQ(launcher_.worker(2, 0)->resumes, 1) << "2.0 serves on meanwhile";
  ASSERT_NE(launcher_.worker(1, 0), nullptr) << "tried again at once";
  hand_over(2, 1, 0);
  launcher_.worker(2, 0)->exit();
  EXPECT_EQ(s.state(), Supervisor::State::kServing);
  EXPECT_EQ(s.report().serving, 1u);
}

// The batch's first start fails: the batch's other slot is never started,
// and batch 1's two slots go back at once.
TEST_F(RollingTest, ANewWorkerThatCannotStartTurnsTheUpgradeRoundBeforeTheRestOfItsBatch) {
  options_.rolling = 2;
  Supervisor& s = serving();
  s.handle_signal(SIGHUP);
  launcher_.worker(2, 0)->become_ready();
  launcher_.worker(2, 1)->become_ready();
  launcher_.worker(1, 0)->exit();
  launcher_.fail_next = true;  // batch 2's first worker, 2.2
  launcher_.worker(1, 1)->exit();
  EXPECT_EQ(launcher_.worker(2, 3), nullptr) << "the rest of batch 2 stays as it is";
  EXPECT_EQ(progress(s).failed_batch, 2u);
  for (std::uint32_t i : {0u, 1u}) {
    ASSERT_NE(launcher_.worker(1, i), nullptr) << "slot " << i << " goes back";
    launcher_.worker(1, i)->become_ready();
    launcher_.worker(2, i)->exit();
  }
  EXPECT_EQ(s.state(), Supervisor::State::kServing);
  EXPECT_EQ(alive(1), 4u);
  EXPECT_EQ(alive(2), 0u);
}

TEST_F(RollingTest, AnOldWorkerThatCrashesBeforeItsBatchIsRestartedFromItsHeldFile) {
  Supervisor& s = serving();
  s.handle_signal(SIGHUP);
  launcher_.worker(1, 3)->exit(0, SIGSEGV);
  ASSERT_TRUE(run_until([&] { return launcher_.worker(1, 3) != nullptr; }));
  EXPECT_EQ(launcher_.worker(1, 3)->config.executable, "/srv/app");
  EXPECT_EQ(s.state(), Supervisor::State::kUpgrading) << "not the new build's fault";
}

TEST_F(RollingTest, AStopDrainsTheNewWorkersThatServe) {
  Supervisor& s = serving();
  s.handle_signal(SIGHUP);
  launcher_.worker(2, 0)->become_ready();
  s.handle_signal(SIGTERM);
  EXPECT_EQ(launcher_.worker(2, 0)->drains, 1) << "it serves: it finishes its requests";
  EXPECT_EQ(launcher_.worker(1, 1)->drains, 1);
}

TEST_F(RollingTest, StatusShowsTheBatchAndWhatEachSlotWaitsFor) {
  Supervisor& s = serving();
  s.handle_signal(SIGHUP);
  launcher_.worker(2, 0)->become_ready();
  launcher_.worker(1, 0)->exit();
  const SupervisorReport r = s.report();
  EXPECT_EQ(r.last_upgrade->rolling->batch, 2u);
  EXPECT_EQ(r.last_upgrade->rolling->batch_size, 1u);
  ASSERT_EQ(r.generations.size(), 2u);
  EXPECT_EQ(r.generations[0].workers[0].state, "replaced");
  EXPECT_EQ(r.generations[1].workers[0].state, "ready");
  EXPECT_EQ(r.generations[1].workers[2].state, "waiting");
}

TEST_F(RollingTest, ABatchAsLargeAsTheGenerationIsAnOrdinaryUpgrade) {
  options_.rolling = 4;
  Supervisor& s = serving();
  s.handle_signal(SIGHUP);
  EXPECT_EQ(alive(2), 4u);
  EXPECT_FALSE(s.report().last_upgrade->rolling);
}

// Probation watches the new generation after the last batch; the old
// workers were not parked (that would hold the memory rolling saves), so a
// crash starts the previous generation's held file afresh.
TEST_F(RollingTest, ProbationAfterTheLastBatchRollsBackToTheHeldFile) {
  options_.mode = UpgradeMode::kHandoff;
  options_.workers = 2;
  options_.probation = 60s;
  Supervisor& s = serving();
  s.handle_signal(SIGHUP);
  for (std::uint32_t i : {0u, 1u}) {
    hand_over(1, 2, i);
    EXPECT_EQ(launcher_.worker(1, i)->parks, 0) << "committed, not parked";
    launcher_.worker(1, i)->exit();
  }
  ASSERT_TRUE(s.report().probation);
  EXPECT_EQ(s.report().probation->generation, 2u);
  launcher_.worker(2, 0)->exit(0, SIGSEGV);
  EXPECT_EQ(s.report().rollbacks, 1u);
  ASSERT_NE(launcher_.worker(3, 0), nullptr) << "the held file starts as generation 3";
  EXPECT_EQ(launcher_.worker(3, 0)->config.executable, "/srv/app");
  EXPECT_FALSE(launcher_.worker(3, 0)->config.standby) << "a crashed generation's state is not to be trusted";
  EXPECT_NE(launcher_.worker(3, 1), nullptr) << "a rollback replaces the failing generation all at once";
}

// ---- with memory admission ---------------------------------------------

// Four workers of 100 bytes serve; the cgroup holds 500 of `limit` (10% kept free).
class RollingAdmissionTest : public RollingTest {
 protected:
  Supervisor& serving_under(std::uint64_t limit) {
    Supervisor& s = serving();
    for (std::uint32_t i = 0; i < 4; ++i) launcher_.worker(1, i)->memory = 100;
    launcher_.budget = MemoryBudget{.limit = limit, .in_use = 500, .where = "memory.max"};
    return s;
  }
};

TEST_F(RollingAdmissionTest, AutoPicksTheLargestBatchThatFits) {
  options_.rolling = kRollingAuto;
  Supervisor& s = serving_under(800);  // 720 usable: 200 more fit, 300 do not
  s.handle_signal(SIGHUP);
  EXPECT_EQ(alive(2), 2u);
  EXPECT_EQ(progress(s).batch_size, 2u);
  EXPECT_EQ(progress(s).batches, 2u);
}

TEST_F(RollingAdmissionTest, AutoUpgradesAllAtOnceWhenEverythingFits) {
  options_.rolling = kRollingAuto;
  Supervisor& s = serving_under(1000);
  s.handle_signal(SIGHUP);
  EXPECT_EQ(alive(2), 4u);
}

TEST_F(RollingAdmissionTest, AutoRefusesWhenNotEvenOneWorkerFits) {
  options_.rolling = kRollingAuto;
  Supervisor& s = serving_under(650);  // 585 usable: 100 more do not fit
  const int launches = launcher_.launches;
  s.handle_signal(SIGHUP);
  EXPECT_EQ(launcher_.launches, launches);
  const UpgradeRecord u = *s.report().last_upgrade;
  EXPECT_EQ(u.result, UpgradeRecord::Result::kFailed);
  EXPECT_NE(u.reason.find("even one worker at a time"), std::string::npos) << u.reason;
}

TEST_F(RollingAdmissionTest, AFixedBatchThatDoesNotFitIsRefused) {
  options_.rolling = 3;
  Supervisor& s = serving_under(800);
  s.handle_signal(SIGHUP);
  EXPECT_EQ(s.report().last_upgrade->result, UpgradeRecord::Result::kFailed);
  EXPECT_EQ(s.report().last_upgrade->memory->needed, 300u);
  EXPECT_NE(s.report().last_upgrade->reason.find("(--rolling)"), std::string::npos);
}

}  // namespace
}  // namespace baton
